"""The metadata an image file carries beyond its pixels, kept through upscaling.

What is kept, per container (the output has the input's container):

* JPEG: the APP1 EXIF and XMP segments, the APP2 ICC profile, the APP13 IPTC block (a FLIR
  R-JPEG's own FLIR segments are not: they describe the old pixels).
* PNG: the eXIf, iCCP, sRGB, gAMA, cHRM, text (tEXt, zTXt, iTXt: XMP lives there), tIME and
  pHYs chunks.
* TIFF: compression and predictor, every tag of the first page except those that describe the
  pixel layout (width, strips, bit depth, ...), and the EXIF and GPS sub-IFDs (MakerNote and the
  interoperability pointer left out: their offsets would dangle). A FLIR R-JPEG read as raw
  counts gives its EXIF (Make, Model, dates, GPS) to the TIFF written from it.

Sizes are updated: EXIF PixelXDimension/PixelYDimension become the new size and the focal plane
resolutions and PNG pHYs scale with it, so the physical size stays the same; a GeoTIFF's pixel
scale (and transformation) shrinks with the pixels, so the image covers the same ground. JPEG
EXIF is patched in place (byte for byte otherwise, MakerNote included); TIFF sub-IFDs are
rewritten from their raw entries. Everything here works on bytes; :mod:`irsrgan.image` calls it.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field

# TIFF field type -> (bytes per value, bytes per byte-swapped unit)
_TYPE_SIZES = {1: (1, 1), 2: (1, 1), 3: (2, 2), 4: (4, 4), 5: (8, 4), 6: (1, 1), 7: (1, 1),
               8: (2, 2), 9: (4, 4), 10: (8, 4), 11: (4, 4), 12: (8, 8), 13: (4, 4),
               16: (8, 8), 17: (8, 8), 18: (8, 8)}
EXIF_IFD, GPS_IFD, INTEROP_IFD, MAKER_NOTE = 34665, 34853, 40965, 37500
_PIXEL_X, _PIXEL_Y, _FOCAL_X, _FOCAL_Y = 0xA002, 0xA003, 0xA20E, 0xA20F
_ORIENTATION = 274
# written by tifffile from the pixels (or by image.py from tiff_tags): never copied
_TIFF_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 266, 269, 270, 273, 274, 277, 278, 279, 280, 281,
    282, 283, 284, 296, 305, 306, 315, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341,
    347, 513, 514, 529, 530, 531, 532, 33432, 50838, 50839, 32997, 32998, 59932, 65000,
})
# tifffile will not write the sub-IFD pointer tags; these stand in for them (one below each
# code, so the entries stay sorted) until with_tiff_sub_ifds sets code and value
_PLACEHOLDER = {EXIF_IFD: EXIF_IFD - 1, GPS_IFD: GPS_IFD - 1}
_JPEG_KEPT = ((0xE1, b"Exif\x00\x00"), (0xE1, b"http://ns.adobe.com/xap/1.0/\x00"),
              (0xE2, b"ICC_PROFILE\x00"), (0xED, b"Photoshop 3.0\x00"))
_PNG_KEPT = (b"eXIf", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"tEXt", b"zTXt", b"iTXt", b"tIME",
             b"pHYs")


@dataclass(frozen=True)
class Entry:
    """One IFD entry: tag code, field type, count and its value bytes (in ``order``)."""

    code: int
    dtype: int
    count: int
    raw: bytes
    order: str  # "<" or ">"
    at: int = -1  # where ``raw`` sits in the buffer it was read from

    def in_order(self, order: str) -> Entry:
        """The entry with its value bytes in byte order ``order``."""
        if order == self.order:
            return self
        unit = _TYPE_SIZES[self.dtype][1]
        raw = self.raw
        if unit > 1:
            raw = b"".join(raw[i:i + unit][::-1] for i in range(0, len(raw), unit))
        return Entry(self.code, self.dtype, self.count, raw, order)


@dataclass
class TiffMetadata:
    """What a TIFF output keeps: compression, predictor, extra IFD0 tags, sub-IFDs."""

    compression: int = 1
    predictor: int = 1
    tags: list[Entry] = field(default_factory=list)
    sub_ifds: dict[int, list[Entry]] = field(default_factory=dict)  # EXIF_IFD / GPS_IFD


def read_ifd(buf: bytes, offset: int, order: str) -> tuple[list[Entry], int]:
    """The entries of the classic-TIFF IFD at ``offset`` and the next IFD's offset. Entries
    of unknown type or pointing outside ``buf`` are skipped."""
    if offset <= 0 or offset + 2 > len(buf):
        return [], 0
    (n,) = struct.unpack_from(order + "H", buf, offset)
    entries = []
    for k in range(n):
        at = offset + 2 + 12 * k
        if at + 12 > len(buf):
            break
        code, dtype, count = struct.unpack_from(order + "HHI", buf, at)
        if dtype not in _TYPE_SIZES:
            continue
        size = _TYPE_SIZES[dtype][0] * count
        where = at + 8 if size <= 4 else struct.unpack_from(order + "I", buf, at + 8)[0]
        if where + size > len(buf):
            continue
        entries.append(Entry(code, dtype, count, bytes(buf[where:where + size]), order, where))
    end = offset + 2 + 12 * n
    next_ifd = struct.unpack_from(order + "I", buf, end)[0] if end + 4 <= len(buf) else 0
    return entries, next_ifd


def _pointer(entries: list[Entry], code: int) -> int | None:
    for e in entries:
        if e.code == code and e.dtype in (4, 13) and len(e.raw) >= 4:
            return struct.unpack(e.order + "I", e.raw[:4])[0]
    return None


def _tiff_structure(buf: bytes) -> tuple[str, list[Entry], dict[int, list[Entry]]] | None:
    """Byte order, IFD0 entries and the EXIF/GPS sub-IFD entries of a classic TIFF (or an EXIF
    block, which is one); None for anything else (BigTIFF included)."""
    if buf[:4] == b"II*\x00":
        order = "<"
    elif buf[:4] == b"MM\x00*":
        order = ">"
    else:
        return None
    (ifd0,) = struct.unpack_from(order + "I", buf, 4)
    entries, _ = read_ifd(buf, ifd0, order)
    subs = {}
    for code in (EXIF_IFD, GPS_IFD):
        at = _pointer(entries, code)
        if at:
            subs[code] = read_ifd(buf, at, order)[0]
    return order, entries, subs


# ------------------------------------------------------------------ sizes
def _scaled_rational(raw: bytes, order: str, factor: float) -> bytes:
    num, den = struct.unpack(order + "II", raw[:8])
    value = num / den * factor if den else 0.0
    den = 1000
    while den > 1 and value * den >= 2 ** 32:
        den //= 10
    return struct.pack(order + "II", min(round(value * den), 2 ** 32 - 1), den)


def _resized_value(e: Entry, size: tuple[int, int], factor: tuple[float, float]) -> bytes | None:
    """The new value bytes of a size-describing EXIF entry, or None for any other entry."""
    if e.code in (_PIXEL_X, _PIXEL_Y) and e.count == 1 and e.dtype in (3, 4):
        value = size[0] if e.code == _PIXEL_X else size[1]
        fmt = "H" if e.dtype == 3 else "I"
        return struct.pack(e.order + fmt, min(value, 65535 if e.dtype == 3 else 2 ** 32 - 1))
    if e.code in (_FOCAL_X, _FOCAL_Y) and e.count == 1 and e.dtype == 5:
        return _scaled_rational(e.raw, e.order, factor[0] if e.code == _FOCAL_X else factor[1])
    return None


def _factor(size: tuple[int, int], source: tuple[int, int]) -> tuple[float, float]:
    return (size[0] / source[0] if source[0] else 1.0, size[1] / source[1] if source[1] else 1.0)


def exif_resized(exif: bytes, size: tuple[int, int], source: tuple[int, int]) -> bytes:
    """An EXIF block (TIFF structure) with its EXIF pixel dimensions set to ``size``, the
    focal plane resolutions scaled from ``source`` and the orientation set to upright (the
    decoder applies it), patched in place."""
    found = _tiff_structure(exif)
    if found is None:
        return exif
    out = bytearray(exif)
    for e in found[1]:  # the pixels were turned upright when read (image.decode_image)
        if e.code == _ORIENTATION and e.dtype == 3 and e.count == 1 and e.at >= 0:
            out[e.at:e.at + 2] = struct.pack(e.order + "H", 1)
    for e in found[2].get(EXIF_IFD, []):
        new = _resized_value(e, size, _factor(size, source))
        if new is not None and e.at >= 0:
            out[e.at:e.at + len(new)] = new
    return bytes(out)


# ------------------------------------------------------------------ JPEG
def _jpeg_segments(data: bytes):
    """``(marker, start, end)`` of each metadata segment before the image data."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xDA, 0xD9):
            return
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        yield marker, i, i + 2 + length
        i += 2 + length


