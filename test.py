"""Colorize a folder of B/W pages at their original size.

    python test.py --dataroot datasets/demo/testA --name demo                       # a run of our train.py
    python test.py --dataroot scans/vol12 --name onepiece --output_dir colored/vol12 --keep_lines
    python test.py --dataroot scans/vol12 --name horse2zebra --model test --model_suffix _A --no_dropout

Every image under --dataroot (recursive) is colorized. Outputs: with --output_dir, just the pages
(<output_dir>/<relative path>/<stem>.png); otherwise upstream's layout
<results_dir>/<name>/<phase>_<epoch>/images/. The HTML page (index.html, input beside output) is
always written to that results folder. Exit status: 0 all pages done, 1 some pages failed
(each named in one line), 2 nothing could start (bad flags, no images, missing or unfitting weights).
"""

import argparse
import collections
import concurrent.futures
import json
import logging
import os
import sys
import time
import urllib.parse
from typing import Deque, Dict, Iterator, List, Optional, Sequence, Tuple

import dominate
from dominate import tags
from PIL import Image
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data.descreen import descreen
from data.image_folder import find_images, load_image
from models.colorizer import Colorizer, resolve_precision
from models.flat_fills import flat_fill
from models.generator_loader import load_generator
from models.networks import required_multiple
from options.test_options import generator_suffix, parse_test_options
from util.checkpoint import checkpoint_label
from util.cli import run_main
from util.device import select_device
from util.errors import UserError
from util.fileio import atomic_save_image, atomic_write_text, file_digest

log = logging.getLogger("test")
DEFAULT_WORK_WIDTH = 512
OUTPUT_MANIFEST = ".colorized_with.json"  # in the output folder: which weights wrote its pages


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def prefetch(items: Sequence, load, workers: int, depth: int) -> Iterator:
    """Yield (item, result or exception) in order, decoding up to `depth` items ahead on threads."""
    if workers == 0:
        for item in items:
            try:
                yield item, load(item)
            except Exception as exc:  # reported per page by the caller
                yield item, exc
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending: Deque = collections.deque()
        it = iter(items)
        for item in it:
            pending.append((item, pool.submit(load, item)))
            if len(pending) >= depth:
                break
        while pending:
            item, future = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(load, nxt)))
            try:
                yield item, future.result()
            except Exception as exc:
                yield item, exc


def output_names(paths: Sequence[str], root: str) -> Dict[str, str]:
    """Each input's output name under the output folder, without extension: its path relative to
    `root` without its extension, or with it where two inputs would share a name (p001.jpg and
    p001.png become p001.jpg and p001.png, written as p001.jpg.png and p001.png.png).
    UserError if names still clash (also when they differ only in case, which some filesystems fold)."""
    rels = {path: os.path.relpath(path, root) for path in paths}
    stems = collections.Counter(os.path.splitext(rel)[0].casefold() for rel in rels.values())
    names = {path: rel if stems[os.path.splitext(rel)[0].casefold()] > 1 else os.path.splitext(rel)[0]
             for path, rel in rels.items()}
    seen: Dict[str, str] = {}
    for path, name in names.items():
        other = seen.setdefault(name.casefold(), path)
        if other != path:
            raise UserError(f"{other} and {path} would both be written as {name}.png; rename one of them")
    return names


def thumbnail_path(results_dir: str, name: str, kind: str) -> str:
    """`name`: the page's output name (output_names)."""
    return os.path.join(results_dir, "thumbs", name + f"_{kind}.jpg")


