"""Peak memory of upscaling large 16-bit images x4 with the compact model.

Each size and method runs in a fresh process (peak resident memory is per process): it writes
a 16-bit PNG of that size, upscales it x4 with the Upscaler's default settings (tile chosen
from free memory, engine as ``--backend``) and reports the process's peak resident set size
next to the size of the 16-bit output itself, and how far the peak rose above the process's
peak before upscaling (after importing torch, whose libraries alone take about 500 MB with a
CUDA build of torch). Methods: ``streamed`` (what ``irsrgan upscale`` does: bands of rows
written straight into the PNG, :mod:`irsrgan.streaming`), the reference ``in memory`` (the
whole output as an image, then encoded; run up to ``--reference-max``), ``no-torch``: the
same weights exported to ONNX (``irsrgan export``, in another process, not measured) and
streamed by :class:`~irsrgan.onnx_upscaler.OnnxUpscaler` with ONNX Runtime in a process that
never imports PyTorch (checked; skipped when onnxruntime is missing), and the command itself,
``irsrgan upscale`` in a process of its own, given the weights (``cli``) or the ONNX file
(``cli-onnx``); ``cli-pair`` is the command given the bundled default model's denoise pair
exported to one ONNX file (``irsrgan export irsrgan-faithful-x4``) at ``--denoise auto``, so
the detector runs and the output (strength 1 on this noise) is level-anchored. Target: at most
600 MB
for 2048x2048 (8192x8192 output, 128 MB as uint16), flat as the image grows.

    python benchmarks/upscale_memory.py [--sizes 512 2048 4096] [--reference-max 2048]
"""

from __future__ import annotations

import argparse
import importlib.util
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
from irsrgan.streaming import write_rows
size, folder, method, backend = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rng = np.random.default_rng(0)
px = (9000 + 3000 * rng.random((size, size))).astype(np.uint16)
write_image(f"{folder}/in.png", Image(px, "png", "gray"))
del px
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
torch.manual_seed(0)
model = create_model("compact", scale=4, num_features=64, num_convs=16)
up = Upscaler(model, device="cpu", backend=backend)
t = time.perf_counter()
if method == "streamed":
    write_rows(f"{folder}/out.png", up.upscale_image_rows(read_image(f"{folder}/in.png")))
else:
    write_image(f"{folder}/out.png", up.upscale_image(read_image(f"{folder}/in.png")))
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "before_mb": base, "seconds": time.perf_counter() - t,
                  "tile": up.auto_tile(), "backend": up.backend}))
"""


EXPORT = r"""
import sys, torch
from irsrgan.checkpoint import save_model
from irsrgan.export import export_onnx
from irsrgan.models import create_model
torch.manual_seed(0)
model = create_model("compact", scale=4, num_features=64, num_convs=16)
export_onnx(model, sys.argv[1], check=False)
save_model(model, sys.argv[2])
"""

# `irsrgan upscale` itself, in a process of its own: this wrapper writes the input and reads
# the command's peak from its children's resource usage (the wrapper's own is not counted)
CLI = r"""
import json, resource, subprocess, sys, time
import numpy as np
from irsrgan.image import Image, write_image
size, folder, model, backend = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
extra = sys.argv[5:]
rng = np.random.default_rng(0)
write_image(f"{folder}/in.png",
            Image((9000 + 3000 * rng.random((size, size))).astype(np.uint16), "png", "gray"))
t = time.perf_counter()
subprocess.run([sys.executable, "-m", "irsrgan", "upscale", f"{folder}/in.png", "-o",
                f"{folder}/out.png", "--model", model, "--backend", backend, "-q", *extra],
               check=True)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "before_mb": None, "seconds": time.perf_counter() - t,
                  "backend": " ".join(["irsrgan upscale --model", model.rsplit(".", 1)[1],
                                       *extra])}))
