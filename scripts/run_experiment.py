"""Train named configurations under one fixed budget, colorize the demo test pages, score them, keep a table.

    python scripts/run_experiment.py --list                              # the configurations
    python scripts/run_experiment.py plain recipe --seeds 0 1 2          # train + colorize + score, append rows
    python scripts/run_experiment.py bw_input                            # the do-nothing baseline (no training)
    python scripts/run_experiment.py --table                             # mean +- spread per configuration (markdown)
    python scripts/run_experiment.py --grid bw_input plain recipe gt --seed 0 --out docs/images/experiments_grid.png

    # manga pages: train on crops of datasets/demo_pages, colorize whole test pages, page metrics too,
    # and the single drawings at their own scale and at 2x (build those with build_demo_dataset.py)
    python scripts/run_experiment.py recipe_multiply --budget pages --epochs 14 --seeds 0 1 2 \
        --also_test datasets/demo experiments/demo256

Each (configuration, seed) runs three steps, each in its own process, as a user would run them:
train.py with the budget flags + the configuration's flags + --seed, test.py on <dataroot>/testA
(--precision fp32, so the score does not depend on the machine's bf16 support), and
evaluation.metrics.evaluate_folders against <dataroot>/testB (paired metrics) and <dataroot>/trainB
(FID/KID reference). One JSON line per run is appended to --results: configuration, flags, seed,
metrics, training wall time and seconds per iteration. A (configuration, seed, budget) already in
the file is skipped unless --force, so an interrupted queue resumes where it stopped.
Run folders and colorized pages go under --workdir (git-ignored). The steps run the code of the
checkout the script lives in, and paths are taken from the current folder: to keep editing while
a queue runs, run the script of a snapshot (`git worktree add ../snapshot HEAD`) from here.

Every row of one table must share the budget (--epochs, the architecture in BUDGET_FLAGS, the
machine) and nothing else may run on the machine meanwhile, or the s/iter column means nothing.
"""

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from data.descreen import descreen
from data.image_folder import domain_folder, find_images, load_image
from evaluation.metrics import METRIC_KEYS, evaluate_folders, load_rgb, match_files, match_key, paired_metrics
from evaluation.page_metrics import PAGE_KEYS, find_masks
from options.presets import DRAWINGS_RECIPE, as_flags
from options.types import number_type
from util.cli import run_main
from util.errors import UserError
from util.fileio import atomic_save_image, atomic_write_text

log = logging.getLogger("run_experiment")

RESULTS = {"drawings": os.path.join("docs", "experiments", "results.jsonl"),
           "pages": os.path.join("docs", "experiments", "pages.jsonl")}
DATAROOTS = {"drawings": "datasets/demo", "pages": "datasets/demo_pages"}
BW_INPUT = "bw_input"  # the B/W page itself as the prediction: the do-nothing baseline
BW_DESCREEN = "bw_descreen"  # the B/W page descreened (data/descreen.py): what --descreen alone gives
BASELINES = (BW_INPUT, BW_DESCREEN)  # no training, one row each
GROUND_TRUTH = "gt"  # only for --grid

# The demo's architecture and image size (options/presets.py), fixed for every row so that rows
# differ only by the configuration's own flags. Logging is sparse: it is not what is measured.
BUDGET_FLAGS: Tuple[str, ...] = (
    "--netG", "resnet_6blocks", "--ngf", "24", "--ndf", "32", "--load_size", "128", "--crop_size", "112",
    "--num_threads", "2", "--print_freq", "120", "--display_freq", "100000", "--update_html_freq", "100000",
    "--save_latest_freq", "100000", "--save_epoch_freq", "1000", "--no_html",
)
# Pages: the same network on 112 px crops of whole 384 px wide pages (characters at 1x-3x of the
# drawings' scale), as a user trains on real pages; the test pages are colorized whole.
PAGE_BUDGET_FLAGS: Tuple[str, ...] = (
    *BUDGET_FLAGS[:BUDGET_FLAGS.index("--load_size")], "--preprocess", "scale_width_and_crop", "--load_size", "384",
    *BUDGET_FLAGS[BUDGET_FLAGS.index("--crop_size"):],
)


@dataclass(frozen=True)
class Config:
    """A training configuration; or, with `weights_of`, a test-time variant that colorizes that
    configuration's runs (same seeds and budget) with `test_flags` instead of training again."""

    description: str
    flags: Tuple[str, ...]
    test_flags: Tuple[str, ...] = ()
    weights_of: Optional[str] = None


GRAY_ID = ("--lambda_gray_identity", "5")  # as strong as the identity loss (0.5 x 10)
INK = (*GRAY_ID, "--bw_style", "ink")
DARKER_INK = ("--output_luma", "darker", *INK)
DARKER_RESIZE = ("--output_luma", "darker", "--upsampling", "resize")
RECIPE = (*DARKER_RESIZE, "--ema_decay", "0.999")
MULTIPLY_RECIPE = ("--output_luma", "multiply", "--upsampling", "resize", "--ema_decay", "0.999")
# Pages: the layer may exceed 1 (multiply_headroom); trained and colorized at half the page's width;
# test-time flat fills and speech bubbles kept.
HEADROOM_NO_CONTEXT = ("--output_luma", "multiply_headroom", *MULTIPLY_RECIPE[2:])
HEADROOM = (*HEADROOM_NO_CONTEXT, "--global_context")
HALF_WIDTH = ("--load_size", "192")
HALF_WIDTH_TEST = ("--preprocess", "scale_width", *HALF_WIDTH)
KEPT = ("--flat_fills", "--keep_bubbles")
# recipe_descreen_half_gray's flags after the output's: the base of the page rows.
DESCREEN_GRAY = (*GRAY_ID, "--bw_style", "gray", "--descreen")
HALF_GRAY = (*DESCREEN_GRAY, *HALF_WIDTH)
# The stem sees each pixel's gray past instance norm and Fourier-encoded (the --preset manga values).
GRAY_LEVELS = ("--level_channels", "8", "--gray_octaves", "5")
# recipe_descreen_half_inktone_fourier: the grayscale identity's B/W leaves the fills white, as the scans do.
INKTONE_FOURIER = (*HEADROOM, *GRAY_ID, "--bw_style", "ink_tone", "--descreen", *HALF_WIDTH, *GRAY_LEVELS)
# recipe_descreen_half_gray_fourier_gbplain: the encoding in G_A only (PAGES_RECIPE before --cycle_noise).
GBPLAIN = (*HEADROOM, *HALF_GRAY, *GRAY_LEVELS, "--gray_octaves_B", "0")


