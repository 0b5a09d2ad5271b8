"""Report stats anywhere, read interval averages in one place.

Values stay on the device as running sums, so reporting a loss costs no host sync; the sums
are read (one sync) only when the loop logs.
"""

from typing import Dict, Mapping, Union

import torch

Number = Union[float, int, torch.Tensor]


class StatsTracker:
    def __init__(self) -> None:
        self._sums: Dict[str, Number] = {}
        self._counts: Dict[str, int] = {}

    def report(self, prefix: str, values: Mapping[str, Number]) -> None:
        for name, value in values.items():
            key = f"{prefix}/{name}" if prefix else name
            if isinstance(value, torch.Tensor):
                value = value.detach()
            self._sums[key] = self._sums.get(key, 0.0) + value
            self._counts[key] = self._counts.get(key, 0) + 1

    def averages(self, reset: bool = True) -> Dict[str, float]:
        out = {key: float(total) / self._counts[key] for key, total in self._sums.items()}
        if reset:
            self._sums.clear()
            self._counts.clear()
        return out


class Smoother:
    """Exponential moving averages of a few host-side numbers, for the progress bar."""

    def __init__(self, decay: float = 0.9) -> None:
        self.decay = decay
        self.values: Dict[str, float] = {}

    def update(self, values: Mapping[str, float]) -> Dict[str, float]:
        for key, value in values.items():
            old = self.values.get(key)
            self.values[key] = value if old is None else self.decay * old + (1 - self.decay) * value
        return dict(self.values)
