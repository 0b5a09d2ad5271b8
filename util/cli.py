"""What every entry script does around its work: console logging, and user errors as one line."""

import logging
import sys
from typing import Callable, Tuple, Type

from util.errors import UserError


def configure_console_logging() -> None:
    """INFO and above to stderr with a time stamp, unless the caller (a test, say) set logging up."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if not root.handlers:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        root.addHandler(console)


def run_main(prog: str, body: Callable[[], int], failures: Tuple[Type[Exception], ...] = (),
             on_interrupt: str = "interrupted") -> int:
    """Run `body` with console logging and return its exit status. A UserError (bad input) becomes
    `prog: error: ...` and status 2; an exception of `failures` (the work itself failed, e.g. a
    diverged training run) the same line and status 1; Ctrl-C `prog: <on_interrupt>` and 130."""
    configure_console_logging()
    try:
        return body()
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except failures as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {on_interrupt}", file=sys.stderr)
        return 130
