"""Colorize B/W pages at their original size: a folder, one page, or CBZ/ZIP volumes.

    python test.py --dataroot datasets/demo/testA --name demo                       # a run of our train.py
    python test.py --dataroot scans/vol12 --name onepiece --output_dir colored/vol12 --keep_lines
    python test.py --dataroot scans/vol12 --name horse2zebra --model test --model_suffix _A --no_dropout
    python test.py --dataroot volumes/ --name onepiece --output_dir colored/        # CBZ/ZIP volumes

Every image and every CBZ/ZIP volume under --dataroot (recursive) is colorized; --dataroot may also
be one image or one volume, or a dataset root in upstream's layout, which stands for its testA/
(<phase>A/). Outputs: with --output_dir, just the pages
(<output_dir>/<relative path>/<stem>.png) and volumes (<output_dir>/<relative path>.cbz, same
member names in natural page order, failed pages kept B/W); otherwise upstream's layout
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
from typing import Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from dominate import tags
from PIL import Image
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data.comic_archive import ArchiveError, find_archives, is_archive_file, unsupported_archive_reason
from data.image_folder import IMG_KINDS, domain_folder, find_images, is_image_file, load_image
from inference.pipeline import PagePipeline, build_pipeline
from inference.volumes import colorize_volume
from options.test_options import parse_test_options
from util.checkpoint import checkpoint_label
from util.cli import run_main
from util.device import peak_memory_note, select_device
from util.errors import UserError
from util.fileio import atomic_save_image, atomic_write_text, file_digest
from util.html import html_document

log = logging.getLogger("test")
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
        save_thumbnail(image, path, width)


def save_thumbnail(image: Image.Image, path: str, width: int) -> None:
    """A JPEG `width` px wide (at most 4 widths tall) for the HTML page."""
    small = image.convert("RGB")
    small.thumbnail((width, width * 4), Image.BICUBIC)
    atomic_save_image(small, path)


def _url(rel_path: str) -> str:
    """A relative file path as a URL path: '#', '?', '%' and spaces in file names are escaped."""
    return urllib.parse.quote(rel_path.replace(os.sep, "/"))


def write_html(results_dir: str, title: str, rows: List[Tuple[str, str, str, str]], width: int) -> None:
    """index.html: one row per page (input's relative path, output name, input, output), input
    beside output, each thumbnail linking to the full size."""
    doc = html_document(title, "td{padding:4px;vertical-align:top;font-family:sans-serif}img{border:1px solid #ccc}",
                        f"{len(rows)} pages. Click a thumbnail for the full-size image.")
    with doc:
        with tags.table():
            tags.tr(tags.th("page"), tags.th("input"), tags.th("colorized"))
            for label, name, src, out in rows:
                with tags.tr():
                    tags.td(label)
                    for target, kind in ((src, "in"), (out, "out")):
                        thumb = _url(os.path.relpath(thumbnail_path(results_dir, name, kind), results_dir))
                        tags.td(tags.a(tags.img(src=thumb, width=width), href=_url(os.path.relpath(target, results_dir))))
    atomic_write_text(os.path.join(results_dir, "index.html"), doc.render())


def dataset_phase_folder(dataroot: str, phase: str) -> str:
    """The folder to colorize for --dataroot: a dataset root in upstream's layout (it holds
    <phase>A/, e.g. testA/ beside trainA/ and testB/) stands for its B/W <phase>A/ pages, as in
    upstream's test.py, instead of every image under it (color pages and masks included); any other
    path is itself."""
    scans = domain_folder(dataroot, phase, "A")
    if os.path.isdir(scans):
        log.info("%s is a dataset root: colorizing its %s (pass a folder without %sA/ to colorize "
                 "everything under it)", dataroot, scans, phase)
        return scans
    return dataroot


def collect_inputs(dataroot: str, num_test: float) -> Tuple[str, List[str], List[str]]:
    """(the folder output names are relative to, loose pages, CBZ/ZIP archives) for --dataroot:
    a folder (searched recursively), one image, or one archive. UserError (one line) otherwise."""
    if os.path.isfile(dataroot):
        reason = unsupported_archive_reason(dataroot)
        if reason:
            raise UserError(reason)
        root = os.path.dirname(dataroot) or "."
        if is_archive_file(dataroot):
            return root, [], [dataroot]
        if is_image_file(dataroot):
            return root, [dataroot], []
        raise UserError(f"{dataroot}: neither an image ({IMG_KINDS}) nor a CBZ/ZIP archive "
                        "(--dataroot)")
    if not os.path.isdir(dataroot):
        raise UserError(f"{dataroot}: no such folder or file (--dataroot)")
    pages, (archives, unsupported) = find_images(dataroot, num_test), find_archives(dataroot)
    for path in unsupported:
        log.warning("skipped %s", unsupported_archive_reason(path))
    if not pages and not archives:
        raise UserError(f"{dataroot}: no images ({IMG_KINDS}) or CBZ/ZIP archives found "
                        "(--dataroot)")
    return dataroot, pages, archives


def run(opt: argparse.Namespace) -> int:
    source = dataset_phase_folder(opt.dataroot, opt.phase)
    root, paths, archives = collect_inputs(source, opt.num_test)
    label = checkpoint_label(opt.epoch, opt.load_iter)
    results_dir = os.path.join(opt.results_dir, opt.name, f"{opt.phase}_{label}")
    out_root = opt.output_dir or os.path.join(results_dir, "images")
    if os.path.isdir(source):
        for flag, folder in (("--output_dir", out_root), ("--results_dir", results_dir)):
            if _inside(folder, source):
                raise UserError(f"{flag} {folder} is inside --dataroot {source}; choose a folder outside the input")

    device = select_device(opt.device, opt.gpu_ids)
    pipeline = build_pipeline(opt, device)
    gen = pipeline.generator
    log.info("colorizing %d pages%s from %s with %s on %s (%s)", len(paths),
             f" and {len(archives)} archives" if archives else "", source, gen.source, device,
             pipeline.describe())

    names = output_names(paths, root)

    def output_path(src: str) -> str:
        return os.path.join(out_root, names[src] + ".png")

    volume_outputs = {src: os.path.join(out_root, os.path.relpath(src, root)) for src in archives}
    for src, dst in volume_outputs.items():
        if os.path.realpath(src) == os.path.realpath(dst):
            raise UserError(f"{src} would be written over by its own colored version; choose another --output_dir")
    claim_output_folder(out_root, [output_path(p) for p in paths] + list(volume_outputs.values()), gen.source,
                        opt.overwrite, opt.skip_existing)

    todo = [p for p in paths if not (opt.skip_existing and os.path.exists(output_path(p)))]
    volumes = [a for a in archives if not (opt.skip_existing and os.path.exists(volume_outputs[a]))]
    skipped = len(paths) - len(todo) + len(archives) - len(volumes)
    if skipped:
        log.info("skipping %d pages or archives whose output exists (--skip_existing)", skipped)

    start = time.perf_counter()
    done, failed = colorize_pages(todo, pipeline, output_path, results_dir, names, opt)
    rows = [(os.path.relpath(p, root), names[p], p, output_path(p)) for p in paths
            if p not in failed and os.path.exists(output_path(p))
            and os.path.exists(thumbnail_path(results_dir, names[p], "out"))]
    for src in volumes:
        volume_done, volume_failed, volume_rows = colorize_archive(src, volume_outputs[src], pipeline, results_dir,
                                                                   os.path.relpath(src, root), opt)
        done += volume_done
        failed += volume_failed
        rows += volume_rows
    write_html(results_dir, f"{opt.name}: {source}", rows, opt.display_winsize)
    elapsed = time.perf_counter() - start
    log.info("colorized %d, failed %d%s%s in %.1f s; pages in %s, HTML %s%s", done, len(failed),
             f" ({', '.join(failed[:10])}{', ...' if len(failed) > 10 else ''})" if failed else "",
             f", skipped {skipped}" if skipped else "", elapsed, out_root, os.path.join(results_dir, "index.html"),
             peak_memory_note(device))
    return 1 if failed else 0


def colorize_pages(todo: Sequence[str], pipeline: PagePipeline, output_path: Callable[[str], str], results_dir: str,
                   names: Dict[str, str], opt: argparse.Namespace) -> Tuple[int, List[str]]:
    """Loose pages: decode ahead on threads, colorize here, encode on a writer thread.
    (pages written, failed inputs)."""
    done, failed = 0, []
    start = time.perf_counter()
    writer = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # encode page i while computing page i+1
    writes = []
    with logging_redirect_tqdm(), tqdm(total=len(todo), unit="page", disable=None) as bar:
        for src, page in prefetch(todo, lambda p: load_image(p, pipeline.generator.input_nc), opt.num_threads, depth=2):
            if isinstance(page, Exception):
                failed.append(src)
                log.error("failed %s: %s: %s", src, type(page).__name__, page)
            else:
                try:
                    result = pipeline(page)
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
    return done, failed


def colorize_archive(src: str, dst: str, pipeline: PagePipeline, results_dir: str, rel: str,
                     opt: argparse.Namespace) -> Tuple[int, List[str], List[Tuple[str, str, str, str]]]:
    """One CBZ/ZIP volume into `dst`. (pages colorized, failed '<archive>:<member>' names, HTML rows:
    each page's thumbnails, linking to the output archive). A refused archive is one failed line."""
    rows: List[Tuple[str, str, str, str]] = []

    def thumbnails(member: str, page: Image.Image, colored: Image.Image) -> None:
        name = os.path.join(rel, os.path.splitext(member)[0])
        try:
            for image, kind in ((page, "in"), (colored, "out")):
                save_thumbnail(image, thumbnail_path(results_dir, name, kind), opt.display_winsize)
        except OSError as exc:  # the HTML page loses a row; the volume is unaffected
            log.warning("%s:%s: no thumbnail (%s)", src, member, exc)
            return
        rows.append((f"{rel}: {member}", name, dst, dst))

    with logging_redirect_tqdm(), tqdm(desc=os.path.basename(src), unit="page", disable=None) as bar:
        def on_page(member: str, page: Image.Image, colored: Image.Image) -> None:
            thumbnails(member, page, colored)
            bar.update(1)

        try:
            result = colorize_volume(src, dst, pipeline, pipeline.generator.input_nc,
                                     opt.archive_size_limit * 2**20, on_page)
        except (ArchiveError, OSError) as exc:
            log.error("failed %s: %s", src, exc)
            return 0, [src], []
    log.info("%s: %d of %d pages colorized into %s%s", src, len(result.colored), result.pages, dst,
             f"; kept B/W: {', '.join(result.failed)}" if result.failed else "")
    return len(result.colored), [f"{src}:{name}" for name in result.failed], rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    opt = parse_test_options(argv)
    return run_main("test.py", lambda: run(opt))


if __name__ == "__main__":
    sys.exit(main())
