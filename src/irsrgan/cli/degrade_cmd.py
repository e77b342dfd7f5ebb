"""``irsrgan degrade``: make an LR set from HR images with a degradation preset.

Outputs keep the input's relative names, format, bit depth and channel layout, at
``HR size // scale``; they are written atomically, an existing output is skipped unless
``--overwrite``, a file that fails is reported and the rest processed (exit status 1 if any
failed). ``--preview FILE.png`` writes a grid of one image under several draws.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..batch import check_output_folder, default_max_pixels
from ..bundled import PRESET_NAMES
from ..errors import ConfigError
from ..image import Image, list_images
from ..image import write_image as _write_image

if TYPE_CHECKING:
    from ..data import file_generator  # noqa: F401 (importable from here, as before)
    from ..degradations import Preset
    from ..degrade_files import degrade_image  # noqa: F401 (importable from here, as before)

# importable from here, as before; imported on first use (they load PyTorch)
_LAZY = {"file_generator": "..data", "degrade_image": "..degrade_files"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def write_preview(path: Path, source: Path, scale: int, preset: Preset, seed: int,
                  draws: int = 7, max_pixels: int | None = None) -> None:
    """Write :func:`~irsrgan.degrade_files.preview_grid` as a PNG at ``path``."""
    from ..degrade_files import preview_grid

    grid = preview_grid(source, scale, preset, seed, draws=draws, max_pixels=max_pixels)
    check_output_folder(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_image(path, Image(pixels=grid, format="png", layout="gray"))
    except OSError as exc:
        raise ConfigError(f"--preview {path}: cannot write: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    from ..degradations import get_preset
    from ..degrade_files import DEGRADE_BYTES_PER_PIXEL, degrade_files

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
    result = degrade_files(inp, out, args.scale, preset, seed=args.seed,
                           overwrite=args.overwrite, flir_raw=args.flir_raw,
                           max_pixels=max_pixels, jpeg_quality=args.jpeg_quality)
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