"""

NO_TORCH = r"""
import json, resource, sys, time
import numpy as np
from irsrgan.image import Image, read_image, write_image
from irsrgan.onnx_upscaler import OnnxUpscaler
from irsrgan.streaming import write_rows
size, folder, onnx = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(0)
px = (9000 + 3000 * rng.random((size, size))).astype(np.uint16)
write_image(f"{folder}/in.png", Image(px, "png", "gray"))
del px
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
up = OnnxUpscaler(onnx)
t = time.perf_counter()
write_rows(f"{folder}/out.png", up.upscale_image_rows(read_image(f"{folder}/in.png")))
assert "torch" not in sys.modules, "the no-torch path imported torch"
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "before_mb": base, "seconds": time.perf_counter() - t,
                  "tile": up.tile, "backend": "onnxruntime, no torch"}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 4096])
    ap.add_argument("--backend", default="auto",
                    choices=("auto", "torch", "onnxruntime", "openvino"),
                    help="CPU engine (default auto: as irsrgan upscale)")
    ap.add_argument("--reference-max", type=int, default=2048,
                    help="largest size also run in memory (the reference)")
    args = ap.parse_args()
    print(f"{'input':>11} {'output':>11} {'method':>9} {'uint16 out MB':>13} "
          f"{'peak RSS MB':>11} {'above start':>11} {'vs smallest':>11} {'vs in memory':>12} "
          f"{'s':>6}  engine")
    methods = ["in-memory", "streamed", "cli"]
    smallest: dict[str, float] = {}  # each streaming method's peak at the first size
    with tempfile.TemporaryDirectory() as models:
        onnx, weights = f"{models}/compact.onnx", f"{models}/compact.safetensors"
        subprocess.run([sys.executable, "-c", EXPORT, onnx, weights], check=True)
        if importlib.util.find_spec("onnxruntime") is not None:
            methods += ["no-torch", "cli-onnx", "cli-pair"]
            subprocess.run([sys.executable, "-m", "irsrgan", "export", "irsrgan-faithful-x4",
                            "-o", f"{models}/pair.onnx", "--no-check"], check=True,
                           capture_output=True)
        for size in args.sizes:
            _size(size, methods, models, args, smallest)


def _size(size: int, methods: list[str], models: str, args: argparse.Namespace,
          smallest: dict[str, float]) -> None:
    """One input size, each method in a fresh process; prints its rows."""
    peaks = {}
    onnx, weights = f"{models}/compact.onnx", f"{models}/compact.safetensors"
    for method in methods:
        if method == "in-memory" and size > args.reference_max:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cmd = {"no-torch": [NO_TORCH, onnx],
                   "cli": [CLI, weights, args.backend],
                   "cli-onnx": [CLI, onnx, "auto"],
                   "cli-pair": [CLI, f"{models}/pair.onnx", "auto", "--denoise", "auto"],
                   }.get(method, [CHILD, method, args.backend])
            cmd = [sys.executable, "-c", cmd[0], str(size), tmp, *cmd[1:]]
            run = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(run.stdout.strip().splitlines()[-1])
        peaks[method] = r["peak_mb"]
        streaming = method != "in-memory"
        if streaming:
            smallest.setdefault(method, r["peak_mb"])
        vs_first = f"{r['peak_mb'] / smallest[method]:11.2f}" if streaming else f"{'':>11}"
        vs_ref = (f"{r['peak_mb'] / peaks['in-memory']:12.2f}"
                  if streaming and "in-memory" in peaks else f"{'':>12}")
        out_mb = (4 * size) ** 2 * 2 / 2**20
        above = "-" if r["before_mb"] is None else f"{r['peak_mb'] - r['before_mb']:.0f}"
        print(f"{size:>5}x{size:<5} {4 * size:>5}x{4 * size:<5} {method:>9} {out_mb:13.0f} "
              f"{r['peak_mb']:11.0f} {above:>11} {vs_first} {vs_ref} "
              f"{r['seconds']:6.1f}  {r['backend']}",
              flush=True)


if __name__ == "__main__":
    main()
