"""Turn folders of raw manga scans into a training set: trainA/trainB/testA/testB and a report.

Usage (from the repository root)::

    # B/W and colored pages in separate folders (sub-folders are fine)
    python scripts/prepare_dataset.py --bw scans/bw --color scans/color --out datasets/onepiece

    # one folder holding both: each page is sorted into B/W or color by its chroma
    python scripts/prepare_dataset.py --mixed scans/ --out datasets/onepiece

    # cut double-page spreads in two, keep pages 1536 px wide, hold out 10 %, replace an earlier run
    python scripts/prepare_dataset.py --mixed scans/ --out datasets/onepiece --split_spreads \\
        --width 1536 --test_fraction 0.1 --overwrite

    # then train on it
    python train.py --dataroot datasets/onepiece --name onepiece \\
        --preprocess scale_width_and_crop --load_size 512 --crop_size 256

What happens to a page (every number below is a constant of this file or a flag):

- Files: png, jpg/jpeg, webp, bmp, tif/tiff, found recursively (hidden files skipped); EXIF
  orientation applied, transparency put on white, 16-bit and palette images converted.
  Zero-byte, truncated or otherwise undecodable files are skipped, named in the log and in
  the report. The source folders are only read.
- Spreads (--split_spreads): a page more than 1.2 times as wide as tall is cut in two halves.
  Manga reads right to left, so the right half is ``<name>_1`` and the left half ``<name>_2``.
  Both halves of a spread always land in the same split.
- B/W or color (--mixed): measured on a copy at most 512 px on its longer side, white-balanced
  to its paper first, so yellowed paper and sepia or warm scanner casts are not color. The paper
  color is the per-channel median of the page's brightest 10 % of pixels, refined per block of
  an 8 x 8 grid (brightest 25 % of the block, interpolated between blocks) for edges that
  browned more; a block's paper may differ from the page's by chroma 15 at most, and a "paper"
  darker than luma 96 or more colorful than chroma 40 is not paper (no correction). A pixel is
  colored when its YCbCr chroma, sqrt(Cb'^2 + Cr'^2) on the 0-255 scale, exceeds 12: above
  JPEG chroma noise and line-edge fringes on the reduced copy, below skin tones (~25) and most
  pastels. A page is color when more than --color_threshold (default 0.05) of its area is
  colored, or when more than 25 % of its drawn pixels (colored, or darker than 0.8 x the paper)
  are colored and they cover at least a quarter of --color_threshold of the page: the second
  rule catches colored figures on much white paper. The color score, max(area / threshold,
  drawn share / 0.25), is 1 at the threshold; pages scoring 0.5-2 are listed as borderline (a
  colored stamp or logo on a B/W page, or strong browning at the edges, can land there). With
  --bw/--color the folders decide, and pages that look like the other domain are only listed
  (as mismatched).
- Drops, each listed with its reason: ``too_small`` (narrower than --width / --max_upscale, or
  shorter than --min_size once scaled to --width); ``blank`` (under --blank_fraction of the
  page's inner 90 % differs from its median gray by more than 48 levels: empty pages,
  bleed-through, solid black separators); ``duplicate`` (identical pixels) and
  ``near_duplicate`` (64-bit dHash within --dup_distance bits *and* 32x32 thumbnails
  correlated >= 0.9, so similar panel layouts alone never count). Duplicates are looked for
  within a domain; of a group of copies the one with the most pixels is kept (ties: the first
  in path order) and the others name it.
- Scale: every kept page is resized to --width px wide (aspect kept): down with Lanczos, up
  (at most --max_upscale times) with bicubic, so line thickness is the same across scans of
  different DPI. B/W pages are written as grayscale PNG, color pages as RGB PNG.
- Output: ``<out>/{trainA,trainB,testA,testB}/<relative path, / replaced by __>.png``
  (A = B/W, B = color) and ``<out>/report.json``. --test_fraction of each domain's source
  files (at least one when the domain has two or more, never all) go to test, chosen with
  --seed. Everything is written to a staging folder inside --out first, so a run that stops
  with an error leaves an earlier dataset in --out as it was.

Errors a user can fix (no images, --out inside a source, a non-empty --out without
--overwrite, a domain left empty) print one line ``prepare_dataset.py: error: ...`` and exit 2.
"""

import argparse
import concurrent.futures
import functools
import hashlib
import json
import logging
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data.image_folder import IMG_EXTENSIONS, find_images, is_image_file, load_image
from options.types import number_type
from util import bt601
from util.cli import run_main
from util.errors import UserError
from util.fileio import atomic_save_image, atomic_write_text

log = logging.getLogger("prepare_dataset")

