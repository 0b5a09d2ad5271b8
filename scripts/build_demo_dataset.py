"""Build the small unpaired manga-colorization demo dataset from comicgen drawings.

The comicgen npm package (version 1.9.9) ships the same four cartoon characters
twice: as black-and-white ink drawings (``dee``, ``dey``, ``priya``, ``ringo``)
and as colored versions of the very same drawings (``deenuova``, ``deynuovo``,
``priyanuova``, ``ringonuovo``). Each picture is a *pose* SVG (the body) with an
*emotion* SVG (the face) on the same 500x600 canvas, so every pose/emotion
combination can be rendered in both styles. That gives a CycleGAN-style layout:

    <out>/trainA/  B/W renders of training poses          (domain A: ink)
    <out>/trainB/  colored renders of training poses      (domain B: color)
    <out>/testA/   B/W renders of held-out poses
    <out>/testB/   colored renders of the same held-out poses, same file names
    <out>/LICENSE.md, <out>/manifest.json

trainA and trainB never share a pose/emotion combination (the training data is
truly unpaired), while testA/testB are exact pairs, so a model's test output can
be compared against the real colored drawing. Held-out poses never appear in
training for that character and angle.

Usage (from the repository root; needs ``npm`` on PATH unless ``--package`` is
given)::

    # rebuild the committed 128 px demo set in datasets/demo
    python scripts/build_demo_dataset.py --overwrite

    # same, from an already downloaded ``npm pack comicgen@1.9.9`` tarball or
    # its unpacked ``package/`` folder, without touching the network
    python scripts/build_demo_dataset.py --package comicgen-1.9.9.tgz --overwrite

    # a larger set for real experiments (not committed)
    python scripts/build_demo_dataset.py --size 256 --n 1000 --n_test 100 --out datasets/demo256

    # manga pages (panels, speech bubbles, screentone) in datasets/demo_pages, as committed;
    # needs DejaVu Sans Bold (Debian: fonts-dejavu-core) or --font for the lettering
    python scripts/build_demo_dataset.py --pages --overwrite
    python scripts/build_demo_dataset.py --pages --page_width 768 --n_pages 500 --out datasets/pages768

Pages (``--pages``, composed by ``scripts/manga_pages.py``) draw their characters from the same
split: trainA pages from the trainA pool, trainB pages from the trainB pool (different
compositions, so the domains stay unpaired), and validation and test pages from the held-out
poses. ``valA``/``valB`` and ``testA``/``testB`` are pairs with the same name; ``valMasks`` and
``testMasks`` hold a label image per pair (bubble interiors, lettering, each character's fill)
and ``labels.json`` naming the character and panel of each fill.

With the default two held-out poses per character and angle there are 1,447
disjoint training combinations per domain and 522 held-out test pairs; a larger
``--n`` or ``--n_test`` is capped at what exists, with a one-line warning (the
characters then stay as balanced as their pose counts allow).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import random
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cairosvg
from PIL import Image, ImageFont

import manga_pages

LOG = logging.getLogger("build_demo_dataset")

PACKAGE_NAME = "comicgen"
PACKAGE_VERSION = "1.9.9"
PACKAGE_SPEC = f"{PACKAGE_NAME}@{PACKAGE_VERSION}"

# B/W character -> its colored twin. Only these four pairs are used: they are
# the characters that exist in both styles as the same drawings.
CHARACTERS: dict[str, str] = {
    "dee": "deenuova",
    "dey": "deynuovo",
    "priya": "priyanuova",
    "ringo": "ringonuovo",
}

# comicgen draws every character file into a 500x600 canvas (svg/dee/index.json).
CANVAS_W = 500
CANVAS_H = 600

DRAWING_DIRS = ("trainA", "trainB", "testA", "testB")
OUTPUT_DIRS = DRAWING_DIRS + ("valA", "valB", "valMasks", "testMasks")  # the last four with --pages
OUTPUT_FILES = ("LICENSE.md", "manifest.json")

EXIT_FAILURE = 1
EXIT_USAGE = 2

_SVG_ROOT = re.compile(r"<svg\b[^>]*>", re.S)
_VIEWBOX = re.compile(r"""viewBox\s*=\s*["']([^"']*)["']""")


class BuildError(Exception):
    """A failure that should end the run with a one-line message."""


@dataclass(frozen=True, order=True)
class Combo:
    """One picture: a character (B/W name) in a pose with an emotion."""

    char: str
    angle: str
    pose: str
    emotion: str

    @property
    def filename(self) -> str:
        return f"{self.char}_{self.angle}_{self.pose}_{self.emotion}.png"


@dataclass
class Split:
    train_a: list[Combo]
    train_b: list[Combo]
    test: list[Combo]
    held_out: dict[str, list[str]]


# --------------------------------------------------------------------------
# Getting the package


def _extract_package(tgz: Path, dest: Path) -> Path:
    """Unpack only what the build needs from an npm tarball; return package/."""
    wanted_dirs = tuple(f"package/svg/{name}/" for pair in CHARACTERS.items() for name in pair)
    wanted_files = {"package/package.json", "package/LICENSE", "package/README.md"}
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            members = [
                m for m in tar.getmembers() if m.name in wanted_files or m.name.startswith(wanted_dirs)
            ]
            if not members:
                raise BuildError(f"{tgz} does not look like an npm package tarball of {PACKAGE_NAME}")
            # The "data" filter rejects absolute paths, links out of the tree and
            # device files, which matters because the tarball comes from outside.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python without PEP 706 backport
                tar.extractall(dest, members=members)
    except (tarfile.TarError, OSError) as exc:
        raise BuildError(f"cannot unpack {tgz}: {exc}") from exc
    return dest / "package"


def _npm_pack(dest: Path) -> Path:
    """Fetch the published tarball with the user's own npm setup."""
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(
            f"npm not found on PATH; install Node.js/npm or pass --package with a "
            f"'npm pack {PACKAGE_SPEC}' tarball or its unpacked folder"
        )
    LOG.info("running: npm pack %s", PACKAGE_SPEC)
    try:
        proc = subprocess.run(
            [npm, "pack", PACKAGE_SPEC],
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"'npm pack {PACKAGE_SPEC}' failed: {exc}") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise BuildError(f"'npm pack {PACKAGE_SPEC}' failed: {detail}")
    tarballs = sorted(dest.glob("*.tgz"))
    if len(tarballs) != 1:
        raise BuildError(f"'npm pack {PACKAGE_SPEC}' did not leave exactly one .tgz in {dest}")
    return tarballs[0]


