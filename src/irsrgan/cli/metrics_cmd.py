"""``irsrgan metrics SR HR``: PSNR, SSIM, HF energy ratio, LPIPS, LPIPS-I and radiometric error.

SR and HR are two files or two folders; folders are matched by relative path without the
suffix (``sub/a.png`` pairs with ``sub/a.tif``) and unmatched files are reported.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from pathlib import Path

import numpy as np

from ..batch import default_max_pixels
from ..errors import ConfigError, ImageError, IrsrganError
from ..image import atomic_write_bytes

_SHOWN = ("psnr", "ssim", "hf_ratio", "lpips", "lpips_i", "lpips_i_ref", "mae", "rmse")


@functools.cache
def _columns() -> tuple[tuple[str, str, str], ...]:
    """(key, header, format) in table order: headers and formats as the evaluation report shows
    them, plus the radiometric bias; columns without any value are not printed. (The
    evaluation report loads PyTorch, so it is read on first use.)"""
    from ..evaluate.report import TABLE_COLUMNS

    return (
        *(column for column in TABLE_COLUMNS if column[0] in _SHOWN),
        ("bias", "bias", "{:+.4g}"),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="compare super-resolved images with their references",
        description=(
            "PSNR and SSIM (gray, data range of the bit depth: uint8 255, uint16 65535, float "
            "the HR's min..max; SSIM gaussian 11x11, sigma 1.5), high-frequency energy ratio "
            "(1 = as sharp as HR), LPIPS, LPIPS-I (the seed's) and its referenced variant when "
            "LPIPS weights are available, and for 16-bit/float images MAE/RMSE/bias in native "
            "units (raw counts or degrees)."
        ),
    )
    p.add_argument("sr", metavar="SR", type=Path,
                   help="super-resolved image or folder, or clip (video, TIFF stack)")
    p.add_argument("hr", metavar="HR", type=Path,
                   help="reference image or folder; for an SR clip: the HR clip, or the clip "
                   "that was upscaled (flicker against its bicubic upscale)")
    p.add_argument(
        "--crop", type=int, default=0, metavar="N",
        help="pixels removed at each border before scoring (papers use the scale); default 0",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write per-image values and means")
    p.add_argument(
        "--lpips", choices=("alex", "vgg", "none"), default="vgg",
        help="LPIPS backbone (LPIPS-I needs vgg); default vgg, left out when weights are missing",
    )
    p.add_argument(
        "--lpips-weights", type=Path, metavar="PATH",
        help="LPIPS v0.1 linear-layer weights (alex.pth / vgg.pth of the LPIPS release); "
        "default: the installed 'lpips' package",
    )
    p.add_argument(
        "--backbone-weights", type=Path, metavar="PATH",
        help="ImageNet weights of the LPIPS backbone (torchvision VGG16 / AlexNet state dict); "
        "default: torchvision's cache under TORCH_HOME",
    )
    p.add_argument("--max-pixels", type=int, default=None,
                   help="largest image in pixels, checked from the file header before decoding "
                   "(default: what fits in half the available memory, see docs/LIMITS.md)")
    p.set_defaults(func=run)


# bytes per pixel scoring one pair needs at its peak (two decoded images, float64 gray copies,
# SSIM's filtered maps, LPIPS activations; docs/LIMITS.md)
METRICS_BYTES_PER_PIXEL = 1024


#: How to supply missing LPIPS weights, in this command's options.
LPIPS_ADVICE = (
    "Give them with --lpips-weights PATH (alex.pth / vgg.pth of the LPIPS v0.1 release) and "
    "--backbone-weights PATH (torchvision's ImageNet state dict), or install the optional "
    "'lpips' package; --lpips none leaves LPIPS out without this note."
)

def build_lpips(*args, **kwargs):
    """:func:`irsrgan.metrics.build_lpips` (a seam for tests; imported when called: it loads
    PyTorch)."""
    from ..metrics import build_lpips as build

    return build(*args, **kwargs)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def run(args: argparse.Namespace) -> int:
    from ..metrics_files import match_pairs, score_pairs
    from .sequence_metrics import is_clip, run_clip

    if is_clip(args.sr) or is_clip(args.hr):
        return run_clip(args)
    if args.crop < 0:
        raise ConfigError(f"--crop must be >= 0, got {args.crop}")
    pairs, sr_only, hr_only = match_pairs(args.sr, args.hr)
    if not pairs:
        raise ImageError(
            f"no SR/HR pairs: nothing in {args.sr} matches {args.hr} by relative path and name "
            f"({len(sr_only)} SR and {len(hr_only)} HR images found)"
        )
    notes: list[str] = []
    lpips_fn = None
    if args.lpips != "none":
        lpips_fn = build_lpips(args.lpips, lin_weights=args.lpips_weights,
                               backbone_weights=args.backbone_weights, notes=notes,
                               advice=LPIPS_ADVICE)
        if lpips_fn is not None and args.lpips != "vgg":
            notes.append("LPIPS-I left out: it is defined on LPIPS-vgg (--lpips vgg)")

    if args.max_pixels is not None and args.max_pixels < 1:
        raise ConfigError(f"--max-pixels must be >= 1, got {args.max_pixels}")
    max_pixels = args.max_pixels or default_max_pixels(METRICS_BYTES_PER_PIXEL)
    scored = score_pairs(pairs, crop_border=args.crop, lpips_fn=lpips_fn, max_pixels=max_pixels)
    rows, failed = scored.rows, scored.failed
    notes += scored.notes

    for name, why in failed:
        print(f"FAILED {name}: {why}", file=sys.stderr)
    if not rows:
        print(f"irsrgan metrics: no pair could be scored ({len(failed)} failed)", file=sys.stderr)
        return 1
    keys, means, counts = column_means(rows)
    excluded = [k for k in keys if counts[k] < sum(k in r for r in rows)]
    if excluded:
        notes.append(
            "means leave out non-finite values (inf PSNR: identical images; nan: undefined, "
            "e.g. LPIPS-I where Var(Laplacian(SR)) <= 1 or LPIPS = 0) in: " + ", ".join(excluded)
        )
    if any(k in keys for k in ("mae", "rmse", "bias")):
        units = sorted({r["unit"] for r in rows if "mae" in r})
        notes.append("MAE/RMSE/bias are in " + (
            units[0] if len(units) == 1 and units[0] != "native"
            else "the images' native units (raw counts or degrees): " + ", ".join(units)))

    _print_table(rows, keys, means, counts)
    for label, names in (("SR", sr_only), ("HR", hr_only)):
        if names:
            shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)"
                                              if len(names) > 10 else "")
            print(f"unmatched {label} ({len(names)}): {shown}")
    for note in notes:
        print(f"note: {note}")

    if args.json is not None:
        report = {
            "sr": str(args.sr),
            "hr": str(args.hr),
            "crop_border": args.crop,
            "lpips_net": args.lpips if lpips_fn is not None else None,
            "images": [{k: _json_value(v) for k, v in r.items()} for r in rows],
            "mean": {k: _json_value(v) for k, v in means.items()},
            "count": counts,
            "unmatched_sr": sr_only,
            "unmatched_hr": hr_only,
            "notes": notes,
            "failed": [{"name": n, "error": e} for n, e in failed],
        }
        data = (json.dumps(report, indent=2) + "\n").encode()
        try:
            atomic_write_bytes(args.json, data)
        except OSError as exc:
            raise IrsrganError(f"--json {args.json}: cannot write: {exc.strerror or exc}") from None
    return 1 if failed else 0


def column_means(rows: list[dict]) -> tuple[list[str], dict, dict]:
    """The table's columns present in ``rows``, their means over finite values, and counts."""
    keys = [k for k, _, _ in _columns() if any(k in r for r in rows)]
    means, counts = {}, {}
    for k in keys:
        vals = [r[k] for r in rows if _finite(r.get(k))]
        counts[k] = len(vals)
        means[k] = float(np.mean(vals)) if vals else math.nan
    return keys, means, counts


def _print_table(rows: list[dict], keys: list[str], means: dict, counts: dict) -> None:
    from ..evaluate.report import format_value

    spec = {k: (h, f) for k, h, f in _columns()}
    mean_label = f"mean ({len(rows)})"
    name_w = max(len(mean_label), *(len(r["name"]) for r in rows))
    widths = {k: max(len(spec[k][0]), 9) for k in keys}
    header = "image".ljust(name_w) + "".join(f"  {spec[k][0]:>{widths[k]}}" for k in keys)
    print(header)
    for r in rows:
        print(r["name"].ljust(name_w)
              + "".join(f"  {format_value(r.get(k), spec[k][1]):>{widths[k]}}" for k in keys))
    print(mean_label.ljust(name_w)
          + "".join(f"  {format_value(means[k], spec[k][1]):>{widths[k]}}" for k in keys))
