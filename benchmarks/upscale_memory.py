"""Peak memory of `irsrgan upscale` on large 16-bit images, x4 with the compact model.

Each size runs in a fresh process (peak resident memory is per process): it writes a 16-bit
PNG of that size, upscales it x4 with the Upscaler's default settings (tile chosen from free
memory) and reports the process's peak resident set size next to the size of the 16-bit output
itself. Target: under 2 GB for 2048x2048 (8192x8192 output, 128 MB as uint16) and growing far
slower than the image.

    python benchmarks/upscale_memory.py [--sizes 512 1024 2048]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from irsrgan.image import Image, read_image, write_image
from irsrgan.inference import Upscaler
from irsrgan.models import create_model
size, folder = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
px = (9000 + 3000 * rng.random((size, size))).astype(np.uint16)
write_image(f"{folder}/in.png", Image(px, "png", "gray"))
del px
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
torch.manual_seed(0)
model = create_model("compact", scale=4, num_features=64, num_convs=16)
up = Upscaler(model, device="cpu")
t = time.perf_counter()
out = up.upscale_image(read_image(f"{folder}/in.png"))
write_image(f"{folder}/out.png", out)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "before_mb": base, "seconds": time.perf_counter() - t,
                  "tile": up.auto_tile(), "out_shape": list(out.pixels.shape)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    args = ap.parse_args()
    print(f"{'input':>11} {'output':>11} {'uint16 out MB':>13} {'peak RSS MB':>11} "
          f"{'ratio to smallest':>17} {'pixels ratio':>12} {'s':>6}")
    first = None
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run([sys.executable, "-c", CHILD, str(size), tmp],
                                 capture_output=True, text=True, check=True)
        r = json.loads(run.stdout.strip().splitlines()[-1])
        first = first or (r["peak_mb"], size)
        out_mb = (4 * size) ** 2 * 2 / 2**20
        print(f"{size:>5}x{size:<5} {4 * size:>5}x{4 * size:<5} {out_mb:13.0f} "
              f"{r['peak_mb']:11.0f} {r['peak_mb'] / first[0]:17.2f} "
              f"{(size / first[1]) ** 2:12.0f} {r['seconds']:6.1f}")


if __name__ == "__main__":
    main()
