"""What train.py's loop uses beside the model: validation during training, the run's log, the
HTML page and image grids of probe pages, and loss statistics."""
