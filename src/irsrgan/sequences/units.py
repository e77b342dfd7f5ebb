"""Temperature units for FLIR SEQ/CSQ clips: each frame converted with its own camera
constants, exactly as a FLIR R-JPEG read with ``--flir-raw`` is (the one conversion,
:func:`irsrgan.radiometry.image_in_units`, before upscaling), and the checks that the clip and
the output can take it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError
from ..radiometry import UNITS, check_overrides, image_in_units
from .frames import Frame, SequenceInfo

FLIR_KINDS = ("flir-seq", "flir-csq")


def converts(units: str, emissivity: float | None, reflected_temp_c: float | None) -> bool:
    """True when frames are to be changed: temperatures asked for, or an override recorded."""
    return units != "counts" or emissivity is not None or reflected_temp_c is not None


def check_units(
    src: Path, info: SequenceInfo, output: Path, output_kind: str, units: str,
    emissivity: float | None, reflected_temp_c: float | None,
) -> None:
    """Raise :class:`ConfigError` before anything is read or written when ``units`` or an
    override is asked of a clip that is not FLIR SEQ/CSQ, or temperatures (float32) of an
    output that cannot hold float (video)."""
    if units not in UNITS:
        raise ConfigError(f"units (--units) must be one of {', '.join(UNITS)}, got {units!r}")
    check_overrides(emissivity, reflected_temp_c)
    if not converts(units, emissivity, reflected_temp_c):
        return
    if info.kind not in FLIR_KINDS:
        asked = f"--units {units}" if units != "counts" else "--emissivity/--reflected-temp"
        raise ConfigError(f"{src}: {asked} needs FLIR raw counts (an R-JPEG, SEQ or CSQ "
                          f"file); this is a {info.kind}, not a FLIR file")
    if units != "counts" and output_kind == "video":
        raise ConfigError(f"-o {output}: --units {units} gives float32 temperatures, which "
                          f"{output.suffix or 'a'} video cannot hold: write a TIFF stack "
                          f"(-o {output.stem}.tiff), or use --units counts")


def frames_in_units(
    frames: Iterator[Frame], src: Path, units: str, emissivity: float | None,
    reflected_temp_c: float | None,
) -> Iterator[Frame]:
    """Each frame in ``units`` with its own camera constants (overrides applied); raises
    :class:`~irsrgan.errors.ImageError` naming the frame when it has none."""
    for frame in frames:
        image = image_in_units(frame.image, units, emissivity=emissivity,
                               reflected_temp_c=reflected_temp_c,
                               name=f"{src.name} frame {frame.index}")
        yield replace(frame, image=image)
