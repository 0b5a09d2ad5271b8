"""A local web page to try a trained model: drop a B/W scan, see B/W | colored side by side (or
with a slider), download the PNG.

    pip install -r requirements-app.txt -c constraints.txt      # once: the optional web extra
    python scripts/app.py --name demo                            # then open http://127.0.0.1:7860

The page offers the run's checkpoints (latest, best, epochs) and --keep_lines, and shows upload
and colorization progress. It serves this machine only unless --host says otherwise. Flags for
how a page is colorized are test.py's (--precision, --tile_size, --flat_fills, ...).
"""

import argparse
import logging
import sys
from typing import Optional, Sequence

from options.test_options import (add_processing_flags, add_weights_flags,
                                  check_weights_and_processing_flags)
from options.types import number_type
from util.cli import run_main
from util.device import select_device
from util.errors import UserError

log = logging.getLogger("app")


def parse_app_options(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="app.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = parser.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 shares the page on your network)")
    g.add_argument("--port", type=number_type(int, 1, 65535), default=7860)
    add_weights_flags(parser)
    add_processing_flags(parser)
    opt = parser.parse_args(argv)
    check_weights_and_processing_flags(parser, opt)
    return opt


def run(opt: argparse.Namespace) -> int:
    try:
        import uvicorn

        from inference.web import create_app
    except ImportError as exc:
        raise UserError(f"the web page needs its extra packages ({exc.name} is missing): "
                        "pip install -r requirements-app.txt -c constraints.txt") from exc
    app = create_app(opt, select_device(opt.device, opt.gpu_ids))
    log.info("serving %s on http://%s:%d (Ctrl+C stops)", opt.name, opt.host, opt.port)
    uvicorn.run(app, host=opt.host, port=opt.port, log_level="warning")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    opt = parse_app_options(argv)
    return run_main("app.py", lambda: run(opt))


if __name__ == "__main__":
    sys.exit(main())
