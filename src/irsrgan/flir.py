"""The raw sensor counts inside FLIR radiometric JPEGs ("R-JPEG").

A FLIR R-JPEG is an ordinary JPEG whose visible picture is a palette-rendered, 8-bit preview;
the measurement is stored beside it, in APP1 segments tagged ``FLIR``, as an "FFF" record
file whose RawData record holds the 14/16-bit detector counts (as a 16-bit PNG or as plain
16-bit words). Thermographers expect to upscale the counts, not the preview; neither OpenCV nor
Pillow reads them, hence this small reader (layout as documented by ExifTool's FLIR tags).

The CameraInfo record (type 0x20) carries what turns counts into temperatures: the Planck
constants R1, R2, B, F, O, the object parameters (emissivity, distance, reflected apparent
temperature), the atmosphere (temperature, relative humidity, transmission constants) and the
IR window (temperature, transmission); :class:`FlirCamera` holds them and
:mod:`irsrgan.radiometry` applies them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from .errors import ImageError, ImageTooLargeError

_FLIR_APP1 = b"FLIR\x00"
_RAW_DATA_RECORD = 1
_CAMERA_INFO_RECORD = 0x20
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEGLS_SIGNATURE = b"\xff\xd8\xff\xf7"  # SOI + SOF55: the raw frames of FLIR CSQ files


def flir_fff(data: bytes) -> bytes | None:
    """The FFF block assembled from a JPEG's FLIR APP1 segments, or None if there are none."""
    if not data.startswith(b"\xff\xd8"):
        return None
    chunks: dict[int, bytes] = {}
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xDA, 0xD9):  # image data follows / end: no more metadata segments
            break
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        segment = data[i + 4:i + 2 + length]
        if marker == 0xE1 and segment.startswith(_FLIR_APP1) and len(segment) >= 8:
            chunks[segment[6]] = segment[8:]
        i += 2 + length
    if not chunks:
        return None
    return b"".join(chunks[k] for k in sorted(chunks))


def read_flir_raw(
    data: bytes, name: str = "<bytes>", *, max_pixels: int | None = None
) -> np.ndarray | None:
    """The raw detector counts (``uint16``, ``(H, W)``) of a FLIR R-JPEG, or None when ``data``
    carries no FLIR record. Raises :class:`ImageError` naming ``name`` when the record is
    there but broken, :class:`ImageTooLargeError` (before decoding) when it declares more than
    ``max_pixels`` pixels."""
    fff = flir_fff(data)
    return None if fff is None else raw_from_fff(fff, name, max_pixels=max_pixels)


def raw_from_fff(fff: bytes, name: str, *, max_pixels: int | None = None) -> np.ndarray:
    """The raw counts of an FFF block (:func:`flir_fff`); errors as :func:`read_flir_raw`."""
    record = _records(fff, name).get(_RAW_DATA_RECORD)
    if record is None:
        raise ImageError(f"{name}: FLIR record file holds no raw sensor data")
    return _decode_raw_record(record, name, max_pixels)


def camera_from_fff(fff: bytes, name: str) -> FlirCamera:
    """The camera constants of an FFF block's CameraInfo record. Raises :class:`ImageError`
    naming ``name`` when the record is missing or too short."""
    record = _records(fff, name).get(_CAMERA_INFO_RECORD)
    if record is None or len(record) < _CAMERA_INFO_MIN_LENGTH:
        raise ImageError(f"{name}: FLIR record file holds no camera constants (CameraInfo)")
    order = "<" if struct.unpack("<H", record[:2])[0] == 2 else ">"
    values: dict = {}
    for key, (offset, fmt) in _CAMERA_INFO_LAYOUT.items():
        size = struct.calcsize(fmt)
        if offset + size > len(record):
            continue
        raw = record[offset:offset + size]
        if fmt.endswith("s"):
            values[key] = raw.split(b"\x00", 1)[0].decode("latin-1").strip()
        else:
            values[key] = struct.unpack(order + fmt, raw)[0]
    rh = values.get("relative_humidity", 0.0)
    values["relative_humidity"] = rh / 100 if rh > 2 else rh  # stored as a fraction or percent
    values["big_endian"] = order == ">"
    return FlirCamera(**values)