def _check_package(root: Path) -> Path:
    """Make sure root is the unpacked comicgen@1.9.9; the credits depend on it."""
    meta_path = root / "package.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read {meta_path}: {exc}") from exc
    found = f"{meta.get('name')}@{meta.get('version')}"
    if found != PACKAGE_SPEC:
        raise BuildError(f"{root} holds {found}, expected {PACKAGE_SPEC}")
    missing = [name for pair in CHARACTERS.items() for name in pair if not (root / "svg" / name).is_dir()]
    if missing:
        raise BuildError(f"{root}/svg lacks character folders: {', '.join(missing)}")
    return root


def resolve_package(package: str | None, workdir: Path) -> Path:
    """Return the unpacked package/ folder, running npm pack when none is given."""
    if package is None:
        return _check_package(_extract_package(_npm_pack(workdir), workdir))
    path = Path(package).expanduser()
    if path.is_file():
        return _check_package(_extract_package(path, workdir))
    if path.is_dir():
        # Accept both the package/ folder itself and the folder it was unpacked into.
        if not (path / "package.json").is_file() and (path / "package" / "package.json").is_file():
            path = path / "package"
        return _check_package(path)
    raise BuildError(f"--package {package}: no such file or directory")


# --------------------------------------------------------------------------
# What can be drawn


