"""What every entry script does around its work: console logging, and user errors as one line."""

import logging
import sys
from typing import Callable

from util.errors import UserError


def configure_console_logging() -> None:
    """INFO and above to stderr with a time stamp, unless the caller (a test, say) set logging up."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if not root.handlers:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        root.addHandler(console)


def run_main(prog: str, body: Callable[[], int]) -> int:
    """Run `body` with console logging; a UserError becomes `prog: error: ...` and exit status 2."""
    configure_console_logging()
    try:
        return body()
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