def read_flir(
    data: bytes, name: str = "<bytes>", *, max_pixels: int | None = None
) -> tuple[np.ndarray, FlirCamera] | None:
    """The raw counts and camera constants of a FLIR R-JPEG, or None when it has no FLIR
    record; errors as :func:`read_flir_raw` and :func:`camera_from_fff`."""
    fff = flir_fff(data)
    if fff is None:
        return None
    return raw_from_fff(fff, name, max_pixels=max_pixels), camera_from_fff(fff, name)


def _records(fff: bytes, name: str) -> dict[int, bytes]:
    """The FFF file's records by type (the first of each type)."""
    if fff[:4] not in (b"FFF\x00", b"AFF\x00") or len(fff) < 64:
        raise ImageError(f"{name}: FLIR segment is not an FFF record file")
    # the header's version word tells the byte order (a small number, e.g. 100 or 101)
    order = ">" if 0 < struct.unpack(">I", fff[20:24])[0] < 0x10000 else "<"
    index_offset, n_entries = struct.unpack(order + "II", fff[24:32])
    records: dict[int, bytes] = {}
    for k in range(n_entries):
        at = index_offset + 32 * k
        if at + 32 > len(fff):
            break
        rtype, _sub, _ver, _id, offset, length = struct.unpack(order + "HHIIII", fff[at:at + 20])
        if rtype and rtype not in records and length > 32 and offset + length <= len(fff):
            records[rtype] = fff[offset:offset + length]
    return records


@dataclass(frozen=True)
class FlirCamera:
    """The constants of a FLIR CameraInfo record (temperatures in kelvin, distance in metres,
    relative humidity and transmissions as fractions), named as ExifTool names them."""

    emissivity: float
    object_distance: float
    reflected_apparent_temperature: float
    atmospheric_temperature: float
    ir_window_temperature: float
    ir_window_transmission: float
    relative_humidity: float
    planck_r1: float
    planck_b: float
    planck_f: float
    atmospheric_trans_alpha1: float
    atmospheric_trans_alpha2: float
    atmospheric_trans_beta1: float
    atmospheric_trans_beta2: float
    atmospheric_trans_x: float
    planck_o: int
    planck_r2: float
    camera_temperature_range_max: float = float("nan")
    camera_temperature_range_min: float = float("nan")
    camera_model: str = ""
    camera_part_number: str = ""
    camera_serial_number: str = ""
    camera_software: str = ""
    lens_model: str = ""
    lens_serial_number: str = ""
    field_of_view: float = float("nan")
    raw_value_range_min: int = 0
    raw_value_range_max: int = 0
    big_endian: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FlirCamera:
        """The inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass(frozen=True)
class FlirSource:
    """What an image read from a FLIR R-JPEG's raw data keeps of its source."""

    camera: FlirCamera | None  # None: the file has raw counts but no CameraInfo record
    raw_size: tuple[int, int]  # (width, height) of the raw counts
    preview_size: tuple[int, int] | None  # (width, height) of the JPEG preview
    units: str = "counts"  # what the pixels hold now: counts, celsius, kelvin or fahrenheit


_DESCRIPTION_KEY = "irsrgan-flir"


def flir_description(source: FlirSource, name: str) -> str:
    """A TIFF ImageDescription (JSON) carrying the camera constants and the units, so that
    a written TIFF can still be converted (and :func:`source_from_description` reads it)."""
    body = {"source": name, "units": source.units,
            "camera": source.camera.to_dict() if source.camera is not None else None}
    return json.dumps({_DESCRIPTION_KEY: body}, allow_nan=True)


def source_from_description(text: str, size: tuple[int, int]) -> FlirSource | None:
    """The :class:`FlirSource` of a description written by :func:`flir_description` (for an
    image of ``size``), or None for any other description."""
    if not text.startswith("{") or _DESCRIPTION_KEY not in text:
        return None
    try:
        body = json.loads(text)[_DESCRIPTION_KEY]
        camera = FlirCamera.from_dict(body["camera"]) if body.get("camera") else None
        return FlirSource(camera, size, None, str(body.get("units", "counts")))
    except (ValueError, KeyError, TypeError):
        return None