def _names(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.svg")} if folder.is_dir() else set()


def build_catalog(svg_root: Path) -> dict[str, dict[str, tuple[list[str], list[str]]]]:
    """char -> angle -> (poses, emotions) drawn in both the B/W and colored style."""
    catalog: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
    for bw, color in CHARACTERS.items():
        angles: dict[str, tuple[list[str], list[str]]] = {}
        for angle_dir in sorted(p for p in (svg_root / bw).iterdir() if p.is_dir()):
            angle = angle_dir.name
            twin = svg_root / color / angle
            poses = sorted(_names(angle_dir / "pose") & _names(twin / "pose"))
            emotions = sorted(_names(angle_dir / "emotion") & _names(twin / "emotion"))
            dropped = (_names(angle_dir / "emotion") | _names(twin / "emotion")) - set(emotions)
            if dropped:
                LOG.info(
                    "%s/%s: skipping emotions not drawn in both styles: %s",
                    bw,
                    angle,
                    ", ".join(sorted(dropped)),
                )
            if poses and emotions:
                angles[angle] = (poses, emotions)
        if not angles:
            raise BuildError(f"no pose/emotion drawn in both {bw} and {color}")
        catalog[bw] = angles
    return catalog


# --------------------------------------------------------------------------
# Split


def _round_robin(groups: Sequence[Sequence[Combo]]) -> Iterator[Combo]:
    """Cycle through groups so every pose shows up before any pose repeats."""
    depth = max((len(g) for g in groups), default=0)
    for i in range(depth):
        for group in groups:
            if i < len(group):
                yield group[i]


def _allocate(total: int, capacity: dict[str, int]) -> dict[str, int]:
    """Spread total over characters as evenly as their capacity allows."""
    alloc = {key: 0 for key in capacity}
    remaining = min(total, sum(capacity.values()))
    while remaining:
        for key in capacity:
            if remaining and alloc[key] < capacity[key]:
                alloc[key] += 1
                remaining -= 1
    return alloc


def plan_split(
    catalog: dict[str, dict[str, tuple[list[str], list[str]]]],
    n_train: int | None,
    n_test: int | None,
    holdout: int,
    seed: int,
) -> Split:
    """Split the combos into disjoint trainA / trainB pools and held-out test pairs.

    ``None`` for a count takes every combo there is (the page builder draws its characters
    from the whole pool).
    """
    rng = random.Random(seed)
    held_out: dict[str, list[str]] = {}
    seq_a: dict[str, list[Combo]] = {}
    seq_b: dict[str, list[Combo]] = {}
    seq_test: dict[str, list[Combo]] = {}

    for char, angles in catalog.items():
        groups_a: list[list[Combo]] = []
        groups_b: list[list[Combo]] = []
        groups_test: list[list[Combo]] = []
        for angle, (poses, emotions) in angles.items():
            # Keep at least one pose for training even for sparse angles.
            k = max(0, min(holdout, len(poses) - 1))
            test_poses = sorted(rng.sample(poses, k))
            held_out[f"{char}/{angle}"] = test_poses
            for pose in poses:
                combos = [Combo(char, angle, pose, emotion) for emotion in emotions]
                rng.shuffle(combos)
                if pose in test_poses:
                    groups_test.append(combos)
                else:
                    # Alternate emotions between the domains so each pose appears
                    # in both trainA and trainB but no combination appears twice.
                    groups_a.append(combos[0::2])
                    groups_b.append(combos[1::2])
        for groups in (groups_a, groups_b, groups_test):
            rng.shuffle(groups)
        seq_a[char] = list(_round_robin(groups_a))
        seq_b[char] = list(_round_robin(groups_b))
        seq_test[char] = list(_round_robin(groups_test))

    train_cap = {c: min(len(seq_a[c]), len(seq_b[c])) for c in catalog}
    test_cap = {c: len(seq_test[c]) for c in catalog}
    n_train = sum(train_cap.values()) if n_train is None else n_train
    n_test = sum(test_cap.values()) if n_test is None else n_test
    _warn_if_capped(
        "--n", n_train, sum(train_cap.values()), "disjoint training pose/emotion combinations per domain"
    )
    _warn_if_capped("--n_test", n_test, sum(test_cap.values()), "held-out pose/emotion combinations")
    train_alloc = _allocate(n_train, train_cap)
    test_alloc = _allocate(n_test, test_cap)

    return Split(
        train_a=sorted(c for char in catalog for c in seq_a[char][: train_alloc[char]]),
        train_b=sorted(c for char in catalog for c in seq_b[char][: train_alloc[char]]),
        test=sorted(c for char in catalog for c in seq_test[char][: test_alloc[char]]),
        held_out=held_out,
    )


def _warn_if_capped(flag: str, wanted: int, available: int, what: str) -> None:
    if wanted > available:
        LOG.warning(
            "%s %d exceeds the %d %s available; capping at %d", flag, wanted, available, what, available
        )


# --------------------------------------------------------------------------
# Rendering


def _wrap_svg(text: str, size: int) -> str:
    """Place one comicgen SVG file on a size x size canvas, centered and padded.

    A few files use slightly different viewBoxes (e.g. 496.8x597.6); nesting them
    in a 500x600 viewport with xMidYMid meet reproduces how comicgen itself fits
    them, so faces and bodies from different files still line up. A couple of
    drawings reach slightly past the 500-wide canvas (e.g. ringo's outstretched
    hand at a desk); overflow="visible" lets that spill into the side padding
    instead of being cut off.
    """
    root = _SVG_ROOT.search(text)
    if root is None:
        raise BuildError("not an SVG document")
    viewbox_match = _VIEWBOX.search(root.group(0))
    viewbox = viewbox_match.group(1) if viewbox_match else f"0 0 {CANVAS_W} {CANVAS_H}"
    body = text[root.end() : text.rfind("</svg>")]
    pad = (CANVAS_H - CANVAS_W) / 2
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{size}" height="{size}" viewBox="{-pad:g} 0 {CANVAS_H} {CANVAS_H}">'
        f'<svg x="0" y="0" width="{CANVAS_W}" height="{CANVAS_H}" viewBox="{viewbox}" '
        f'preserveAspectRatio="xMidYMid meet" overflow="visible">{body}</svg></svg>'
    )


