"""Where stats and images are written: TensorBoard (tensorboardX) and a JSON-lines loss log.

The training loop reports interval averages here and nowhere else.
"""

import json
import os
from typing import Any, Dict, Mapping

import numpy as np
from tensorboardX import SummaryWriter

from util.checkpoint import LOSS_LOG


class RunLogger:
    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.writer = SummaryWriter(logdir=run_dir)
        # Appended, so a resumed run continues the same file.
        self._jsonl = open(os.path.join(run_dir, LOSS_LOG), "a", encoding="utf-8")

    def scalars(self, step: int, epoch: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self._jsonl.write(json.dumps({"step": step, "epoch": epoch, **values}) + "\n")
        self._jsonl.flush()

    def image(self, tag: str, step: int, array: np.ndarray) -> None:
        self.writer.add_image(tag, array, step, dataformats="HWC")

    def text(self, tag: str, text: str) -> None:
        self.writer.add_text(tag, text, 0)

    def hparams(self, params: Dict[str, Any], metrics: Dict[str, float]) -> None:
        safe = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()}
        self.writer.add_hparams(safe, metrics, name="hparams")

    def close(self) -> None:
        self.writer.close()
        self._jsonl.close()
