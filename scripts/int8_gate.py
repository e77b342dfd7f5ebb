"""Measure which shipped models may run in int8 under ``--backend auto`` (irsrgan.quantize).

For every bundled generator, and for the shipped denoise pair at every strength ``upscale
--denoise`` can use (steps of denoise.STEP), the mean PSNR on the hit-uav/val frames (centre
crops of 256 px, as scripts/eval_sets.sh takes them; LR by the ``bicubic`` preset, rounded to
8 bits, as an 8-bit user's input is) in
float32 (PyTorch) and in int8 (ONNX Runtime on the quantised graph; OpenVINO runs the same
graph), the largest difference between the two 8-bit outputs and the share of pixels that
differ. A model passes where int8 is at most quantize.GATE_DB below float32. Writes
``src/irsrgan/weights/int8/gate.json`` (keyed by the weights' digest, so that a retrained model
is not covered until measured again) and prints the table.

``--models FILE ...`` measures those weights files instead (the speed benchmark's trained
RRDB and CRDB nets in ``benchmarks/weights/``, or a model of your own) and adds their entries
to the file, keeping the others; without it the file is rewritten from the bundled models,
keeping entries for weights that are not bundled.

Each entry records what it was measured with (frames, crop size, the quantisation recipe), and
a weights digest already measured with the same settings is not measured again (so re-gating
after one model is replaced measures that model's entries only); ``--remeasure`` measures
everything.

``--float-layers N`` and ``--calibration METHOD`` measure another quantisation recipe than
irsrgan.quantize's (more convolutions kept float at each end; ONNX Runtime's ``MinMax`` or
``Percentile``; its ``Entropy`` is left out: through ``quantize_static`` its default bins
leave one candidate threshold, the full range, so it returns the min/max graph): printed
only, the gate file is not written (its entries are for the recipe ``auto`` runs).

    python scripts/int8_gate.py [--frames 85] [--max-size 256] [--models FILE ...]
        [--float-layers N] [--calibration METHOD] [--remeasure]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from irsrgan import quantize
from irsrgan.checkpoint import bundled_models, load_model
from irsrgan.data import crop_window
from irsrgan.degradations import degrade
from irsrgan.denoise import STEP, quantise, robust_partner
from irsrgan.engines import model_id
from irsrgan.image import gray_unit, read_image
from irsrgan.inference import Upscaler
from irsrgan.interpolate import interpolate_models
from irsrgan.metrics import psnr
from irsrgan.quantize import GATE_DB

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "hit-uav" / "val"
OUT = Path("src/irsrgan/weights/int8/gate.json")


def candidates(files: list[Path] | None = None
               ) -> list[tuple[str, float | None, torch.nn.Module]]:
    """(name, denoise strength or None, model) for every bundled generator and the pair, or
    for each of ``files``."""
    if files:
        return [(f.as_posix(), None, load_model(f)) for f in files]
    out = []
    for name in bundled_models():
        out.append((name, None, load_model(name)))
        partner = robust_partner(name)
        if partner is not None:
            faithful, robust = load_model(name), load_model(partner)
            steps = round(1 / STEP)
            for i in range(1, steps):
                s = quantise(i * STEP)
                out.append((f"{name}+{partner}", s, interpolate_models(faithful, robust, s)))
    return out


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def kept_entries(path: Path, *, bundled: bool) -> dict[str, dict]:
    """The entries of the gate file at ``path`` to keep: all of them when measuring other
    files (``--models``), those of weights that are not bundled when re-measuring the bundled
    ones (whose old entries, of replaced weights, go)."""
    try:
        old = json.loads(path.read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(old, dict):
        return {}
    old = {k: v for k, v in old.items() if isinstance(v, dict)}
    if not bundled:
        return dict(old)
    names = set(bundled_models())
    return {k: v for k, v in old.items()
            if str(v.get("model", "")).split("+")[0] not in names}


def settings(frames: int, max_size: int) -> dict:
    """What an entry is measured with: the frames, their crop and irsrgan.quantize's recipe."""
    return {"frames": frames, "max_size": max_size, "float_layers": quantize.FLOAT_LAYERS,
            "calibration": quantize.CALIBRATION[0]}


#: the settings of entries written before entries recorded them (the file's header said so)
OLD_SETTINGS = {"frames": 85, "max_size": 256, "float_layers": 2, "calibration": "MinMax"}


def measured_alike(entry: dict, wanted: dict) -> bool:
    """Whether ``entry`` was measured with the ``wanted`` settings."""
    return all(entry.get(k, OLD_SETTINGS[k]) == v for k, v in wanted.items())


def print_row(name: str, strength: float | None, e: dict, note: str) -> None:
    """One line of the table for entry ``e``."""
    shown = "-" if strength is None else f"{strength:.2f}"
    print(f"{name:<44} {shown:>8} {e['fp32_db']:8.3f} {e['int8_db']:8.3f} "
          f"{e['delta_db']:+7.3f} {e['max_levels']:5.0f} {e['share_changed']:7.1%} "
          f"{'yes' if e['passed'] else 'no':>4}  ({note})", flush=True)


