"""Score SR image files against their HR references, pair by pair.

:func:`match_pairs` pairs two files, or two folders by relative path without the suffix
(``sub/a.png`` with ``sub/a.tif``); :func:`score_pairs` reads each pair (FLIR data in one unit,
see :func:`in_common_units`) and scores it with :func:`irsrgan.metrics.evaluate_pair`, one bad
pair reported and the rest scored. ``irsrgan metrics`` prints the table over these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import metrics
from .errors import ImageError, IrsrganError
from .image import Image, list_images, read_image
from .radiometry import UNIT_SYMBOLS, image_in_units


def _stem_key(rel: Path) -> str:
    return rel.with_suffix("").as_posix()


def _index(root: Path, role: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in list_images(root):
        key = _stem_key(path.relative_to(root))
        if key in found:
            raise ImageError(
                f"{role} folder {root}: {found[key].name} and {path.name} have the same name "
                "without suffix; cannot tell which one to compare"
            )
        found[key] = path
    return found


def match_pairs(sr: Path, hr: Path) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """``[(name, sr_file, hr_file)]``, SR-only names, HR-only names."""
    for role, path in (("SR", sr), ("HR", hr)):
        if not path.exists():
            raise ImageError(f"{role} {path}: no such file or folder")
    if sr.is_file() and hr.is_file():
        return [(sr.name, sr, hr)], [], []
    if sr.is_dir() and hr.is_dir():
        sr_index, hr_index = _index(sr, "SR"), _index(hr, "HR")
        pairs = [(k, sr_index[k], hr_index[k]) for k in sorted(sr_index) if k in hr_index]
        sr_only = sorted(k for k in sr_index if k not in hr_index)
        hr_only = sorted(k for k in hr_index if k not in sr_index)
        return pairs, sr_only, hr_only
    kinds = ", ".join(f"{r} {p} is a {'folder' if p.is_dir() else 'file'}"
                      for r, p in (("SR", sr), ("HR", hr)))
    raise ImageError(f"SR and HR must both be files or both be folders: {kinds}")


def in_common_units(sr: Image, hr: Image) -> tuple[Image, Image, str]:
    """SR and HR in one unit, and its name: FLIR data (an R-JPEG, or a TIFF written from one
    by `upscale --flir-raw`) in counts is converted with its camera constants to the other's
    temperature unit; anything else stays as it is ("native")."""
    a, b = sr.flir, hr.flir
    if a is not None and b is not None and a.units != b.units:
        if a.units == "counts" and a.camera is not None:
            sr = image_in_units(sr, b.units)
        elif b.units == "counts" and b.camera is not None:
            hr = image_in_units(hr, a.units)
    units = {x.flir.units for x in (sr, hr) if x.flir is not None}
    return sr, hr, UNIT_SYMBOLS[units.pop()] if len(units) == 1 else "native"


@dataclass
class PairScores:
    """What :func:`score_pairs` found: one row per scored pair (``name``, ``sr``, ``hr``,
    ``dtype``, ``unit`` and the metrics), ``(name, why)`` per pair that failed, and notes."""

    rows: list[dict] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def score_pairs(
    pairs: Sequence[tuple[str, Path, Path]], *, crop_border: int = 0,
    lpips_fn: Callable | None = None, max_pixels: int | None = None,
) -> PairScores:
    """Score each ``(name, sr_file, hr_file)``; a pair that cannot be read or scored (an
    :class:`~irsrgan.errors.IrsrganError`, out of memory) is recorded in ``failed``."""
    out = PairScores()
    for name, sr_path, hr_path in pairs:
        try:
            sr_img = read_image(sr_path, max_pixels=max_pixels, flir_raw=True)
            hr_img = read_image(hr_path, max_pixels=max_pixels,
                                flir_raw=sr_img.flir is not None)
            sr_img, hr_img, unit = in_common_units(sr_img, hr_img)
            values = metrics.evaluate_pair(sr_img, hr_img, crop_border=crop_border,
                                           lpips_fn=lpips_fn)
        except IrsrganError as exc:  # one bad pair: reported, the rest go on
            out.failed.append((name, str(exc)))
            continue
        except MemoryError:
            out.failed.append((name, "out of memory (lower --max-pixels)"))
            continue
        if sr_img.dtype != hr_img.dtype:
            out.notes.append(f"{name}: no radiometric error, SR is {sr_img.dtype} and HR "
                             f"{hr_img.dtype}")
        out.rows.append({"name": name, "sr": str(sr_path), "hr": str(hr_path),
                         "dtype": str(hr_img.dtype), "unit": unit, **values})
    return out