# Layers are reused across many combinations (every emotion is drawn over
# several poses), and jobs are rendered in sorted order, so a small cache keeps
# nearly every file to a single cairosvg call.
@functools.lru_cache(maxsize=256)
def render_layer(path: Path, size: int) -> Image.Image:
    try:
        svg = _wrap_svg(path.read_text(encoding="utf-8"), size)
        png = cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    except BuildError as exc:
        raise BuildError(f"{path}: {exc}") from exc
    except Exception as exc:  # cairosvg raises assorted parser errors
        raise BuildError(f"cannot render {path}: {exc}") from exc
    return Image.open(io.BytesIO(png)).convert("RGBA")


def _draw_layers(canvas: Image.Image, svg_root: Path, char: str, combo: Combo) -> Image.Image:
    base = svg_root / char / combo.angle
    size = canvas.size[0]
    # Same order as comicgen's svg/dee/index.svg: face first, body on top, so
    # hands in poses like "thinking" cover the face instead of vanishing behind it.
    canvas.alpha_composite(render_layer(base / "emotion" / f"{combo.emotion}.svg", size))
    canvas.alpha_composite(render_layer(base / "pose" / f"{combo.pose}.svg", size))
    return canvas


def render_combo(svg_root: Path, char: str, combo: Combo, size: int) -> Image.Image:
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    # Both domains are stored as RGB so a loader treats them identically.
    return _draw_layers(canvas, svg_root, char, combo).convert("RGB")


def render_drawing(svg_root: Path, char: str, combo: Combo, size: int) -> Image.Image:
    """The combo drawn by `char` (B/W or colored twin) as a size x size RGBA image, transparent around."""
    return _draw_layers(Image.new("RGBA", (size, size), (255, 255, 255, 0)), svg_root, char, combo)


def render_all(svg_root: Path, split: Split, out: Path, size: int) -> int:
    jobs: list[tuple[str, Combo, str]] = []
    for combo in split.train_a:
        jobs.append((combo.char, combo, "trainA"))
    for combo in split.train_b:
        jobs.append((CHARACTERS[combo.char], combo, "trainB"))
    for combo in split.test:
        jobs.append((combo.char, combo, "testA"))
        jobs.append((CHARACTERS[combo.char], combo, "testB"))
    jobs.sort(key=lambda job: (job[0], job[1]))

    for folder in DRAWING_DIRS:
        (out / folder).mkdir(parents=True, exist_ok=True)
    for i, (src_char, combo, folder) in enumerate(jobs, 1):
        render_combo(svg_root, src_char, combo, size).save(out / folder / combo.filename, optimize=True)
        if i % 200 == 0:
            LOG.info("rendered %d/%d images", i, len(jobs))
    return len(jobs)


# --------------------------------------------------------------------------
# Pages (--pages)

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",  # Debian/Ubuntu: fonts-dejavu-core
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",  # Fedora
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",  # Arch
)
FONT_PACKAGE = "fonts-dejavu-core"


