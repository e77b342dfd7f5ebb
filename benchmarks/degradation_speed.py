"""How fast one CPU core turns 128x128 HR patches into LR, per preset, next to one training step.

The loader must never be what training waits for: the printed ratio ``patches/s one core can
degrade`` over ``patches/s one training step consumes`` says how many loader workers keep up
(1 core each). Run from the repository root::

    python3 benchmarks/degradation_speed.py                 # training step on the CPU
    python3 benchmarks/degradation_speed.py --device cuda   # training step on a GPU

Degradation always runs on one CPU core (``torch.set_num_threads(1)``), as in a DataLoader
worker: both the batched call (``degrade`` on 16 patches) and the per-item call the datasets
make (``degrade`` on one patch, plus the crop for ``HRCropDataset``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from irsrgan.data import HRCropDataset
from irsrgan.degradations import PRESET_NAMES, degrade, get_preset
from irsrgan.image import Image, write_image
from irsrgan.models import create_model


def patches(n: int, size: int = 128, seed: int = 0) -> torch.Tensor:
    """Thermal-like patches: smooth structure plus fine texture, in [0.05, 0.95]."""
    g = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(n, 1, size // 16, size // 16, generator=g), size=size,
                           mode="bicubic", align_corners=False)
    fine = torch.rand(n, 1, size, size, generator=g)
    return (0.05 + 0.75 * coarse.clamp(0, 1) + 0.15 * fine).clamp(0, 1)


def rate(fn, count: int, min_time: float) -> float:
    """Items per second of ``fn`` (which processes ``count`` items per call)."""
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n * count / dt


def train_step_time(device: str, steps: int, scale: int, batch: int, patch: int) -> float:
    torch.manual_seed(0)
    net = create_model("rrdbnet", num_blocks=6, scale=scale).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    lr = torch.rand(batch, 1, patch // scale, patch // scale, device=device)
    hr = torch.rand(batch, 1, patch, patch, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.l1_loss(net(lr), hr)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--min-time", type=float, default=1.5, help="seconds per measurement")
    ap.add_argument("--device", default="cpu", help="device of the training step")
    ap.add_argument("--train-threads", type=int, default=1,
                    help="CPU threads of the training step (default 1, like the loader)")
    ap.add_argument("--steps", type=int, default=2, help="timed training steps")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    hr = patches(args.batch, args.patch)
    print(f"degradation on 1 CPU core: HR {args.patch}x{args.patch} -> x{args.scale}, "
          f"torch {torch.__version__}")
    print(f"{'preset':12s} {f'batch of {args.batch}':>14s} {'one at a time':>14s}")
    rates = {}
    for name in PRESET_NAMES:
        preset = get_preset(name)
        g = torch.Generator().manual_seed(0)
        batched = rate(lambda p=preset, g=g: degrade(hr, args.scale, p, g), args.batch,
                       args.min_time)
        single = rate(lambda p=preset, g=g: [degrade(hr[i:i + 1], args.scale, p, g)
                                             for i in range(args.batch)],
                      args.batch, args.min_time)
        rates[name] = single
        print(f"{name:12s} {batched:10.0f} /s {single:10.0f} /s")

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for i in range(8):
            px = (rng.random((512, 640)) * 255).astype(np.uint8)
            write_image(Path(tmp) / f"{i}.png", Image(pixels=px, format="png"))
        ds = HRCropDataset(tmp, scale=args.scale, patch_size=args.patch, preset="thermal",
                           repeat=4)
        item_rate = rate(lambda: [ds[i] for i in range(len(ds))], len(ds), args.min_time)
    print(f"{'HRCropDataset (in memory, thermal, crop+augment+degrade)':s}: {item_rate:.0f} /s")

    torch.set_num_threads(args.train_threads)
    t = train_step_time(args.device, args.steps, args.scale, args.batch, args.patch)
    need = args.batch / t
    print()
    print(f"training step, rrdbnet 6 blocks, batch {args.batch}, {args.device} "
          f"({args.train_threads} thread(s)): {t * 1000:.0f} ms -> consumes {need:.1f} patches/s")
    worst = min(rates.values())
    print(f"one loader core / training consumption: {worst / need:.1f}x for the slowest preset "
          f"({min(rates, key=rates.get)}), {item_rate / need:.1f}x for HRCropDataset(thermal)")
    workers = max(1, int(np.ceil(need / worst)))
    print(f"loader workers needed to keep up (slowest preset): {workers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
