"""``irsrgan metrics SR_CLIP REF_CLIP``: per-frame metrics and flicker of an upscaled clip.

REF is the HR clip (same size as SR: PSNR, SSIM, HF ratio and radiometric error per frame,
and flicker against the HR's own frame-to-frame change) or the clip that was upscaled (SR is
an integer multiple of its size: flicker against its bicubic upscale, the reference of
``irsrgan evaluate``). Frames are compared in order; LPIPS is not computed for clips.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .. import metrics
from ..errors import ConfigError, ImageError, IrsrganError
from ..image import atomic_write_bytes, gray_unit
from ..sequences import open_sequence, sniff_sequence
from .metrics_cmd import _json_value, _print_table, column_means


def is_clip(path: Path) -> bool:
    return path.is_file() and sniff_sequence(path) not in (None, "folder")


def run_clip(args: argparse.Namespace) -> int:
    if args.crop < 0:
        raise ConfigError(f"--crop must be >= 0, got {args.crop}")
    for role, path in (("SR", args.sr), ("HR", args.hr)):
        if not is_clip(path):
            raise ImageError(f"{role} {path}: not a clip (video, TIFF stack, FLIR SEQ/CSQ); "
                             "SR and HR must both be clips")
    meter = metrics.FlickerMeter()
    rows: list[dict] = []
    same_size = None
    with open_sequence(args.sr) as sr_clip, open_sequence(args.hr) as hr_clip:
        sr_frames, hr_frames = sr_clip.frames(), hr_clip.frames()
        for sr_f in sr_frames:
            hr_f = next(hr_frames, None)
            if hr_f is None:
                raise ImageError(f"SR {args.sr} has more frames than HR {args.hr} "
                                 f"({sr_f.index} frames in HR)")
            sr_img, hr_img = sr_f.image, hr_f.image
            if same_size is None:
                same_size = (sr_img.height, sr_img.width) == (hr_img.height, hr_img.width)
            row = {"name": f"frame {sr_f.index}"}
            if same_size:
                row.update(metrics.evaluate_pair(sr_img, hr_img, crop_border=args.crop))
            meter.update(torch.from_numpy(gray_unit(sr_img))[None],
                         torch.from_numpy(gray_unit(hr_img))[None])
            rows.append(row)
        if next(hr_frames, None) is not None:
            raise ImageError(f"HR {args.hr} has more frames than SR {args.sr} ({len(rows)})")
    fl = meter.result()
    keys, means, counts = column_means(rows)
    if keys:
        _print_table(rows, keys, means, counts)
    against = "the HR clip's own change" if same_size else "bicubic upscaling of the input"
    print(f"flicker {fl.flicker:.3e} (RMS frame-to-frame change on static pixels, unit range), "
          f"{fl.ratio:.3f} x {against} ({fl.reference:.3e}); {fl.static_fraction:.0%} of "
          f"pixels static over {fl.pairs} frame pairs")
    if args.json is not None:
        report = {"sr": str(args.sr), "hr": str(args.hr), "crop_border": args.crop,
                  "frames": [{k: _json_value(v) for k, v in r.items()} for r in rows],
                  "mean": {k: _json_value(v) for k, v in means.items()},
                  "flicker": {k: _json_value(v) for k, v in fl._asdict().items()},
                  "flicker_reference": against}
        try:
            atomic_write_bytes(args.json, (json.dumps(report, indent=2) + "\n").encode())
        except OSError as exc:
            raise IrsrganError(f"--json {args.json}: cannot write: {exc}") from None
    return 0