def load_font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    """The lettering font: --font, else DejaVu Sans Bold from the system's fonts-dejavu."""
    candidates = [path] if path else [p for p in FONT_CANDIDATES if Path(p).is_file()]
    if not candidates:
        raise BuildError(f"no DejaVu Sans Bold found for the lettering; install {FONT_PACKAGE} "
                         "(Debian/Ubuntu) or pass --font PATH.ttf")
    try:
        return ImageFont.truetype(candidates[0], size)
    except OSError as exc:
        raise BuildError(f"--font {candidates[0]}: cannot load it as a TrueType font ({exc})") from exc


def _pools(combos: Iterable[Combo]) -> dict[str, list[Combo]]:
    pools: dict[str, list[Combo]] = {}
    for combo in combos:
        pools.setdefault(combo.char, []).append(combo)
    return pools


def split_held_out(test: Sequence[Combo]) -> tuple[list[Combo], list[Combo]]:
    """Held-out combos alternate, per character, between validation and test pages."""
    val: list[Combo] = []
    held: list[Combo] = []
    for combos in _pools(test).values():
        val += combos[0::2]
        held += combos[1::2]
    return val, held


@dataclass
class PageJob:
    folder: str  # trainA / trainB, or val / test for pairs with masks
    pool: dict[str, list[Combo]]
    count: int


def render_pages(svg_root: Path, jobs: Sequence[PageJob], out: Path, width: int, seed: int,
                 font: ImageFont.FreeTypeFont) -> dict[str, int]:
    """Compose and save every page; returns how often each character was drawn."""

    def ink(char: str, combo: object, size: int) -> Image.Image:
        return render_drawing(svg_root, char, combo, size)  # type: ignore[arg-type]

    def colored(char: str, combo: object, size: int) -> Image.Image:
        return render_drawing(svg_root, CHARACTERS[char], combo, size)  # type: ignore[arg-type]

    drawn = {char: 0 for char in CHARACTERS}
    for job in jobs:
        labels_of: dict[str, list[dict[str, object]]] = {}
        for i in range(job.count):
            # A string seed is hashed with SHA-512 by random.Random, so pages are stable across runs.
            plan = manga_pages.plan_page(width, job.pool, random.Random(f"{seed}/{job.folder}/{i}"))
            name = f"page_{i:03d}.png"
            for placement in plan.placements:
                drawn[placement.character] += 1
            if job.folder in ("trainA", "trainB"):
                color = job.folder == "trainB"
                page = manga_pages.render_page(plan, color, colored if color else ink, font)
                page.save(out / job.folder / name, optimize=True)
                continue
            manga_pages.render_page(plan, False, ink, font).save(out / f"{job.folder}A" / name, optimize=True)
            manga_pages.render_page(plan, True, colored, font).save(out / f"{job.folder}B" / name, optimize=True)
            labels = manga_pages.page_labels(plan, ink, font)
            Image.fromarray(labels).save(out / f"{job.folder}Masks" / name, optimize=True)
            labels_of[Path(name).stem] = manga_pages.placement_table(plan)
        if labels_of:
            (out / f"{job.folder}Masks" / "labels.json").write_text(json.dumps(labels_of, indent=1) + "\n",
                                                                    encoding="utf-8")
        LOG.info("composed %d %s pages", job.count, job.folder)
    return drawn


def page_jobs(split: Split, args: argparse.Namespace) -> list[PageJob]:
    val, test = split_held_out(split.test)
    return [
        PageJob("trainA", _pools(split.train_a), args.n_pages),
        PageJob("trainB", _pools(split.train_b), args.n_pages),
        PageJob("val", _pools(val), args.n_val_pages),
        PageJob("test", _pools(test), args.n_test_pages),
    ]


# --------------------------------------------------------------------------
# Output folder and metadata


def prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise BuildError(f"--out {out} is not empty; pass --overwrite to replace its contents")
        # Only remove what this script writes, in case --out points somewhere shared.
        for name in OUTPUT_DIRS:
            shutil.rmtree(out / name, ignore_errors=True)
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
        leftovers = sorted(p.name for p in out.iterdir())
        if leftovers:
            LOG.warning("--out %s keeps entries this script did not write: %s", out, ", ".join(leftovers))
    out.mkdir(parents=True, exist_ok=True)


