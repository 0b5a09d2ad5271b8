"""Command-line options: one parser, typed and checked at parse time (see train_options.py)."""
