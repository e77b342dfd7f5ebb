"""Image files <-> arrays <-> tensors. The only module that knows about bit depth.

Bit depth and value range are decided by the array's dtype, never by pixel values:

* ``uint8``: divided by 255 (``range_mode="dtype"``).
* ``uint16``/``int16`` (radiometric raw counts) and float TIFF (temperatures, radiance):
  a per-image linear map ``unit = (x - min) / (max - min)`` and its exact inverse, so that a flat
  region of raw count 14000 comes back as about 14000 (``range_mode="stretch"``, the default for
  these dtypes). ``range_mode="dtype"`` divides 16-bit data by 65535 instead.

Colour layout: gray stays gray; gray stored as RGB (all channels equal) becomes one channel and is
written back as RGB; real colour (for example palette-rendered thermal images) is kept as its
channels, and a one-channel model processes each channel as a separate gray image. An alpha
channel is treated as one more channel.

Output files keep the input's container format, dtype and channel layout, and its metadata
(:mod:`irsrgan.metadata`: EXIF, GPS, XMP, ICC; TIFF compression, predictor and tags) with the
sizes in it updated. TIFF descriptive tags (description, software, date, artist, copyright,
resolution) are carried over; resolution is multiplied by the upscaling factor so the physical
size stays the same. A description that only records an array shape (tifffile's
``{"shape": ...}``, ImageJ's) is dropped: it would describe the old size.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import cv2
import numpy as np
import tifffile

from . import metadata
from .errors import ImageError, ImageTooLargeError
from .flir import (
    FlirSource,
    camera_from_fff,
    flir_description,
    flir_fff,
    raw_from_fff,
    source_from_description,
)
from .headers import MAX_PAGES, Header, _clean, apply_orientation, check_header, probe

if TYPE_CHECKING:  # PyTorch is imported where a tensor is made: reading and writing need
    import torch  # only NumPy (irsrgan.onnx_upscaler runs without PyTorch)

log = logging.getLogger(__name__)

# OpenCV prints decoder warnings to stderr, and tifffile logs what it finds odd in a corrupt
# file; our errors say what went wrong instead
with contextlib.suppress(AttributeError):  # older OpenCV builds lack cv2.utils.logging
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
logging.getLogger("tifffile").setLevel(logging.CRITICAL)

ImageFormat = Literal["png", "tiff", "jpeg", "bmp"]
Layout = Literal["gray", "gray-as-rgb", "rgb", "rgba", "gray-alpha"]
RangeMode = Literal["auto", "dtype", "stretch"]
#: BT.601 luma weights (R, G, B): how every part of irsrgan turns colour into gray.
BT601_LUMA = (0.299, 0.587, 0.114)

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}
_TIFF_KEPT_TAGS = ("ImageDescription", "Software", "DateTime", "Artist", "Copyright")


@dataclass
class Image:
    """Pixels in their native dtype plus what is needed to write them back the same way.

    ``pixels`` is ``(H, W)`` for gray or ``(H, W, C)`` in RGB(A) order.
    """

    pixels: np.ndarray
    format: ImageFormat = "png"
    layout: Layout = "gray"
    tiff_tags: dict = field(default_factory=dict)
    path: Path | None = None
    #: a FLIR radiometric JPEG read as its 8-bit preview (its raw counts were not used)
    flir_preview: bool = False
    #: the raw data of a FLIR R-JPEG (or a TIFF written from one): camera constants and units
    flir: FlirSource | None = None
    #: metadata kept for the output (:mod:`irsrgan.metadata`): ``source_size`` (w, h) and
    #: ``jpeg`` / ``png`` blocks or ``tiff`` (a :class:`~irsrgan.metadata.TiffMetadata`)
    file_metadata: dict = field(default_factory=dict)


    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.pixels.dtype

    def channels(self) -> np.ndarray:
        """The pixels as ``(C, H, W)``, gray-as-RGB collapsed to one channel."""
        px = self.pixels
        if px.ndim == 2:
            return px[None]
        if self.layout == "gray-as-rgb":
            return px[..., 0][None]
        return np.moveaxis(px, -1, 0)


def sniff_format(data: bytes) -> ImageFormat | None:
    """The container format from the file's first bytes (content, not name)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"BM"):
        return "bmp"
    return None


