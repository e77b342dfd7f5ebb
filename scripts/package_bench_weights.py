"""Copy the speed benchmark's trained RRDB and CRDB nets (scripts/train_bench_weights.sh) into
``benchmarks/weights/`` as float16 safetensors (half the bytes; loaded back as float32, and
gated and benchmarked as loaded), each with a card saying what it is and is not.

These are benchmark fixtures, not shipped models: trained briefly on this CPU so that the
int8 gate measures what int8 costs a real model of each architecture. Then gate them:

    python scripts/package_bench_weights.py
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


def card(name: str, model, meta: dict) -> str:
    val = meta.get("val", {})
    return f"""# {name}-x4 (benchmark fixture, not a shipped model)

Trained weights for the `{name}` row of `benchmarks/upscale_speed.py`, so that the int8 gate
(`scripts/int8_gate.py --models`) measures what int8 costs a trained model of this
architecture, not random weights.

- Architecture: `{model.arch}` {json.dumps(model.config)};
  {sum(p.numel() for p in model.parameters()):,} parameters; x4, 1 channel.
- Recipe: `configs/device/faithful-{model.arch}-6.yaml` (the faithful end's: clean antialiased
  bicubic LR, scale and photometric HR augmentation) from scratch, cut down for a 2-core CPU
  by `scripts/train_bench_weights.sh`: {meta.get("steps")} steps of batch 8, 96 px HR crops,
  {meta.get("train_seconds", 0) / 60:.0f} min on one core. Far short of converged: validation
  PSNR {val.get("psnr", float("nan")):.2f} dB against bicubic's
  {val.get("bicubic_psnr", float("nan")):.2f} dB (12 hit-uav/val crops of at most 192 px).
- Stored as float16 (loaded as float32); the gate entry is for these rounded weights.
- Training data: {HIT_UAV}
- Weights licence: MIT.

Regenerate: `bash scripts/train_bench_weights.sh && python scripts/package_bench_weights.py`.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "weights")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("rrdbnet-6", "crdbnet-6"):
        src = args.runs / f"bench-{name}" / "model.safetensors"
        meta = read_metadata(src).get("provenance", {})
        model = load_model(src).half()
        provenance = {**meta, "purpose": "benchmark fixture (benchmarks/upscale_speed.py)",
                      "stored_dtype": "float16"}
        save_model(model, args.out / f"{name}-x4.safetensors", provenance=provenance)
        (args.out / f"{name}-x4.md").write_text(card(name, model.float(), meta))
        print(f"wrote {args.out / f'{name}-x4.safetensors'}")


if __name__ == "__main__":
    main()
