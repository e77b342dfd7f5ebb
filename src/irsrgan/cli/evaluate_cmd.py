"""``irsrgan evaluate``: bicubic and models on the same LR, scored per image, as a report."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import ConfigError
from ..runtimes import ENGINES  # the engine names (irsrgan.engines.ENGINES), without PyTorch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score models against bicubic on a folder of HR images and write a report",
        description=(
            "Each HR image (gray; cropped to a multiple of the scale) is degraded once with a "
            "seeded preset (or taken from --paired-lr), upscaled with bicubic and every model, "
            "and scored: PSNR/SSIM (gray, data range of the bit depth, border = scale) and "
            "their gain over bicubic, HF energy ratio, LPIPS/LPIPS-I when LPIPS weights are "
            "available offline, and MAE/RMSE in native units for 16-bit/float images. Writes "
            "per_image.csv, summary.json, box plots, comparison grids, a perception-distortion "
            "plot for --sweep-alpha, and index.html to --out."
        ),
    )
    p.add_argument("--model", action="append", default=[], metavar="M",
                   help="model file or bundled name (repeat for several); labelled by file stem")
    p.add_argument("--data", action="append", metavar="[NAME=]DIR",
                   help="folder of HR images (searched recursively) or one image; repeat for "
                   "several sets (each gets its own report, plus one table of all: sets.md)")
    p.add_argument("--scale", type=int, metavar="S",
                   help="SR factor; default the models' scale (all must agree)")
    p.add_argument("--degradation", action="append", metavar="PRESET",
                   help="preset making the LR: bicubic, irsrgan, realesrgan, thermal, "
                   "thermal-mix, a YAML file or mix:NAME=W,...; default bicubic; repeat for "
                   "several protocols")
    p.add_argument("--out", "-o", type=Path, required=True, metavar="REPORT",
                   help="report folder (created)")
    p.add_argument("--seed", type=int, default=0,
                   help="LR seed: each image's LR depends on (seed, file name), the same LR for "
                   "every method and run, and as `irsrgan degrade --seed` makes")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images (by path)")
    p.add_argument("--max-size", type=int, metavar="N",
                   help="centre-crop each HR to at most N pixels a side")
    p.add_argument("--paired-lr", type=Path, metavar="DIR",
                   help="LR images matched to HR by relative name without suffix (instead of "
                   "--degradation)")
    p.add_argument("--sweep-alpha", metavar="A,B,...",
                   help="network interpolation between --model (0) and --model-b (1) at these "
                   "alphas, e.g. 0.1,0.3,0.5,0.7,0.9")
    p.add_argument("--model-b", metavar="B", help="the alpha = 1 end of --sweep-alpha")
    p.add_argument("--lpips-weights", type=Path, metavar="PATH",
                   help="LPIPS v0.1 vgg.pth linear weights (default: the 'lpips' package)")
    p.add_argument("--backbone-weights", type=Path, metavar="PATH",
                   help="VGG16 ImageNet weights (default: torchvision's cache)")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS and LPIPS-I")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--tile", type=int, metavar="N",
                   help="LR tile side (0: whole image; default from available memory)")
    p.add_argument("--backend", default="auto", choices=("auto", *ENGINES),
                   help="CPU inference engine (auto: the fastest measured on this machine, "
                   "see `irsrgan bench`)")
    p.add_argument("--ensemble", action="store_true",
                   help="self-ensemble every model over 8 flips/rotations (8x the time)")
    p.add_argument("--consistency", action="store_true",
                   help="also score every method made measurement-consistent (each SxS block's "
                   "mean equal to its LR pixel), labelled METHOD+consistency")
    p.add_argument("--native", type=Path, metavar="DIR",
                   help="instead of --data: upscale frames that have no ground truth as they "
                   "are, and write side-by-side crops (nearest, bicubic, each model) and the "
                   "no-reference faceting and overshoot figures (native.md)")
    p.add_argument("--denoise", metavar="S,S,...",
                   help="also score the first model's denoise pair at these strengths "
                   "(auto or numbers in [0, 1], e.g. auto,0,1)")
    p.add_argument("--robust", metavar="MODEL",
                   help="the strength-1 end for --denoise (default: the first model's partner)")
    p.add_argument("--anchor", action=argparse.BooleanOptionalAction, default=True,
                   help="--denoise strengths above 0 with the output's levels anchored to the "
                   "LR, as `irsrgan upscale` does (default on; --no-anchor: the interpolated "
                   "model's output as it is)")
    p.add_argument("--grid", type=int, default=3, metavar="N",
                   help="comparison grids for N images spread over the set (default 3)")
    p.add_argument("--temporal", type=float, default=0.0, metavar="S",
                   help="for a clip (--data VIDEO): temporal blend of strength S on static "
                   "pixels for every model (see irsrgan upscale --temporal)")
    p.add_argument("--clips", type=int, metavar="N",
                   help="score on synthetic clips of N frames made from each HR image (camera "
                   "motion, one sensor per clip with a fixed pattern and per-frame noise; "
                   "--degradation default thermal): PSNR/SSIM, stripe residual and flicker of "
                   "every frame; multi-frame models run through their sliding window. Writes "
                   "clips.md and clips.json")
    p.add_argument("--still", action="store_true",
                   help="with --clips: each clip is one LR frame repeated (a multi-frame model "
                   "must then match the single-frame one)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _cell(fmt: str, v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan"
    return fmt.format(v)


def _named_sets(specs: list[str]) -> dict[str, Path] | list[Path]:
    """``--data`` values: ``NAME=DIR`` pairs (all named) or plain paths."""
    if not any("=" in s and not Path(s).exists() for s in specs):
        return [Path(s) for s in specs]
    out: dict[str, Path] = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name:
            raise ConfigError(f"--data {s!r}: give every set as NAME=DIR when one is named")
        if name in out:
            raise ConfigError(f"--data: the set name {name!r} is given twice")
        out[name] = Path(path)
    return out


def run(args: argparse.Namespace) -> int:
    from ..evaluate import (
        TABLE_COLUMNS,
        evaluate,
        evaluate_sets,
        parse_alpha_list,
        sets_table_markdown,
    )
    from ..native_eval import evaluate_native

    alphas = parse_alpha_list(args.sweep_alpha) if args.sweep_alpha is not None else ()
    denoise = [v.strip() for v in args.denoise.split(",") if v.strip()] if args.denoise else []
    engine = dict(scale=args.scale, device=args.device, tile=args.tile, backend=args.backend,
                  ensemble=args.ensemble, denoise=denoise, robust=args.robust,
                  anchor=args.anchor)
    if args.native is not None:
        if args.data or args.degradation or args.paired_lr or alphas:
            raise ConfigError("--native takes no --data, --degradation, --paired-lr or "
                              "--sweep-alpha: its frames are the LR")
        summary = evaluate_native(args.model, args.native, args.out, limit=args.limit,
                                  max_size=args.max_size, crops=args.grid or None,
                                  progress=not args.quiet, **engine)
        print(summary["table"])
        print(f"wrote {args.out / 'native.md'} and crops/ ({summary['n_images']} frames)")
        return 0
    if not args.data:
        raise ConfigError("give --data DIR (frames with ground truth) or --native DIR")
    if args.clips is not None:
        return _run_clips(args)
    if args.still:
        raise ConfigError("--still goes with --clips N")
    degradations = args.degradation or ["bicubic"]
    sets = _named_sets(args.data)
    options = dict(
        seed=args.seed, limit=args.limit, max_size=args.max_size,
        model_b=args.model_b, sweep_alphas=alphas,
        lpips="off" if args.no_lpips else "auto", lpips_weights=args.lpips_weights,
        backbone_weights=args.backbone_weights, grid=args.grid, progress=not args.quiet,
        consistency=args.consistency, **engine,
    )
    if len(sets) > 1 or len(degradations) > 1:
        if args.paired_lr is not None or args.temporal:
            raise ConfigError("--paired-lr and --temporal take one --data set and no "
                              "--degradation")
        table = evaluate_sets(args.model, sets, args.out, degradations=degradations, **options)
        print(sets_table_markdown(table["rows"]))
        print(f"wrote {args.out / 'sets.md'} and a report per set and protocol")
        return 0
    data = next(iter(sets.values())) if isinstance(sets, dict) else sets[0]
    summary = evaluate(args.model, data, args.out, degradation=degradations[0],
                       paired_lr=args.paired_lr, temporal=args.temporal, **options)
    means = summary["means"]
    cols = [(k, h, f) for k, h, f in TABLE_COLUMNS
            if any(means[m].get(k) is not None for m in means)]
    width = max(len("method"), *(len(m) for m in means))
    widths = [max(len(h), 8) for _, h, _ in cols]
    print("method".ljust(width) + "".join(f"  {h:>{w}}" for (_, h, _), w in zip(cols, widths,
                                                                                  strict=True)))
    for label, entry in means.items():
        print(label.ljust(width) + "".join(
            f"  {_cell(f, entry.get(k)):>{w}}" for (k, _, f), w in zip(cols, widths, strict=True)
        ))
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"wrote {args.out / 'index.html'} ({summary['settings']['n_images']} images, "
          f"{summary['elapsed_s']:.1f} s)")
    return 0


def _run_clips(args: argparse.Namespace) -> int:
    from ..clip_eval import evaluate_clips

    if args.paired_lr or args.sweep_alpha or args.denoise or args.temporal or args.consistency:
        raise ConfigError("--clips takes no --paired-lr, --sweep-alpha, --denoise, --temporal "
                          "or --consistency")
    sets = _named_sets(args.data)
    if not isinstance(sets, dict):
        sets = {p.name: p for p in sets}
    result = evaluate_clips(args.model, sets, args.out,
                            degradations=args.degradation or ["thermal"], frames=args.clips,
                            still=args.still, seed=args.seed, limit=args.limit,
                            max_size=args.max_size, device=args.device, tile=args.tile,
                            backend=args.backend, progress=not args.quiet)
    from ..clip_eval import clips_table_markdown
    print(clips_table_markdown(result["rows"]))
    print(f"wrote {args.out / 'clips.md'} ({result['settings']['elapsed_s']:.0f} s)")
    return 0