def _layout_of(px: np.ndarray) -> Layout:
    if px.ndim == 2:
        return "gray"
    c = px.shape[2]
    if c == 1:
        return "gray"
    if c == 2:
        return "gray-alpha"
    if c == 3:
        same = np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 1], px[..., 2])
        return "gray-as-rgb" if same else "rgb"
    if c == 4:
        return "rgba"
    raise ImageError(f"unsupported number of channels: {c}")


def decode_image(
    data: bytes, name: str = "<bytes>", *, max_pixels: int | None = None, flir_raw: bool = False
) -> Image:
    """Decode an image file's bytes. Raises :class:`ImageError` naming ``name`` and the problem.

    With ``flir_raw``, a FLIR radiometric JPEG gives its raw 16-bit sensor counts as a gray
    image in TIFF format (:mod:`irsrgan.flir`); otherwise its 8-bit preview, flagged
    ``flir_preview``.
    """
    if not data:
        raise ImageError(f"{name}: file is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(f"{name}: not a PNG, TIFF, JPEG or BMP file (unknown content)")
    fff = flir_fff(data) if fmt == "jpeg" else None
    if fff is not None and flir_raw:
        return _flir_raw_image(data, fff, name, max_pixels)
    header = probe(data, fmt, name)
    check_header(header, name, max_pixels)
    _check_supported(header, name)
    tags: dict = {}
    try:
        if fmt == "tiff":
            px, tags = _decode_tiff(data, header)
        else:
            px = _decode_cv2(data, header, name)
    except ImageError as exc:
        if str(exc).startswith(name):
            raise
        raise ImageError(f"{name}: {exc}") from None
    except MemoryError:
        raise ImageTooLargeError(
            f"{name}: not enough memory to decode {header.width}x{header.height} pixels"
        ) from None
    except cv2.error:  # its message is OpenCV's source file and assertion
        raise ImageError(f"{name}: {fmt.upper()} data is corrupt, or {header.width}x"
                         f"{header.height} is too large for the decoder") from None
    except Exception as exc:  # decoder libraries raise many types on corrupt data
        raise ImageError(f"{name}: {fmt.upper()} data is corrupt or truncated "
                         f"({_clean(exc)})") from None
    if px.ndim == 3 and px.shape[2] == 1:
        px = px[..., 0]
    if header.orientation != 1:
        px = apply_orientation(px, header.orientation)
    if px.dtype not in SUPPORTED_DTYPES:
        raise ImageError(
            f"{name}: unsupported pixel type {px.dtype} "
            "(expected uint8, uint16, int16, float32 or float64)"
        )
    if px.ndim not in (2, 3) or px.shape[0] < 1 or px.shape[1] < 1:
        raise ImageError(f"{name}: unsupported array shape {px.shape}")
    if max_pixels is not None and px.shape[0] * px.shape[1] > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {px.shape[1]}x{px.shape[0]} exceeds {max_pixels} pixels"
        )
    try:
        layout = _layout_of(px)
    except ImageError as exc:
        raise ImageError(f"{name}: {exc}") from None
    flir = None
    if "ImageDescription" in tags:
        flir = source_from_description(tags["ImageDescription"], (px.shape[1], px.shape[0]))
    kept = _kept_metadata(data, fmt, tags, (px.shape[1], px.shape[0]))
    return Image(pixels=np.ascontiguousarray(px), format=fmt, layout=layout, tiff_tags=tags,
                 flir_preview=fff is not None, flir=flir, file_metadata=kept)


def _kept_metadata(data: bytes, fmt: str, tags: dict, size: tuple[int, int]) -> dict:
    """The metadata to write back (see :mod:`irsrgan.metadata`); TIFF compression and
    predictor arrive from :func:`_decode_tiff` in ``tags``."""
    kept: dict = {"source_size": size}
    if fmt == "jpeg":
        kept["jpeg"] = metadata.jpeg_blocks(data)
    elif fmt == "png":
        kept["png"] = metadata.png_blocks(data)
    elif fmt == "tiff":
        kept["tiff"] = metadata.tiff_metadata(data, tags.pop("compression", 1),
                                              tags.pop("predictor", 1))
    return kept


