"""The raw sensor counts inside FLIR radiometric JPEGs ("R-JPEG").

A FLIR R-JPEG is an ordinary JPEG whose visible picture is a palette-rendered, 8-bit preview;
the measurement is stored beside it, in APP1 segments tagged ``FLIR``, as an "FFF" record
file whose RawData record holds the 14/16-bit detector counts (as a 16-bit PNG or as plain
16-bit words). Thermographers expect to upscale the counts, not the preview; neither OpenCV nor
Pillow reads them, hence this small reader (layout as documented by ExifTool's FLIR tags).
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from .errors import ImageError, ImageTooLargeError

_FLIR_APP1 = b"FLIR\x00"
_RAW_DATA_RECORD = 1
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
    if fff[:4] not in (b"FFF\x00", b"AFF\x00") or len(fff) < 64:
        raise ImageError(f"{name}: FLIR segment is not an FFF record file")
    # the header's version word tells the byte order (a small number, e.g. 100 or 101)
    order = ">" if 0 < struct.unpack(">I", fff[20:24])[0] < 0x10000 else "<"
    index_offset, n_entries = struct.unpack(order + "II", fff[24:32])
    for k in range(n_entries):
        at = index_offset + 32 * k
        if at + 32 > len(fff):
            break
        rtype, _sub, _ver, _id, offset, length = struct.unpack(order + "HHIIII", fff[at:at + 20])
        if rtype == _RAW_DATA_RECORD and length > 32 and offset + length <= len(fff):
            return _decode_raw_record(fff[offset:offset + length], name, max_pixels)
    raise ImageError(f"{name}: FLIR record file holds no raw sensor data")


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