def kept(name: str, width_flags: Tuple[str, ...] = HALF_WIDTH_TEST) -> Config:
    """The test-time variant that colorizes `name`'s runs with flat fills and speech bubbles kept,
    at the width `width_flags` ask (by default half the page's, as the `*_half*` rows train)."""
    return Config(f"{name}'s runs colorized with --flat_fills and --keep_bubbles", (), (*width_flags, *KEPT), name)

# One change at a time against `plain`, then combinations. PRESET_CONFIG is the drawings' recipe
# (options/presets.DRAWINGS_RECIPE); `recipe` is its predecessor, the base of the `recipe_*` rows.
# On pages, --preset manga trains options/presets.PAGES_RECIPE, which is
# `recipe_descreen_half_gray_fourier_gbplain_noise4` but for the half-width training scale (a --load_size
# for these pages).
CONFIGS: Dict[str, Config] = {
    "plain": Config("upstream CycleGAN: LSGAN + cycle + identity 0.5, transposed-conv upsampling", ()),
    "resize": Config("plain + resize-conv upsampling (against the checkerboard)", ("--upsampling", "resize")),
    "luma_input": Config("plain + G_A keeps its input's luminance, predicts color only", ("--output_luma", "input")),
    "luma_darker": Config("plain + G_A's output luminance is the darker of input and output (ink kept)",
                          ("--output_luma", "darker")),
    "luma_loss": Config("plain + |Y(G_A(A)) - Y(A)| loss, weight 10 (soft luma_input)", ("--lambda_luma", "10")),
    "gray_identity": Config("plain + grayscale identity: G_A(gray(B)) = B, weight 5", GRAY_ID),
    "gray_identity_ink": Config("plain + grayscale identity from ink-style B/W (light fills to white)", INK),
    "spectral_norm": Config("plain + spectral normalization in both discriminators", ("--spectral_norm",)),
    "ttur": Config("plain + two time-scale learning rates: G 1e-4, D 4e-4", ("--lr", "0.0001", "--lr_D", "0.0004")),
    "luma_input_gray_ink": Config("luma_input + gray_identity_ink", ("--output_luma", "input", *INK)),
    "darker_gray_ink": Config("luma_darker + gray_identity_ink", DARKER_INK),
    "darker_gray_ink_id15": Config("darker_gray_ink with the grayscale identity weighted 15", (
        "--output_luma", "darker", "--lambda_gray_identity", "15", "--bw_style", "ink")),
    "darker_gray_screentone": Config("darker_gray_ink with screentone-style B/W for the grayscale identity",
                                     ("--output_luma", "darker", *GRAY_ID, "--bw_style", "screentone")),
    "darker_gray_ink_resize": Config("darker_gray_ink + resize-conv upsampling",
                                     (*DARKER_INK, "--upsampling", "resize")),
    "darker_resize": Config("luma_darker + resize-conv upsampling (the recipe before the moving average)",
                            DARKER_RESIZE),
    "darker_resize_sn": Config("darker_resize + spectral normalization in both discriminators",
                               (*DARKER_RESIZE, "--spectral_norm")),
    "darker_resize_ttur": Config("darker_resize + two time-scale learning rates: G 1e-4, D 4e-4",
                                 (*DARKER_RESIZE, "--lr", "0.0001", "--lr_D", "0.0004")),
    "darker_resize_msd": Config("darker_resize + two-scale PatchGAN critics (full and half size)",
                                (*DARKER_RESIZE, "--num_D", "2")),
    "recipe": Config("darker_resize + colorize with a moving average of G_A's weights (decay 0.999); "
                     "the recipe before recipe_gc_gray_ink", RECIPE),
    "recipe_msd": Config("recipe + two-scale PatchGAN critics", (*RECIPE, "--num_D", "2")),
    "recipe_gray_ink": Config("recipe + gray_identity_ink", (*RECIPE, *INK)),
    "recipe_lr2": Config("recipe with twice the learning rate (G and D 4e-4)", (*RECIPE, "--lr", "0.0004")),
    "recipe_d4": Config("recipe + 4-layer PatchGAN critics (142 px patches: the whole crop)",
                        (*RECIPE, "--n_layers_D", "4")),
    "recipe_gc": Config("recipe + a page-level style from the generator's bottleneck for its decoder",
                        (*RECIPE, "--global_context")),
    "recipe_gc_msd": Config("recipe_gc + two-scale PatchGAN critics (the half-size one sees a whole figure)",
                            (*RECIPE, "--global_context", "--num_D", "2")),
    "recipe_gc_gray_ink": Config("recipe_gc + gray_identity_ink: the recipe before recipe_multiply",
                                 (*RECIPE, "--global_context", *INK)),
    "recipe_detach": Config("recipe + cycle B trains G_A only (G_B cannot hide color hints for G_A)",
                            (*RECIPE, "--detach_cycle_B")),
    "recipe_detach_both": Config("recipe + each cycle trains only its second generator",
                                 (*RECIPE, "--detach_cycle_A", "--detach_cycle_B")),
    "recipe_gc_gray_ink_noidt": Config("recipe_gc_gray_ink without the color identity loss",
                                       (*RECIPE, "--global_context", *INK, "--lambda_identity", "0")),
    "luma_multiply": Config("plain + G_A's output is the page times a color layer (ink stays black, lines untinted)",
                            ("--output_luma", "multiply")),
    "multiply_resize_ema": Config("recipe with the page times a color layer instead of the darker luminance",
                                  MULTIPLY_RECIPE),
    # Built from the drawings' recipe itself (options/presets.py), so this row is exactly it.
    "recipe_multiply": Config("recipe_gc_gray_ink with the page times a color layer instead of the darker "
                              "luminance: the drawings' recipe (options/presets.DRAWINGS_RECIPE)",
                              tuple(as_flags(DRAWINGS_RECIPE))),
    "recipe_multiply_ngf16": Config("recipe_multiply with a narrower generator (ngf 16: ~0.45x its convolution "
                                    "FLOPs), for a faster demo on CPUs",
                                    (*MULTIPLY_RECIPE, "--global_context", *INK, "--ngf", "16")),
    "recipe_multiply_gb8": Config("recipe_multiply with a narrow G_B (--ngf_B 8: about a ninth of its "
                                  "convolution FLOPs). G_B only turns color into B/W for the cycles and never "
                                  "colorizes, so G_A, the generator that matters, keeps its width",
                                  (*MULTIPLY_RECIPE, "--global_context", *INK, "--ngf_B", "8")),
    "recipe_9blocks": Config("recipe with the issue's generator: resnet_9blocks, ngf 32",
                             (*RECIPE, "--netG", "resnet_9blocks", "--ngf", "32")),
    "recipe_headroom": Config("recipe_multiply with the color layer allowed up to 1.25 and the product clipped at "
                              "white, so white paper is not at tanh's asymptote (plain multiply saturates to an "
                              "all-white layer on pages)",
                              (*HEADROOM, *INK)),
    "recipe_headroom_tone": Config("recipe_headroom with screentone-style B/W for the grayscale identity: flat "
                                   "tints become dot screens, as the B/W pages print them",
                                   (*HEADROOM, *GRAY_ID, "--bw_style", "screentone")),
    "recipe_descreen": Config("recipe_headroom on descreened B/W pages: screentone becomes the flat gray it "
                              "stands for before G_A sees it, in training and at test time",
                              (*HEADROOM, *INK, "--descreen")),
    "recipe_descreen_gray": Config("recipe_descreen with luminance B/W for the grayscale identity: a flat tint "
                                   "becomes the flat gray that a descreened scan shows there",
                                   (*HEADROOM, *GRAY_ID, "--bw_style", "gray", "--descreen")),
    "recipe_descreen_noidt": Config("recipe_descreen without the color identity loss (G_A(B) = B asks for a white "
                                    "layer on color pages, and a pale tint looks much like its gray)",
                                    (*HEADROOM, *INK, "--descreen", "--lambda_identity", "0")),
    "recipe_descreen_half": Config("recipe_descreen trained and colorized at half the page's width (192 px): a "
                                   "112 px crop then holds a whole character at about the drawings' scale, and "
                                   "the color layer is scaled back up onto the full-size page",
                                   (*HEADROOM, *INK, "--descreen", *HALF_WIDTH), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray": Config("recipe_descreen_half with luminance B/W for the grayscale identity: a "
                                        "color page's flat tint becomes the flat gray a descreened scan shows "
                                        "there, so G_A learns gray -> tint from pairs whose answer is known",
                                        (*HEADROOM, *HALF_GRAY),
                                        HALF_WIDTH_TEST),
    "recipe_descreen_half_gray15_kept": Config("recipe_descreen_half_gray_kept with the grayscale identity three "
                                               "times as strong (15): its pairs are the only ones that say which "
                                               "tint a tone's gray stands for", (*HEADROOM, "--lambda_gray_identity",
                                                                                 "15", "--bw_style", "gray", "--descreen",
                                                                                 *HALF_WIDTH), (*HALF_WIDTH_TEST, *KEPT)),
    "recipe_descreen_half_gray_level": Config("recipe_descreen_half_gray with 8 of the generator's 24 stem channels "
                                              "kept out of instance norm (--level_channels): instance norm hides a "
                                              "pixel's absolute gray, which is what says which tint a tone stands for",
                                              (*HEADROOM, *HALF_GRAY, "--level_channels", "8"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_mixed": Config("recipe_descreen_half_gray trained on a corpus of half pages, half "
                                              "single drawings of the same characters (run with --dataroot of a "
                                              "folder whose trainA/trainB hold both; val and test are the pages'): "
                                              "a drawing shows one character large, with its colors",
                                              (*HEADROOM, *HALF_GRAY),
                                              HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_h15": Config("recipe_descreen_half_gray with the color layer's bound at 1.5 instead "
                                            "of 1.25 (--layer_headroom): dusk, night and sky need 1.34x, 1.39x and "
                                            "1.27x their gray in one channel, out of reach at 1.25",
                                            (*HEADROOM, *HALF_GRAY, "--layer_headroom", "1.5"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_st": Config("recipe_descreen_half_gray with a straight-through clip at white "
                                           "(--white_clip): a channel past white still gets a gradient",
                                           (*HEADROOM, *HALF_GRAY, "--white_clip", "straight_through"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_h15st": Config("recipe_descreen_half_gray_h15 with the straight-through clip",
                                              (*HEADROOM, *HALF_GRAY, "--layer_headroom", "1.5", "--white_clip",
                                               "straight_through"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier": Config("recipe_descreen_half_gray_level with sin and cos of each pixel's "
                                                "gray at 5 octaves into the stem (--gray_octaves): the tints' hues "
                                                "jump from one tone to the next, a function a network fits last "
                                                "from the gray alone", (*HEADROOM, *HALF_GRAY, *GRAY_LEVELS),
                                                HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_jitter": Config("recipe_descreen_half_gray_fourier with scale augmentation "
                                                       "(--scale_jitter 1.5: each page scaled to 128-288 px wide "
                                                       "before the crop), so each character is seen at more sizes "
                                                       "than the page's 1x-3x",
                                                       (*HEADROOM, *HALF_GRAY, *GRAY_LEVELS, "--scale_jitter", "1.5"),
                                                       HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_h15": Config("recipe_descreen_half_gray_fourier with the color layer allowed up "
                                                    "to 1.5x the scan (--layer_headroom 1.5): with the tints' hues "
                                                    "now right, dusk, night and sky need 1.34x, 1.39x and 1.27x their "
                                                    "gray in one channel, past the 1.25 bound",
                                                    (*HEADROOM, *HALF_GRAY, *GRAY_LEVELS, "--layer_headroom", "1.5"),
                                                    HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_multiply": Config("recipe_descreen_half_gray_fourier with the plain multiply "
                                                         "(--output_luma multiply) instead of the layer's headroom: "
                                                         "past white the clip gives no gradient, so a white shirt "
                                                         "whose layer went past 1 can never learn its color; the "
                                                         "page recipe with the headroom scores 1.57 on the drawings "
                                                         "where the drawings' recipe scores 0.86",
                                                         (*MULTIPLY_RECIPE, "--global_context", *HALF_GRAY,
                                                          *GRAY_LEVELS), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_msd": Config("recipe_descreen_half_gray_fourier with two-scale PatchGAN "
                                                    "critics (--num_D 2): a 70 px patch of the full-size critic often "
                                                    "holds a shirt or a face but not both, so few of its verdicts judge "
                                                    "whether a shirt's color fits its wearer; the half-size one sees "
                                                    "140 px, a whole figure at the half width",
                                                    (*HEADROOM, *HALF_GRAY, *GRAY_LEVELS, "--num_D", "2"),
                                                    HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_darken": Config("recipe_descreen_half_gray_fourier with a clip at white that "
                                                       "passes the gradients that darken (--white_clip darken): the "
                                                       "hard clip leaves a white shirt whose layer went past 1 no way "
                                                       "back to its color, and straight-through lets the pushes past "
                                                       "white run the layer into tanh's asymptote",
                                                       (*HEADROOM, *HALF_GRAY, *GRAY_LEVELS, "--white_clip", "darken"),
                                                       HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_oct3": Config("recipe_descreen_half_gray_fourier with the gray encoded at 3 "
                                                     "octaves, not 5 (--gray_octaves 3): on the drawings the 5-octave "
                                                     "encoding alone takes the demo from 0.86 to 1.31, its colors "
                                                     "following faint grays; its top cycle spans 1/16 of the gray "
                                                     "range, so a pixel 3% below white gets a code as far from "
                                                     "white's as a tint's, where 3 octaves' top cycle spans 1/4",
                                                     (*HEADROOM, *HALF_GRAY, "--level_channels", "8", "--gray_octaves",
                                                      "3"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_win5": Config("recipe_descreen_half_gray_fourier with the gray encoded as the "
                                                     "lightest within 5 px (--gray_window 5), the tone behind the "
                                                     "ink: on the drawings, whose B/W is white paper and lines, the "
                                                     "encoding of each pixel's own gray takes the demo from 0.86 to "
                                                     "1.31, perhaps by reading the lines' soft edges as tones",
                                                     (*HEADROOM, *HALF_GRAY, *GRAY_LEVELS, "--gray_window", "5"),
                                                     HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_gbplain": Config("recipe_descreen_half_gray_fourier with the gray encoding in "
                                                        "G_A only (--gray_octaves_B 0): G_B maps color to B/W, and an "
                                                        "encoding of its input's red channel makes it easy to hide "
                                                        "the colors in faint grays for G_A to read back (CycleGAN's "
                                                        "steganography, Chu et al., 2017)",
                                                        GBPLAIN, HALF_WIDTH_TEST),
    "recipe_descreen_half_inktone_fourier": Config("recipe_descreen_half_gray_fourier with ink_tone B/W for the "
                                                   "grayscale identity: the scans leave the figures' fills white and "
                                                   "tone only the ground, but luminance B/W showed G_A the shirts as "
                                                   "grays, so white fills never had to be colored",
                                                   INKTONE_FOURIER, HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_gbplain_mixed": Config("recipe_descreen_half_gray_fourier_gbplain on pages "
                                                              "and single drawings together, as "
                                                              "recipe_descreen_half_gray_mixed: on the drawings alone "
                                                              "this recipe learns who wears what (0.98, the drawings' "
                                                              "recipe 0.86), on the pages it does not",
                                                              GBPLAIN, HALF_WIDTH_TEST),
    "recipe_descreen_half_inktone_fourier_gbplain": Config("recipe_descreen_half_inktone_fourier with the gray "
                                                           "encoding in G_A only (--gray_octaves_B 0): ink_tone's "
                                                           "grayscale identity asks G_A for each figure's colors from "
                                                           "white fills, which it can only learn from the figure "
                                                           "itself once G_B cannot hide the colors in faint grays",
                                                           (*INKTONE_FOURIER, "--gray_octaves_B", "0"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_gbplain_detach": Config("recipe_descreen_half_gray_fourier_gbplain with the "
                                                               "B -> A -> B cycle training G_A alone "
                                                               "(--detach_cycle_B): run backwards on color pages, "
                                                               "that row's G_B writes a textured gray into the fills "
                                                               "that real scans leave white, and G_A learns from "
                                                               "those pages; detached, G_B gains nothing from a code",
                                                               (*GBPLAIN, "--detach_cycle_B"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_fourier_gbplain_noise": Config("recipe_descreen_half_gray_fourier_gbplain with "
                                                              "noise on G_B's page before G_A restores it in the "
                                                              "cycle (--cycle_noise 0.2, a tenth of the value range): "
                                                              "the textured code that G_B writes into the fills "
                                                              "cannot pass it",
                                                              (*GBPLAIN, "--cycle_noise", "0.2"), HALF_WIDTH_TEST),
    **{f"recipe_descreen_half_gray_fourier_gbplain_noise{tenths}": Config(
        f"recipe_descreen_half_gray_fourier_gbplain_noise at --cycle_noise 0.{tenths}: how much noise",
        (*GBPLAIN, "--cycle_noise", f"0.{tenths}"), HALF_WIDTH_TEST) for tenths in (1, 4)},
    "recipe_descreen_half_gray_fourier_gbplain_noise4_clean": Config(
        "recipe_descreen_half_gray_fourier_gbplain_noise4 with the noise in G_A's input only "
        "(--cycle_noise_input_only): the multiply then scales the clean page, so the restored page has no noise "
        "floor that no color layer can meet", (*GBPLAIN, "--cycle_noise", "0.4", "--cycle_noise_input_only"),
        HALF_WIDTH_TEST),
    "recipe_descreen_half_inktone_fourier_dkid": Config("recipe_descreen_half_inktone_fourier with the identity "
                                                        "losses darkening past white (--white_clip darken_identity): "
                                                        "with the hard clip even that row's own training inputs keep "
                                                        "their white fills white, since a layer past white gets no "
                                                        "gradient toward the known color",
                                                        (*INKTONE_FOURIER, "--white_clip", "darken_identity"),
                                                        HALF_WIDTH_TEST),
    "recipe_descreen_half_inktone_fourier_noidt": Config("recipe_descreen_half_inktone_fourier without the color "
                                                         "identity loss: G_A(B) = B asks for a white layer on every "
                                                         "colored page, fills included, and drops two of the seven "
                                                         "generator passes per step",
                                                         (*INKTONE_FOURIER, "--lambda_identity", "0"), HALF_WIDTH_TEST),
    "recipe_descreen_half_inktone_fourier_fill10": Config("recipe_descreen_half_inktone_fourier with the fills weighted "
                                                          "11x in the grayscale identity (--fill_weight 10): even on its "
                                                          "own training inputs that row leaves the fills nearly white, "
                                                          "and they are 2.4% of a page's pixels (0.5-4.2%)",
                                                          (*INKTONE_FOURIER, "--fill_weight", "10"), HALF_WIDTH_TEST),
    "recipe_descreen_half_gray_nogc": Config("recipe_descreen_half_gray without the page style (--global_context): "
                                             "one style vector for the whole page may be what paints every toned "
                                             "panel the same tint", (*HEADROOM_NO_CONTEXT, *HALF_GRAY), HALF_WIDTH_TEST),
    # Test-time variants: the runs of `weights_of`, colorized differently (no training).
    "recipe_descreen_half_flat": Config("recipe_descreen_half's runs colorized with --flat_fills",
                                        (), (*HALF_WIDTH_TEST, "--flat_fills"), "recipe_descreen_half"),
    **{f"{name}_kept": kept(name)
       for name in ("recipe_descreen_half", "recipe_descreen_half_gray", "recipe_descreen_half_gray_level",
                    "recipe_descreen_half_gray_mixed", "recipe_descreen_half_gray_fourier",
                    "recipe_descreen_half_gray_h15", "recipe_descreen_half_gray_nogc", "recipe_descreen_half_gray_st",
                    "recipe_descreen_half_gray_h15st", "recipe_descreen_half_inktone_fourier",
                    "recipe_descreen_half_gray_fourier_jitter", "recipe_descreen_half_inktone_fourier_noidt",
                    "recipe_descreen_half_inktone_fourier_fill10", "recipe_descreen_half_gray_fourier_h15",
                    "recipe_descreen_half_gray_fourier_msd", "recipe_descreen_half_gray_fourier_multiply",
                    "recipe_descreen_half_gray_fourier_darken", "recipe_descreen_half_inktone_fourier_dkid",
                    "recipe_descreen_half_gray_fourier_oct3", "recipe_descreen_half_gray_fourier_win5",
                    "recipe_descreen_half_gray_fourier_gbplain", "recipe_descreen_half_inktone_fourier_gbplain",
                    "recipe_descreen_half_gray_fourier_gbplain_mixed", "recipe_descreen_half_gray_fourier_gbplain_detach",
                    "recipe_descreen_half_gray_fourier_gbplain_noise", "recipe_descreen_half_gray_fourier_gbplain_noise1",
                    "recipe_descreen_half_gray_fourier_gbplain_noise4",
                    "recipe_descreen_half_gray_fourier_gbplain_noise4_clean")},
    "recipe_descreen_kept": kept("recipe_descreen", ()),
    "recipe_descreen_gray_fourier": Config("recipe_descreen_half_gray_fourier at the pages' full width (384 px), "
                                           "colorized at it: the characters at 1-3x the drawings' scale, as large "
                                           "as the drawings that teach the drawings demo who wears what",
                                           (*HEADROOM, *DESCREEN_GRAY, *GRAY_LEVELS)),
    "recipe_descreen_gray_fourier_kept": kept("recipe_descreen_gray_fourier", ()),
    "recipe_headroom_flat": Config("recipe_headroom's runs colorized with --flat_fills", (), ("--flat_fills",),
                                   "recipe_headroom"),
}


PRESET_CONFIG = "recipe_multiply"


def budget_flags(epochs: int, budget: str = "drawings") -> List[str]:
    base = PAGE_BUDGET_FLAGS if budget == "pages" else BUDGET_FLAGS
    return [*base, "--n_epochs", str(epochs), "--n_epochs_decay", str(epochs)]


def read_rows(path: str) -> List[Dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_rows(path: str, rows: List[Dict[str, Any]]) -> None:
    """Rewrite the whole file (atomic: an interrupted run never leaves half a line)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def append_row(path: str, row: Dict[str, Any]) -> None:
    write_rows(path, read_rows(path) + [row])


def _run(cmd: List[str], log_path: str) -> float:
    """Run a step with its output in log_path; its wall time in seconds. A failure names the log."""
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as out:
        code = subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise UserError(f"{' '.join(cmd[:2])} failed with exit status {code}; see {log_path}")
    return time.perf_counter() - start


def _training_log(run_dir: str) -> Tuple[int, float]:
    """Iterations trained and the median seconds per iteration over the logged intervals (the median
    shrugs off an interval slowed by something else on the machine; the wall time does not)."""
    records = read_rows(os.path.join(run_dir, "loss_log.jsonl"))
    return int(records[-1]["step"]), statistics.median(r["time/step"] for r in records)


def score(pred_dir: str, dataroot: str, compute_fid: bool = True, phase: str = "test") -> Dict[str, Any]:
    """Paired metrics against <dataroot>/<phase>B, FID/KID against trainB, page metrics where
    <phase>Masks exists."""
    gt_dir = domain_folder(dataroot, phase, "B")
    masks = find_masks(gt_dir)
    result = evaluate_folders(pred_dir, gt_dir, domain_folder(dataroot, "train", "B") if compute_fid else None,
                              compute_fid=compute_fid, masks=masks)
    if result.missing["unreadable"] or result.missing["no_prediction"]:
        raise UserError(f"{pred_dir}: pages missing or unreadable: {result.missing}")
    keys = (*METRIC_KEYS, "kid_std", *(PAGE_KEYS + ("consistency_per_character",) if masks else ()))
    return {key: result.summary[key] for key in keys}


def score_also(work: str, roots: Sequence[str], test_flags: Sequence[str] = (), suffix: str = ""
               ) -> Dict[str, Dict[str, Any]]:
    """Colorize and score each extra test set (<root>/testA against <root>/testB, no FID)."""
    extra = {}
    for root in roots:
        label = os.path.basename(os.path.normpath(root))
        pred_dir = colorize(work, root, "pred_" + label + suffix, test_flags=test_flags)
        extra[label] = score(pred_dir, root, compute_fid=False)
    return extra


def colorize(work: str, dataroot: str, folder: str = "pred", phase: str = "test",
             test_flags: Sequence[str] = ()) -> str:
    """test.py with the weights of the run in `work` on <dataroot>/<phase>A; the folder of results."""
    pred_dir = os.path.join(work, folder)
    cmd = [sys.executable, "test.py", "--dataroot", domain_folder(dataroot, phase, "A"), "--name", os.path.basename(work),
           "--checkpoints_dir", os.path.join(work, "checkpoints"), "--output_dir", pred_dir, "--precision", "fp32",
           *test_flags]
    _run(cmd, os.path.join(work, f"test_{folder}.out"))
    return pred_dir


def rescore(rows: List[Dict[str, Any]], names: Sequence[str], opt: argparse.Namespace) -> List[Dict[str, Any]]:
    """Colorize and score the named configurations' runs again with today's test.py, keeping their
    training (for a change to inference; the training columns stay as they were)."""
    out = []
    for row in rows:
        if row["config"] in names and row["config"] not in BASELINES and row["epochs"] == opt.epochs:
            work = os.path.dirname(os.path.abspath(row["pred_dir"]))
            log.info("%s seed %d: colorizing and scoring again", row["config"], row["seed"])
            pred_dir = colorize(work, opt.dataroot)
            row = {**row, "metrics": score(pred_dir, opt.dataroot), "pred_dir": os.path.relpath(pred_dir)}
        out.append(row)
    return out


def _run_name(name: str, seed: int, opt: argparse.Namespace) -> str:
    return f"{name}_e{opt.epochs}_seed{seed}" + ("_pages" if opt.budget == "pages" else "")


def _train(name: str, seed: int, opt: argparse.Namespace, row: Dict[str, Any]) -> str:
    """Train `name` with `seed` into a fresh work folder; fills the row's training columns."""
    run_name = _run_name(name, seed, opt)
    work = os.path.abspath(os.path.join(opt.workdir, run_name))
    if os.path.isdir(work):
        # Left by an interrupted or --force'd run: its logs would mix with this run's.
        shutil.rmtree(work)
    os.makedirs(work)
    flags = [*budget_flags(opt.epochs, opt.budget), *CONFIGS[name].flags]
    checkpoints = os.path.join(work, "checkpoints")
    train_cmd = [sys.executable, "train.py", "--dataroot", opt.dataroot, "--name", run_name,
                 "--checkpoints_dir", checkpoints, "--seed", str(seed), *flags]
    log.info("%s seed %d: training", name, seed)
    train_s = _run(train_cmd, os.path.join(work, "train.out"))
    iterations, s_per_iter = _training_log(os.path.join(checkpoints, run_name))
    row.update(flags=flags, iterations=iterations, train_s=round(train_s, 1), s_per_iter=round(s_per_iter, 4))
    return work


def _trained_work(name: str, seed: int, opt: argparse.Namespace, row: Dict[str, Any]) -> str:
    """The work folder of an existing run of `name` (for a test-time variant); copies its training columns."""
    trained = [r for r in read_rows(opt.results) if r["config"] == name and r["seed"] == seed
               and r["epochs"] == opt.epochs]
    work = os.path.abspath(os.path.join(opt.workdir, _run_name(name, seed, opt)))
    if not trained or not os.path.isdir(work):
        raise UserError(f"run {name} with --seeds {seed} --epochs {opt.epochs} first: its weights are needed")
    row.update({key: trained[-1][key] for key in ("flags", "iterations", "train_s", "s_per_iter")})
    return work


def baseline_pages(name: str, folder: str, out: str) -> str:
    """The pages a baseline predicts for the B/W pages in `folder`: the folder itself for bw_input,
    else each page descreened into `out`. Returns the folder of predictions."""
    if name == BW_INPUT or not os.path.isdir(folder):
        return folder
    for path in find_images(folder):
        target = os.path.join(out, os.path.splitext(os.path.relpath(path, folder))[0] + ".png")
        atomic_save_image(descreen(load_image(path, 1)), target)
    return out


def run_one(name: str, seed: int, opt: argparse.Namespace) -> Dict[str, Any]:
    row: Dict[str, Any] = {"config": name, "seed": seed, "epochs": opt.epochs, "dataroot": os.path.relpath(opt.dataroot)}
    has_val = os.path.isdir(os.path.join(opt.dataroot, "valA"))  # the split recipes are chosen on
    if name in BASELINES:
        row.update(flags=[], iterations=0, train_s=0.0, s_per_iter=None)
        work = os.path.abspath(os.path.join(opt.workdir, _run_name(name, seed, opt)))
        pred_dir, val_dir = (baseline_pages(name, domain_folder(opt.dataroot, phase, "A"), os.path.join(work, folder))
                             for phase, folder in (("test", "pred"), ("val", "pred_val")))
        also = {}
        for root in opt.also_test:
            label = os.path.basename(os.path.normpath(root))
            folder = baseline_pages(name, domain_folder(root, "test", "A"), os.path.join(work, "pred_" + label))
            also[label] = score(folder, root, compute_fid=False)
    else:
        config = CONFIGS[name]
        work = _trained_work(config.weights_of, seed, opt, row) if config.weights_of else _train(name, seed, opt, row)
        suffix = f"_{name}" if config.weights_of else ""
        row["test_flags"] = list(config.test_flags)
        pred_dir = colorize(work, opt.dataroot, "pred" + suffix, test_flags=config.test_flags)
        val_dir = colorize(work, opt.dataroot, "pred_val" + suffix, "val", config.test_flags) if has_val else None
        also = score_also(work, opt.also_test, config.test_flags, suffix)
    log.info("%s seed %d: scoring", name, seed)
    row["metrics"] = score(pred_dir, opt.dataroot)
    row["pred_dir"] = os.path.relpath(pred_dir)
    if has_val:
        row["val"] = score(val_dir, opt.dataroot, compute_fid=False, phase="val")
    if also:
        row["also"] = also
    return row


# --------------------------------------------------------------------------
# The table

TABLE_COLUMNS = (("ciede2000", "CIEDE2000 ↓", 2), ("ssim", "SSIM ↑", 3), ("kid", "KID ↓", 3),
                 ("fid", "FID ↓", 0), ("psnr", "PSNR ↑", 2), ("colorfulness_pred", "colorfulness", 1))


def mean_spread(values: Sequence[float], digits: int) -> str:
    """'mean ± sample standard deviation' (just the value for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def summarize(rows: List[Dict[str, Any]], epochs: int) -> Dict[str, Dict[str, Any]]:
    """Per configuration (bw_input, then the order of CONFIGS): seeds, per-metric values, s/iter."""
    groups: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        if row["epochs"] != epochs and row["config"] not in BASELINES:
            continue
        group = groups.setdefault(row["config"], {"seeds": [], "metrics": {}, "s_per_iter": []})
        group["seeds"].append(row["seed"])
        for key, value in row["metrics"].items():
            if value is not None:
                group["metrics"].setdefault(key, []).append(value)
        if row["s_per_iter"]:
            group["s_per_iter"].append(row["s_per_iter"])
    order = [*BASELINES, *CONFIGS]
    return dict(sorted(groups.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))


def format_table(rows: List[Dict[str, Any]], epochs: int) -> str:
    groups = summarize(rows, epochs)
    if not groups:
        raise UserError(f"no rows with --epochs {epochs} yet; run some configurations first")
    gt_colorfulness = next(iter(groups.values()))["metrics"].get("colorfulness_gt", [float("nan")])[0]
    header = ["configuration", "seeds"] + [title for _, title, _ in TABLE_COLUMNS] + ["s/iter"]
    header[header.index("colorfulness")] = f"colorfulness (gt {gt_colorfulness:.1f})"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for name, group in groups.items():
        cells = [f"`{name}`", str(len(group["seeds"]))]
        for key, _, digits in TABLE_COLUMNS:
            values = group["metrics"].get(key, [])
            cells.append(mean_spread(values, digits if key != "kid" else 3) if values else "-")
        cells.append(f"{statistics.mean(group['s_per_iter']):.3f}" if group["s_per_iter"] else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Pages: what the page issue asks for, test split; val is the split the recipe is chosen on.
PAGE_COLUMNS = (("val", "ciede2000", "val CIEDE2000 ↓", 2), ("test", "ciede2000", "CIEDE2000 ↓", 2),
                ("test", "fill_ciede2000", "fills ↓", 1), ("test", "bubble_ciede2000", "bubbles ↓", 2),
                ("test", "lettering_dL", "lettering ΔL* ↓", 2), ("test", "consistency_ratio_max", "spread ratio", 2),
                ("test", "owner_accuracy", "owners ↑", 2),
                ("test", "fill_chroma_pred", "fill chroma", 1), ("test", "colorfulness_pred", "colorfulness", 1),
                ("demo", "ciede2000", "drawings 1×", 2), ("demo256", "ciede2000", "drawings 2×", 2))


def _page_values(row: Dict[str, Any]) -> Dict[Tuple[str, str], float]:
    values = {("test", k): v for k, v in row["metrics"].items() if isinstance(v, (int, float))}
    values.update({("val", k): v for k, v in row.get("val", {}).items() if isinstance(v, (int, float))})
    for label, metrics in row.get("also", {}).items():
        values.update({(label, k): v for k, v in metrics.items() if isinstance(v, (int, float))})
    return values


def format_page_table(rows: List[Dict[str, Any]], epochs: int) -> str:
    """The page table: one line per configuration, mean ± spread over seeds, B/W page first."""
    groups: Dict[str, List[Dict[Tuple[str, str], float]]] = {}
    speed: Dict[str, List[float]] = {}
    for row in rows:
        if row["epochs"] == epochs or row["config"] in BASELINES:
            groups.setdefault(row["config"], []).append(_page_values(row))
            if row["s_per_iter"]:
                speed.setdefault(row["config"], []).append(row["s_per_iter"])
    if not groups:
        raise UserError(f"no rows with --epochs {epochs} yet; run some configurations first")
    order = [*BASELINES, *CONFIGS]
    first = next(iter(groups.values()))[0]
    header = ["configuration", "seeds"] + [title for *_, title, _ in PAGE_COLUMNS] + ["s/iter"]
    header[header.index("colorfulness")] = f"colorfulness (gt {first.get(('test', 'colorfulness_gt'), 0):.1f})"
    header[header.index("fill chroma")] = f"fill chroma (gt {first.get(('test', 'fill_chroma_gt'), 0):.1f})"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for name in sorted(groups, key=lambda n: order.index(n) if n in order else len(order)):
        cells = [f"`{name}`", str(len(groups[name]))]
        for split, key, _, digits in PAGE_COLUMNS:
            values = [v[(split, key)] for v in groups[name] if (split, key) in v]
            cells.append(mean_spread(values, digits) if values else "-")
        cells.append(f"{statistics.mean(speed[name]):.3f}" if name in speed else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_targets(rows: List[Dict[str, Any]], epochs: int, candidate: str = PRESET_CONFIG) -> str:
    """The issue's targets for `candidate` against the `bw_input` and `plain` rows, one line each."""
    groups = summarize(rows, epochs)
    missing = [n for n in (BW_INPUT, "plain", candidate) if n not in groups]
    if missing:
        return f"targets: no rows yet for {', '.join(missing)}"
    mean = {name: {k: statistics.mean(v) for k, v in g["metrics"].items()} for name, g in groups.items()}
    new, bw, plain = mean[candidate], mean[BW_INPUT], mean["plain"]
    speed = (statistics.mean(groups[candidate]["s_per_iter"]) / statistics.mean(groups["plain"]["s_per_iter"]))
    checks = [
        ("CIEDE2000 at least 20% below the B/W input", new["ciede2000"] <= 0.8 * bw["ciede2000"],
         f"{new['ciede2000']:.2f} vs {bw['ciede2000']:.2f} ({new['ciede2000'] / bw['ciede2000'] - 1:+.0%})"),
        ("KID at least 30% below plain CycleGAN", new["kid"] <= 0.7 * plain["kid"],
         f"{new['kid']:.3f} vs {plain['kid']:.3f} ({new['kid'] / plain['kid'] - 1:+.0%})"),
        ("luminance SSIM >= 0.97", new["ssim"] >= 0.97, f"{new['ssim']:.3f}"),
        ("colorfulness within 15% of the ground truth",
         abs(new["colorfulness_pred"] / new["colorfulness_gt"] - 1) <= 0.15,
         f"{new['colorfulness_pred']:.1f} vs {new['colorfulness_gt']:.1f} "
         f"({new['colorfulness_pred'] / new['colorfulness_gt'] - 1:+.0%})"),
        ("at most 15% slower per iteration than plain", speed <= 1.15, f"{speed - 1:+.0%}"),
    ]
    return "\n".join(f"- {'met' if ok else 'NOT met'}: {what}: {detail}" for what, ok, detail in checks)


# --------------------------------------------------------------------------
# The sample grid

def _prediction_dir(rows: List[Dict[str, Any]], name: str, seed: int, epochs: int, dataroot: str) -> str:
    if name == GROUND_TRUTH:
        return domain_folder(dataroot, "test", "B")
    if name == BW_INPUT:
        return domain_folder(dataroot, "test", "A")
    for row in rows:
        if row["config"] == name and row["seed"] == seed and row["epochs"] == epochs:
            return row["pred_dir"]
    raise UserError(f"--grid {name}: no run with --seed {seed} and --epochs {epochs} in the results; run it first")


def _worst_pages(pages: List[str], folder: str, dataroot: str, n_pages: int) -> List[str]:
    """The `n_pages` test pages whose prediction under `folder` has the highest CIEDE2000, worst first."""
    gt_dir = domain_folder(dataroot, "test", "B")
    pairs, _ = match_files(folder, find_images(folder), gt_dir, find_images(gt_dir))
    page_of = {match_key(page, domain_folder(dataroot, "test", "A")): page for page in pages}
    errors = [(paired_metrics(load_rgb(pred), load_rgb(gt))["ciede2000"], page_of[key])
              for key, pred, gt in pairs if key in page_of]
    return [page for _, page in sorted(errors, reverse=True)[:n_pages]]


def make_grid(rows: List[Dict[str, Any]], names: Sequence[str], seed: int, epochs: int, dataroot: str,
              n_pages: int, worst: bool = False) -> np.ndarray:
    """One row per test page (spread over the sorted folder, or the worst pages of the first
    trained configuration with `worst`), one column per configuration."""
    folders = [_prediction_dir(rows, name, seed, epochs, dataroot) for name in names]
    # Each folder is listed once, not once per page.
    images = {folder: find_images(folder) if os.path.isdir(folder) else [] for folder in folders}
    for name, folder in zip(names, folders):
        if not images[folder]:
            raise UserError(f"--grid {name}: no colorized pages in {folder} (moved or deleted?); "
                            f"`run_experiment.py {name} --rescore` colorizes them again if the run's weights remain")
    pages = find_images(domain_folder(dataroot, "test", "A"))
    picks = [pages[i * len(pages) // n_pages] for i in range(min(n_pages, len(pages)))]
    if worst:
        trained = [f for n, f in zip(names, folders) if n not in (*BASELINES, GROUND_TRUTH)]
        if not trained:
            raise UserError("--worst needs a trained configuration among the --grid columns")
        picks = _worst_pages(pages, trained[0], dataroot, n_pages)
    strips = []
    for page in picks:
        stem = os.path.splitext(os.path.basename(page))[0]
        tiles = []
        for folder in folders:
            matches = [p for p in images[folder] if os.path.splitext(os.path.basename(p))[0] == stem]
            if not matches:
                raise UserError(f"{folder}: no page named {stem}")
            tiles.append(np.asarray(Image.open(matches[0]).convert("RGB")))
        gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
        strips.append(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    gap = np.full((4, strips[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([part for strip in strips for part in (strip, gap)][:-1], axis=0)


# --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_experiment.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", help=f"configurations to run (see --list), or {BW_INPUT}")
    parser.add_argument("--seeds", type=number_type(int, 0), nargs="+", default=[0], help="one run per seed")
    parser.add_argument("--epochs", type=number_type(int, 1), default=4,
                        help="budget: --n_epochs and --n_epochs_decay of every run (default: %(default)s)")
    parser.add_argument("--budget", default="drawings", choices=sorted(RESULTS),
                        help="drawings: 112 px crops of the 128 px drawings; pages: 112 px crops of 384 px wide pages, "
                             "test pages colorized whole (default: %(default)s)")
    parser.add_argument("--dataroot", default=None,
                        help="needs trainA, trainB, testA, testB (default: datasets/demo, or datasets/demo_pages "
                             "with --budget pages)")
    parser.add_argument("--results", default=None, help="JSON-lines table the rows go to (default: "
                                                        "docs/experiments/results.jsonl, or pages.jsonl for pages)")
    parser.add_argument("--also_test", nargs="+", default=[], metavar="DATAROOT",
                        help="also colorize and score these sets' testA against testB (no FID), e.g. the drawings "
                             "at their own scale and at 2x")
    parser.add_argument("--workdir", default="experiments", help="run folders and colorized pages")
    parser.add_argument("--force", action="store_true", help="run again even if the row exists; the new row replaces it")
    parser.add_argument("--rescore", action="store_true",
                        help="colorize and score the named configurations' existing runs again (no training)")
    parser.add_argument("--list", action="store_true", help="print the configurations and their flags")
    parser.add_argument("--table", action="store_true", help="print the results as a markdown table")
    parser.add_argument("--grid", nargs="+", metavar="CONFIG", help=f"write a sample grid, columns in this order "
                                                                    f"({BW_INPUT} and {GROUND_TRUTH} allowed)")
    parser.add_argument("--seed", type=number_type(int, 0), default=0, help="--grid: whose pages to show")
    parser.add_argument("--pages", type=number_type(int, 1), default=4, help="--grid: rows")
    parser.add_argument("--worst", action="store_true",
                        help="--grid: the pages the first trained column colors worst (CIEDE2000), not a spread")
    parser.add_argument("--out", help="--grid: PNG to write")
    return parser


def run(opt: argparse.Namespace) -> int:
    if opt.list:
        for name, config in CONFIGS.items():
            print(f"{name:<22} {config.description}\n{'':<22} {' '.join(config.flags) or '(no extra flags)'}")
        return 0
    if opt.table:
        rows = read_rows(opt.results)
        if opt.budget == "pages":
            print(format_page_table(rows, opt.epochs))
            return 0
        print(format_table(rows, opt.epochs))
        print("\n" + check_targets(rows, opt.epochs))
        return 0
    if opt.grid:
        if not opt.out:
            raise UserError("--grid needs --out FILE.png")
        unknown = [n for n in opt.grid if n not in CONFIGS and n not in (*BASELINES, GROUND_TRUTH)]
        if unknown:
            raise UserError(f"--grid: unknown configuration {unknown[0]!r}; see --list")
        grid = make_grid(read_rows(opt.results), opt.grid, opt.seed, opt.epochs, opt.dataroot, opt.pages, opt.worst)
        os.makedirs(os.path.dirname(os.path.abspath(opt.out)), exist_ok=True)
        Image.fromarray(grid).save(opt.out, optimize=True)
        print(f"grid: {opt.out} (columns: {' | '.join(opt.grid)})")
        return 0
    if not opt.configs:
        raise UserError("name configurations to run (see --list), or use --table / --grid")
    unknown = [n for n in opt.configs if n not in CONFIGS and n not in BASELINES]
    if unknown:
        raise UserError(f"unknown configuration {unknown[0]!r}; see --list")
    # Absolute, because the steps run in the script's checkout (which may be a snapshot elsewhere).
    opt.dataroot = os.path.abspath(opt.dataroot)
    for folder in ("trainA", "trainB", "testA", "testB"):
        if not os.path.isdir(os.path.join(opt.dataroot, folder)):
            raise UserError(f"--dataroot {opt.dataroot} has no {folder}/ folder")
    if opt.rescore:
        rows = rescore(read_rows(opt.results), opt.configs, opt)
        write_rows(opt.results, rows)
        print(format_table(rows, opt.epochs))
        return 0
    for name in opt.configs:
        for seed in ([0] if name in BASELINES else opt.seeds):
            done = [r for r in read_rows(opt.results) if r["config"] == name and r["seed"] == seed
                    and (r["epochs"] == opt.epochs or name in BASELINES)]
            if done and not opt.force:
                log.info("%s seed %d: already in %s (--force runs it again)", name, seed, opt.results)
                continue
            row = run_one(name, seed, opt)
            if done:  # --force: the new row replaces the old
                write_rows(opt.results, [r for r in read_rows(opt.results) if r not in done])
            append_row(opt.results, row)
            m = row["metrics"]
            print(f"{name} seed {seed}: CIEDE2000 {m['ciede2000']:.3f}  SSIM {m['ssim']:.4f}  KID {m['kid']:.4f}  "
                  f"FID {m['fid']:.1f}  colorfulness {m['colorfulness_pred']:.2f}  "
                  f"{row['s_per_iter'] or 0:.3f} s/iter", flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    opt = build_parser().parse_args(argv)
    opt.dataroot = opt.dataroot or DATAROOTS[opt.budget]
    opt.results = opt.results or RESULTS[opt.budget]
    opt.also_test = [os.path.abspath(root) for root in opt.also_test]
    return run_main("run_experiment.py", lambda: run(opt))


if __name__ == "__main__":
    sys.exit(main())