def run(upscaler: Upscaler, pairs: list[tuple[torch.Tensor, torch.Tensor]]
        ) -> tuple[float, list[torch.Tensor]]:
    """Mean PSNR over ``pairs`` and the 8-bit outputs."""
    values, outputs = [], []
    for lr, hr in pairs:
        sr = torch.round(upscaler.upscale(lr).clamp(0, 1) * 255) / 255
        values.append(float(psnr(sr, hr, crop_border=upscaler.scale)))
        outputs.append(sr)
    return float(np.mean(values)), outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val", type=Path, default=VAL,
                    help="frames to measure on (hit-uav/val; entries do not record another: "
                         "with another, --remeasure)")
    ap.add_argument("--frames", type=int, default=85)
    ap.add_argument("--max-size", type=int, default=256,
                    help="centre crops of this side (as scripts/eval_sets.sh)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--models", type=Path, nargs="+", default=None,
                    help="weights files to measure instead of the bundled models (merged in)")
    ap.add_argument("--float-layers", type=_positive, default=None,
                    help=f"convolutions kept float at each end (default {quantize.FLOAT_LAYERS};"
                         " another value is printed, not written)")
    ap.add_argument("--calibration", choices=("MinMax", "Percentile"), default=None,
                    help=f"calibration method (default {quantize.CALIBRATION[0]}; another is "
                         "printed, not written)")
    ap.add_argument("--remeasure", action="store_true",
                    help="measure every candidate, also those whose weights already have an "
                         "entry measured with the same settings")
    args = ap.parse_args()
    trial = args.float_layers is not None or args.calibration is not None
    if trial:  # another recipe: quantised afresh (not from the cache), and not written
        if args.float_layers is not None:
            quantize.FLOAT_LAYERS = args.float_layers
        if args.calibration is not None:
            quantize.CALIBRATION = (args.calibration, {})
        cache = tempfile.TemporaryDirectory(prefix="irsrgan-int8-trial-")  # removed at exit
        os.environ["IRSRGAN_CACHE_DIR"] = cache.name
        print(f"trial recipe: {quantize.FLOAT_LAYERS} float convolutions at each end, "
              f"{quantize.CALIBRATION[0]} calibration (not written)")
    frames = sorted(p for p in args.val.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    frames = frames[:args.frames]
    hrs = [torch.from_numpy(gray_unit(read_image(p)).astype(np.float32))[None, None]
           for p in frames]
    entries, lrs = {}, {}
    wanted = settings(len(hrs), args.max_size)
    previous = {} if trial or args.remeasure else kept_entries(args.out, bundled=False)
    print(f"{len(hrs)} frames of {args.val} (centre {args.max_size} px); LR: bicubic preset, "
          f"8-bit; gate {GATE_DB} dB")
    print(f"{'model':<44} {'strength':>8} {'fp32 dB':>8} {'int8 dB':>8} {'delta':>7} "
          f"{'max':>5} {'changed':>7} pass   (max: largest output difference in 8-bit "
          "levels; changed: share of output pixels not equal)")
    for name, strength, model in candidates(args.models):
        key = model_id(model)
        if key in previous and measured_alike(previous[key], wanted):
            entries[key] = {**OLD_SETTINGS, **previous[key], "model": name,
                            "strength": strength}
            print_row(name, strength, entries[key], "measured before")
            continue
        scale = int(model.scale)
        if scale not in lrs:
            gen = torch.Generator().manual_seed(0)
            pairs = []
            for hr in hrs:  # cropped as `irsrgan evaluate --max-size` crops
                y0, x0, h, w = crop_window(*hr.shape[-2:], scale, args.max_size)
                hr = hr[..., y0:y0 + h, x0:x0 + w]
                lr = torch.round(degrade(hr, scale, "bicubic", gen).clamp(0, 1) * 255) / 255
                pairs.append((lr, hr))
            lrs[scale] = pairs
        t = time.perf_counter()
        fp32, out32 = run(Upscaler(model, backend="torch", tile=0), lrs[scale])
        int8, out8 = run(Upscaler(model, backend="onnxruntime-int8", tile=0), lrs[scale])
        diff = torch.cat([(a - b).abs().flatten() * 255 for a, b in zip(out8, out32,
                                                                         strict=True)])
        delta = int8 - fp32
        passed = delta >= -GATE_DB
        entries[key] = {
            **wanted, "model": name, "strength": strength, "fp32_db": fp32, "int8_db": int8,
            "delta_db": delta, "passed": passed, "max_levels": float(diff.max()),
            "share_changed": float((diff > 0).float().mean())}
        print_row(name, strength, entries[key], f"{time.perf_counter() - t:.0f} s")
    if trial:
        return
    entries = {**kept_entries(args.out, bundled=args.models is None), **entries}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "about": "int8 (ONNX Runtime QDQ, irsrgan.quantize) against float32: mean PSNR on "
                 "the first `frames` hit-uav/val frames (centre crops of `max_size` px), LR "
                 "by the bicubic preset rounded to 8 bits, the quantisation recipe in "
                 "`float_layers` and `calibration` (each entry says); "
                 f"passed = within {GATE_DB} dB. Written by scripts/int8_gate.py.",
        "entries": entries}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
