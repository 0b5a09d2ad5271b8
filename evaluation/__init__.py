"""Scoring colorized pages against the truth: paired color metrics, FID/KID, and the page metrics
(speech bubbles, lettering, character fills, consistency) read from label masks."""
