"""Upscaling speed on CPU: our Upscaler (default settings, and each engine forced) against a
plain reference.

The reference is what Real-ESRGAN's inference script does: eager float32 NCHW, the whole image
in one forward. Every method uses the same weights, the same thread count and the same input
(640x512, x4), in the same process; methods are interleaved round by round and each is timed
by its median over ``--repeats`` rounds after one warm-up (which, for the Upscaler's ``auto``,
includes timing the engines once, or reading that from the cache). Prints seconds per image,
output megapixels per second, the ratio to the reference, achieved GFLOP/s (2 x conv MACs /
time) and its share of the measured float32 matmul peak; then the geometric mean of the
``auto`` ratios, and where OpenVINO is installed the same mean for what ``auto`` would take
without it.

The input is an 8-bit frame (random levels k/255) and ``auto`` is told so, as
``upscale_image`` tells it for a uint8 image: it then also times the int8 engines
(engines.AUTO_INT8_ENGINES) where the model passed the int8 gate (irsrgan.quantize). Every
row runs trained weights: the compact row the shipped default (irsrgan-faithful-x4, the same
architecture), the RRDB and CRDB rows ``benchmarks/weights/{name}-x4.safetensors`` (trained
by scripts/train_bench_weights.sh, gated by ``scripts/int8_gate.py --models``; their cards
say how); where such a file is missing the row runs random weights, which are not in the gate,
so its ``auto`` stays float32, and the row says so. The forced ``-int8`` rows run every model
quantised, gate or not.

    python benchmarks/upscale_speed.py [--threads 2] [--repeats 3] [--models compact ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from _common import conv_macs, matmul_peak_gflops

from irsrgan import engines
from irsrgan.checkpoint import DEFAULT_MODEL, load_model
from irsrgan.inference import Upscaler
from irsrgan.models import create_model
from irsrgan.quantize import passes_gate

MODELS = {
    "compact": dict(num_features=64, num_convs=16),
    "rrdbnet-6": dict(num_blocks=6),
    "crdbnet-6": dict(num_blocks=6),
}
WEIGHTS = Path(__file__).resolve().parent / "weights"


def trained_weights(name: str) -> torch.nn.Module | None:
    """The row's trained weights: the shipped default for ``compact``, else the benchmark's
    own file in ``benchmarks/weights`` (None where it is missing)."""
    if name == "compact":
        return load_model(DEFAULT_MODEL)
    path = WEIGHTS / f"{name}-x4.safetensors"
    return load_model(path) if path.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    x = torch.rand(1, 1, args.height, args.width, generator=torch.Generator().manual_seed(0))
    x = torch.round(x * 255) / 255  # an 8-bit frame
    out_mp = args.height * args.width * 16 / 1e6
    installed = [e for e in engines.ENGINES if engines.installed(e)]
    print(f"CPU threads: {args.threads}; float32 matmul peak: {peak:.0f} GFLOP/s; "
          f"input {args.width}x{args.height} x4; engines installed: {', '.join(installed)}")
    print(f"{'model':<11} {'method':<30} {'s/img':>7} {'MP/s':>6} {'ratio':>6} "
          f"{'GFLOP/s':>8} {'% peak':>7}")
    ratios, without = [], []
    for name in args.models:
        torch.manual_seed(0)
        arch = name.split("-")[0]
        reference_model = create_model(arch, scale=4, **MODELS[name]).eval()
        trained = trained_weights(name)
        if trained is not None:
            reference_model.load_state_dict(trained.state_dict())
        else:
            print(f"{name}: no {WEIGHTS / f'{name}-x4.safetensors'}: random weights, not "
                  "in the int8 gate (auto stays float32)")
        flops = 2 * conv_macs(reference_model, x)

        def reference(model=reference_model):
            with torch.inference_mode():
                return model(x)

        methods = {"reference (eager NCHW)": reference}
        ups = {}
        for engine in ("auto", *installed):
            model = create_model(arch, scale=4, **MODELS[name]).eval()
            model.load_state_dict(reference_model.state_dict())
            ups[engine] = Upscaler(model, device="cpu", backend=engine)
            methods[f"Upscaler {engine}"] = lambda up=ups[engine]: up.upscale(x,
                                                                            eight_bit=True)
        times = {label: [] for label in methods}
        for fn in methods.values():  # warm-up (auto: measures the engines, or reads the cache)
            fn()
        for _ in range(args.repeats):
            for label, fn in methods.items():
                t = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - t)
        t_ref = statistics.median(times["reference (eager NCHW)"])
        for label, ts in times.items():
            t = statistics.median(ts)
            if label == "Upscaler auto":
                label = f"Upscaler auto -> {ups['auto'].backend}"
            gf = flops / t / 1e9
            print(f"{name:<11} {label:<30} {t:7.2f} {out_mp / t:6.2f} {t_ref / t:6.2f} "
                  f"{gf:8.1f} {100 * gf / peak:6.1f}%", flush=True)
        ratios.append(t_ref / statistics.median(times["Upscaler auto"]))
        if "openvino" in installed:  # what auto would take were OpenVINO not installed
            candidates = engines.FLOAT_ENGINES + (
                engines.AUTO_INT8_ENGINES if passes_gate(reference_model) else ())
            allowed = {e: statistics.median(times[f"Upscaler {e}"]) for e in candidates
                       if e in installed and not e.startswith("openvino")}
            without.append(t_ref / allowed[engines.winner(allowed)])
    print(f"speedup_vs_reference: {geomean(ratios):.2f}")
    if without:
        print(f"speedup_vs_reference_without_openvino: {geomean(without):.2f} (auto's rule, "
              "engines.winner, over this run's rows other than OpenVINO's; int8 only in the "
              "gate)")


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


if __name__ == "__main__":
    main()
