"""Write an image that arrives as bands of rows straight to its file, never whole in memory.

An upscaled image is produced one row of tiles at a time (:meth:`Upscaler.upscale_image_rows`);
:func:`write_rows` encodes each band as it comes: PNG (8/16-bit, any layout) through one zlib
stream, TIFF uncompressed through tifffile's strip iterator, with the input's kept tags, and
its EXIF/GPS sub-IFDs appended to the finished file (:func:`irsrgan.metadata.add_tiff_sub_ifds`,
which maps the file rather than reading it). Memory is then bounded by a band, not by the
output. PNG outputs keeping text/ICC blocks, TIFF outputs keeping a compression, and JPEG/BMP
are assembled in memory and written by :func:`~irsrgan.image.write_image` instead (the same
pixels; only the memory differs), after :func:`check_assembly`.

Like :func:`~irsrgan.image.write_image`, writing goes through a temporary file beside the
output and a rename: a failure, including one raised while the bands are being computed,
leaves no partial file and never touches an existing output.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import image as _image
from . import metadata
from .errors import ImageError, ImageTooLargeError
from .image import Image, ValueMap, as_format, native_rows, output_like, write_image

_PNG_COLOR = {1: 0, 2: 4, 3: 2, 4: 6}  # samples per pixel -> PNG colour type
#: an output assembled in memory is refused unless this many times its own size is available:
#: the writer alone peaks at about 3x (the bands, their concatenation, the encoder's copies: a
#: 2048x2048 x4 16-bit PNG with a kept text chunk, 128 MB of pixels, took 428 MB more than the
#: same file streamed; docs/PERFORMANCE.md), and the margin covers the band being computed and
#: the next file decoded meanwhile
ASSEMBLY_FACTOR = 5


@dataclass
class ImageRows:
    """An image of ``height`` rows that arrives as ``bands``: native arrays ``(n, W[, C])``
    in ``like``'s dtype and layout, top to bottom. ``like`` is a template (format, layout,
    metadata) whose ``pixels`` hold no rows."""

    like: Image  # its tiff_tags already describe the output (resolution scaled)
    height: int
    bands: Iterator[np.ndarray]

    @property
    def width(self) -> int:
        return self.like.width

    def as_format(self, path: str | os.PathLike) -> ImageRows:
        """Written in the format ``path`` names (see :func:`~irsrgan.image.as_format`)."""
        return replace(self, like=as_format(self.like, path))

    def collect(self) -> Image:
        """The whole image in memory."""
        px = np.concatenate(list(self.bands), axis=0)
        if px.shape[0] != self.height:
            raise ImageError(f"bands hold {px.shape[0]} rows, expected {self.height}")
        return replace(self.like, pixels=px)


def unit_rows(image: Image, vmap: ValueMap, scale: int,
              bands: Iterator[tuple[int, np.ndarray]]) -> ImageRows:
    """The output of ``image`` from ``bands`` of model values (``(first HR row, (C, n, W * s))``,
    arrays or tensors, top to bottom): each band turned into ``image``'s dtype, layout and units
    (:func:`~irsrgan.image.native_rows`) as it comes. What the Upscaler and the OnnxUpscaler
    both return."""
    s = scale
    probe = native_rows(np.zeros((image.channels().shape[0], 0, image.width * s), np.float32),
                        image, vmap, 0, s)

    def native() -> Iterator[np.ndarray]:
        for row, band in bands:
            yield native_rows(band, image, vmap, row, s)

    like = output_like(image, image.height * s, image.width * s, probe)
    return ImageRows(like, image.height * s, native())


def streamable(rows: ImageRows) -> bool:
    """Whether :func:`write_rows` encodes ``rows`` band by band (else it collects them)."""
    like, kept = rows.like, rows.like.file_metadata
    if like.format == "png":
        return like.dtype in (np.uint8, np.uint16) and not kept.get("png")
    if like.format == "tiff":  # gray + alpha TIFFs go the tested in-memory way
        tiff = kept.get("tiff")  # kept tags and sub-IFDs are written; compression is not
        return (tiff is None or tiff.compression == 1) and like.layout != "gray-alpha"
    return False


def write_rows(path: str | os.PathLike, rows: ImageRows, *, jpeg_quality: int = 95) -> None:
    """Write ``rows`` to ``path`` atomically, band by band where the format allows."""
    path = Path(path)
    if not streamable(rows):
        check_assembly(path, rows)
        write_image(path, rows.collect(), jpeg_quality=jpeg_quality)
        return
    with _image.atomic_file(path) as tmp:  # looked up at call time (tests replace it)
        if rows.like.format == "png":
            with open(tmp, "wb") as fh:
                _write_png(fh, rows)
        else:
            _write_tiff(tmp, rows)
            kept = rows.like.file_metadata.get("tiff")
            if kept is not None:
                metadata.add_tiff_sub_ifds(tmp, kept, (rows.width, rows.height),
                                           rows.like.file_metadata.get("source_size", (0, 0)))


#: float32 copies of one row of tiles held at once: the blend accumulator, the rows carried to
#: the next row of tiles, the native conversion's float copy, and up to two bands queued for
#: the writer (:func:`irsrgan.batch.run_batch`)
BAND_COPIES = 6


def check_band(name: str | os.PathLike, width: int, height: int, channels: int, scale: int,
               tile_rows: int) -> None:
    """Refuse an input so wide that one row of its output's tiles (``tile_rows`` LR rows,
    context included; 0: the whole image) would not fit in half the memory available: the
    part of the upscaling's memory that grows with the width, which ``--max-pixels`` does not
    bound (a long, narrow line-scan strip)."""
    import psutil

    rows = min(height, tile_rows) if tile_rows else height
    need = BAND_COPIES * rows * scale * width * scale * channels * 4
    free = psutil.virtual_memory().available
    if need > free // 2:
        raise ImageTooLargeError(
            f"{name}: {width}x{height}: one row of tiles of its x{scale} output needs about "
            f"{need / 2**20:.0f} MB, {free / 2**20:.0f} MB available; cut it into narrower "
            "pieces or give a smaller --tile")


def check_assembly(path: Path, rows: ImageRows) -> None:
    """Refuse, before any band is computed, an output that must be assembled in memory (not
    :func:`streamable`) and would not fit in the memory available now."""
    import psutil

    like = rows.like
    samples = 1 if like.pixels.ndim == 2 else like.pixels.shape[2]
    need = ASSEMBLY_FACTOR * rows.height * rows.width * samples * like.dtype.itemsize
    free = psutil.virtual_memory().available
    if need > free:
        raise ImageTooLargeError(
            f"{path}: a {rows.width}x{rows.height} {like.format.upper()} output is assembled "
            f"in memory (JPEG and BMP are, and PNG or TIFF keeping the input's metadata "
            f"blocks): about {need / 2**20:.0f} MB needed, {free / 2**20:.0f} MB available; "
            "a .png or .tif output of an input without such blocks is written band by band")


def _checked(rows: ImageRows) -> Iterator[np.ndarray]:
    """The bands, checked against the template's width, dtype and the promised height."""
    like, seen = rows.like, 0
    for band in rows.bands:
        if band.shape[1:] != like.pixels.shape[1:] or band.dtype != like.dtype:
            raise ImageError(f"band of shape {band.shape} and dtype {band.dtype} does not "
                             f"match the image's {like.pixels.shape[1:]} {like.dtype}")
        seen += band.shape[0]
        yield band
    if seen != rows.height:
        raise ImageError(f"bands hold {seen} rows, expected {rows.height}")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _write_png(fh, rows: ImageRows) -> None:
    like = rows.like
    samples = 1 if like.pixels.ndim == 2 else like.pixels.shape[2]
    depth = 16 if like.dtype == np.uint16 else 8
    ihdr = struct.pack(">IIBBBBB", rows.width, rows.height, depth, _PNG_COLOR[samples], 0, 0, 0)
    fh.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr))
    z = zlib.compressobj(1)  # OpenCV's default PNG level: fast
    row_bytes = rows.width * samples * (depth // 8)
    prev = np.zeros(row_bytes, np.uint8)
    for band in _checked(rows):
        data = band.astype(">u2" if depth == 16 else np.uint8, copy=False)
        raw = np.ascontiguousarray(data).reshape(band.shape[0], -1).view(np.uint8)
        # filter "Up" (type 2): each row minus the row above, bytewise
        up = np.empty((raw.shape[0], row_bytes + 1), np.uint8)
        up[:, 0] = 2
        up[0, 1:] = raw[0] - prev
        up[1:, 1:] = raw[1:] - raw[:-1]
        prev = raw[-1].copy()
        out = z.compress(memoryview(up).cast("B"))
        if out:
            fh.write(_chunk(b"IDAT", out))
    fh.write(_chunk(b"IDAT", z.flush()) + _chunk(b"IEND", b""))


def _write_tiff(path: str, rows: ImageRows) -> None:
    import tifffile

    like, tags = rows.like, rows.like.tiff_tags
    kwargs: dict = {}
    for key, name in (("ImageDescription", "description"), ("Software", "software"),
                      ("DateTime", "datetime")):
        if key in tags:
            kwargs[name] = tags[key]
    if "resolution" in tags:
        kwargs["resolution"] = tags["resolution"]
        kwargs["resolutionunit"] = tags.get("resolutionunit", 2)
    extratags = [(code, "s", 0, tags[key], True)
                 for key, code in (("Artist", 315), ("Copyright", 33432)) if key in tags]
    kept = like.file_metadata.get("tiff")
    if kept is not None:  # as image.encode_image writes them; sub-IFDs added after
        extratags += metadata.tiff_extratags(kept, "<", (rows.width, rows.height),
                                             like.file_metadata.get("source_size", (0, 0)))
    px = like.pixels
    photometric = "rgb" if px.ndim == 3 and px.shape[2] in (3, 4) else "minisblack"
    dtype = np.dtype(like.dtype).newbyteorder("<")
    strips = (np.ascontiguousarray(b, dtype=dtype).tobytes() for b in _checked(rows))
    tifffile.imwrite(path, strips, shape=(rows.height, *px.shape[1:]), dtype=dtype,
                     photometric=photometric, extratags=extratags, metadata=None,
                     byteorder="<", **kwargs)