def claim_output_folder(out_root: str, outputs: Sequence[str], weights: str, overwrite: bool,
                        skip_existing: bool) -> None:
    """Refuse to write over another model's pages unless --overwrite; then record which weights
    colorize into `out_root` (OUTPUT_MANIFEST), so a later run with other weights is refused too."""
    manifest = os.path.join(out_root, OUTPUT_MANIFEST)
    fingerprint = file_digest(weights, "sha256")
    existing = [p for p in outputs if os.path.exists(p)]
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            previous = json.load(f)
        if previous.get("sha256") != fingerprint and not overwrite:
            raise UserError(f"{out_root} holds pages colorized with other weights ({previous.get('weights')}); "
                            "pass --overwrite to replace them, or choose another --output_dir")
    elif existing and not (overwrite or skip_existing):
        raise UserError(f"{out_root} already holds {len(existing)} of these outputs (e.g. {existing[0]}) from "
                        "unknown weights; pass --overwrite to replace them, --skip_existing to keep them, or "
                        "choose another --output_dir")
    os.makedirs(out_root, exist_ok=True)
    atomic_write_text(manifest, json.dumps({"weights": os.path.abspath(weights), "sha256": fingerprint}, indent=1))


def save_page(result: Image.Image, page: Image.Image, out_path: str, thumbs: Tuple[str, str], width: int) -> None:
    """Write the colorized page and the two HTML thumbnails (run on the writer thread)."""
    # zlib level 1: a 1200x1700 page encodes in 0.15 s instead of 0.58 s (level 6) for ~10% more
    # bytes; at level 6 encoding took a quarter of a --keep_lines page's time.
    atomic_save_image(result, out_path, compress_level=1)
    for image, path in zip((page, result), thumbs):
        small = image.convert("RGB")
        small.thumbnail((width, width * 4), Image.BICUBIC)
        atomic_save_image(small, path)


def _url(rel_path: str) -> str:
    """A relative file path as a URL path: '#', '?', '%' and spaces in file names are escaped."""
    return urllib.parse.quote(rel_path.replace(os.sep, "/"))


def write_html(results_dir: str, title: str, rows: List[Tuple[str, str, str, str]], width: int) -> None:
    """index.html: one row per page (input's relative path, output name, input, output), input
    beside output, each thumbnail linking to the full size."""
    doc = dominate.document(title=title)
    with doc.head:
        tags.meta(charset="utf-8")
        tags.style("td{padding:4px;vertical-align:top;font-family:sans-serif}img{border:1px solid #ccc}")
    with doc:
        tags.h1(title)
        tags.p(f"{len(rows)} pages. Click a thumbnail for the full-size image.")
        with tags.table():
            tags.tr(tags.th("page"), tags.th("input"), tags.th("colorized"))
            for label, name, src, out in rows:
                with tags.tr():
                    tags.td(label)
                    for target, kind in ((src, "in"), (out, "out")):
                        thumb = _url(os.path.relpath(thumbnail_path(results_dir, name, kind), results_dir))
                        tags.td(tags.a(tags.img(src=thumb, width=width), href=_url(os.path.relpath(target, results_dir))))
    atomic_write_text(os.path.join(results_dir, "index.html"), doc.render())


