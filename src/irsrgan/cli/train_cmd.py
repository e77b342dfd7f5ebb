"""``irsrgan train CONFIG --out DIR``: one training stage (psnr or gan) from a YAML recipe.

Many processes: ``torchrun --nproc_per_node=N -m irsrgan train CONFIG --out DIR``.
"""

from __future__ import annotations

import argparse
import json

from ..config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model from a recipe (configs/*.yaml)",
        description="Train one stage of a recipe. The GAN stage starts from the PSNR stage's "
        "weights (train.pretrained). Launch with torchrun for several processes/GPUs.",
    )
    p.add_argument("config", help="recipe YAML, or a name from configs/ (e.g. smoke)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, model)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..train import train

    cfg = load_config(args.config, args.overrides)
    summary = train(cfg, args.out, resume=args.resume, progress=not args.quiet)
    if summary["rank"] == 0:  # under torchrun, one summary (rank 0's), not one per process
        print(json.dumps({k: v for k, v in summary.items()}, indent=2, default=float))
    return 0