# key -> (offset in the CameraInfo record, struct format); ExifTool's FLIR CameraInfo table
_CAMERA_INFO_LAYOUT = {
    "emissivity": (0x20, "f"),
    "object_distance": (0x24, "f"),
    "reflected_apparent_temperature": (0x28, "f"),
    "atmospheric_temperature": (0x2C, "f"),
    "ir_window_temperature": (0x30, "f"),
    "ir_window_transmission": (0x34, "f"),
    "relative_humidity": (0x3C, "f"),
    "planck_r1": (0x58, "f"),
    "planck_b": (0x5C, "f"),
    "planck_f": (0x60, "f"),
    "atmospheric_trans_alpha1": (0x70, "f"),
    "atmospheric_trans_alpha2": (0x74, "f"),
    "atmospheric_trans_beta1": (0x78, "f"),
    "atmospheric_trans_beta2": (0x7C, "f"),
    "atmospheric_trans_x": (0x80, "f"),
    "camera_temperature_range_max": (0x90, "f"),
    "camera_temperature_range_min": (0x94, "f"),
    "camera_model": (0xD4, "32s"),
    "camera_part_number": (0xF4, "16s"),
    "camera_serial_number": (0x104, "16s"),
    "camera_software": (0x114, "16s"),
    "lens_model": (0x170, "32s"),
    "lens_serial_number": (0x1A0, "16s"),
    "field_of_view": (0x1B4, "f"),
    "planck_o": (0x308, "i"),
    "planck_r2": (0x30C, "f"),
    "raw_value_range_min": (0x310, "H"),
    "raw_value_range_max": (0x312, "H"),
}
_CAMERA_INFO_MIN_LENGTH = 0x310  # up to Planck R2: the constants the conversion needs


def _decode_raw_record(record: bytes, name: str, max_pixels: int | None) -> np.ndarray:
    # the record's first word is 2 in its own byte order; then width, height; data at 32
    order = "<" if struct.unpack("<H", record[:2])[0] == 2 else ">"
    width, height = struct.unpack(order + "HH", record[2:6])
    payload = record[32:]
    sizes = [(width, height)]
    if payload.startswith(_PNG_SIGNATURE) and len(payload) >= 24:
        sizes.append(struct.unpack(">II", payload[16:24]))  # the PNG's own IHDR size
    for w, h in sizes:  # refuse decompression bombs before decoding anything
        if max_pixels is not None and w * h > max_pixels:
            raise ImageTooLargeError(f"{name}: FLIR raw data of {w}x{h} exceeds {max_pixels} "
                                     "pixels")
    if payload.startswith(_JPEGLS_SIGNATURE):
        px = _decode_jpegls(payload, name)
    elif payload.startswith(_PNG_SIGNATURE):
        px = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
        if px is None or px.dtype != np.uint16 or px.ndim != 2:
            raise ImageError(f"{name}: FLIR raw PNG does not decode to 16-bit gray")
        if order == "<":  # the words keep the record's byte order, not PNG's big-endian
            px = px.byteswap()
    else:
        n = width * height
        if len(payload) < 2 * n:
            raise ImageError(f"{name}: FLIR raw data is {len(payload)} bytes, "
                             f"{width}x{height} needs {2 * n}")
        px = np.frombuffer(payload[:2 * n], np.dtype(np.uint16).newbyteorder(order))
        px = px.reshape(height, width).astype(np.uint16)
    if px.shape != (height, width):
        raise ImageError(f"{name}: FLIR raw data is {px.shape[1]}x{px.shape[0]}, its record "
                         f"says {width}x{height}")
    return np.ascontiguousarray(px)


def _decode_jpegls(payload: bytes, name: str) -> np.ndarray:
    import imagecodecs

    try:
        px = imagecodecs.jpegls_decode(payload)
    except Exception as exc:  # the codec raises its own error types on corrupt data
        raise ImageError(f"{name}: FLIR raw JPEG-LS data does not decode: {exc}") from exc
    if px.ndim != 2:
        raise ImageError(f"{name}: FLIR raw JPEG-LS data is not one gray channel")
    return px.astype(np.uint16, copy=False)