def _flir_raw_image(data: bytes, fff: bytes, name: str, max_pixels: int | None) -> Image:
    """The raw counts as a gray 16-bit TIFF image; its description carries the camera
    constants (JSON, :func:`irsrgan.flir.flir_description`)."""
    px = raw_from_fff(fff, name, max_pixels=max_pixels)
    try:
        camera = camera_from_fff(fff, name)
    except ImageError:
        camera = None  # counts without constants: still upscalable, not convertible
    source = FlirSource(camera, (px.shape[1], px.shape[0]), _header_size(data))
    desc = flir_description(source, Path(name).name)
    kept: dict = {"source_size": source.raw_size}
    exif = metadata.jpeg_exif(data)
    if exif is not None:  # Make, Model, dates, GPS of the camera go to the TIFF
        kept["tiff"] = metadata.exif_as_tiff_metadata(exif)
    return Image(pixels=px, format="tiff", layout="gray", tiff_tags={"ImageDescription": desc},
                 flir=source, file_metadata=kept)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header, or None when it cannot be read."""
    import io

    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        return None


_PHOTOMETRIC_READ = ("", "none", "minisblack", "miniswhite", "rgb", "palette", "ycbcr")


def _check_supported(header: Header, name: str) -> None:
    """Refuse, from the header, files whose pixels irsrgan would otherwise change silently."""
    if header.pages > 1:
        what = "animated PNG" if header.format == "png" else "multi-page TIFF"
        count = f"{header.pages}{' or more' if header.pages >= MAX_PAGES else ''}"
        raise ImageError(
            f"{name}: {what} with {count} images; irsrgan upscales single images here "
            + ("(irsrgan upscale and metrics read TIFF stacks as clips, like video: "
               "docs/VIDEO.md)" if header.format != "png" else "(split the frames first)")
        )
    if header.photometric == "separated":
        raise ImageError(f"{name}: CMYK TIFF is not supported (convert it to RGB or gray)")
    if header.photometric not in _PHOTOMETRIC_READ:
        raise ImageError(
            f"{name}: TIFF colour space {header.photometric!r} is not supported "
            "(gray, RGB, RGBA or palette)"
        )


def _decode_cv2(data: bytes, header: Header, name: str) -> np.ndarray:
    px = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if px is None:
        raise ImageError(f"{name}: {header.format.upper()} data is corrupt or truncated")
    if header.gray_alpha and px.ndim == 3 and px.shape[2] == 4:
        return np.ascontiguousarray(px[..., [0, 3]])  # libpng expands gray + alpha to BGRA
    if px.ndim == 3 and px.shape[2] == 3:
        px = cv2.cvtColor(px, cv2.COLOR_BGR2RGB)
    elif px.ndim == 3 and px.shape[2] == 4:
        px = cv2.cvtColor(px, cv2.COLOR_BGRA2RGBA)
    return px


def _decode_tiff(data: bytes, header: Header) -> tuple[np.ndarray, dict]:
    import io

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        if np.dtype(page.dtype) not in SUPPORTED_DTYPES and header.photometric != "palette":
            raise ImageError(
                f"unsupported pixel type {page.dtype} "
                "(expected uint8, uint16, int16, float32 or float64)"
            )
        px = page.asarray()
        if header.photometric == "palette":
            px = _apply_palette(px, page.colormap)
        tags: dict = {"compression": int(page.compression), "predictor": int(page.predictor)}
        for key in _TIFF_KEPT_TAGS:
            tag = page.tags.get(key)
            if tag is not None and isinstance(tag.value, str) and tag.value:
                tags[key] = tag.value
        if _describes_shape(tags.get("ImageDescription", "")):
            del tags["ImageDescription"]
        xres, yres, unit = (page.tags.get(k) for k in ("XResolution", "YResolution",
                                                         "ResolutionUnit"))
        if xres is not None and yres is not None:
            tags["resolution"] = (_ratio(xres.value), _ratio(yres.value))
            tags["resolutionunit"] = int(unit.value) if unit is not None else 2
        if page.planarconfig == 2 and px.ndim == 3 and px.shape[0] in (2, 3, 4):
            px = np.moveaxis(px, 0, -1)
    return px, tags


def _apply_palette(index: np.ndarray, colormap: np.ndarray | None) -> np.ndarray:
    """A palette TIFF's colours (RGB; 8-bit when the 16-bit palette holds 8-bit values)."""
    if colormap is None or index.dtype.kind not in "ui":
        raise ImageError("palette TIFF without a usable colour map")
    cmap = np.asarray(colormap)
    if int(index.max(initial=0)) >= cmap.shape[1]:
        raise ImageError("palette TIFF has indices beyond its colour map")
    rgb = np.moveaxis(cmap[:, index], 0, -1)
    for step in (257, 256):  # 8-bit palettes stored as v * 257 or v * 256
        if np.all(cmap % step == 0) and cmap.max() // step <= 255:
            return (rgb // step).astype(np.uint8)
    return rgb.astype(np.uint16)


def _describes_shape(text: str) -> bool:
    """A description written by tifffile (``{"shape": [...]}``) or ImageJ: it records the
    array's shape, so it must not follow the pixels to another size."""
    if text.startswith("ImageJ="):
        return True
    if not text.startswith("{"):
        return False
    try:
        return "shape" in json.loads(text)
    except (ValueError, TypeError):
        return False


def _ratio(value) -> float:
    if isinstance(value, tuple) and len(value) == 2:
        return value[0] / value[1] if value[1] else float(value[0])
    return float(value)


def read_image(
    path: str | os.PathLike, *, max_pixels: int | None = None, flir_raw: bool = False
) -> Image:
    """Read PNG, TIFF, JPEG or BMP into an :class:`Image` (dtype and layout preserved);
    ``flir_raw``: see :func:`decode_image`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    image = decode_image(data, str(path), max_pixels=max_pixels, flir_raw=flir_raw)
    image.path = path
    return image


def encode_image(image: Image, *, jpeg_quality: int = 95) -> bytes:
    """Encode an :class:`Image` in its own format. Raises :class:`ImageError`."""
    px = image.pixels
    fmt = image.format
    if fmt == "tiff":
        return _encode_tiff(image)
    if fmt in ("jpeg", "bmp") and px.dtype != np.uint8:
        raise ImageError(f"{fmt.upper()} stores 8-bit pixels only, got {px.dtype}")
    if fmt == "png" and px.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"PNG stores 8- or 16-bit pixels only, got {px.dtype}")
    if fmt == "jpeg" and px.ndim == 3 and px.shape[2] in (2, 4):
        raise ImageError("JPEG has no alpha channel")
    if fmt == "png" and px.ndim == 3 and px.shape[2] == 2:
        return _encode_png_gray_alpha(px)
    if fmt == "bmp" and px.ndim == 3 and px.shape[2] == 2:
        raise ImageError("BMP has no gray + alpha layout")
    if px.ndim == 3 and px.shape[2] == 3:
        px = cv2.cvtColor(px, cv2.COLOR_RGB2BGR)
    elif px.ndim == 3 and px.shape[2] == 4:
        px = cv2.cvtColor(px, cv2.COLOR_RGBA2BGRA)
    ext = {"png": ".png", "jpeg": ".jpg", "bmp": ".bmp"}[fmt]
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(ext, px, params)
    if not ok:
        raise ImageError(f"cannot encode {fmt.upper()} of shape {px.shape} and dtype {px.dtype}")
    data = buf.tobytes()
    kept = image.file_metadata
    size, source = (image.width, image.height), kept.get("source_size", (0, 0))
    if fmt == "jpeg" and kept.get("jpeg"):
        data = metadata.with_jpeg_blocks(data, kept["jpeg"], size, source)
    elif fmt == "png" and kept.get("png"):
        data = metadata.with_png_blocks(data, kept["png"], size, source)
    return data


def _encode_png_gray_alpha(px: np.ndarray) -> bytes:
    """A gray + alpha PNG (colour type 4; OpenCV writes 1, 3 or 4 channels only)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    h, w = px.shape[:2]
    depth = 16 if px.dtype == np.uint16 else 8
    rows = px.astype(">u2" if depth == 16 else np.uint8).reshape(h, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 4, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


SUFFIX_FORMATS: dict[str, ImageFormat] = {
    ".png": "png", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg", ".jpeg": "jpeg",
    ".bmp": "bmp",
}


def as_format(image: Image, path: str | os.PathLike) -> Image:
    """``image`` to be written as the format ``path``'s suffix names (the name decides, not the
    input's content). Raises :class:`ImageError` naming ``path`` when that format cannot hold
    the pixels (16-bit or float as JPEG/BMP, float as PNG, alpha as JPEG) instead of changing
    them."""
    fmt = SUFFIX_FORMATS.get(Path(path).suffix.lower())
    if fmt is None or fmt == image.format:
        return image
    px = image.pixels
    alpha = image.layout in ("rgba", "gray-alpha")
    holds = {"png": (np.uint8, np.uint16), "jpeg": (np.uint8,), "bmp": (np.uint8,)}
    if fmt in holds and px.dtype not in holds[fmt]:
        better = ".tiff" if px.dtype.kind == "f" else ".png or .tiff"
        raise ImageError(f"{path}: {fmt.upper()} cannot hold {px.dtype} pixels without "
                         f"changing them; name the output {better}")
    if fmt == "jpeg" and alpha or fmt == "bmp" and image.layout == "gray-alpha":
        raise ImageError(f"{path}: {fmt.upper()} has no alpha channel; name the output .png "
                         "or .tiff")
    return replace(image, format=fmt)


def _encode_tiff(image: Image) -> bytes:
    import io

    px = image.pixels
    tags = image.tiff_tags
    kwargs: dict = {}
    if "ImageDescription" in tags:
        kwargs["description"] = tags["ImageDescription"]
    if "Software" in tags:
        kwargs["software"] = tags["Software"]
    if "DateTime" in tags:
        kwargs["datetime"] = tags["DateTime"]
    if "resolution" in tags:
        kwargs["resolution"] = tags["resolution"]
        kwargs["resolutionunit"] = tags.get("resolutionunit", 2)
    extratags = []
    for key, code in (("Artist", 315), ("Copyright", 33432)):
        if key in tags:
            extratags.append((code, "s", 0, tags[key], True))
    kept = image.file_metadata.get("tiff")
    if kept is not None:
        extratags += metadata.tiff_extratags(kept, "<", (image.width, image.height),
                                             image.file_metadata.get("source_size", (0, 0)))
        if kept.compression != 1:
            kwargs["compression"] = kept.compression
            if kept.predictor != 1:
                kwargs["predictor"] = kept.predictor
    photometric = "rgb" if px.ndim == 3 and px.shape[2] in (3, 4) else "minisblack"

    def write(**options) -> bytes:
        bio = io.BytesIO()
        tifffile.imwrite(bio, px, photometric=photometric, extratags=extratags, metadata=None,
                         byteorder="<", **options)
        return bio.getvalue()

    try:
        data = write(**kwargs)
    except Exception as exc:  # e.g. a compression this build or this dtype cannot do
        if "compression" not in kwargs:
            raise ImageError(f"cannot encode TIFF of shape {px.shape} and dtype {px.dtype}: "
                             f"{exc}") from exc
        log.warning("TIFF compression %s failed (%s); writing uncompressed",
                    kwargs.pop("compression"), exc)
        kwargs.pop("predictor", None)
        data = write(**kwargs)
    if kept is not None:
        data = metadata.with_tiff_sub_ifds(data, kept, (image.width, image.height),
                                           image.file_metadata.get("source_size", (0, 0)))
    return data


def write_image(path: str | os.PathLike, image: Image, *, jpeg_quality: int = 95) -> None:
    """Write atomically: encode in memory, write a temporary file beside ``path``, rename.

    A failure leaves no partial file behind and never touches an existing ``path``.
    """
    path = Path(path)
    data = encode_image(image, jpeg_quality=jpeg_quality)
    atomic_write_bytes(path, data)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file beside ``path`` to write; renamed to ``path`` when the block ends, and
    removed instead if it raises (no partial file; an existing ``path`` stays untouched)."""
    path = Path(path)
    # the name is shortened so that a 255-byte file name still leaves room for the temporary's
    stem = path.name.encode("utf-8", "surrogateescape")[:120].decode("utf-8", "ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class ValueMap:
    """A linear map between native pixel values and the model's unit range.

    ``unit = (native - offset) / scale`` and ``native = unit * scale + offset`` (exact inverse).
    """

    offset: float
    scale: float

    def to_unit(self, native: np.ndarray) -> np.ndarray:
        return ((native.astype(np.float64) - self.offset) / self.scale).astype(np.float32)

    def to_native(self, unit: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Back to ``dtype`` (integers rounded and clipped to the dtype's range).

        Works in float32 for 8/16-bit and float32 output (exact for 16-bit counts: float32
        has 24 bits of mantissa) and in place, so a large output costs one float copy.
        """
        dtype = np.dtype(dtype)
        work = np.float64 if dtype == np.float64 else np.float32
        values = unit.astype(work, copy=True)
        values *= work(self.scale)
        values += work(self.offset)
        if dtype.kind in "ui":
            info = np.iinfo(dtype)
            np.rint(values, out=values)
            np.clip(values, info.min, info.max, out=values)
        return values.astype(dtype, copy=False)


def value_map_for(pixels: np.ndarray, mode: RangeMode = "auto") -> ValueMap:
    """Choose the map from the dtype: 8-bit by its range, 16-bit and float per image."""
    dtype = pixels.dtype
    if mode not in get_args(RangeMode):
        raise ImageError(f"range mode must be 'auto', 'dtype' or 'stretch', got {mode!r}")
    if mode == "auto":
        mode = "dtype" if dtype == np.uint8 else "stretch"
    if mode == "dtype":
        if dtype.kind in "ui":
            info = np.iinfo(dtype)
            return ValueMap(offset=float(info.min), scale=float(info.max - info.min))
        return ValueMap(offset=0.0, scale=1.0)
    finite = pixels[np.isfinite(pixels)] if dtype.kind == "f" else pixels
    if finite.size == 0:
        return ValueMap(offset=0.0, scale=1.0)
    lo, hi = float(finite.min()), float(finite.max())
    return ValueMap(offset=lo, scale=(hi - lo) if hi > lo else 1.0)


def bit_depth_map(dtype: np.dtype, value_map: ValueMap) -> ValueMap:
    """The scale quality metrics use (data range 1): for integer dtypes the full range of the
    bit depth (uint8 ``/255``, uint16 ``/65535``, int16 its range), whatever part of it the
    image spans; float images have no bit depth and keep ``value_map`` (their own min..max).

    Example:
        >>> bit_depth_map(np.dtype(np.uint16), ValueMap(offset=1000.0, scale=500.0))
        ValueMap(offset=0.0, scale=65535.0)
    """
    if np.dtype(dtype).kind in "ui":
        return value_map_for(np.zeros(1, dtype=dtype), "dtype")
    return value_map


def to_tensor(
    image: Image, range_mode: RangeMode = "auto"
) -> tuple[torch.Tensor, ValueMap]:
    """``(1, C, H, W)`` float32 in the unit range, and the map that brings it back.

    Non-finite float pixels (NaN marks invalid pixels in some radiometric files) are replaced by
    the image mean for processing; :func:`from_tensor` puts them back.
    """
    import torch

    unit, vmap = image_unit(image, range_mode)
    return torch.from_numpy(unit)[None], vmap


def image_unit(image: Image, range_mode: RangeMode = "auto") -> tuple[np.ndarray, ValueMap]:
    """:func:`to_tensor` in NumPy: ``(C, H, W)`` float32 in the unit range, and its map."""
    chans = image.channels()
    vmap = value_map_for(chans, range_mode)
    unit = vmap.to_unit(chans)
    if image.dtype.kind == "f":
        bad = ~np.isfinite(unit)
        if bad.any():
            unit[bad] = float(unit[~bad].mean()) if (~bad).any() else 0.0
    return np.ascontiguousarray(unit), vmap


def check_image_tensor(x: object, name: str, *, nonempty: bool = False) -> torch.Tensor:
    """``x`` itself if it is a floating-point ``(B, C, H, W)`` tensor (and, with ``nonempty``,
    has no zero-sized dimension); else an :class:`ImageError` naming ``name``. The one input
    check of the metrics and the degradation operations."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise ImageError(f"{name} must be a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ImageError(f"{name} must be (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ImageError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if nonempty and min(x.shape) < 1:
        raise ImageError(f"{name} must not be empty, got {tuple(x.shape)}")
    return x


def from_tensor(sr: torch.Tensor, like: Image, vmap: ValueMap) -> Image:
    """Turn a model output ``(1, C, H, W)`` back into an image shaped like ``like``.

    Clamping happens here only: to [0, 1] for ``uint8`` and to the dtype's range after the
    inverse map for other integer types; float images are not clamped.
    """
    if sr.ndim != 4 or sr.shape[0] != 1:
        raise ImageError(f"sr must be (1, C, H, W), got {tuple(sr.shape)}")
    px = native_rows(sr[0], like, vmap, 0, sr.shape[2] // like.height)
    return output_like(like, px.shape[0], px.shape[1], np.ascontiguousarray(px))


def native_rows(unit: torch.Tensor | np.ndarray, like: Image, vmap: ValueMap, row: int,
                scale: int) -> np.ndarray:
    """Rows ``row ..`` of an output (``unit``: ``(C, n, W)``, model values, a tensor or a
    float32 array) in ``like``'s dtype and layout: what :func:`from_tensor` does, for a band of
    rows at a time (the same values)."""
    if not isinstance(unit, np.ndarray):
        unit = unit.detach().float().cpu().numpy()
    if like.dtype == np.uint8:
        unit = np.clip(unit, 0.0, 1.0)
    native = vmap.to_native(unit, like.dtype)
    if like.dtype.kind == "f" and native.shape[1] and scale >= 1:
        # NaN, +Inf and -Inf come back as themselves, each over its footprint (only this
        # band's LR rows are looked at: a whole-image mask per band was O(bands x image)); an
        # output smaller than ``like`` (a degraded LR, scale 0 here) has no footprints: its
        # caller (irsrgan.degrade_files) pools them itself
        lr_rows = np.arange(row, row + native.shape[1]) // scale
        sub = like.channels()[:, lr_rows[0]:lr_rows[-1] + 1][:, lr_rows - lr_rows[0]]
        sub_bad = ~np.isfinite(sub)
        if sub_bad.any():
            fx = native.shape[2] // like.width
            up = np.repeat(np.where(sub_bad, sub, 0), fx, axis=2)
            mask = np.repeat(sub_bad, fx, axis=2)
            native[mask] = up[mask]
    if like.layout == "gray-as-rgb":
        return np.repeat(native[0][..., None], 3, axis=2)
    if native.shape[0] == 1 and like.pixels.ndim == 2:
        return native[0]
    return np.moveaxis(native, 0, -1)


def output_like(like: Image, height: int, width: int, pixels: np.ndarray) -> Image:
    """An output of ``height x width`` made from ``like``: its format, layout and metadata,
    the TIFF resolution scaled to the new size."""
    tags = dict(like.tiff_tags)
    if "resolution" in tags:
        fy, fx = height / like.height, width / like.width
        tags["resolution"] = (tags["resolution"][0] * fx, tags["resolution"][1] * fy)
    return replace(like, pixels=pixels, tiff_tags=tags, path=None)


def gray_unit(image: Image) -> np.ndarray:
    """The image as one float32 ``(H, W)`` channel in the unit range (for metrics and data).

    Colour is converted with the BT.601 luma weights; 16-bit and float use the dtype rule of
    :func:`value_map_for` with ``range_mode="dtype"`` for integers (so PSNR uses the full
    data range of the bit depth) and the values as they are for float.
    """
    chans = image.channels().astype(np.float64)
    if chans.shape[0] >= 3:
        gray = BT601_LUMA[0] * chans[0] + BT601_LUMA[1] * chans[1] + BT601_LUMA[2] * chans[2]
    else:
        gray = chans[0]
    vmap = value_map_for(image.pixels, "dtype")
    return ((gray - vmap.offset) / vmap.scale).astype(np.float32)


def list_images(root: str | os.PathLike) -> list[Path]:
    """Image files under ``root`` (recursively), sorted; a file path gives itself."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def natural_key(path: str | os.PathLike) -> list:
    """Sort key that puts ``frame_2`` before ``frame_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def collect_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files under each of ``inputs`` (files or folders), resolved, each once, in
    natural order; a missing input or no image at all is an :class:`ImageError`."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise ImageError(f"{p}: no such file or folder")
        paths += list_images(p)
    unique = sorted({p.resolve() for p in paths}, key=natural_key)
    if not unique:
        raise ImageError(f"no image in {', '.join(map(str, inputs))}")
    return unique
