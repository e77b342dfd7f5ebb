"""What an image file holds: format, size, bit depth, and for FLIR data the camera, its
constants and the temperatures (``irsrgan info``)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .errors import ImageError
from .flir import FlirSource, source_from_description
from .image import _layout_of, read_image, sniff_format
from .metadata import camera_name
from .radiometry import UNIT_SYMBOLS, ZERO_CELSIUS, from_kelvin, raw_to_kelvin
from .sequences.readers import sniff_sequence


def _stats(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return {"min": None, "mean": None, "max": None}
    return {"min": float(finite.min()), "mean": float(finite.mean(dtype=np.float64)),
            "max": float(finite.max())}


def file_info(path: str | os.PathLike) -> dict:
    """A JSON-ready description of one image file (a TIFF stack: :func:`stack_info`).
    Raises :class:`ImageError`."""
    path = Path(path)
    if sniff_format(_head(path)) == "tiff" and sniff_sequence(path) == "tiff":
        return stack_info(path)
    image = read_image(path, flir_raw=True)
    px = image.pixels
    info: dict = {
        "file": str(path),
        "format": "flir-rjpeg" if image.flir is not None and image.flir.preview_size
        else image.format,
        "width": image.width,
        "height": image.height,
        "dtype": str(image.dtype),
        "bit_depth": int(np.dtype(image.dtype).itemsize * 8),
        "layout": image.layout,
        "values": _stats(px),
        "camera_exif": camera_name(image.file_metadata),
    }
    if image.flir is not None:
        info.update(_flir_info(image.flir, px))
    return info


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""  # read_image reports it


def stack_info(path: Path) -> dict:
    """A multi-page TIFF (a clip written by ``irsrgan upscale``): the first page described as
    an image, ``pages``, and values and temperatures over every page, each page converted
    with the FLIR constants of its own description."""
    import tifffile

    values, celsius = [], []
    try:
        with tifffile.TiffFile(path) as tif:
            for i, page in enumerate(tif.pages):
                px = page.asarray()
                values.append(_stats(px))
                source = source_from_description(page.description or "",
                                                 (px.shape[1], px.shape[0]))
                if i == 0:
                    first_px, first_source = px, source
                if source is not None and source.camera is not None:
                    celsius.append(_stats(_celsius(source, px)))
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise ImageError(f"{path}: cannot read TIFF stack: {exc}") from None
    info: dict = {
        "file": str(path), "format": "tiff-stack", "pages": len(values),
        "width": int(first_px.shape[1]), "height": int(first_px.shape[0]),
        "dtype": str(first_px.dtype), "bit_depth": int(first_px.dtype.itemsize * 8),
        "layout": _layout_of(first_px), "values": _merge(values), "camera_exif": None,
    }
    if first_source is not None:
        info.update(_flir_info(first_source, first_px))
        if celsius:
            info["temperature_c"] = _merge(celsius)
    return info


def _merge(stats: list[dict]) -> dict:
    """min/mean/max over pages of one size (the mean of the pages' means)."""
    kept = [s for s in stats if s["min"] is not None]
    if not kept:
        return {"min": None, "mean": None, "max": None}
    return {"min": min(s["min"] for s in kept), "max": max(s["max"] for s in kept),
            "mean": float(np.mean([s["mean"] for s in kept]))}


def _celsius(source: FlirSource, px: np.ndarray) -> np.ndarray:
    """The pixels of a FLIR image in degC, whatever units they hold."""
    if source.units == "counts":
        return from_kelvin(raw_to_kelvin(px, source.camera), "celsius")
    if source.units == "kelvin":
        return px.astype(np.float64) - ZERO_CELSIUS
    if source.units == "fahrenheit":
        return (px.astype(np.float64) - 32.0) / 1.8
    return px.astype(np.float64)


def _flir_info(source: FlirSource, px: np.ndarray) -> dict:
    out: dict = {"units": source.units}
    if source.preview_size is not None:  # an R-JPEG (not a TIFF written from one)
        out["raw_size"] = list(source.raw_size)
        out["preview_size"] = list(source.preview_size)
    cam = source.camera
    if cam is None:
        out["camera"] = None
        return out
    out["camera"] = {"model": cam.camera_model, "serial_number": cam.camera_serial_number,
                     "lens": cam.lens_model}
    out["constants"] = {k: v for k, v in cam.to_dict().items()
                        if not k.startswith(("camera_model", "camera_serial", "camera_part",
                                             "camera_software", "lens_", "big_endian"))}
    out["temperature_c"] = _stats(_celsius(source, px))
    return out


def format_info(info: dict) -> str:
    """``info`` as a two-column table for people."""
    rows = [("file", info["file"]), ("format", info["format"]),
            *([("pages", str(info["pages"]))] if "pages" in info else []),
            ("size", f"{info['width']}x{info['height']}"),
            ("pixels", f"{info['dtype']} ({info['bit_depth']}-bit), {info['layout']}")]
    if "units" in info:
        rows.append(("units", UNIT_SYMBOLS.get(info["units"], info["units"])))
        if "raw_size" in info:
            rows.append(("raw size", "x".join(map(str, info["raw_size"]))))
            rows.append(("preview size", "x".join(map(str, info["preview_size"]))))
    if info.get("camera_exif") and not info.get("camera"):
        rows.append(("camera (EXIF)", info["camera_exif"]))
    v = info["values"]
    if v["min"] is not None:
        rows.append(("values min/mean/max", f"{v['min']:.6g} / {v['mean']:.6g} / "
                                            f"{v['max']:.6g}"))
    cam = info.get("camera")
    if "units" in info and cam is None:
        rows.append(("camera", "no camera constants (CameraInfo record missing)"))
    if cam:
        rows.append(("camera", " ".join(x for x in (cam["model"], f"s/n {cam['serial_number']}"
                                                     if cam["serial_number"] else "",
                                                     f"lens {cam['lens']}" if cam["lens"]
                                                     else "") if x)))
        for key, value in info["constants"].items():
            rows.append((key.replace("_", " "), _number(key, value)))
        t = info["temperature_c"]
        if t["min"] is not None:
            rows.append(("temperature degC min/mean/max",
                         f"{t['min']:.2f} / {t['mean']:.2f} / {t['max']:.2f}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _number(key: str, value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    if key.endswith("temperature") or "temperature_range" in key:
        return f"{value - ZERO_CELSIUS:.2f} degC ({value:.2f} K)"
    if key == "relative_humidity":
        return f"{value * 100:.1f} %"
    if key == "object_distance":
        return f"{value:.2f} m"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
