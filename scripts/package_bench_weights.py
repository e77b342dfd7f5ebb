"""Copy the speed benchmark's trained RRDB and CRDB nets (scripts/train_bench_weights.sh) into
``benchmarks/weights/`` as float16 safetensors (half the bytes; loaded back as float32, and
gated and benchmarked as loaded), each with a card saying what it is and is not.

These are benchmark fixtures, not shipped models: trained briefly on this CPU so that the
int8 gate measures what int8 costs a real model of each architecture. Then gate them:

    python scripts/package_bench_weights.py [--src 'device/faithful-{arch}-6']
    python scripts/int8_gate.py --models benchmarks/weights/*-x4.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from irsrgan.checkpoint import load_model, read_metadata, save_model

ROOT = Path(__file__).resolve().parents[1]
HIT_UAV = ('HIT-UAV train split (784 aerial LWIR frames, FLIR Tau2 640x512, 8-bit AGC JPEG; '
           'CC BY 4.0). Attribution: J. Suo, T. Wang, X. Zhang, H. Chen, W. Zhou, W. Shi, '
           '"HIT-UAV: A high-altitude infrared thermal dataset for Unmanned Aerial '
           'Vehicle-based object detection", Scientific Data 10, 227 (2023).')


def card(name: str, model, meta: dict, on_device: bool) -> str:
    val = meta.get("val", {})
    minutes = meta.get("train_seconds", 0) / 60
    how = (f"trained on the lent GPU by `scripts/device_session.sh`: {meta.get('steps')} steps, "
           f"{minutes:.0f} min" if on_device else
           f"cut down for a 2-core CPU by `scripts/train_bench_weights.sh`: {meta.get('steps')}"
           f" steps of batch 8, 96 px HR crops, {minutes:.0f} min on one core, far short of "
           "converged")
    regen = ("`bash scripts/device_session.sh stage` and `run`, then `python "
             "scripts/package_bench_weights.py --src 'device/faithful-{arch}-6'`" if on_device
             else "`bash scripts/train_bench_weights.sh && python "
                  "scripts/package_bench_weights.py`")
    return f"""# {name}-x4 (benchmark fixture, not a shipped model)

Trained weights for the `{name}` row of `benchmarks/upscale_speed.py`, so that the int8 gate
(`scripts/int8_gate.py --models`) measures what int8 costs a trained model of this
architecture, not random weights.

- Architecture: `{model.arch}` {json.dumps(model.config)};
  {sum(p.numel() for p in model.parameters()):,} parameters; x4, 1 channel.
- Recipe: `configs/device/faithful-{model.arch}-6.yaml` (the faithful end's: clean antialiased
  bicubic LR, scale and photometric HR augmentation) from scratch, {how}.
  Validation PSNR {val.get("psnr", float("nan")):.2f} dB against bicubic's
  {val.get("bicubic_psnr", float("nan")):.2f} dB (12 hit-uav/val crops of at most 192 px).
- Stored as float16 (loaded as float32); the gate entry is for these rounded weights.
- Training data: {HIT_UAV}
- Weights licence: MIT.

Regenerate: {regen}.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--src", default="bench-{name}",
                    help="run folder under --runs, with {name} for rrdbnet-6 / crdbnet-6: "
                         "the default is scripts/train_bench_weights.sh's; "
                         "'device/faithful-{arch}-6' takes scripts/device_session.sh's")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "weights")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("rrdbnet-6", "crdbnet-6"):
        run = args.src.format(name=name, arch=name.split("-")[0])
        src = args.runs / run / "model.safetensors"
        if not src.is_file():
            raise SystemExit(f"{src}: no trained model there (train it first; see --src)")
        meta = read_metadata(src).get("provenance", {})
        model = load_model(src).half()
        provenance = {**meta, "purpose": "benchmark fixture (benchmarks/upscale_speed.py)",
                      "stored_dtype": "float16"}
        save_model(model, args.out / f"{name}-x4.safetensors", provenance=provenance)
        (args.out / f"{name}-x4.md").write_text(
            card(name, model.float(), meta, on_device=args.src.startswith("device/")))
        print(f"wrote {args.out / f'{name}-x4.safetensors'}")


if __name__ == "__main__":
    main()
