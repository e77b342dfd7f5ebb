"""CPU inference time of candidate generators at 640x512 x4, beside the shipped compact net.

Each model runs through the Upscaler (default CPU settings) on the same input, interleaved
over repeats in one process, so machine load affects them alike; the table gives the median
seconds per image and the ratio to the compact net. Used to size the efficient-SR candidates
(SPAN) to the compact net's time before training them with the same recipe
(docs/RESULTS.md, section 7).

    python benchmarks/arch_speed.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from irsrgan.inference import Upscaler
from irsrgan.models import create_model

CANDIDATES = {
    "compact f64 c16 (shipped)": ("compact", dict(num_features=64, num_convs=16)),
    "span f48 b6": ("span", dict(num_features=48, num_blocks=6)),
    "span f56 b6": ("span", dict(num_features=56, num_blocks=6)),
    "span f64 b6": ("span", dict(num_features=64, num_blocks=6)),
    "span f48 b8": ("span", dict(num_features=48, num_blocks=8)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(1, 1, 512, 640, generator=torch.Generator().manual_seed(0))
    ups = {}
    for name, (arch, kw) in CANDIDATES.items():
        torch.manual_seed(0)
        model = create_model(arch, scale=4, **kw).eval()
        params = sum(p.numel() for p in model.parameters())
        ups[name] = (Upscaler(model, device="cpu"), params)
        ups[name][0].upscale(x[..., :64, :64])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in ups}
    for _ in range(args.repeats):
        for name, (up, _) in ups.items():
            t0 = time.perf_counter()
            up.upscale(x)
            times[name].append(time.perf_counter() - t0)
    ref = statistics.median(next(iter(times.values())))
    print(f"threads {args.threads}, 640x512 -> 2560x2048, median of {args.repeats}")
    print(f"{'model':<28} {'params':>9} {'s/img':>7} {'vs compact':>10}")
    for name, (_up, params) in ups.items():
        t = statistics.median(times[name])
        print(f"{name:<28} {params:>9,} {t:7.2f} {t / ref:10.2f}")


if __name__ == "__main__":
    main()
