"""``irsrgan adapt FRAMES... -o MODEL.safetensors``: fine-tune a shipped model to a camera from
its own frames (see :mod:`irsrgan.adapt`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bundled import DEFAULT_BASE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "adapt", help="fine-tune a model to your camera from its own frames",
        description="Fine-tune a model on crops of your camera's native frames (no "
        "high-resolution ground truth needed): LR made half by a degradation calibrated from "
        "the frames (or --preset) and half by clean bicubic, for a time budget. The last "
        "quarter of the frames (name order) is held out: base and adapted model are scored "
        "there under both degradations, and the output is never worse than the base (if no "
        "checkpoint beats it under both, the output is the base, and the card says so). "
        "Rerunning the same command resumes.",
    )
    p.add_argument("inputs", nargs="+", metavar="FRAMES", help="image files or folders")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="MODEL.safetensors",
                   help="the adapted model (its card is written beside it as .md)")
    p.add_argument("--scale", type=int, default=4, choices=sorted(DEFAULT_BASE),
                   help="SR factor (default 4)")
    p.add_argument("--minutes", type=float, default=15.0,
                   help="training time budget, all runs of this work folder together "
                   "(default 15)")
    p.add_argument("--from", dest="base", default=None, metavar="MODEL",
                   help="base model: a bundled name or a file (default: "
                   + ", ".join(f"x{k} {v}" for k, v in DEFAULT_BASE.items()) + ")")
    p.add_argument("--preset", default=None, metavar="CAMERA.yaml",
                   help="a degradation preset (from `irsrgan calibrate`); default: calibrate "
                   "on the training frames")
    p.add_argument("--camera-weight", type=float, default=0.5,
                   help="share of training LR made by the camera's degradation, the rest by "
                   "clean bicubic (default 0.5; lower keeps more of the base's clean "
                   "sharpness)")
    p.add_argument("--held-out", type=float, default=0.25,
                   help="share of the frames (the last in name order) kept to check the "
                   "model (default 0.25)")
    p.add_argument("--work", type=Path, default=None,
                   help="work folder with the run, to resume (default: MODEL.adapt/)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..adapt import adapt

    result = adapt(args.inputs, args.output, scale=args.scale, minutes=args.minutes,
                   base=args.base, preset=args.preset, held_out=args.held_out, work=args.work,
                   seed=args.seed, batch_size=args.batch_size, lr=args.lr,
                   camera_weight=args.camera_weight,
                   threads=args.threads, progress=not args.no_progress)
    return 0 if result.output.is_file() else 1