PROG = "prepare_dataset.py"
OUTPUT_DIRS = ("trainA", "trainB", "testA", "testB")
REPORT_NAME = "report.json"
STAGING_PREFIX = ".prepare_dataset-"
DOMAIN_WORDS = {"A": "B/W", "B": "color"}
DROP_REASONS = ("unreadable", "too_small", "blank", "duplicate", "near_duplicate")

ANALYSIS_SIDE = 512        # statistics are taken on a copy this size: fast, and it averages away JPEG noise
PAPER_PERCENTILE = 90      # the brightest 10 % of a page is its paper
MIN_PAPER_LUMA = 96.0      # a darker "paper" is a dark page, not paper to white-balance to
MAX_PAPER_CHROMA = 40.0    # yellowed paper reaches ~25; a brighter tint than this is real color
PAPER_GRID = 8             # the paper's cast is also estimated per block of an 8 x 8 grid (browned edges)
BLOCK_PAPER_PERCENTILE = 75  # in a block, paper is most pixels; the brightest alone would be its least browned
LOCAL_PAPER_CHROMA = 15.0  # a block's paper may differ this much in chroma from the page's
CHROMA_LEVEL = 12.0        # per-pixel chroma above which a pixel is colored
DRAWN_LUMA = 0.8           # pixels darker than this times the paper are drawn (ink or paint)
DRAWN_SHARE = 0.25         # a page is also color when more than this share of its drawn pixels is colored...
SHARE_MIN_AREA = 0.25      # ...and colored pixels cover at least this times --color_threshold of the page
BORDERLINE_FACTOR = 2.0    # color scores within this factor of 1 (the threshold) are listed
INK_LEVEL = 48.0           # gray-level difference from the page's median that counts as content
BLANK_MARGIN = 0.05        # scanner shadows at the edges are not content
SPREAD_ASPECT = 1.2        # width / height above which --split_spreads cuts a page
THUMB_SIDE = 32            # thumbnails that confirm a perceptual-hash match
NEAR_DUP_CORRELATION = 0.9


# --------------------------------------------------------------------------
# Page statistics (pure functions of pixels)


