"""What an image file declares, read from its header without decoding any pixel.

:func:`probe` reads the width, height, samples per pixel, bits per sample and page count of a
PNG, TIFF, JPEG or BMP file from its first bytes, so that :func:`check_header` can refuse a
decompression bomb (a small file declaring a huge image, or 512 samples per pixel) before a
decoder allocates anything. The decoded size of an accepted image is at most
``max_pixels x 4 samples x 8 bytes``.

Also checked here, because a decoder would otherwise print to stderr or give a cryptic error:
PNG chunk lengths and CRCs (libpng prints ``libpng error: IHDR: CRC error``), a JPEG frame
header before its scan data, BMP header fields. ``orientation`` is the JPEG EXIF orientation
(1 to 8, 1 = as stored), applied on read by :mod:`irsrgan.image`.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import ImageError, ImageTooLargeError

MAX_SAMPLES = 4  # gray, gray + alpha, RGB, RGBA
MAX_BITS = 64  # float64
MAX_SIDE = 1 << 20  # no format we read allows more; refuses absurd headers outright
MAX_PAGES = 100  # TIFF pages counted at most (a longer file is "multi-page with 100 or more")

# samples per pixel and "gray + alpha" by PNG colour type (palette images decode to RGB(A))
_PNG_COLOUR = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class Header:
    """An image file's declared geometry (nothing decoded)."""

    format: str
    width: int
    height: int
    samples: int  # samples (channels) per pixel after decoding
    bits: int  # bits per sample as stored
    pages: int = 1  # images in the file (TIFF pages, PNG animation frames)
    orientation: int = 1  # JPEG EXIF orientation; 1 = as stored
    gray_alpha: bool = False  # PNG colour type 4 (gray + alpha)
    photometric: str = ""  # TIFF only: minisblack, rgb, palette, separated, ...
    corrupt: str = ""  # a defect found after the geometry (reported after the size checks)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """Bytes a decoder allocates for the pixels (samples x bytes per sample x pixels)."""
        return self.pixels * self.samples * max(1, -(-self.bits // 8))


def probe(data: bytes, fmt: str, name: str) -> Header:
    """The header of ``data`` (whose format was sniffed as ``fmt``). Raises :class:`ImageError`
    naming ``name`` when the header is truncated or inconsistent."""
    try:
        if fmt == "png":
            return _probe_png(data, name)
        if fmt == "jpeg":
            return _probe_jpeg(data, name)
        if fmt == "bmp":
            return _probe_bmp(data, name)
        if fmt == "tiff":
            return _probe_tiff(data, name)
    except ImageError:
        raise
    except (struct.error, IndexError, ValueError, KeyError, OverflowError) as exc:
        raise ImageError(f"{name}: {fmt.upper()} header is truncated or corrupt ({exc})") from None
    raise ImageError(f"{name}: unknown format {fmt!r}")


def check_header(header: Header, name: str, max_pixels: int | None) -> None:
    """Refuse what no decoder should be asked to decode. Raises :class:`ImageError` (or
    :class:`ImageTooLargeError` for the pixel limit), naming ``name``."""
    fmt = header.format.upper()
    if header.width < 1 or header.height < 1:
        raise ImageError(f"{name}: {fmt} header declares {header.width}x{header.height} pixels")
    if header.width > MAX_SIDE or header.height > MAX_SIDE:
        raise ImageTooLargeError(
            f"{name}: {fmt} header declares {header.width}x{header.height} pixels "
            f"(more than {MAX_SIDE} on a side)")
    if max_pixels is not None and header.pixels > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {header.width}x{header.height} exceeds {max_pixels} pixels "
            "(the limit is set with --max-pixels)")
    if not 1 <= header.samples <= MAX_SAMPLES:
        raise ImageError(
            f"{name}: {header.samples} samples per pixel; irsrgan reads 1 to {MAX_SAMPLES} "
            "(gray, gray + alpha, RGB, RGBA)")
    if not 1 <= header.bits <= MAX_BITS:
        raise ImageError(f"{name}: {header.bits} bits per sample is not supported")
    if header.corrupt:
        raise ImageError(f"{name}: {header.corrupt}")


# --------------------------------------------------------------------------- PNG
def _probe_png(data: bytes, name: str) -> Header:
    """IHDR, then every chunk: lengths must fit and CRCs match (libpng would print)."""
    if len(data) < 33 or data[12:16] != b"IHDR" or data[8:12] != b"\x00\x00\x00\x0d":
        raise ImageError(f"{name}: PNG does not start with a valid IHDR chunk")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if colour not in _PNG_COLOUR or depth not in (1, 2, 4, 8, 16):
        raise ImageError(f"{name}: PNG colour type {colour} with bit depth {depth} is invalid")
    frames, corrupt = _png_chunks(data)
    return Header("png", width, height, _PNG_COLOUR[colour], depth, pages=frames,
                  gray_alpha=colour == 4, corrupt=corrupt)


def _png_chunks(data: bytes) -> tuple[int, str]:
    """(animation frames, the first defect or "") from walking the chunks."""
    pos, frames = 8, 1
    while True:
        if pos + 8 > len(data):
            return frames, "PNG is truncated (no IEND chunk)"
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        kind = ctype.decode("latin-1")
        end = pos + 12 + length
        if end > len(data):
            return frames, (f"PNG is truncated ({kind!r} chunk declares {length} bytes, "
                            f"{max(0, len(data) - pos - 12)} left)")
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(ctype + body) != struct.unpack(">I", data[end - 4:end])[0]:
            return frames, f"PNG {kind!r} chunk is corrupt (CRC mismatch)"
        if ctype == b"acTL" and length >= 4:
            frames = struct.unpack(">I", body[:4])[0]
        elif ctype == b"IEND":
            return frames, ""
        pos = end


# --------------------------------------------------------------------------- JPEG
def _probe_jpeg(data: bytes, name: str) -> Header:
    pos, orientation, frame, corrupt = 2, 1, None, ""
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"{name}: JPEG marker expected at byte {pos}: corrupt file")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # no length
        if marker == 0xD9:
            break
        if pos + 2 > len(data):
            break
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        seg = data[pos + 2:pos + length]
        if length < 2 or len(seg) != length - 2:
            if frame is None:
                raise ImageError(f"{name}: JPEG is truncated (segment 0x{marker:02X} cut short)")
            break  # the decoder reports what it can (truncated scans decode partly)
        if marker in _JPEG_SOF:
            bits, height, width, comps = struct.unpack(">BHHB", seg[:6])
            frame = (width, height, comps, bits)
        elif marker == 0xE1 and seg.startswith(b"Exif\x00\x00"):
            orientation = _exif_orientation(seg[6:])
        elif marker == 0xDA:
            if data.rfind(b"\xff\xd9") < pos:
                corrupt = "JPEG is truncated (no end-of-image marker after the scan data)"
            break  # scan data follows; the frame header must come before it
        pos += length
    if frame is None:
        raise ImageError(f"{name}: JPEG has no frame header (truncated or corrupt)")
    width, height, comps, bits = frame
    if comps == 4:
        raise ImageError(f"{name}: CMYK JPEG is not supported (convert it to RGB or gray)")
    if height == 0:
        raise ImageError(f"{name}: JPEG declares its height later in the file (DNL marker); "
                         "not supported")
    return Header("jpeg", width, height, comps, bits, orientation=orientation, corrupt=corrupt)


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in an EXIF TIFF block; 1 when absent or odd."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
        for i in range(count):
            entry = tiff[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag == 0x0112 and kind == 3:
                (value,) = struct.unpack(order + "H", entry[8:10])
                return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error):
        pass
    return 1


