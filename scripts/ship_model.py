"""Copy a trained run's EMA generator into the package as a bundled model, with its model card.

    python scripts/ship_model.py runs/cpu-psnr-x4 irsrgan-psnr-x4 \
        --eval reports/shipped-x4-bicubic/summary.json \
        --eval reports/shipped-x4-thermal/summary.json

(scripts/package_models.sh runs it for the three shipped models.)

Writes ``src/irsrgan/weights/NAME.safetensors`` (the weights, with provenance in the metadata:
data, licence, attribution, recipe, steps, time, validation numbers) and ``NAME.md`` (the card).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
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
    ap.add_argument("--psnr-model", help="for a GAN model: the bundled PSNR model it was "
                    "fine-tuned from (the pair for network interpolation)")
    ap.add_argument("--denoise-partner", metavar="NAME",
                    help="for a faithful model: the bundled robust model that `upscale "
                    "--denoise` interpolates towards")
    ap.add_argument("--robust-end-of", metavar="NAME",
                    help="for a robust model: the bundled faithful model whose pair this "
                    "one ends (strength 1 of its `upscale --denoise`)")
    ap.add_argument("--recipe-file", help="the recipe's path (default configs/NAME.yaml)")
    ap.add_argument("--fine-tuned-from", metavar="NAME",
                    help="the bundled model the run started from (train.pretrained)")
    ap.add_argument("--regenerate", help="the card's line saying how to rebuild the model")
    ap.add_argument("--sets", type=Path, metavar="SETS_JSON",
                    help="sets.json of `irsrgan evaluate` over every validation set and "
                    "protocol: the card lists them all")
    ap.add_argument("--clips", type=Path, action="append", default=[], metavar="CLIPS_JSON",
                    help="clips.json of `irsrgan evaluate --clips` (repeatable: moving clips, "
                    "--still): the card lists every row")
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
        "recipe_file": args.recipe_file or f"configs/{cfg['name']}.yaml",
        "stage": cfg["stage"],
        "steps": meta.get("steps"),
        "train_seconds": meta.get("train_seconds"),
        "hardware": f"CPU, 2 cores ({platform.machine()}), PyTorch",
        "training_validation": meta.get("val"),
        "evaluation": evals,
        "parameters": n_params,
        "licence": "MIT (weights); training data CC BY 4.0, attribution above",
    }
    if args.psnr_model:
        provenance["psnr_model"] = args.psnr_model
    if args.denoise_partner:
        provenance["denoise_partner"] = args.denoise_partner
    if args.robust_end_of:
        provenance["robust_end_of"] = args.robust_end_of
    if args.regenerate:
        provenance["regenerate"] = args.regenerate
    if args.fine_tuned_from:
        provenance["fine_tuned_from"] = args.fine_tuned_from
    if args.sets:
        table = json.loads(args.sets.read_text())
        def rows(method: str) -> list[dict]:
            return [{k: r[k] for k in ("set", "protocol", "n_images", "psnr_gain", "ssim_gain",
                                       "beats_bicubic")}
                    for r in table["rows"] if r["method"] == method]
        provenance["validation_sets"] = rows(args.run.name)
        if not provenance["validation_sets"]:
            raise SystemExit(f"{args.sets}: no rows for method {args.run.name!r} (the run "
                             "folder's name labels the model's rows)")
        if args.denoise_partner:  # the pair as `upscale` runs it by default
            provenance["validation_sets_auto"] = rows("denoise@auto")
    for path in args.clips:
        result = json.loads(path.read_text())
        still = " (one frame repeated)" if result["settings"]["still"] else ""
        provenance.setdefault("clips", []).extend(
            {**{k: r[k] for k in ("set", "protocol", "method", "clips", "psnr", "gain",
                                  "stripes_left", "flicker", "beats") if k in r},
             "frames": f"{result['settings']['frames']}{still}"}
            for r in result["rows"])
    out = ROOT / "src" / "irsrgan" / "weights"
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / f"{args.name}.safetensors", provenance=provenance)
    (out / f"{args.name}.md").write_text(_card(args.name, model, provenance, cfg))
    print(f"wrote {out / args.name}.safetensors and .md")


def _eval_digest(summary: dict, model_label: str) -> dict:
    """The numbers worth keeping from an evaluation summary: protocol, bicubic and this model."""
    settings = summary["settings"]
    means = summary["means"]
    mine = means[model_label]
    keys = ("psnr", "ssim", "hf_ratio", "stripe")
    return {
        "data": Path(settings["data"]).name,
        "scale": settings["scale"],
        "degradation": settings["degradation"],
        "seed": settings["seed"],
        "n_images": settings["n_images"],
        "bicubic": {k: round(means["bicubic"][k], 4) for k in keys if k in means["bicubic"]},
        "model": {k: round(mine[k], 4) for k in keys if k in mine},
        "psnr_gain_db": round(summary["models"][model_label]["psnr_gain"], 3),
        "ssim_gain": round(summary["models"][model_label]["ssim_gain"], 4),
        "beats_bicubic_psnr": summary["models"][model_label]["beats_bicubic_psnr"],
    }


def _sets_table(rows: list[dict]) -> list[str]:
    return ["| set | LR made by | images | gain dB | SSIM gain | beats bicubic |",
            "|---|---|---|---|---|---|"] + [
        f"| {r['set']} | `{r['protocol']}` | {r['n_images']} | {r['psnr_gain']:+.2f} | "
        f"{r['ssim_gain']:+.4f} | {r['beats_bicubic']:.0%} |" for r in rows]


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
    ]
    if prov["evaluation"]:
        lines += ["## Validation (hit-uav/val, 85 frames, gain over bicubic upscaling of the "
                  "same LR)", "",
                  "| LR made by | images | bicubic PSNR / SSIM | model PSNR / SSIM | gain dB | "
                  "beats bicubic | HF ratio (bicubic -> model) |",
                  "|---|---|---|---|---|---|---|"]
    for ev in prov["evaluation"].values():
        b, m = ev["bicubic"], ev["model"]
        lines.append(
            f"| `{ev['degradation']}` (seed {ev['seed']}) | {ev['n_images']} | "
            f"{b['psnr']:.2f} / {b['ssim']:.4f} | {m['psnr']:.2f} / {m['ssim']:.4f} | "
            f"{ev['psnr_gain_db']:+.2f} | {ev['beats_bicubic_psnr']:.0%} | "
            f"{b['hf_ratio']:.3f} -> {m['hf_ratio']:.3f} |")
    if prov.get("validation_sets"):
        lines += ["", f"## Every validation set (x{model.scale}, centre crops of at most 256 px, "
                  "gain over bicubic of the same LR)", "", *_sets_table(prov["validation_sets"])]
        if prov.get("validation_sets_auto"):
            lines += ["", f"The pair, this model with `{prov.get('denoise_partner')}`, at "
                      "`--denoise auto` (the default for 8-bit inputs; 16-bit and float inputs "
                      "keep this model alone, the table above, unless `--denoise` is given), "
                      "on the same LR:", "",
                      *_sets_table(prov["validation_sets_auto"])]
        lines += ["", "thermitage-dunr (Workswell WIRIS, ground level, MIT, Thermitage project, "
                  "N. Sutherland, 3DOM-FBK) and flir-radiometric/raw16 (handheld FLIR cameras, "
                  "Wikimedia Commons) are validation sets only, never trained on."]
    if prov.get("clips"):
        lines += ["", "## Synthetic clips of every validation set (`irsrgan evaluate --clips`; "
                  "centre crops, every frame scored against its own HR)", "",
                  "| set | LR made by | frames | method | clips | PSNR dB | gain dB | "
                  "stripes left | flicker / bicubic |", "|---|---|---|---|---|---|---|---|---|"]
        for r in prov["clips"]:
            lines.append(f"| {r['set']} | `{r['protocol']}` | {r['frames']} | {r['method']} | "
                         f"{r['clips']} | {r['psnr']:.2f} | {r['gain']:+.2f} | "
                         f"{r['stripes_left']:.0%} | {r['flicker']:.2f} |")
    if prov.get("fine_tuned_from"):
        lines.insert(7, f"- Fine-tuned from {prov['fine_tuned_from']} (same training data).")
    if prov.get("robust_end_of"):
        lines.insert(7, f"- Denoise pair: strength 1 of `upscale --denoise` for "
                     f"`{prov['robust_end_of']}` (both come from one training run, so their "
                     "weights interpolate; its file names this one as its partner). Its "
                     "numbers on all three validation sets, under both protocols, beside the "
                     "pair's: docs/RESULTS.md section 9 (`bash scripts/train_generalised.sh`).")
    if prov.get("denoise_partner"):
        lines.insert(7, f"- Denoise pair: strength 0 of `upscale --denoise`; strength 1 is "
                     f"`{prov['denoise_partner']}`.")
    lines.append("")
    lines.append(prov.get("regenerate") or (
        "Regenerate: `bash scripts/train_shipped.sh`, `bash scripts/run_evaluations.sh "
        "shipped`, then `bash scripts/package_models.sh` (see `docs/TRAINING.md`)."))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


if __name__ == "__main__":
    main()
