"""What an image file holds: format, size, bit depth, and for FLIR data the camera, its
constants and the temperatures (``irsrgan info``)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .flir import FlirSource
from .image import read_image
from .metadata import camera_name
from .radiometry import UNIT_SYMBOLS, ZERO_CELSIUS, from_kelvin, raw_to_kelvin


def _stats(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return {"min": None, "mean": None, "max": None}
    return {"min": float(finite.min()), "mean": float(finite.mean(dtype=np.float64)),
            "max": float(finite.max())}


def file_info(path: str | os.PathLike) -> dict:
    """A JSON-ready description of one image file. Raises :class:`ImageError`."""
    path = Path(path)
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
    if source.units == "counts":
        celsius = from_kelvin(raw_to_kelvin(px, cam), "celsius")
    elif source.units == "kelvin":
        celsius = px.astype(np.float64) - ZERO_CELSIUS
    elif source.units == "fahrenheit":
        celsius = (px.astype(np.float64) - 32.0) / 1.8
    else:
        celsius = px.astype(np.float64)
    out["temperature_c"] = _stats(celsius)
    return out


def format_info(info: dict) -> str:
    """``info`` as a two-column table for people."""
    rows = [("file", info["file"]), ("format", info["format"]),
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
