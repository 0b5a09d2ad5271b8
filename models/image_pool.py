"""History of generated images for the discriminator (Shrivastava et al., 2017).

Showing the discriminator older fakes as well as the newest keeps it from chasing only the
generator's latest mode, which damps the oscillation CycleGAN otherwise shows.
"""

import random
from typing import Any, Dict, List

import torch


class ImagePool:
    def __init__(self, pool_size: int, seed: int) -> None:
        self.pool_size = pool_size
        self.images: List[torch.Tensor] = []
        # A private generator, so the pool's draws are part of the checkpoint and resume is exact.
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch the size of `images`: each item is the new image or, half the time once
        the pool is full, a stored one (which the new image then replaces)."""
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                slot = self.rng.randint(0, self.pool_size - 1)
                out.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> Dict[str, Any]:
        return {"images": [img.cpu() for img in self.images], "rng": self.rng.getstate()}

    def load_state_dict(self, state: Dict[str, Any], device: torch.device) -> None:
        self.images = [img.to(device) for img in state["images"]]
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
