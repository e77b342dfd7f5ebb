"""Copy a trained run's EMA generator into the package as a bundled model, with its model card.

    python scripts/ship_model.py runs/cpu-psnr-x4 irsrgan-psnr-x4 \
        --eval reports/irsrgan-psnr-x4-bicubic/summary.json \
        --eval reports/irsrgan-psnr-x4-thermal/summary.json

Writes ``src/irsrgan/weights/NAME.safetensors`` (the weights, with provenance in the metadata:
data, licence, attribution, recipe, steps, time, validation numbers) and ``NAME.md`` (the card).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import yaml

from irsrgan.checkpoint import load_model, read_metadata, save_model

ROOT = Path(__file__).resolve().parents[1]
HIT_UAV = {
    "dataset": "HIT-UAV (aerial LWIR, FLIR Tau2 640x512, 8-bit AGC JPEG), train split: 784 "
               "frames, all altitudes except 110 m; validated on the 85 frames at 110 m",
    "licence": "CC BY 4.0",
    "attribution": "J. Suo, T. Wang, X. Zhang, H. Chen, W. Zhou, W. Shi, \"HIT-UAV: A "
                   "high-altitude infrared thermal dataset for Unmanned Aerial Vehicle-based "
                   "object detection\", Scientific Data 10, 227 (2023)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="training run folder (has model.safetensors)")
    ap.add_argument("name", help="bundled model name, e.g. irsrgan-psnr-x4")
    ap.add_argument("--eval", action="append", default=[], type=Path,
                    help="summary.json of `irsrgan evaluate` runs on val/ (repeatable)")
    ap.add_argument("--summary", default="", help="one line shown by `irsrgan models`")
    args = ap.parse_args()

    src = args.run / "model.safetensors"
    model = load_model(src)
    meta = read_metadata(src)["provenance"]
    cfg = yaml.safe_load((args.run / "config.yaml").read_text())
    evals = {}
    for path in args.eval:
        summary = json.loads(path.read_text())
        evals[path.parent.name] = _eval_digest(summary, model_label=args.run.name)
    n_params = sum(p.numel() for p in model.parameters())
    provenance = {
        "name": args.name,
        "summary": args.summary,
        "train_data": HIT_UAV,
        "recipe": cfg["name"],
        "recipe_file": f"configs/{cfg['name']}.yaml",
        "stage": cfg["stage"],
        "steps": meta.get("steps"),
        "train_seconds": meta.get("train_seconds"),
        "hardware": f"CPU, 2 cores ({platform.machine()}), PyTorch",
        "training_validation": meta.get("val"),
        "evaluation": evals,
        "parameters": n_params,
        "licence": "MIT (weights); training data CC BY 4.0, attribution above",
    }
    out = ROOT / "src" / "irsrgan" / "weights"
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / f"{args.name}.safetensors", provenance=provenance)
    (out / f"{args.name}.md").write_text(_card(args.name, model, provenance, cfg))
    print(f"wrote {out / args.name}.safetensors and .md")


def _eval_digest(summary: dict, model_label: str) -> dict:
    """The numbers worth keeping from an evaluation summary (means per method, gains)."""
    keep = {}
    for key in ("settings", "methods", "models", "gains", "mean", "notes"):
        if key in summary:
            keep[key] = summary[key]
    return keep


def _card(name: str, model, prov: dict, cfg: dict) -> str:
    lines = [
        f"# {name}",
        "",
        prov["summary"] or "",
        "",
        f"- Architecture: `{model.arch}` {json.dumps(model.config)}; "
        f"{prov['parameters']:,} parameters; x{model.scale}, {model.in_channels} channel(s).",
        f"- Recipe: `{prov['recipe_file']}` (stage `{prov['stage']}`), {prov['steps']} steps, "
        f"{(prov['train_seconds'] or 0) / 60:.0f} min on {prov['hardware']}.",
        f"- Training data: {prov['train_data']['dataset']}.",
        f"- Data licence: {prov['train_data']['licence']}. Attribution: "
        f"{prov['train_data']['attribution']}.",
        "- Weights licence: MIT.",
        "",
        "## Validation (hit-uav/val, 85 frames, gain over bicubic upscaling of the same LR)",
        "",
    ]
    for label, ev in prov["evaluation"].items():
        lines.append(f"### {label}")
        lines.append("")
        lines.append("```json")
        lines.append(json.dumps(ev, indent=2)[:4000])
        lines.append("```")
        lines.append("")
    lines.append("Regenerate: see `docs/TRAINING.md` (the exact commands).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