def jpeg_blocks(data: bytes) -> list[tuple[int, bytes]]:
    """The kept segments of a JPEG as ``(marker, payload)``."""
    kept = []
    for marker, start, end in _jpeg_segments(data):
        payload = data[start + 4:end]
        if any(marker == m and payload.startswith(sig) for m, sig in _JPEG_KEPT):
            kept.append((marker, payload))
    return kept


def jpeg_exif(data: bytes) -> bytes | None:
    """The EXIF block (TIFF structure) of a JPEG, or None."""
    for marker, payload in jpeg_blocks(data):
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            return payload[6:]
    return None


def with_jpeg_blocks(encoded: bytes, blocks: list[tuple[int, bytes]], size: tuple[int, int],
                     source: tuple[int, int]) -> bytes:
    """``encoded`` (a JPEG) with ``blocks`` inserted after its SOI/JFIF, EXIF resized."""
    if not blocks:
        return encoded
    at = 2
    first = next(_jpeg_segments(encoded), None)
    if first is not None and first[0] == 0xE0:  # cv2's JFIF segment
        if any(m == 0xE1 and p.startswith(b"Exif") for m, p in blocks):
            encoded = encoded[:first[1]] + encoded[first[2]:]  # EXIF files have no JFIF
        else:
            at = first[2]  # JFIF stays first
    parts = []
    for marker, payload in blocks:
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            payload = payload[:6] + exif_resized(payload[6:], size, source)
        parts.append(b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload)
    return encoded[:at] + b"".join(parts) + encoded[at:]


