"""Helpers shared by the benchmark scripts: timing, conv MAC counting, matmul peak, memory."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn


def best_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls after ``warmup`` calls (seconds)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of every Conv2d in one forward of ``model`` on ``x``."""
    total = 0

    def hook(mod: nn.Conv2d, _inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total += out.numel() * (mod.in_channels // mod.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        model(x)
    for h in handles:
        h.remove()
    return total


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matmul throughput of this machine with the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = best_time(lambda: a @ b, repeats=repeats)
    return 2 * n**3 / t / 1e9


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux: ru_maxrss is in kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
