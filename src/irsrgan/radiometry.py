"""Raw FLIR detector counts -> temperature, with the camera's own constants.

The standard FLIR conversion, as documented with ExifTool's FLIR tags (and implemented in the
same form by Thermimage's ``raw2temp``): the counts ``S`` the detector saw are the object's
signal attenuated by the atmosphere (two paths of ``d / 2`` each, object -> IR window -> lens)
and the window, plus what the atmosphere, the window and the surroundings (reflected off the
object, weighted by ``1 - emissivity``) emitted. Each emitter at temperature ``T`` gives
``planck(T) = R1 / (R2 * (exp(B / T) - F)) - O`` counts; solving for the object's signal::

    S_obj = S / (E tau1 IRT tau2) - (1 - E)/E planck(T_refl) - (1 - tau1)/(E tau1) planck(T_atm)
            - (1 - IRT)/(E tau1 IRT) planck(T_win) - (1 - tau2)/(E tau1 IRT tau2) planck(T_atm)
    T_obj = B / ln(R1 / (R2 (S_obj + O)) + F)

with the atmospheric transmission ``tau = X exp(-sqrt(d/2) (a1 + b1 sqrt(h2o))) + (1 - X)
exp(-sqrt(d/2) (a2 + b2 sqrt(h2o)))`` and the water vapour content ``h2o = RH exp(1.5587 +
0.06939 t - 0.00027816 t^2 + 0.00000068455 t^3)`` (``t`` the atmospheric temperature in degC,
``RH`` a fraction). The window's own reflection is taken as zero, as FLIR does.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import numpy as np

from .errors import ConfigError, ImageError
from .flir import FlirCamera, flir_description
from .image import Image

Units = Literal["counts", "celsius", "kelvin", "fahrenheit"]
UNITS: tuple[str, ...] = ("counts", "celsius", "kelvin", "fahrenheit")
UNIT_SYMBOLS = {"counts": "counts", "celsius": "degC", "kelvin": "K", "fahrenheit": "degF"}
ZERO_CELSIUS = 273.15


def with_overrides(
    camera: FlirCamera, *, emissivity: float | None = None,
    reflected_temp_c: float | None = None,
) -> FlirCamera:
    """The camera constants with the object parameters thermographers set by hand: emissivity
    in (0, 1] and the reflected apparent temperature in degC. Raises :class:`ConfigError`."""
    check_overrides(emissivity, reflected_temp_c)
    if emissivity is not None:
        camera = replace(camera, emissivity=float(emissivity))
    if reflected_temp_c is not None:
        camera = replace(camera, reflected_apparent_temperature=reflected_temp_c + ZERO_CELSIUS)
    return camera


def check_overrides(emissivity: float | None, reflected_temp_c: float | None) -> None:
    """Raise :class:`ConfigError` for an emissivity outside (0, 1] or a reflected temperature
    at or below absolute zero."""
    if emissivity is not None and not 0.0 < emissivity <= 1.0:
        raise ConfigError(f"emissivity must be in (0, 1], got {emissivity}")
    if reflected_temp_c is not None and not reflected_temp_c > -ZERO_CELSIUS:
        raise ConfigError(f"reflected temperature must be above -273.15 degC, got "
                          f"{reflected_temp_c}")


def planck_counts(camera: FlirCamera, kelvin: float | np.ndarray) -> float | np.ndarray:
    """The counts a black body at ``kelvin`` gives (the inverse of the Planck step)."""
    c = camera
    return c.planck_r1 / (c.planck_r2 * (np.exp(c.planck_b / kelvin) - c.planck_f)) - c.planck_o


def atmospheric_transmission(camera: FlirCamera) -> float:
    """Transmission of half the object distance of air (one of the two paths)."""
    c = camera
    t = c.atmospheric_temperature - ZERO_CELSIUS
    h2o = c.relative_humidity * math.exp(1.5587 + 0.06939 * t - 0.00027816 * t ** 2
                                         + 0.00000068455 * t ** 3)
    root_d = math.sqrt(c.object_distance / 2)
    sqrt_h2o = math.sqrt(h2o)

    def path(alpha: float, beta: float) -> float:
        return math.exp(-root_d * (alpha + beta * sqrt_h2o))

    x = c.atmospheric_trans_x
    return (x * path(c.atmospheric_trans_alpha1, c.atmospheric_trans_beta1)
            + (1 - x) * path(c.atmospheric_trans_alpha2, c.atmospheric_trans_beta2))


def raw_to_kelvin(raw: np.ndarray, camera: FlirCamera) -> np.ndarray:
    """Temperature in kelvin (float64, the shape of ``raw``) of raw counts. Counts too low to
    correspond to any temperature (below the surroundings' contribution) give NaN."""
    c = camera
    e, win = c.emissivity, c.ir_window_transmission
    tau = atmospheric_transmission(c)  # tau1 == tau2: each path is half the distance
    refl = planck_counts(c, c.reflected_apparent_temperature)
    atm = planck_counts(c, c.atmospheric_temperature)
    window = planck_counts(c, c.ir_window_temperature)
    background = ((1 - e) / e * refl
                  + (1 - tau) / (e * tau) * atm
                  + (1 - win) / (e * tau * win) * window
                  + (1 - tau) / (e * tau * win * tau) * atm)
    obj = raw.astype(np.float64) / (e * tau * win * tau) - background
    with np.errstate(invalid="ignore", divide="ignore"):
        arg = c.planck_r1 / (c.planck_r2 * (obj + c.planck_o)) + c.planck_f
        kelvin = c.planck_b / np.log(arg)
    kelvin[~(arg > 1.0)] = np.nan
    return kelvin


def from_kelvin(kelvin: np.ndarray, units: Units) -> np.ndarray:
    """Kelvin in ``units`` (celsius, kelvin or fahrenheit)."""
    if units == "kelvin":
        return kelvin
    if units == "celsius":
        return kelvin - ZERO_CELSIUS
    if units == "fahrenheit":
        return (kelvin - ZERO_CELSIUS) * 1.8 + 32.0
    raise ConfigError(f"units must be celsius, kelvin or fahrenheit, got {units!r}")


def raw_to_units(raw: np.ndarray, camera: FlirCamera, units: Units) -> np.ndarray:
    """Raw counts as float32 temperatures in ``units`` (``counts`` returns ``raw`` itself)."""
    if units == "counts":
        return raw
    return from_kelvin(raw_to_kelvin(raw, camera), units).astype(np.float32)


def image_in_units(
    image: Image, units: Units, *, emissivity: float | None = None,
    reflected_temp_c: float | None = None, name: str | None = None,
) -> Image:
    """A FLIR raw-count image (:func:`irsrgan.image.read_image` with ``flir_raw``, or a frame
    of a FLIR SEQ/CSQ) as float32 temperatures in ``units``; its description carries the
    constants used (overrides included). ``counts`` with no override returns ``image``.
    ``name`` names it in errors and the description (default: its file name). Raises
    :class:`ImageError` when the image has no camera constants, :class:`ConfigError` for bad
    overrides."""
    if name is None:
        name = image.path.name if image.path is not None else "<image>"
    source = image.flir
    if source is None or source.units != "counts":
        raise ImageError(f"{name}: not FLIR raw counts; temperatures need a FLIR R-JPEG read "
                         "with --flir-raw")
    if units not in UNITS:
        raise ConfigError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    if units == "counts" and emissivity is None and reflected_temp_c is None:
        return image
    if source.camera is None:
        raise ImageError(f"{name}: FLIR file has no camera constants (CameraInfo record); "
                         "only --units counts is possible")
    camera = with_overrides(source.camera, emissivity=emissivity,
                            reflected_temp_c=reflected_temp_c)
    # counts with overrides: the pixels stay, the overrides are recorded for later
    pixels = raw_to_units(image.pixels, camera, units)
    new_source = replace(source, camera=camera, units=units)
    tags = {**image.tiff_tags, "ImageDescription": flir_description(new_source, name)}
    return replace(image, pixels=pixels, flir=new_source, tiff_tags=tags)
