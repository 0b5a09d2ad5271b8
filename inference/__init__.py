"""Colorizing pages with trained weights: the page pipeline, and volumes (CBZ/ZIP archives)."""