def analysis_copy(img: Image.Image, side: int = ANALYSIS_SIDE) -> Image.Image:
    """A box-filtered copy whose longer side is at most about `side` (integer reduction: fast)."""
    factor = max(1, -(-max(img.size) // side))
    return img.reduce(factor) if factor > 1 else img


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """YCbCr chroma magnitude, sqrt(Cb'^2 + Cr'^2) with Cb', Cr' centred on 0, 0-255 scale."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.hypot(cb, cr)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return bt601.luma(rgb).astype(np.float32)


def _paper(rgb: np.ndarray, percentile: float = PAPER_PERCENTILE) -> np.ndarray:
    """Per-channel median of the pixels at or above `percentile` in luma, of an H x W x 3 array."""
    pixels = rgb.reshape(-1, 3)
    luma = _luma(pixels)
    return np.median(pixels[luma >= np.percentile(luma, percentile)], axis=0)


def _is_paper(paper: np.ndarray) -> bool:
    return float(_luma(paper)) >= MIN_PAPER_LUMA and float(_chroma(paper)) <= MAX_PAPER_CHROMA


def white_balance(rgb: np.ndarray) -> np.ndarray:
    """Scale the channels so the page's paper becomes neutral gray; pages without paper are unchanged.

    Yellowed paper and warm scans multiply every pixel by one cast, ink included, so the channels are
    divided by the paper color rather than shifted. The cast is estimated on a PAPER_GRID x PAPER_GRID
    grid of blocks and interpolated, because old pages brown more at the edges; a block's own paper is
    used only if it is within LOCAL_PAPER_CHROMA of the page's, so a pale colored fill filling a block
    is never mistaken for paper.
    """
    rgb = rgb.astype(np.float32)
    page = _paper(rgb)
    if not _is_paper(page):
        return rgb
    h, w = rgb.shape[:2]
    papers = np.empty((PAPER_GRID, PAPER_GRID, 3), dtype=np.float32)
    for i in range(PAPER_GRID):
        for j in range(PAPER_GRID):
            block = rgb[i * h // PAPER_GRID:(i + 1) * h // PAPER_GRID, j * w // PAPER_GRID:(j + 1) * w // PAPER_GRID]
            local = _paper(block, BLOCK_PAPER_PERCENTILE) if block.size else page
            near = float(_chroma(local - page)) <= LOCAL_PAPER_CHROMA and _luma(local) >= 0.75 * _luma(page)
            papers[i, j] = local if _is_paper(local) and near else page
    # Gains keep each paper's own brightness: only its hue is corrected, so chroma is not amplified.
    gains = _luma(papers)[..., None] / np.maximum(papers, 1.0)
    smooth = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(gains[..., c], dtype=np.float32))
                                  .resize((w, h), Image.BILINEAR)) for c in range(3)], axis=-1)
    return np.clip(rgb * smooth, 0.0, 255.0)


def color_stats(rgb: np.ndarray) -> Tuple[float, float]:
    """(colored share of the page, colored share of its drawn pixels), after white balance to the paper.

    Colored: chroma above CHROMA_LEVEL. Drawn: colored, or darker than DRAWN_LUMA times the paper.
    The second number catches colored drawings on much white paper (covers, character art).
    """
    balanced = white_balance(rgb)
    colored = _chroma(balanced) > CHROMA_LEVEL
    luma = _luma(balanced)
    drawn = colored | (luma < DRAWN_LUMA * np.percentile(luma, PAPER_PERCENTILE))
    return float(colored.mean()), float(colored.sum() / max(int(drawn.sum()), 1))


def color_score(area: float, share: float, threshold: float) -> float:
    """1.0 at the threshold: the page is color above it. Either more than `threshold` of the page is
    colored, or more than DRAWN_SHARE of what is drawn on it, provided at least a quarter of
    `threshold` of the page is (so a few tinted line edges on an almost empty page don't count)."""
    by_share = share / DRAWN_SHARE if area > threshold * SHARE_MIN_AREA else 0.0
    return max(area / threshold, by_share)


def content_fraction(gray: np.ndarray) -> float:
    """Fraction of the inner part of the page that differs from its median gray by more than INK_LEVEL."""
    h, w = gray.shape
    dy, dx = int(h * BLANK_MARGIN), int(w * BLANK_MARGIN)
    inner = gray[dy:h - dy, dx:w - dx].astype(np.float32)
    if inner.size == 0:
        return 0.0
    return float(np.mean(np.abs(inner - np.median(inner)) > INK_LEVEL))


def dhash(gray: Image.Image) -> int:
    """64-bit difference hash: is each of 8x8 cells darker than its right neighbour."""
    cells = np.asarray(gray.convert("L").resize((9, 8), Image.BOX), dtype=np.int16)
    bits = (cells[:, :-1] < cells[:, 1:]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def popcount64(values: np.ndarray) -> np.ndarray:
    """Set bits per uint64 element (SWAR; np.bitwise_count needs NumPy 2)."""
    v = values.astype(np.uint64)
    v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
    v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((v * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


def hamming(a: int, b: int) -> int:
    return int(popcount64(np.array([a ^ b], dtype=np.uint64))[0])


def split_spread(img: Image.Image, split_spreads: bool) -> List[Tuple[int, Image.Image]]:
    """(piece number, image): 0 for a whole page; 1 = right half, 2 = left half (read right to left)."""
    w, h = img.size
    if not split_spreads or w <= SPREAD_ASPECT * h:
        return [(0, img)]
    half = w // 2
    return [(1, img.crop((half, 0, w, h))), (2, img.crop((0, 0, half, h)))]


# --------------------------------------------------------------------------
# The worker: one source file in, small results out


@dataclass(frozen=True)
class Settings:
    width: int
    max_upscale: float
    min_size: int
    split_spreads: bool
    color_threshold: float
    blank_fraction: float


@dataclass(frozen=True)
class Task:
    index: int
    path: str
    rel: str
    domain: Optional[str]  # None: decided by color_score (--mixed)
    staging: str


@dataclass
class PieceResult:
    piece: int
    source_size: Tuple[int, int]
    out_size: Tuple[int, int]
    colored_area: float
    colored_share: float
    color_score: float
    content_fraction: float
    domain: str
    dhash: int
    thumb: bytes
    digest: str
    drop: Optional[str] = None
    detail: str = ""
    staged: Optional[str] = None


@dataclass
class FileResult:
    index: int
    pieces: List[PieceResult] = field(default_factory=list)
    error: Optional[str] = None


def _too_small(size: Tuple[int, int], out_size: Tuple[int, int], settings: Settings) -> Optional[str]:
    (w, h), (out_w, out_h) = size, out_size
    scale = out_w / w
    if scale > settings.max_upscale:
        return (f"too small: {w}x{h} px would need {scale:.1f}x upscaling to {out_w} px wide "
                f"(--max_upscale {settings.max_upscale:g})")
    if min(out_w, out_h) < settings.min_size:
        return f"too small: {w}x{h} px is {out_w}x{out_h} at --width {out_w}, under --min_size {settings.min_size}"
    return None


def analyse_piece(img: Image.Image, piece: int, domain: Optional[str], settings: Settings) -> PieceResult:
    """Statistics, hash and drop decision for one page (or half spread); no file is written."""
    small = analysis_copy(img)
    gray = small.convert("L")
    area, share = color_stats(np.asarray(small))
    score = color_score(area, share, settings.color_threshold)
    content = content_fraction(np.asarray(gray))
    w, h = img.size
    out_size = (settings.width, max(1, int(round(h * settings.width / w))))
    result = PieceResult(
        piece=piece, source_size=(w, h), out_size=out_size, colored_area=area, colored_share=share,
        color_score=score, content_fraction=content, domain=domain or ("B" if score > 1.0 else "A"),
        dhash=dhash(gray),
        thumb=gray.resize((THUMB_SIDE, THUMB_SIDE), Image.BOX).tobytes(),
        digest=hashlib.blake2b(img.tobytes() + repr(img.size).encode(), digest_size=16).hexdigest())
    small_reason = _too_small((w, h), out_size, settings)
    if small_reason:
        result.drop, result.detail = "too_small", small_reason
    elif content < settings.blank_fraction:
        result.drop = "blank"
        result.detail = (f"blank: {content:.2%} of the page differs from its background "
                         f"(--blank_fraction {settings.blank_fraction:g})")
    return result


def _resize(img: Image.Image, size: Tuple[int, int]) -> Image.Image:
    if img.size == size:
        return img
    if size[0] < img.size[0]:
        # reducing_gap=3 box-reduces first: several times faster on big scans, and per Pillow's docs
        # indistinguishable from a plain Lanczos resize at that gap
        return img.resize(size, Image.LANCZOS, reducing_gap=3.0)
    return img.resize(size, Image.BICUBIC)


def analyse_file(task: Task, settings: Settings) -> FileResult:
    """Decode one source file, analyse its page(s) and stage the resized page(s) that are not dropped.

    Runs in worker processes, so it returns small picklable results and never raises for a bad file.
    """
    result = FileResult(task.index)
    try:
        if os.path.getsize(task.path) == 0:
            result.error = "empty file (0 bytes)"
            return result
        img = load_image(task.path, 3)
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, struct.error... on damaged files
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    for piece, part in split_spread(img, settings.split_spreads):
        info = analyse_piece(part, piece, task.domain, settings)
        if info.drop is None:
            out = _resize(part, info.out_size)
            if info.domain == "A":
                out = out.convert("L")  # B/W pages: drop residual tint and JPEG chroma, a third of the bytes
            info.staged = os.path.join(task.staging, f"{task.index}_{piece}.png")
            atomic_save_image(out, info.staged)
        result.pieces.append(info)
    return result


def run_analysis(tasks: List[Task], settings: Settings, workers: int) -> Iterator[FileResult]:
    """Results in task order, decoded over `workers` processes (in this process for 1)."""
    work = functools.partial(analyse_file, settings=settings)
    if workers <= 1:
        yield from map(work, tasks)
        return
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers)
    try:
        yield from pool.map(work, tasks, chunksize=1)
    except BrokenProcessPool as exc:
        raise UserError("a worker process died while decoding pages (out of memory on a huge scan?); "
                        "run again with --workers 1 to see which file") from exc
    finally:
        # On an error or Ctrl-C, don't decode the rest; wait for running pages so staging can be removed.
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------
# Decisions that need every page: duplicates, test split, names


@dataclass
class Page:
    task: Task
    info: PieceResult
    test: bool = False
    output: str = ""
    dup_of: Optional["Page"] = None

    @property
    def label(self) -> str:
        """The source path, with the half named for a split spread."""
        suffix = {0: "", 1: " (right half)", 2: " (left half)"}[self.info.piece]
        return self.task.path + suffix


def _normalised_thumb(thumb: bytes) -> np.ndarray:
    t = np.frombuffer(thumb, dtype=np.uint8).astype(np.float32)
    t -= t.mean()
    norm = float(np.linalg.norm(t))
    return t / norm if norm > 1e-6 else t  # a flat thumbnail correlates with nothing


def mark_duplicates(pages: List[Page], max_distance: int) -> None:
    """Drop exact and near duplicates within `pages` (one domain). Of a group of copies, the one with the
    most pixels is kept (a better scan of the page), ties going to the first in path order."""
    pages = sorted(pages, key=lambda p: (-p.info.source_size[0] * p.info.source_size[1], p.task.index, p.info.piece))
    kept_digest: Dict[str, Page] = {}
    kept: List[Page] = []
    hashes = np.zeros(len(pages), dtype=np.uint64)
    thumbs = np.zeros((len(pages), THUMB_SIDE * THUMB_SIDE), dtype=np.float32)
    for page in pages:
        info = page.info
        if info.digest in kept_digest:
            original = kept_digest[info.digest]
            info.drop, info.detail, page.dup_of = "duplicate", f"duplicate of {original.label} (same pixels)", original
            continue
        thumb = _normalised_thumb(info.thumb)
        n = len(kept)
        if n:
            distances = popcount64(hashes[:n] ^ np.uint64(info.dhash))
            close = np.flatnonzero(distances <= max_distance)
            if close.size:
                correlations = thumbs[close] @ thumb
                best = int(np.argmax(correlations))
                if correlations[best] >= NEAR_DUP_CORRELATION:
                    original = kept[close[best]]
                    info.drop, page.dup_of = "near_duplicate", original
                    info.detail = (f"near-duplicate of {original.label} (hash distance {distances[close[best]]}, "
                                   f"thumbnail correlation {correlations[best]:.3f})")
                    continue
        kept_digest[info.digest] = page
        hashes[n], thumbs[n] = np.uint64(info.dhash), thumb
        kept.append(page)


def choose_test_files(files: Sequence[str], fraction: float, seed: int, domain: str) -> Set[str]:
    """The source files held out for test: round(fraction * n), at least 1 when n >= 2 and fraction > 0,
    never all of them. Seeded per domain, so adding color pages does not reshuffle the B/W split."""
    files = sorted(set(files))
    if fraction <= 0 or len(files) < 2:
        return set()
    count = min(len(files) - 1, max(1, int(fraction * len(files) + 0.5)))
    return set(random.Random(f"{seed}:{domain}").sample(files, count))


def output_stems(keys: Sequence[Tuple[str, int]]) -> Dict[Tuple[str, int], str]:
    """File stems for (relative source path, piece): the path flattened with __, _1/_2 for spread halves,
    and the source extension, then a digest, added only where two stems would collide."""
    def base(rel: str, piece: int) -> str:
        stem = os.path.splitext(rel)[0].replace(os.sep, "__").replace("/", "__")
        return stem + (f"_{piece}" if piece else "")

    stems = {key: base(*key) for key in keys}
    counts = Counter(stems.values())
    for (rel, piece), stem in list(stems.items()):
        if counts[stem] > 1:
            stems[(rel, piece)] = f"{stem}_{os.path.splitext(rel)[1].lstrip('.').lower()}"
    counts = Counter(stems.values())
    for key, stem in list(stems.items()):
        if counts[stem] > 1:
            stems[key] = f"{stem}_{hashlib.sha1(repr(key).encode()).hexdigest()[:8]}"
    return stems


# --------------------------------------------------------------------------
# Folders


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_folders(sources: Dict[str, str], out: str, overwrite: bool) -> None:
    """Raise UserError for a missing source, overlapping sources, or an --out that could touch a source."""
    for flag, folder in sources.items():
        if not os.path.isdir(folder):
            raise UserError(f"{flag} {folder}: folder not found")
    flags = list(sources)
    for i, a in enumerate(flags):
        for b in flags[i + 1:]:
            if _inside(sources[a], sources[b]) or _inside(sources[b], sources[a]):
                raise UserError(f"{a} {sources[a]} and {b} {sources[b]} overlap; give separate folders, "
                                f"or one folder with --mixed")
    for flag, folder in sources.items():
        if _inside(out, folder):
            raise UserError(f"--out {out} is inside {flag} {folder}; choose a folder outside the sources")
        if _inside(folder, out):
            raise UserError(f"{flag} {folder} is inside --out {out}; choose an --out that holds no source")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise UserError(f"--out {out} is not empty; pass --overwrite to replace the dataset in it")


def _remove_previous(out: str, keep: str) -> None:
    """Remove only what this script writes, in case --out is shared with other files; `keep` is the
    current staging folder."""
    keep = os.path.basename(keep)
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if name in OUTPUT_DIRS and os.path.isdir(path):
            shutil.rmtree(path)
        elif name == REPORT_NAME and not os.path.isdir(path):
            os.remove(path)
        elif name.startswith(STAGING_PREFIX) and name != keep:
            shutil.rmtree(path, ignore_errors=True)  # left by a run that was killed
    leftovers = sorted(name for name in os.listdir(out) if name != keep)
    if leftovers:
        log.warning("--out %s keeps entries this script did not write: %s", out, ", ".join(leftovers))


def _count_other_files(folder: str) -> List[str]:
    """Files find_images passes over (other formats), so the user learns a .gif or .pdf was ignored."""
    other = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        other.extend(os.path.join(root, n) for n in sorted(files) if not is_image_file(n) and not n.startswith("."))
    return other


# --------------------------------------------------------------------------
# Report


def _borderline(info: PieceResult) -> bool:
    return 1 / BORDERLINE_FACTOR <= info.color_score <= BORDERLINE_FACTOR


def _size_stats(pages: List[Page]) -> Dict[str, object]:
    if not pages:
        return {"count": 0}
    heights = [p.info.out_size[1] for p in pages]
    return {"count": len(pages), "width": pages[0].info.out_size[0], "height_min": min(heights),
            "height_median": int(statistics.median(heights)), "height_max": max(heights),
            "upscaled": sum(p.info.out_size[0] > p.info.source_size[0] for p in pages)}


def build_report(args: argparse.Namespace, argv: Sequence[str], sources: Dict[str, str], settings: Settings,
                 files_found: int, ignored: List[str], pages: List[Page], unreadable: List[Tuple[str, str]],
                 elapsed: float) -> Dict[str, object]:
    kept = [p for p in pages if p.info.drop is None]
    folders = {name: [p for p in kept if ("test" if p.test else "train") + p.info.domain == name]
               for name in OUTPUT_DIRS}
    drops = [{"path": path, "reason": "unreadable", "detail": reason} for path, reason in unreadable]
    for p in pages:
        if p.info.drop is not None:
            entry = {"path": p.task.path, "reason": p.info.drop, "detail": p.info.detail}
            if p.info.piece:
                entry["half"] = "right" if p.info.piece == 1 else "left"
            if p.dup_of is not None:
                entry["duplicate_of"] = p.dup_of.task.path
            drops.append(entry)
    by_reason = Counter(d["reason"] for d in drops)

    def page_entry(p: Page) -> Dict[str, object]:
        return {"path": p.task.path, "half": {0: None, 1: "right", 2: "left"}[p.info.piece],
                "color_score": round(p.info.color_score, 3), "colored_area": round(p.info.colored_area, 4),
                "colored_share_of_drawn": round(p.info.colored_share, 4), "domain": DOMAIN_WORDS[p.info.domain],
                "output": p.output or None}

    borderline = [page_entry(p) for p in kept if _borderline(p.info)]
    mismatched = []
    if not args.mixed:
        mismatched = [page_entry(p) for p in kept
                      if (p.info.color_score > 1.0) != (p.info.domain == "B")]
    return {
        "command": shlex.join(["python", "scripts/prepare_dataset.py", *argv]),
        "mode": "mixed" if args.mixed else "separate folders",
        "sources": sources,
        "out": args.out,
        "settings": {"width": settings.width, "max_upscale": settings.max_upscale, "min_size": settings.min_size,
                     "split_spreads": settings.split_spreads, "test_fraction": args.test_fraction,
                     "seed": args.seed, "dup_distance": args.dup_distance,
                     "blank_fraction": settings.blank_fraction, "workers": args.workers},
        "counts": {name: len(folder) for name, folder in folders.items()},
        "sizes": {name: _size_stats(folder) for name, folder in folders.items()},
        "classification": {
            "rule": (f"a pixel is colored when its YCbCr chroma exceeds {CHROMA_LEVEL:g} (0-255 scale) after "
                     f"white balance to the paper, on a copy <= {ANALYSIS_SIDE} px; a page is color when "
                     f"color_score > 1, color_score = max(colored_area / color_threshold, "
                     f"colored_share_of_drawn / {DRAWN_SHARE:g}), the second term only where colored_area > "
                     f"{SHARE_MIN_AREA:g} * color_threshold"),
            "color_threshold": settings.color_threshold, "chroma_level": CHROMA_LEVEL,
            "drawn_share": DRAWN_SHARE,
            "borderline_scores": [1 / BORDERLINE_FACTOR, BORDERLINE_FACTOR],
            "B/W": sum(p.info.domain == "A" for p in kept), "color": sum(p.info.domain == "B" for p in kept),
            "borderline": borderline,
            "mismatched": mismatched,
        },
        "files_found": files_found,
        "files_ignored": ignored,
        "spreads_split": len({p.task.path for p in pages if p.info.piece == 1}),
        "dropped_by_reason": {reason: by_reason[reason] for reason in DROP_REASONS if by_reason[reason]},
        "dropped": drops,
        "pages": [page_entry(p) for p in kept],
        "elapsed_s": round(elapsed, 1),
    }


def summary_lines(report: Dict[str, object], out: str) -> List[str]:
    counts, sizes, cls = report["counts"], report["sizes"], report["classification"]
    lines = [f"prepared {out} from {report['files_found']} files in {report['elapsed_s']} s"]
    for domain, word in DOMAIN_WORDS.items():
        train, test = sizes["train" + domain], sizes["test" + domain]
        heights = [s for s in (train, test) if s["count"]]
        shape = ""
        if heights:
            shape = (f"{heights[0]['width']} px wide, {min(s['height_min'] for s in heights)}-"
                     f"{max(s['height_max'] for s in heights)} px tall")
        lines.append(f"  {word:6} train{domain} {counts['train' + domain]:<5} test{domain} "
                     f"{counts['test' + domain]:<4} {shape}")
    if report["mode"] == "mixed":
        lines.append(f"  split: color if > {cls['color_threshold']:.1%} of the page (or > {DRAWN_SHARE:.0%} of what is "
                     f"drawn) has chroma > {CHROMA_LEVEL:g}; "
                     f"{cls['B/W']} B/W, {cls['color']} color, {len(cls['borderline'])} borderline")
    elif cls["mismatched"]:
        lines.append(f"  {len(cls['mismatched'])} pages look like the other folder's domain (see 'mismatched')")
    dropped = report["dropped_by_reason"]
    total = sum(dropped.values())
    lines.append(f"  dropped {total}" + (": " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dropped.items())
                                        if total else ""))
    if report["spreads_split"]:
        lines.append(f"  spreads split in two: {report['spreads_split']}")
    lines.append(f"  report: {os.path.join(out, REPORT_NAME)}")
    load = min(512, report["settings"]["width"])
    lines.append(f"  next:   python train.py --dataroot {out} --name {os.path.basename(os.path.normpath(out))} "
                 f"--preprocess scale_width_and_crop --load_size {load} --crop_size {min(256, load)}")
    return lines


# --------------------------------------------------------------------------
# The run


def _empty_domain_error(domain: str, args: argparse.Namespace, pages: List[Page],
                        unreadable: List[Tuple[str, str]], settings: Settings) -> UserError:
    word = DOMAIN_WORDS[domain]
    if args.mixed:
        usable = sorted((p.info.color_score, p.label) for p in pages if p.info.drop is None)
        if not usable:
            return UserError(f"no usable page in --mixed {args.mixed}; see the dropped pages above")
        score, label = usable[-1] if domain == "B" else usable[0]
        change = "lower" if domain == "B" else "raise"
        hint = (f"the {'most' if domain == 'B' else 'least'} colorful page, {label}, has color score {score:.2f} "
                f"(1 = --color_threshold {settings.color_threshold:g}): {change} --color_threshold, "
                f"or give --bw and --color folders")
        return UserError(f"no {word} page in --mixed {args.mixed}: {hint}")
    flag = "--bw" if domain == "A" else "--color"
    folder = args.bw if domain == "A" else args.color
    lost = Counter(p.info.drop for p in pages if p.info.domain == domain and p.info.drop)
    bad = sum(_inside(path, folder) for path, _ in unreadable)
    if bad:
        lost["unreadable"] += bad
    detail = ", ".join(f"{reason} {n}" for reason, n in lost.items()) or "none found"
    return UserError(f"no usable page in {flag} {folder} ({detail}); train{domain} would be empty")


def _log_classification(kept: List[Page], mixed: bool) -> None:
    for p in kept:
        if mixed and _borderline(p.info):
            log.info("borderline: %s has color score %.2f (%.1f%% of the page colored) -> %s", p.label,
                     p.info.color_score, 100 * p.info.colored_area, DOMAIN_WORDS[p.info.domain])
        elif not mixed and (p.info.color_score > 1.0) != (p.info.domain == "B"):
            log.warning("%s is in the %s folder but looks %s (color score %.2f); kept as %s", p.label,
                        DOMAIN_WORDS[p.info.domain], DOMAIN_WORDS["A" if p.info.domain == "B" else "B"],
                        p.info.color_score, DOMAIN_WORDS[p.info.domain])


def prepare(args: argparse.Namespace, argv: Sequence[str]) -> Dict[str, object]:
    started = time.perf_counter()
    sources = {"--mixed": args.mixed} if args.mixed else {"--bw": args.bw, "--color": args.color}
    check_folders(sources, args.out, args.overwrite)
    settings = Settings(width=args.width, max_upscale=args.max_upscale, min_size=args.min_size,
                        split_spreads=args.split_spreads, color_threshold=args.color_threshold,
                        blank_fraction=args.blank_fraction)

    found: List[Tuple[str, str, Optional[str]]] = []  # (path, source root, domain or None)
    ignored: List[str] = []
    for flag, folder in sources.items():
        paths = find_images(folder)
        if not paths:
            raise UserError(f"{flag} {folder}: no images ({', '.join(e.lstrip('.') for e in IMG_EXTENSIONS)}) found")
        domain = {"--bw": "A", "--color": "B"}.get(flag)
        found.extend((path, folder, domain) for path in paths)
        ignored.extend(_count_other_files(folder))
    if ignored:
        log.info("ignoring %d files that are not images of a known type, e.g. %s", len(ignored),
                 ", ".join(ignored[:3]))
    log.info("found %d image files in %s", len(found), ", ".join(f"{f} {d}" for f, d in sources.items()))

    created_out = not os.path.isdir(args.out)
    os.makedirs(args.out, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=args.out)
    try:
        tasks = [Task(i, path, os.path.relpath(path, root), domain, staging)
                 for i, (path, root, domain) in enumerate(found)]
        pages: List[Page] = []
        unreadable: List[Tuple[str, str]] = []
        with logging_redirect_tqdm(), tqdm(total=len(tasks), unit="page", disable=None) as bar:
            for result in run_analysis(tasks, settings, args.workers):
                task = tasks[result.index]
                if result.error is not None:
                    unreadable.append((task.path, result.error))
                    log.warning("skipping unreadable %s (%s)", task.path, result.error)
                pages.extend(Page(task, info) for info in result.pieces)
                bar.update(1)

        for domain in DOMAIN_WORDS:
            mark_duplicates([p for p in pages if p.info.domain == domain and p.info.drop is None], args.dup_distance)
        for p in pages:
            if p.info.drop is not None:
                log.info("dropping %s: %s", p.label, p.info.detail)

        kept = [p for p in pages if p.info.drop is None]
        for domain in DOMAIN_WORDS:
            if not any(p.info.domain == domain for p in kept):
                raise _empty_domain_error(domain, args, pages, unreadable, settings)
            held_out = choose_test_files([p.task.path for p in kept if p.info.domain == domain],
                                         args.test_fraction, args.seed, domain)
            for p in kept:
                if p.info.domain == domain:
                    p.test = p.task.path in held_out

        for domain in DOMAIN_WORDS:
            in_domain = [p for p in kept if p.info.domain == domain]
            stems = output_stems([(p.task.rel, p.info.piece) for p in in_domain])
            for p in in_domain:
                folder = ("test" if p.test else "train") + domain
                p.output = os.path.join(folder, stems[(p.task.rel, p.info.piece)] + ".png")
        _log_classification(kept, bool(args.mixed))

        # The whole dataset is assembled inside the staging folder; an earlier one in --out is
        # replaced only at the end, by a few renames, so a failed run leaves it intact.
        for name in OUTPUT_DIRS:
            os.makedirs(os.path.join(staging, name))
        for p in kept:
            os.replace(p.info.staged, os.path.join(staging, p.output))
        report = build_report(args, argv, sources, settings, len(found), ignored, pages, unreadable,
                              time.perf_counter() - started)
        atomic_write_text(os.path.join(staging, REPORT_NAME), json.dumps(report, indent=2) + "\n")
        _remove_previous(args.out, keep=staging)
        for name in (*OUTPUT_DIRS, REPORT_NAME):
            os.replace(os.path.join(staging, name), os.path.join(args.out, name))
    except BaseException:
        if created_out:
            shutil.rmtree(args.out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Turn folders of manga scans into trainA/trainB/testA/testB and a report.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = parser.add_argument_group("sources (read only): --mixed, or both --bw and --color")
    src.add_argument("--mixed", metavar="DIR", help="one folder of B/W and color pages, told apart by chroma")
    src.add_argument("--bw", metavar="DIR", help="folder of B/W pages (domain A)")
    src.add_argument("--color", metavar="DIR", help="folder of colored pages (domain B)")
    parser.add_argument("--out", required=True, help="dataset folder to write, e.g. datasets/NAME")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace trainA/trainB/testA/testB/report.json in a non-empty --out")
    parser.add_argument("--width", type=number_type(int, 32), default=1024,
                        help="every page is resized to this width in px (aspect kept)")
    parser.add_argument("--max_upscale", type=number_type(float, 1.0), default=2.0,
                        help="pages that would need more upscaling than this to reach --width are dropped")
    parser.add_argument("--min_size", type=number_type(int, 1), default=256,
                        help="pages shorter than this (px) after scaling to --width are dropped")
    parser.add_argument("--split_spreads", action="store_true",
                        help=f"cut pages wider than {SPREAD_ASPECT:g}x their height in two (right half _1)")
    parser.add_argument("--test_fraction", type=number_type(float, 0.0, 0.5), default=0.05,
                        help="fraction of each domain's files held out into testA/testB")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test split")
    parser.add_argument("--color_threshold", type=number_type(float, 0.0, 1.0, low_open=True), default=0.05,
                        help=f"--mixed: a page is color when more than this fraction of it has chroma > "
                             f"{CHROMA_LEVEL:g}, or more than {DRAWN_SHARE:g} of its drawn pixels do and at least "
                             f"{SHARE_MIN_AREA:g} x this fraction of it")
    parser.add_argument("--dup_distance", type=number_type(int, 0, 64), default=4,
                        help="near-duplicates: perceptual hashes at most this many bits apart (of 64)")
    parser.add_argument("--blank_fraction", type=number_type(float, 0.0, 1.0), default=0.005,
                        help="pages with less than this fraction of content pixels are blank")
    parser.add_argument("--workers", type=number_type(int, 1), default=min(4, os.cpu_count() or 1),
                        help="decoding processes")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.mixed and (args.bw or args.color):
            raise UserError("--mixed cannot be combined with --bw/--color")
        if not args.mixed and not (args.bw and args.color):
            raise UserError("give --mixed DIR, or both --bw DIR and --color DIR")
        if args.width < args.min_size:
            raise UserError(f"--width {args.width} is below --min_size {args.min_size}: every page would be dropped")
        report = prepare(args, argv)
        print("\n".join(summary_lines(report, args.out)))
        return 0

    return run_main(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