def rebuild_command(args: argparse.Namespace) -> str:
    """The invocation that reproduces this output, independent of local paths."""
    parts = ["python", "scripts/build_demo_dataset.py"]
    if args.pages:
        parts += [
            "--pages",
            "--page_width", str(args.page_width),
            "--n_pages", str(args.n_pages),
            "--n_val_pages", str(args.n_val_pages),
            "--n_test_pages", str(args.n_test_pages),
            "--seed", str(args.seed),
        ]  # fmt: skip
    else:
        parts += ["--size", str(args.size), "--seed", str(args.seed), "--n", str(args.n), "--n_test", str(args.n_test)]
    parts += ["--holdout_poses", str(args.holdout_poses), "--out", str(args.out), "--overwrite"]
    return shlex.join(parts)


PAGES_PROVENANCE = """
Here the drawings are composed into manga pages (`scripts/manga_pages.py`):
panels with borders and gutters, characters at 1x to 3x the single-drawing
size and cropped by their panels, speech bubbles, and backgrounds that are a
flat tint on the color pages and a dot screentone on the B/W pages. The
lettering is set in **DejaVu Sans Bold** (Debian package `fonts-dejavu-core`).
Its license (the Bitstream Vera Fonts license, with the DejaVu changes in the
public domain) allows the fonts to be used for any purpose; only rendered
glyphs are in these images, the font files are not redistributed.
"""


def write_license(out: Path, command: str, package_meta: dict[str, str], pages: bool) -> None:
    chars = ", ".join(f"`{bw}`/`{color}`" for bw, color in CHARACTERS.items())
    text = f"""# License and provenance of this dataset

The images in this folder are renders of SVG
drawings from the **{PACKAGE_SPEC}** npm package ({package_meta.get("repository", "")}).
Each drawing combines one emotion (face) drawing and one pose (body) drawing of a
character, layered the way comicgen layers them. No
other characters from the package are used.
{PAGES_PROVENANCE if pages else ""}
## Drawings: CC0 1.0

Characters used (B/W / colored): {chars}.

The comicgen README (section "Character credits") lists these characters as
drawn by **Ramya Mylavarapu** and released under the
[CC0 1.0 license](https://creativecommons.org/publicdomain/zero/1.0/). The
colored variants (`deenuova`, `deynuovo`, `priyanuova`, `ringonuovo`) are
colored versions of the same drawings, shipped in the same package; the
credits list does not name them separately.

## comicgen package: MIT

The comicgen package itself is distributed under the MIT license:

```
Copyright 2019 Gramener

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
```

## Rebuilding

Built from {PACKAGE_SPEC} with `scripts/build_demo_dataset.py`. From the
repository root, with `npm` on PATH (it runs `npm pack {PACKAGE_SPEC}`):

```
{command}
```

Add `--package PATH` (the `npm pack` tarball or its unpacked folder) to build
without network access. `manifest.json` records the split and the counts.
"""
    (out / "LICENSE.md").write_text(text, encoding="utf-8")


