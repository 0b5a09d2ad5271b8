"""argparse `type=` converters that check ranges and name the bound in the error."""

import argparse
import math
from typing import Any, Callable, List, Optional


def number_type(kind: Callable[[str], Any], low: Optional[float] = None, high: Optional[float] = None,
                low_open: bool = False, high_open: bool = False) -> Callable[[str], Any]:
    """An argparse `type` that converts with `kind` and checks the range, naming the bound."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low}, got {text}")
        if high is not None and (value >= high if high_open else value > high):
            raise argparse.ArgumentTypeError(f"must be {'<' if high_open else '<='} {high}, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


def gpu_ids_type(text: str) -> List[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0 or 0,1 (or -1 for CPU), got {text!r}")
    if any(i < -1 for i in ids):
        raise argparse.ArgumentTypeError(f"GPU ids are >= 0 (or -1 for CPU), got {text!r}")
    return [i for i in ids if i >= 0]


def run_name_problem(name: str, flags: str = "--name") -> Optional[str]:
    """Why `name` (from `flags`: --name, and --suffix) cannot be a run folder inside
    --checkpoints_dir, or None."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        return f"{flags} give the run name {name!r}: it must be a plain folder name (not empty, no '/', not '.' or '..')"
    return None
