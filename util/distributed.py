"""Data-parallel training with torch.distributed, launched by torchrun.

Every process holds the full model and trains on its own share of each epoch; gradients are
averaged across processes before every optimizer step, so the weights stay identical.

Why not DistributedDataParallel: CycleGAN's generator step runs the critics forward without
updating them, and runs each generator several times per step (translation, cycle, identity).
DDP's reducer expects every wrapped parameter to receive exactly one gradient per backward, which
is what makes upstream hang or fail (its issues #1705, #1709). Averaging the gradients of exactly
the parameters a phase updates, in one flat all-reduce per phase, is always in step across ranks.
"""

import dataclasses
import os
from typing import Dict, Iterable, List

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclasses.dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(use_cuda: bool) -> DistContext:
    """Join the process group torchrun describes in the environment; a single process otherwise.

    `torchrun --nproc_per_node 1` and plain `python train.py` both give world size 1 and no group.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        # Tear down together: a rank that destroys its gloo group while another still has work in
        # flight can abort at exit ("terminate called without an active exception"), seen ~1 in 5 runs.
        dist.barrier()
        dist.destroy_process_group()


def average_gradients(params: List[nn.Parameter], world_size: int) -> None:
    """Replace each parameter's gradient by its mean over all processes (one flat all-reduce)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world_size)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def broadcast_parameters(modules: Iterable[nn.Module]) -> None:
    """Start every process from rank 0's weights and buffers."""
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def mean_over_ranks(values: Dict[str, float], device: torch.device) -> Dict[str, float]:
    """Average logged numbers over processes; every rank must call it with the same keys."""
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


def weights_in_sync(modules: Iterable[nn.Module], device: torch.device) -> bool:
    """True when every process holds the same weights (max and min of a checksum agree)."""
    total = sum(float(p.detach().double().sum()) + float(p.detach().double().abs().sum())
                for m in modules for p in m.parameters())
    hi = torch.tensor([total], dtype=torch.float64, device=device)
    lo = hi.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    return bool(hi.item() == lo.item())