def run(opt: argparse.Namespace) -> int:
    if not os.path.isdir(opt.dataroot):
        raise UserError(f"{opt.dataroot}: folder not found (--dataroot)")
    paths = find_images(opt.dataroot, opt.num_test)
    if not paths:
        raise UserError(f"{opt.dataroot}: no images (png, jpg, jpeg, webp, bmp, tif, tiff) found (--dataroot)")
    label = checkpoint_label(opt.epoch, opt.load_iter)
    results_dir = os.path.join(opt.results_dir, opt.name, f"{opt.phase}_{label}")
    out_root = opt.output_dir or os.path.join(results_dir, "images")
    for flag, folder in (("--output_dir", out_root), ("--results_dir", results_dir)):
        if _inside(folder, opt.dataroot):
            raise UserError(f"{flag} {folder} is inside --dataroot {opt.dataroot}; choose a folder outside the input")

    device = select_device(opt.device, opt.gpu_ids)
    gen = load_generator(os.path.join(opt.checkpoints_dir, opt.name), label, generator_suffix(opt), opt, device,
                         use_average=not opt.no_ema)
    # --keep_lines asks for the scan's own luminance, whatever the model was trained with.
    output_luma = "input" if opt.keep_lines else gen.output_luma
    if output_luma == "input" and not opt.keep_lines:
        log.info("the generator was trained with --output_luma input: keeping the pages' luminance (--keep_lines)")
    work_width = None
    if opt.preprocess == "scale_width" or output_luma == "input":
        work_width = opt.load_size or gen.train_load_size or DEFAULT_WORK_WIDTH
    precision = resolve_precision(opt.precision, device)
    colorizer = Colorizer(gen.net, device, required_multiple(gen.net_g), output_nc=gen.output_nc,
                          input_nc=gen.input_nc, precision=precision, tile_size=opt.tile_size,
                          tile_overlap=opt.tile_overlap, output_luma=output_luma, work_width=work_width)
    log.info("colorizing %d pages from %s with %s on %s (%s%s%s%s%s)", len(paths), opt.dataroot, gen.source, device,
             precision, f", working width {work_width}" if work_width else ", full resolution",
             {"input": ", keep_lines", "darker": ", darker luminance",
              "multiply": ", page times color layer",
              "multiply_headroom": ", page times color layer"}.get(output_luma, ""),
             ", descreened" if gen.descreen else "", ", flat fills" if opt.flat_fills else "")

    names = output_names(paths, opt.dataroot)

    def output_path(src: str) -> str:
        return os.path.join(out_root, names[src] + ".png")

    claim_output_folder(out_root, [output_path(p) for p in paths], gen.source, opt.overwrite, opt.skip_existing)

    todo = [p for p in paths if not (opt.skip_existing and os.path.exists(output_path(p)))]
    skipped = len(paths) - len(todo)
    if skipped:
        log.info("skipping %d pages whose output exists (--skip_existing)", skipped)

    done, failed = 0, []
    start = time.perf_counter()
    writer = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # encode page i while computing page i+1
    writes = []
    with logging_redirect_tqdm(), tqdm(total=len(todo), unit="page", disable=None) as bar:
        for src, page in prefetch(todo, lambda p: load_image(p, gen.input_nc), opt.num_threads, depth=2):
            if isinstance(page, Exception):
                failed.append(src)
                log.error("failed %s: %s: %s", src, type(page).__name__, page)
            else:
                try:
                    # A model trained on descreened pages sees, and multiplies with, the page descreened.
                    seen = descreen(page) if gen.descreen else page
                    result = colorizer.colorize(seen)
                    if opt.flat_fills and result.mode == "RGB":
                        result = flat_fill(result, seen)
                except Exception as exc:  # e.g. out of memory on a huge page: one page's failure, not the folder's
                    failed.append(src)
                    log.error("failed %s: %s: %s", src, type(exc).__name__, " ".join(str(exc).split())[:200])
                else:
                    thumbs = (thumbnail_path(results_dir, names[src], "in"), thumbnail_path(results_dir, names[src], "out"))
                    writes.append((src, writer.submit(save_page, result, page, output_path(src), thumbs,
                                                      opt.display_winsize)))
            bar.update(1)
            bar.set_postfix({"pages/s": f"{bar.n / max(time.perf_counter() - start, 1e-9):.2f}"})
        for src, future in writes:
            try:
                future.result()
                done += 1
            except Exception as exc:  # e.g. a full disk: this page failed, the others stand
                failed.append(src)
                log.error("failed %s: could not write %s: %s: %s", src, output_path(src), type(exc).__name__, exc)
    writer.shutdown()

    rows = [(os.path.relpath(p, opt.dataroot), names[p], p, output_path(p)) for p in paths
            if p not in failed and os.path.exists(output_path(p))
            and os.path.exists(thumbnail_path(results_dir, names[p], "out"))]
    write_html(results_dir, f"{opt.name}: {opt.dataroot}", rows, opt.display_winsize)
    elapsed = time.perf_counter() - start
    log.info("colorized %d, failed %d%s in %.1f s; pages in %s, HTML %s", done, len(failed),
             f", skipped {skipped}" if skipped else "", elapsed, out_root, os.path.join(results_dir, "index.html"))
    return 1 if failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    opt = parse_test_options(argv)
    return run_main("test.py", lambda: run(opt))


if __name__ == "__main__":
    sys.exit(main())
