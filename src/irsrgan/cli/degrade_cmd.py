"""``irsrgan degrade``: make an LR set from HR images with a degradation preset.

Outputs keep the input's relative names, format, bit depth and channel layout, at
``HR size // scale``; they are written atomically, an existing output is skipped unless
``--overwrite``, a file that fails is reported and the rest processed (exit status 1 if any
failed). ``--preview FILE.png`` writes a grid of one image under several draws.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..batch import (
    check_output_folder,
    default_max_pixels,
    make_output_folder,
    output_folder,
    plan_jobs,
    run_batch,
)
from ..data import file_generator, item_generator, load_frame
from ..degradations import PRESET_NAMES, Preset, degrade, get_preset, resize
from ..errors import ConfigError, ImageError
from ..image import Image, from_tensor, list_images, to_tensor
from ..image import write_image as _write_image

log = logging.getLogger(__name__)


def degrade_image(
    image: Image, scale: int, preset: str | Path | Preset, generator: torch.Generator
) -> Image:
    """Degrade one image to ``(H // scale, W // scale)`` in its own format and bit depth.

    The pixels go through :func:`irsrgan.image.to_tensor`'s map and back through its exact
    inverse, so a 16-bit radiometric frame stays in raw counts. An alpha channel is resized
    cleanly (antialiased bicubic), not degraded. Non-finite pixels of a float image stay
    non-finite where any fell in the LR pixel's footprint: +Inf or -Inf when that is all the
    footprint held, NaN otherwise.
    """
    h, w = image.height, image.width
    if h // scale < 1 or w // scale < 1:
        raise ImageError(f"{w}x{h} is smaller than the scale {scale}")
    clean = image
    chans = None
    if image.dtype.kind == "f":
        finite = np.isfinite(image.pixels)
        if not finite.all():
            chans = image.channels()
            fill = float(image.pixels[finite].mean()) if finite.any() else 0.0
            clean = replace(image, pixels=np.where(finite, image.pixels, fill))
    x, vmap = to_tensor(clean)
    has_alpha = image.layout in ("rgba", "gray-alpha")
    body = x[:, :-1] if has_alpha else x
    lr = degrade(body.contiguous(), scale, preset, generator)
    if has_alpha:
        alpha = resize(x[:, -1:], lr.shape[-2:], "bicubic_aa")
        lr = torch.cat([lr, alpha], dim=1)
    out = from_tensor(lr, clean, vmap)
    if chans is not None:
        size = lr.shape[-2:]

        def pooled(mask: np.ndarray) -> np.ndarray:  # any in the footprint, (h, w, C)
            m = torch.from_numpy(mask.astype(np.float32))[None]
            m = m[..., : size[0] * scale, : size[1] * scale]
            return np.moveaxis(F.adaptive_max_pool2d(m, size)[0].numpy() > 0, 0, -1)

        nan, pos, neg = pooled(np.isnan(chans)), pooled(chans == np.inf), pooled(chans == -np.inf)
        value = np.where(nan | (pos & neg), np.nan, np.where(pos, np.inf, -np.inf))
        where = nan | pos | neg
        px = out.pixels.copy()
        if px.ndim == 2:
            where, value = where[..., 0], value[..., 0]
        elif where.shape != px.shape:  # gray stored as RGB: one channel, written three times
            where, value = (np.broadcast_to(a, px.shape) for a in (where, value))
        px[where] = value[where]
        out = replace(out, pixels=px)
    return out


# bytes per HR pixel a degradation needs at its peak (float32 copies through the preset's
# steps, 4 channels at most; docs/LIMITS.md)
DEGRADE_BYTES_PER_PIXEL = 128


def write_preview(
    path: Path, source: Path, scale: int, preset: Preset, seed: int, draws: int = 7,
    max_size: int = 256, max_pixels: int | None = None,
) -> None:
    """A PNG grid: the HR (centre crop) then ``draws`` LRs (nearest-upscaled to the HR size)."""
    frame = load_frame(source, channels=1, max_pixels=max_pixels)
    h, w = frame.size
    m = max(scale, max_size - max_size % scale)
    ch, cw = min(h - h % scale, m), min(w - w % scale, m)
    if ch < scale or cw < scale:
        raise ImageError(f"{source}: {w}x{h} is smaller than the scale {scale}")
    hr = frame.unit((h - ch) // 2, (w - cw) // 2, ch, cw)[None]
    tiles = [hr[0, 0].numpy()]
    labels = ["HR"]
    for i in range(draws):
        lr = degrade(hr, scale, preset, item_generator(seed, i, 0))
        up = F.interpolate(lr, size=(ch, cw), mode="nearest")
        tiles.append(up[0, 0].numpy())
        labels.append(f"draw {i + 1}")
    cols = min(4, len(tiles))
    rows = -(-len(tiles) // cols)
    gap = 4
    grid = np.full((rows * (ch + gap) - gap, cols * (cw + gap) - gap), 255, np.uint8)
    for k, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        r, c = divmod(k, cols)
        t8 = (np.clip(tile, 0, 1) * 255 + 0.5).astype(np.uint8)
        t8 = np.ascontiguousarray(t8)
        cv2.putText(t8, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 255, 2, cv2.LINE_AA)
        cv2.putText(t8, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 0, 1, cv2.LINE_AA)
        grid[r * (ch + gap): r * (ch + gap) + ch, c * (cw + gap): c * (cw + gap) + cw] = t8
    check_output_folder(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_image(path, Image(pixels=grid, format="png", layout="gray"))
    except OSError as exc:
        raise ConfigError(f"--preview {path}: cannot write: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.scale < 1:
        raise ConfigError(f"--scale must be >= 1, got {args.scale}")
    if args.output is None and args.preview is None:
        raise ConfigError("give -o OUTPUT (an LR set), --preview FILE.png, or both")
    if args.preview_draws < 1:
        raise ConfigError(f"--preview-draws must be >= 1, got {args.preview_draws}")
    if not 1 <= args.jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be in 1..100, got {args.jpeg_quality}")
    if args.max_pixels is not None and args.max_pixels < 1:
        raise ConfigError(f"--max-pixels must be >= 1, got {args.max_pixels}")
    max_pixels = args.max_pixels or default_max_pixels(DEGRADE_BYTES_PER_PIXEL)
    preset = get_preset(args.preset)
    inp = Path(args.input)
    if not inp.exists():
        raise ConfigError(f"input {inp} does not exist")
    files = list_images(inp)
    if not files:
        raise ConfigError(f"input {inp} holds no PNG, TIFF, JPEG or BMP images")

    if args.preview is not None:
        prev = Path(args.preview)
        if prev.suffix.lower() != ".png":
            raise ConfigError(f"--preview must be a .png file, got {prev}")
        write_preview(prev, files[0], args.scale, preset, args.seed, draws=args.preview_draws,
                      max_pixels=max_pixels)
        print(f"preview of {files[0].name} ({args.preview_draws} draws of '{preset.name}'): "
              f"{prev}")
        if args.output is None:
            return 0

    out = Path(args.output)
    jobs = plan_jobs([inp], out, flir_raw=args.flir_raw)
    make_output_folder(output_folder(jobs, out))
    result = run_batch(
        jobs,
        lambda image, job: degrade_image(image, args.scale, preset,
                                         file_generator(args.seed, job.name)),
        overwrite=args.overwrite, progress=False, jpeg_quality=args.jpeg_quality,
        flir_raw=args.flir_raw, max_pixels=max_pixels,
    )
    print(result.summary(), file=sys.stderr)
    print(f"degraded {len(result.done)}, skipped {len(result.skipped)} existing, failed "
          f"{len(result.failed)} (preset '{preset.name}', x{args.scale}, seed {args.seed}) "
          f"-> {out}")
    return 0 if result.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "degrade",
        help="make LR images from HR images with a degradation preset",
        description=(
            "Write an LR copy of each HR image (same relative name, format and bit depth, "
            "size HR // scale). Presets: " + ", ".join(PRESET_NAMES)
            + ", a YAML file, or mix:NAME=WEIGHT,NAME=WEIGHT."
        ),
    )
    p.add_argument("input", metavar="INPUT", help="an image or a folder of images")
    p.add_argument("-o", "--output", metavar="OUTPUT",
                   help="output folder (or an image path when INPUT is one image)")
    p.add_argument("-s", "--scale", type=int, required=True, help="downscale factor")
    p.add_argument("-p", "--preset", default="bicubic",
                   help="degradation preset name, YAML path or mix:... (default: bicubic)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed; each file's draws depend on (seed, file name) (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--flir-raw", action="store_true",
                   help="for FLIR radiometric JPEGs, degrade the raw 16-bit sensor counts "
                   "(written as NAME.tiff) instead of the 8-bit preview")
    p.add_argument("--preview", metavar="FILE.png",
                   help="write a grid of the first image under several draws")
    p.add_argument("--preview-draws", type=int, default=7, help="draws in the preview (7)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="largest input in pixels, checked from the file header before decoding "
                   "(default: what fits in half the available memory, see docs/LIMITS.md)")
    p.add_argument("--jpeg-quality", type=int, default=100,
                   help="quality when an output is a JPEG like its input (default 100, the "
                        "least extra loss; the preset's own JPEG steps are separate)")
    p.set_defaults(func=run)