# ------------------------------------------------------------------ PNG
def _png_chunks(data: bytes):
    i = 8
    while i + 12 <= len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        yield data[i + 4:i + 8], i, i + 12 + n
        i += 12 + n


def png_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The kept chunks of a PNG as ``(type, body)``."""
    return [(ctype, data[s + 8:e - 4]) for ctype, s, e in _png_chunks(data)
            if ctype in _PNG_KEPT]


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    import zlib

    return (struct.pack(">I", len(body)) + ctype + body
            + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF))


def with_png_blocks(encoded: bytes, blocks: list[tuple[bytes, bytes]], size: tuple[int, int],
                    source: tuple[int, int]) -> bytes:
    """``encoded`` (a PNG) with ``blocks`` after IHDR: EXIF resized, pHYs scaled."""
    if not blocks:
        return encoded
    present = {ctype for ctype, _s, _e in _png_chunks(encoded)}
    fx, fy = _factor(size, source)
    parts = []
    for ctype, body in blocks:
        if ctype in present and ctype not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        if ctype == b"eXIf":
            body = exif_resized(body, size, source)
        elif ctype == b"pHYs" and len(body) == 9:
            px, py = struct.unpack(">II", body[:8])
            body = struct.pack(">II", round(px * fx), round(py * fy)) + body[8:]
        parts.append(_png_chunk(ctype, body))
    ihdr_end = 8 + 12 + struct.unpack(">I", encoded[8:12])[0]
    return encoded[:ihdr_end] + b"".join(parts) + encoded[ihdr_end:]


# ------------------------------------------------------------------ TIFF
def tiff_metadata(data: bytes, compression: int, predictor: int) -> TiffMetadata:
    """The kept metadata of a TIFF file's first page (classic TIFF; BigTIFF keeps only
    compression and predictor)."""
    meta = TiffMetadata(compression=int(compression), predictor=int(predictor))
    found = _tiff_structure(data)
    if found is None:
        return meta
    _order, entries, subs = found
    meta.tags = [e for e in entries if e.code not in _TIFF_LAYOUT_TAGS
                 and e.code not in (EXIF_IFD, GPS_IFD, INTEROP_IFD)]
    meta.sub_ifds = {code: [e for e in sub if e.code not in (MAKER_NOTE, INTEROP_IFD)]
                     for code, sub in subs.items()}
    return meta


def exif_as_tiff_metadata(exif: bytes) -> TiffMetadata:
    """A JPEG's EXIF block as TIFF metadata (IFD0 tags such as Make and Model, the EXIF and GPS
    sub-IFDs), for a TIFF written from the JPEG (a FLIR R-JPEG's raw counts)."""
    return tiff_metadata(exif, 1, 1)


_MODEL_PIXEL_SCALE, _MODEL_TRANSFORMATION = 33550, 34264  # GeoTIFF


def _georeferenced(e: Entry, factor: tuple[float, float]) -> bytes:
    """GeoTIFF pixel geometry for pixels ``factor`` times smaller: the pixel scale divided,
    the transformation's pixel columns scaled (the tie points stay: raster (0, 0) is the
    same corner)."""
    if e.dtype != 12 or factor == (1.0, 1.0):
        return e.raw
    values = list(struct.unpack(f"{e.order}{e.count}d", e.raw))
    if e.code == _MODEL_PIXEL_SCALE and len(values) >= 2:
        values[0] /= factor[0]
        values[1] /= factor[1]
    elif e.code == _MODEL_TRANSFORMATION and len(values) == 16:
        for row in range(3):
            values[4 * row] /= factor[0]
            values[4 * row + 1] /= factor[1]
    return struct.pack(f"{e.order}{e.count}d", *values)


def tiff_extratags(meta: TiffMetadata, order: str, size: tuple[int, int] = (0, 0),
                   source: tuple[int, int] = (0, 0)) -> list[tuple]:
    """tifffile ``extratags`` for the kept IFD0 tags (GeoTIFF pixel geometry scaled from
    ``source`` to ``size``), plus placeholder pointers that :func:`with_tiff_sub_ifds` fills
    in."""
    factor = _factor(size, source) if all(size) and all(source) else (1.0, 1.0)
    tags = []
    for e in meta.tags:
        if e.code in _PLACEHOLDER.values():
            continue
        if e.code in (_MODEL_PIXEL_SCALE, _MODEL_TRANSFORMATION):
            e = Entry(e.code, e.dtype, e.count, _georeferenced(e, factor), e.order)
        tags.append((e.code, e.dtype, e.count, e.in_order(order).raw, True))
    tags += [(_PLACEHOLDER[code], 4, 1, 0, True) for code in sorted(meta.sub_ifds)
             if meta.sub_ifds[code]]
    return tags


def with_tiff_sub_ifds(encoded: bytes, meta: TiffMetadata, size: tuple[int, int],
                       source: tuple[int, int]) -> bytes:
    """``encoded`` (a classic TIFF written with :func:`tiff_extratags`) with the EXIF/GPS
    sub-IFDs appended and their pointers set; EXIF sizes updated."""
    patches, tail = _sub_ifd_plan(encoded, len(encoded), meta, size, source)
    if not patches:
        return encoded
    out = bytearray(encoded) + tail
    for at, value in patches:
        out[at:at + len(value)] = value
    return bytes(out)


def add_tiff_sub_ifds(path: str | os.PathLike, meta: TiffMetadata, size: tuple[int, int],
                      source: tuple[int, int]) -> None:
    """:func:`with_tiff_sub_ifds` on a file, in place: only its first IFD is read (mapped,
    not loaded), so a TIFF written band by band gets its sub-IFDs without being held."""
    with open(path, "r+b") as fh:
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            patches, tail = _sub_ifd_plan(view, len(view), meta, size, source)
        for at, value in patches:
            fh.seek(at)
            fh.write(value)
        fh.seek(0, os.SEEK_END)
        fh.write(tail)


def _sub_ifd_plan(buf, length: int, meta: TiffMetadata, size: tuple[int, int],
                  source: tuple[int, int]) -> tuple[list[tuple[int, bytes]], bytes]:
    """What :func:`with_tiff_sub_ifds` changes in a TIFF of ``length`` bytes (``buf`` holds at
    least its header and first IFD): ``(offset, bytes)`` to overwrite, and bytes to append."""
    subs = {code: entries for code, entries in meta.sub_ifds.items() if entries}
    if not subs:
        return [], b""
    order = "<" if bytes(buf[:2]) == b"II" else ">"
    (ifd0,) = struct.unpack_from(order + "I", buf, 4)
    (n,) = struct.unpack_from(order + "H", buf, ifd0)
    patches, slots = [], {}
    for k in range(n):
        at = ifd0 + 2 + 12 * k
        code = struct.unpack_from(order + "H", buf, at)[0]
        for real, stand_in in _PLACEHOLDER.items():
            if code == stand_in and real in subs:
                patches.append((at, struct.pack(order + "H", real)))
                slots[real] = at + 8
    factor = _factor(size, source)
    tail = bytearray()
    for code, entries in subs.items():
        if code not in slots:
            continue
        if (length + len(tail)) % 2:
            tail += b"\x00"
        start = length + len(tail)
        fixed = []
        for e in entries:
            e = e.in_order(order)
            new = _resized_value(e, size, factor) if code == EXIF_IFD else None
            fixed.append(Entry(e.code, e.dtype, e.count, new if new is not None else e.raw,
                               order))
        tail += _ifd_bytes(sorted(fixed, key=lambda e: e.code), start, order)
        patches.append((slots[code], struct.pack(order + "I", start)))
    return patches, bytes(tail)


def _ifd_bytes(entries: list[Entry], start: int, order: str) -> bytes:
    head = struct.pack(order + "H", len(entries))
    data_at = start + 2 + 12 * len(entries) + 4
    body, data = b"", b""
    for e in entries:
        if len(e.raw) <= 4:
            value = e.raw.ljust(4, b"\x00")
        else:
            value = struct.pack(order + "I", data_at + len(data))
            data += e.raw + (b"\x00" if len(e.raw) % 2 else b"")
        body += struct.pack(order + "HHI", e.code, e.dtype, e.count) + value
    return head + body + struct.pack(order + "I", 0) + data


def camera_name(kept: dict) -> str | None:
    """"Make Model" from the metadata :mod:`irsrgan.image` keeps for a file, or None."""
    entries: list[Entry] = []
    if "tiff" in kept:
        entries = kept["tiff"].tags
    else:
        for block in kept.get("jpeg", []) + kept.get("png", []):
            exif = (block[1][6:] if block[0] == 0xE1 and block[1].startswith(b"Exif")
                    else block[1] if block[0] == b"eXIf" else None)
            found = _tiff_structure(exif) if exif else None
            if found is not None:
                entries = found[1]
    names = {e.code: e.raw.split(b"\x00", 1)[0].decode("latin-1").strip()
             for e in entries if e.code in (271, 272) and e.dtype == 2}
    name = " ".join(v for v in (names.get(271), names.get(272)) if v)
    return name or None
