"""The run folder <checkpoints_dir>/<name>: the name of every file in it, and one self-describing
checkpoint per save, written atomically and loaded without running code.

Files: opt.txt and opt.json (the options a run began with; options/train_options.py writes
them), opt_changes.jsonl (one line per resume: what its flags changed), train.log (the console),
loss_log.jsonl (the --print_freq losses), web/index.html (probe grids), TensorBoard events, and
per save label the checkpoint and bare generator weights below.

Layout of `<run>/<label>_checkpoint.pth` (label: latest, an epoch number, or iter_<N>):
    format_version, epoch, epoch_iter (iterations done in that epoch), epoch_samples (samples of that
    epoch trained on, over all processes: where a resume with any batch size or process count
    starts), global_step,
    networks {G_A, G_B, D_A, D_B, and G_A_ema with --ema_decay}, ema_updates (None without),
    optimizers {G, D}, pools {fake_A, fake_B},
    rng {python, numpy, torch, cuda}, scaler ({G, D} loss scalers with --precision fp16, else None),
    options (resolved flags), best ({metric, value, step} of the best validation so far, or None),
    seed_derivation (util/rng.py SEED_DERIVATION; absent before it existed).
Beside it, `<label>_net_G_A.pth` / `<label>_net_G_B.pth` hold bare generator weights in upstream's naming
(and `<label>_net_G_A_ema.pth`, G_A's moving average, with --ema_decay): plain state dicts, so
upstream's code loads them. Each has a `<label>_net_<network>.json` beside it that makes it
self-describing, the way nanoGPT keeps model_args beside its weights: format_version, network,
average (whether these are a moving average), define_G (its keyword arguments), output_luma,
layer_headroom, descreen, load_size and preprocess (the scale it was trained at); keys added since
(define_G's level_channels, gray_octaves and gray_window, layer_headroom) mean models.EARLIER_RUN_VALUES where missing. Runs saved before the sidecar
existed are described by their checkpoint's options or opt.json instead.
"""

import json
import os
from typing import Any, Dict, List, Optional

import torch

from util.errors import UserError
from util.fileio import atomic_torch_save, atomic_write_text
from util.rng import SEED_DERIVATION, capture_rng_state

FORMAT_VERSION = 1
CHECKPOINT_SUFFIX = "_checkpoint.pth"
OPTIONS_JSON = "opt.json"
OPTIONS_TXT = "opt.txt"
OPTIONS_CHANGES = "opt_changes.jsonl"
TRAIN_LOG = "train.log"
LOSS_LOG = "loss_log.jsonl"
WEB_DIR = "web"


def checkpoint_label(epoch: str, load_iter: int) -> str:
    """The label that --epoch / --load_iter name: iter_<load_iter> when it is set, else the epoch."""
    return f"iter_{load_iter}" if load_iter > 0 else epoch


def weights_file(label: str, network: str) -> str:
    """`<label>_net_<network>.pth`: bare weights in upstream's naming (network: G_A, G_B, G_A_ema)."""
    return f"{label}_net_{network}.pth"


def weights_path(run_dir: str, label: str, network: str) -> str:
    return os.path.join(run_dir, weights_file(label, network))


def weights_config_path(run_dir: str, label: str, network: str) -> str:
    """`<label>_net_<network>.json`: what the bare weights beside it are (see the module docstring)."""
    return os.path.join(run_dir, f"{label}_net_{network}.json")


def read_weights_config(run_dir: str, label: str, network: str) -> Optional[Dict[str, Any]]:
    """The description beside `<label>_net_<network>.pth` as saved, or None where there is none (older
    runs, upstream's). UserError if it is not JSON or newer than this code; its fields are checked
    where they are used (inference/generator_loader.py)."""
    path = weights_config_path(run_dir, label, network)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read as a weights description ({exc}); delete it to fall back "
                        "to the run's checkpoint or opt.json") from exc
    version = config.get("format_version") if isinstance(config, dict) else None
    if not isinstance(version, int):
        raise UserError(f"{path}: not a weights description (no integer format_version); delete it to fall back "
                        "to the run's checkpoint or opt.json")
    if version > FORMAT_VERSION:
        raise UserError(f"{path}: description format {version} is newer than this code understands "
                        f"({FORMAT_VERSION}); update the code")
    return config


def checkpoint_path(run_dir: str, label: str) -> str:
    return os.path.join(run_dir, f"{label}{CHECKPOINT_SUFFIX}")


def available_labels(run_dir: str) -> List[str]:
    """The labels a run folder holds G_A weights for (bare or inside a checkpoint): latest first,
    then best, then epochs newest first, then iter_<N> newest first. [] for a missing folder."""
    if not os.path.isdir(run_dir):
        return []
    labels = set()
    for name in os.listdir(run_dir):
        for suffix in (CHECKPOINT_SUFFIX, weights_file("", "G_A"), weights_file("", "G_A_ema")):
            if name.endswith(suffix) and len(name) > len(suffix):
                labels.add(name[: -len(suffix)])

    def order(label: str) -> tuple:
        if label in ("latest", "best"):
            return (0, label != "latest", 0, label)
        number = label[len("iter_"):] if label.startswith("iter_") else label
        return (1 + label.startswith("iter_"), 0, -int(number) if number.isdigit() else 0, label)
    return sorted(labels, key=order)


def save_checkpoint(run_dir: str, labels: List[str], model_state: Dict[str, Any], epoch: int, epoch_iter: int,
                    global_step: int, options: Dict[str, Any], best: Optional[Dict[str, Any]] = None,
                    epoch_samples: Optional[int] = None,
                    generator_configs: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
    """Write the full checkpoint and the upstream-style generator weights under every label, each
    weights file with its description from `generator_configs` (network name -> config) beside it."""
    state = {
        "format_version": FORMAT_VERSION,
        "epoch": epoch,
        "epoch_iter": epoch_iter,
        "epoch_samples": epoch_samples,
        "global_step": global_step,
        **model_state,
        "rng": capture_rng_state(),
        "options": options,
        "best": best,
        "seed_derivation": SEED_DERIVATION,
    }
    for label in labels:
        atomic_torch_save(state, checkpoint_path(run_dir, label))
        for name in ("G_A", "G_B", "G_A_ema"):
            if name in model_state["networks"]:
                atomic_torch_save(model_state["networks"][name], weights_path(run_dir, label, name))
                if generator_configs and name in generator_configs:
                    config = {"format_version": FORMAT_VERSION, "network": name, **generator_configs[name]}
                    atomic_write_text(weights_config_path(run_dir, label, name), json.dumps(config, indent=2) + "\n")


def load_checkpoint(path: str) -> Dict[str, Any]:
    """Load with weights_only=True (a checkpoint cannot execute code); UserError if missing or foreign."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: checkpoint not found; train first, or pick another --epoch/--load_iter")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; all mean the same to the user
        raise UserError(f"{path}: cannot be read as a checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "format_version" not in state:
        raise UserError(f"{path}: not a checkpoint written by this train.py (no format_version)")
    if state["format_version"] > FORMAT_VERSION:
        raise UserError(f"{path}: checkpoint format {state['format_version']} is newer than this code "
                        f"understands ({FORMAT_VERSION}); update the code")
    return state


def architecture_mismatch(saved: Dict[str, Any], current: Dict[str, Any], keys: tuple) -> List[str]:
    """Flags in `keys` whose values differ, formatted as '--flag saved (flags say current)'.
    A flag the checkpoint predates is not compared (the run used its then-only behaviour)."""
    return [f"--{k} {saved[k]} (flags say {current.get(k)})" for k in keys if k in saved and saved[k] != current.get(k)]
