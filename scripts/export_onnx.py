"""Export a generator to ONNX with dynamic height and width, and check it against PyTorch.

    python scripts/export_onnx.py --name demo --output demo_G_A.onnx
    python scripts/export_onnx.py --name horse2zebra --model test --model_suffix _A --output h2z.onnx   # upstream weights

The check runs the exported model with onnxruntime (optional: `pip install onnx onnxruntime`) on a
random page of a size different from the export example and requires a relative L2 error <= 1e-4.
Using the model: input `page`, float32, N x C x H x W in [-1, 1] (pixel / 127.5 - 1), H and W
multiples of 4 for the ResNet generators (pad by mirroring, crop the output back); output
`colorized`, same layout, tanh range: pixel = (y + 1) * 127.5. The graph is the generator alone:
for a model trained with --output_luma (the demo, --preset manga), combine `colorized` with the
page as test.py does (models/color.py, output_with_luma); the export says which mode.
"""

import argparse
import logging
import os
import sys
import warnings
from typing import List, Optional

import numpy as np
import torch

from inference.generator_loader import load_generator
from models.networks import required_multiple
from options.test_options import add_weights_flags, generator_network
from util.checkpoint import checkpoint_label
from util.device import select_device
from util.cli import run_main

log = logging.getLogger("export_onnx")
TOLERANCE = 1e-4


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def export(net: torch.nn.Module, input_nc: int, path: str, opset: int) -> None:
    example = torch.zeros(1, input_nc, 64, 64, device=next(net.parameters()).device)
    # The TorchScript exporter handles dynamic height/width without needing onnxscript; its
    # deprecation and graph-detail notes are silenced because the numeric check below is what counts.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), path, input_names=["page"], output_names=["colorized"],
                          dynamic_axes={"page": {0: "batch", 2: "height", 3: "width"},
                                        "colorized": {0: "batch", 2: "height", 3: "width"}},
                          opset_version=opset, dynamo=False)


def check(net: torch.nn.Module, input_nc: int, multiple: int, path: str) -> Optional[float]:
    """Relative L2 between onnxruntime and torch on a 1 x C x (3m+…) page; None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    h, w = max(multiple, 180 // multiple * multiple), max(multiple, 260 // multiple * multiple)
    x = torch.rand(1, input_nc, h, w, generator=torch.Generator().manual_seed(0)) * 2 - 1
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # on CUDA, compare full fp32 with onnxruntime's fp32
    try:
        with torch.inference_mode():
            expected = net(x.to(next(net.parameters()).device)).cpu().numpy()
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(["colorized"], {"page": x.numpy()})[0]
    return relative_l2(got, expected)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_weights_flags(parser)
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                        help="where the generator is traced (the graph is the same; cuda checks the CUDA path)")
    opt = parser.parse_args(argv)
    return run_main("export_onnx.py", lambda: run(opt))


def run(opt: argparse.Namespace) -> int:
    gen = load_generator(os.path.join(opt.checkpoints_dir, opt.name), checkpoint_label(opt.epoch, opt.load_iter),
                         generator_network(opt), opt, select_device(opt.device, [0]), use_average=not opt.no_ema)
    os.makedirs(os.path.dirname(os.path.abspath(opt.output)), exist_ok=True)
    export(gen.net, gen.input_nc, opt.output, opt.opset)
    log.info("wrote %s (%.1f MB) from %s", opt.output, os.path.getsize(opt.output) / 2**20, gen.source)
    if gen.output_luma != "generator":
        log.info("trained with --output_luma %s%s: combine the output with the page as models/color.py "
                 "output_with_luma does; the graph does not", gen.output_luma,
                 f" --layer_headroom {gen.layer_headroom}" if gen.output_luma == "multiply_headroom" else "")
    error = check(gen.net, gen.input_nc, required_multiple(gen.net_g), opt.output)
    if error is None:
        log.info("onnxruntime is not installed: exported without the check (pip install onnxruntime)")
        return 0
    log.info("onnxruntime vs torch on a random page: relative L2 %.2e (limit %.0e)", error, TOLERANCE)
    if error > TOLERANCE:
        print(f"export_onnx.py: error: ONNX output differs from torch (relative L2 {error:.2e})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