def write_manifest(out: Path, args: argparse.Namespace, split: Split, command: str, source: str,
                   pages_drawn: dict[str, int] | None) -> None:
    def per_char(combos: Iterable[Combo]) -> dict[str, int]:
        counts = {char: 0 for char in CHARACTERS}
        for combo in combos:
            counts[combo.char] += 1
        return counts

    manifest = {
        "source": PACKAGE_SPEC,
        "package_obtained_by": source,
        "characters": CHARACTERS,
        "size": args.size,
        "seed": args.seed,
        "holdout_poses_per_angle": args.holdout_poses,
        "counts": {
            "trainA": len(split.train_a),
            "trainB": len(split.train_b),
            "testA": len(split.test),
            "testB": len(split.test),
        },
        "per_character": {
            "train": per_char(split.train_a),
            "test": per_char(split.test),
        },
        "held_out_poses": split.held_out,
        "file_name": "<char>_<angle>_<pose>_<emotion>.png (B/W character name in both domains)",
        "layers": "emotion drawn first, pose on top (comicgen's order)",
        "renderer": f"cairosvg {cairosvg.__version__}",
        "command": command,
    }
    if pages_drawn is not None:
        manifest["counts"] = {"trainA": args.n_pages, "trainB": args.n_pages, "valA": args.n_val_pages,
                              "valB": args.n_val_pages, "testA": args.n_test_pages, "testB": args.n_test_pages}
        manifest["pages"] = {
            "width": args.page_width,
            "characters_drawn": pages_drawn,
            "pools": "trainA and trainB pages draw from disjoint pose/emotion pools; val and test pages "
            "from held-out poses, alternating between the two",
            "file_name": "page_<index>.png; val/test pairs share the name, <phase>Masks/ holds its labels",
            "labels": "<phase>Masks/<name>.png: 0 other, 1 bubble interior, 2 lettering, 16+k fill of "
            "character placement k; <phase>Masks/labels.json names each placement's character and panel",
        }
        del manifest["file_name"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------
# CLI


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=f"Render the unpaired B/W -> color demo dataset from {PACKAGE_SPEC}.",
    )
    parser.add_argument(
        "--package",
        metavar="DIR_OR_TGZ",
        help=f"unpacked package folder or tarball of {PACKAGE_SPEC} (default: run 'npm pack {PACKAGE_SPEC}')",
    )
    parser.add_argument("--out", default=None,
                        help="output folder (default: datasets/demo, or datasets/demo_pages with --pages)")
    parser.add_argument("--size", type=_positive, default=128, help="square image side in px (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split (default: %(default)s)")
    parser.add_argument("--n", type=_non_negative, default=120, help="images per train domain (default: %(default)s)")
    parser.add_argument("--n_test", type=_non_negative, default=24, help="test pairs (default: %(default)s)")
    parser.add_argument(
        "--holdout_poses",
        type=_non_negative,
        default=2,
        help="poses held out for testing per character and angle (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs in a non-empty --out")
    pages = parser.add_argument_group("pages", "compose manga pages instead of single drawings")
    pages.add_argument("--pages", action="store_true",
                       help="compose pages: panels, bubbles with lettering, screentone, recurring characters")
    pages.add_argument("--page_width", type=_positive, default=manga_pages.BASE_WIDTH,
                       help="page width in px; height is width x 1.414 (default: %(default)s)")
    pages.add_argument("--n_pages", type=_non_negative, default=60, help="pages per train domain (default: %(default)s)")
    pages.add_argument("--n_val_pages", type=_non_negative, default=8,
                       help="validation page pairs with masks (default: %(default)s)")
    pages.add_argument("--n_test_pages", type=_non_negative, default=12,
                       help="test page pairs with masks (default: %(default)s)")
    pages.add_argument("--font", default=None, help="TrueType font for the lettering (default: DejaVu Sans Bold)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = "datasets/demo_pages" if args.pages else "datasets/demo"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = parse_args(argv)
    out = Path(args.out)
    try:
        prepare_out(out, args.overwrite)
    except BuildError as exc:
        LOG.error("%s", exc)
        return EXIT_USAGE

    started = time.perf_counter()
    pages_drawn = None
    try:
        font = load_font(args.font, manga_pages.font_size(args.page_width)) if args.pages else None
        with tempfile.TemporaryDirectory(prefix="comicgen-") as tmp:
            package_root = resolve_package(args.package, Path(tmp))
            package_meta = json.loads((package_root / "package.json").read_text(encoding="utf-8"))
            svg_root = package_root / "svg"
            catalog = build_catalog(svg_root)
            if args.pages:
                split = plan_split(catalog, None, None, args.holdout_poses, args.seed)
                for folder in OUTPUT_DIRS:
                    (out / folder).mkdir(parents=True, exist_ok=True)
                pages_drawn = render_pages(svg_root, page_jobs(split, args), out, args.page_width, args.seed, font)
            else:
                split = plan_split(catalog, args.n, args.n_test, args.holdout_poses, args.seed)
                count = render_all(svg_root, split, out, args.size)
    except BuildError as exc:
        LOG.error("%s", exc)
        return EXIT_FAILURE

    command = rebuild_command(args)
    source = "--package (local copy)" if args.package else f"npm pack {PACKAGE_SPEC}"
    write_license(out, command, package_meta, args.pages)
    write_manifest(out, args, split, command, source, pages_drawn)
    if args.pages:
        LOG.info("wrote %d train pages per domain, %d validation and %d test page pairs to %s in %.1f s",
                 args.n_pages, args.n_val_pages, args.n_test_pages, out, time.perf_counter() - started)
    else:
        LOG.info("wrote %d images to %s (trainA %d, trainB %d, test pairs %d) in %.1f s", count, out,
                 len(split.train_a), len(split.train_b), len(split.test), time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