def apply_orientation(px: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` into the upright image (as viewers show)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    op = ops.get(orientation)
    return px if op is None else np.ascontiguousarray(op(px))


# --------------------------------------------------------------------------- BMP
def _probe_bmp(data: bytes, name: str) -> Header:
    if len(data) < 26:
        raise ImageError(f"{name}: BMP is truncated (header cut short)")
    (dib,) = struct.unpack("<I", data[14:18])
    if dib == 12:
        width, height, _planes, bits = struct.unpack("<HHHH", data[18:26])
    elif dib >= 40 and len(data) >= 30:
        width, height, _planes, bits = struct.unpack("<iiHH", data[18:30])
        height = abs(height)  # negative: stored top-down
    else:
        raise ImageError(f"{name}: BMP header of {dib} bytes is not valid")
    if bits not in (1, 4, 8, 16, 24, 32):
        raise ImageError(f"{name}: BMP with {bits} bits per pixel is not valid")
    return Header("bmp", width, height, 4 if bits == 32 else 3, 8)


# --------------------------------------------------------------------------- TIFF
def _probe_tiff(data: bytes, name: str) -> Header:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            pages = _count_pages(tif)
            if tif.is_imagej:
                pages = max(pages, int((tif.imagej_metadata or {}).get("images", 1)))
            pages = max(pages, int(page.imagedepth))
            photometric = ""  # no Photometric tag (common in radiometric files): gray
            if 262 in page.tags:  # PhotometricInterpretation
                photometric = str(getattr(page.photometric, "name", page.photometric)).lower()
            samples = int(page.samplesperpixel)
            if photometric == "palette":
                samples = 3
            bits = page.bitspersample
            bits = int(max(bits) if isinstance(bits, tuple) else bits)
            return Header("tiff", int(page.imagewidth), int(page.imagelength), samples, bits,
                          pages=pages, photometric=photometric)
    except ImageError:
        raise
    except Exception as exc:  # tifffile raises many types on corrupt headers
        raise ImageError(f"{name}: TIFF header is corrupt: {_clean(exc)}") from None


def _count_pages(tif) -> int:
    """Full-size images in a TIFF, up to :data:`MAX_PAGES` (reduced-resolution previews, such
    as thumbnails, are not counted)."""
    count, index = 0, 0
    while index < MAX_PAGES * 2 and count < MAX_PAGES:
        try:
            page = tif.pages[index]
        except IndexError:
            break
        if not int(getattr(page, "subfiletype", 0) or 0) & 1:
            count += 1
        index += 1
    return max(1, count)


def _clean(exc: Exception) -> str:
    """An exception's message without object reprs (``<_io.BytesIO object at 0x...>``)."""
    import re

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>", "the data", text)
