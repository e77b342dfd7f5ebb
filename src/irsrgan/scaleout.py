"""Scale-out of ``irsrgan upscale``: under ``torchrun`` each process takes its share of the
planned jobs, writes its own outputs and reports back to rank 0, which prints one summary.

Started without ``torchrun`` (no ``WORLD_SIZE`` above 1) this is one process doing everything.
Processes exchange only JSON (lists of paths and numbers), never pickles.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Part:
    """This process's share: jobs ``rank, rank + world, ...``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """``auto`` under torchrun with CUDA: this process's own GPU (``cuda:LOCAL_RANK``)."""
        if self.world > 1 and requested == "auto" and torch.cuda.is_available():
            return f"cuda:{self.local_rank % torch.cuda.device_count()}"
        return requested


def join(backend: str = "gloo") -> Part:
    """This process's part, joining the process group (``backend``) when started by
    ``torchrun``. Upscaling uses gloo: it carries the few bytes of the summaries between CPU
    or GPU processes alike; training takes NCCL on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Part()
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Part(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def gather(part: Part, value) -> list:
    """``value`` (anything JSON can hold) from every process, in rank order, on every
    process; ``[value]`` for one process."""
    if part.world == 1:
        return [value]
    data = torch.frombuffer(bytearray(json.dumps(value).encode()), dtype=torch.uint8)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(part.world)]
    dist.all_gather(sizes, torch.tensor([data.numel()]))
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8)
    padded[:data.numel()] = data
    parts = [torch.zeros(longest, dtype=torch.uint8) for _ in range(part.world)]
    dist.all_gather(parts, padded)
    return [json.loads(bytes(p[:int(s.item())].tolist()).decode())
            for p, s in zip(parts, sizes, strict=True)]


def leave(part: Part) -> None:
    """Leave the process group (after the last :func:`gather`)."""
    if part.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
