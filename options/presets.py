"""Named option presets: defaults < preset < command line.

A preset only changes defaults; any flag given on the command line still wins.
"""

from typing import Any, Dict, List

DEMO_DATAROOT = "datasets/demo"
DEMO_PAGES_DATAROOT = "datasets/demo_pages"

# The colorization recipe that won the ablations on single drawings (docs/experiments.md, "The
# drawings"; scripts/run_experiment.py's PRESET_CONFIG): the output is the scan times a color
# layer, as colorists lay flats under line art, so ink stays black and outlines are never tinted;
# resize-conv upsampling removes the checkerboard; pages are colorized with a moving average of
# G_A's weights, which is steadier than its last iterate; a page-wide style lets a fill's color
# depend on the face far from it; and G_A also learns from ink-style B/W versions of the color
# pages, whose true colors are known.
DRAWINGS_RECIPE: Dict[str, Any] = {"output_luma": "multiply", "upsampling": "resize", "ema_decay": 0.999,
                                   "global_context": True, "lambda_gray_identity": 5.0, "bw_style": "ink"}

# What whole manga pages need on top (docs/experiments.md, "Manga pages"): on pages, white is the
# commonest target, and a plain multiply chases it to tanh's asymptote and stops learning; the
# layer may reach 1.25 instead, with the product clipped at white. Screentone becomes the flat
# gray it prints before G_A sees it, since a multiply can only darken the dots. And the grayscale
# identity shows G_A each color page's luminance, where a flat tint is exactly the gray that its
# descreened tone prints (`ink` would turn the tints white). And the generator's stem sees each
# pixel's absolute gray (8 channels past instance norm) and a Fourier encoding of it, since the
# hues of neighbouring tones can be far apart. G_B (color to B/W) goes without the encoding: with
# it, G_B likely hides the colors in faint grays for G_A to read back, which real scans never carry.
# And in the B -> A -> B cycle, G_A restores the color page from G_B's B/W page with noise added, so
# that what G_B still writes into the fills (a textured gray) is no code to learn.
# The best page row, recipe_descreen_half_gray_fourier_gbplain_noise4 in scripts/run_experiment.py.
PAGES_RECIPE: Dict[str, Any] = {**DRAWINGS_RECIPE, "output_luma": "multiply_headroom", "descreen": True,
                                "bw_style": "gray", "level_channels": 8, "gray_octaves": 5, "gray_octaves_B": 0,
                                "cycle_noise": 0.4}

# The demos must show a learning curve and colored probes within minutes on 2 CPU cores, so the
# networks are narrow and the images small; everything else is a recipe on upstream's CycleGAN,
# so each demo is an honest miniature of a real run. Both run 1680 iterations of 112 px crops.
DEMO_NETWORKS: Dict[str, Any] = {"netG": "resnet_6blocks", "ngf": 24, "ndf": 32, "crop_size": 112, "pool_size": 50,
                                 "num_threads": 2, "seed": 0}
DEMO_REPORTS: Dict[str, Any] = {"print_freq": 25, "display_freq": 80, "update_html_freq": 240, "save_latest_freq": 480,
                                "val_freq": 240}

PRESETS: Dict[str, Dict[str, Any]] = {
    # 120 single 128 px drawings per side, validated on their 24 held-out pairs.
    "demo": {
        "dataroot": DEMO_DATAROOT,
        "name": "demo",
        **DEMO_NETWORKS,
        **DEMO_REPORTS,
        "load_size": 128,
        "n_epochs": 7,
        "n_epochs_decay": 7,
        "save_epoch_freq": 7,
        "val_dataroot": DEMO_DATAROOT,
        **DRAWINGS_RECIPE,
    },
    # 60 manga pages per side, trained on crops of the pages at half their width (192 px), and
    # validated on the 8 validation pages (with their masks: bubbles, lettering, fills); the 12
    # test pages are left for the final report. scripts/run_experiment.py's
    # recipe_descreen_half_gray_fourier_gbplain_noise4 row, seed 0.
    "demo_pages": {
        "dataroot": DEMO_PAGES_DATAROOT,
        "name": "demo_pages",
        **DEMO_NETWORKS,
        **DEMO_REPORTS,
        "preprocess": "scale_width_and_crop",
        "load_size": 192,
        "n_epochs": 14,
        "n_epochs_decay": 14,
        "save_epoch_freq": 14,
        "val_dataroot": DEMO_PAGES_DATAROOT,
        "val_phase": "val",
        **PAGES_RECIPE,
    },
    # Upstream's CycleGAN at full size plus the page recipe; `--model cycle_gan` without a preset stays upstream's.
    "manga": dict(PAGES_RECIPE),
}


def as_flags(values: Dict[str, Any]) -> List[str]:
    """Preset values as the command-line flags that set them (True: the bare flag; False is
    not representable and raises ValueError), e.g. for scripts/run_experiment.py's configurations."""
    flags: List[str] = []
    for key, value in values.items():
        if value is True:
            flags.append(f"--{key}")
        elif value is False:
            raise ValueError(f"{key}: a False switch has no flag")
        else:
            flags += [f"--{key}", str(value)]
    return flags
