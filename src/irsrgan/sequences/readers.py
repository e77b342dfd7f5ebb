"""Sequence readers: video files (PyAV), numbered frame folders, multi-page TIFF stacks and FLIR
SEQ / CSQ files. Each yields :class:`~irsrgan.sequences.frames.Frame` objects one at a time,
so memory does not depend on the clip's length.

The kind is decided from content (:func:`sniff_sequence`), as for stills: a folder; a file that
starts with a FLIR ``FFF`` record (SEQ: raw counts as plain words or PNG; CSQ: JPEG-LS); a TIFF
with more than one page; anything else FFmpeg opens with a video stream, except the still
formats (PNG, JPEG, BMP and one-page TIFF), which stay stills.

Video pixels: gray formats keep their counts (``gray`` 8-bit, ``gray9le`` .. ``gray16le`` as
``uint16``); YUV whose first frame has neutral chroma (the usual way a thermal camera stores
gray) is read as its luma plane, code for code, so that writing it back changes nothing;
other video is converted to RGB (8-bit, or 16-bit above 8 bits per sample).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ImageError
from ..flir import FlirSource, camera_from_fff, flir_description, raw_from_fff
from ..image import IMAGE_SUFFIXES, Image, _layout_of, read_image, sniff_format
from .frames import Frame, SequenceInfo, SequenceKind, natural_key

_FFF_MAGIC = (b"FFF\x00", b"AFF\x00")
_FFF_CAMERA_INFO = 0x20
_FFF_RAW_DATA = 1
_FFF_TIME_AT = 0x384  # in the camera-info record: time_t, milliseconds, time zone
#: chroma farther than this from neutral in the first frame means the video is colour
CHROMA_TOLERANCE = 2
#: FFmpeg demuxers taken as video files (others, such as ``tty`` for text files or the image
#: demuxers, are not sequences)
VIDEO_CONTAINERS = {"matroska", "webm", "mov", "mp4", "avi", "mpegts", "mpeg", "flv", "nut",
                    "ogg", "asf", "mxf", "h264", "hevc", "m4v"}
#: a FLIR file's last record may end this many bytes past the end of the file (padded with 0)
MAX_TAIL_SHORTFALL = 64


def sniff_sequence(path: str | os.PathLike) -> SequenceKind | None:
    """The kind of sequence at ``path``, or None for a still image (or something unreadable,
    which the still-image reader reports)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if head[:4] in _FFF_MAGIC:
        return _flir_kind(path)
    fmt = sniff_format(head)
    if fmt == "tiff":
        return "tiff" if _tiff_pages(path) > 1 else None
    if fmt is not None:
        return None
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            known = set(container.format.name.split(",")) & VIDEO_CONTAINERS
            return "video" if known and container.streams.video else None
    except (av.FFmpegError, OSError, ValueError):
        return None


def open_sequence(path: str | os.PathLike, *, max_pixels: int | None = None):
    """A reader for the sequence at ``path`` (:func:`sniff_sequence` decides which).

    Readers have ``info`` (:class:`SequenceInfo`), ``frames()`` (every frame, in order) and
    ``close()``, and are context managers.

    Raises:
        ImageError: not a sequence, or its first frame cannot be read.
    """
    path = Path(path)
    kind = sniff_sequence(path)
    if kind is None:
        if not path.exists():
            raise ImageError(f"{path}: no such file or folder")
        raise ImageError(f"{path}: not a video, frame folder, TIFF stack or FLIR SEQ/CSQ file")
    cls = {"video": VideoReader, "folder": FolderReader, "tiff": TiffStackReader,
           "flir-seq": FlirSequenceReader, "flir-csq": FlirSequenceReader}[kind]
    return cls(path, max_pixels=max_pixels)


class _Reader:
    info: SequenceInfo

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_size(path: Path, w: int, h: int, max_pixels: int | None) -> None:
    if max_pixels is not None and w * h > max_pixels:
        from ..errors import ImageTooLargeError

        raise ImageTooLargeError(f"{path}: frames of {w}x{h} exceed {max_pixels} pixels")


# --------------------------------------------------------------------------- video (PyAV)
class VideoReader(_Reader):
    """The first video stream of a file FFmpeg can demux; other streams are reported in
    ``info.dropped``."""

    def __init__(self, path: Path, *, max_pixels: int | None = None) -> None:
        import av

        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            raise ImageError(f"{path}: cannot open video: {exc}") from None
        try:
            self.stream = self.container.streams.video[0]
            self.stream.thread_type = "AUTO"
            ctx = self.stream.codec_context
            _check_size(path, ctx.width, ctx.height, max_pixels)
            self._decoded = self._decode()
            try:
                first = next(self._decoded)
            except StopIteration:
                raise ImageError(f"{path}: the video stream holds no frames") from None
            self._mode = _video_mode(first)
            self._first = first
            px = self._pixels(first)
        except BaseException:
            self.container.close()
            raise
        dropped = tuple(f"{s.type} stream #{s.index} ({s.codec_context.name})"
                        for s in self.container.streams if s is not self.stream)
        rate = self.stream.average_rate or self.stream.guessed_rate
        if self.stream.duration and self.stream.time_base:
            duration = float(self.stream.duration * self.stream.time_base)
        else:
            duration = self.container.duration / 1e6 if self.container.duration else None
        self.info = SequenceInfo(
            path=path, kind="video", frames=self.stream.frames or None,
            width=first.width, height=first.height, dtype=px.dtype, layout=_layout_of(px),
            time_base=self.stream.time_base, rate=Fraction(rate) if rate else None,
            codec=ctx.name, dropped=dropped, duration=duration,
        )

    def _decode(self):
        import av

        try:
            yield from self.container.decode(self.stream)
        except av.FFmpegError as exc:
            raise ImageError(f"{self.path}: video data is corrupt: {exc}") from None

    def _pixels(self, frame) -> np.ndarray:
        mode = self._mode
        if mode in ("luma8", "luma16"):
            return _plane(frame.planes[0], frame.width, frame.height,
                          np.uint8 if mode == "luma8" else np.dtype("<u2"))
        return frame.to_ndarray(format=mode)

    def frames(self) -> Iterator[Frame]:
        rate = self.info.rate
        tb = self.info.time_base
        step = int(round(1 / (rate * tb))) if rate and tb else None
        for index, frame in enumerate(_chain(self._first, self._decoded)):
            pts = frame.pts
            if pts is None and step is not None:
                pts = index * step
            px = self._pixels(frame)
            yield Frame(index, Image(px, format="png", layout=_layout_of(px)), pts)

    def close(self) -> None:
        self.container.close()


def _chain(first, rest):
    yield first
    yield from rest


def _plane(plane, width: int, height: int, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:height]
    return np.ascontiguousarray(rows[:, :width * dtype.itemsize]).view(dtype).astype(
        dtype.newbyteorder("="))


def _video_mode(frame) -> str:
    """How to turn this stream's frames into pixels: ``luma8``/``luma16`` (the first plane,
    counts kept) or an RGB format for :meth:`VideoFrame.to_ndarray`."""
    fmt = frame.format
    name = fmt.name
    bits = max(c.bits for c in fmt.components)
    if name.startswith("gray") and not name.startswith("grayf"):
        return "luma8" if bits <= 8 else "luma16"
    planar_yuv = name.startswith(("yuv", "yuvj")) and len(fmt.components) == 3
    if planar_yuv and (bits <= 8 or name.endswith("le")):
        neutral = 1 << (bits - 1)
        dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
        chroma = [_plane(p, p.width, p.height, dtype) for p in frame.planes[1:3]]
        if all(int(np.abs(c.astype(np.int32) - neutral).max())
               <= CHROMA_TOLERANCE << max(0, bits - 8) for c in chroma):
            return "luma8" if bits <= 8 else "luma16"
    return "rgb24" if bits <= 8 else "rgb48le"


# --------------------------------------------------------------------------- frame folders
class FolderReader(_Reader):
    """The image files directly inside a folder, in natural order (``frame_2`` before
    ``frame_10``); each frame keeps its file's name and format."""

    def __init__(self, path: Path, *, max_pixels: int | None = None) -> None:
        self.path = path
        self.max_pixels = max_pixels
        self.files = sorted(
            (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: natural_key(p.name),
        )
        if not self.files:
            raise ImageError(f"{path}: folder holds no PNG, TIFF, JPEG or BMP files")
        first = read_image(self.files[0], max_pixels=max_pixels)
        self.info = SequenceInfo(
            path=path, kind="folder", frames=len(self.files), width=first.width,
            height=first.height, dtype=first.dtype, layout=first.layout,
        )

    def frames(self) -> Iterator[Frame]:
        for i, file in enumerate(self.files):
            yield Frame(i, read_image(file, max_pixels=self.max_pixels), name=file.name)

    def names(self) -> list[str]:
        return [p.name for p in self.files]


# --------------------------------------------------------------------------- TIFF stacks
def _tiff_pages(path: Path) -> int:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.pages)
    except Exception:  # noqa: BLE001 - a broken TIFF is reported by the still reader
        return 0


class TiffStackReader(_Reader):
    """A multi-page TIFF, one page per frame (every page the same size and type)."""

    def __init__(self, path: Path, *, max_pixels: int | None = None) -> None:
        import tifffile

        self.path = path
        try:
            self.tif = tifffile.TiffFile(path)
            page = self.tif.pages[0]
        except Exception as exc:
            raise ImageError(f"{path}: cannot read TIFF: {exc}") from None
        _check_size(path, page.imagewidth, page.imagelength, max_pixels)
        px = self._page(0)
        desc = page.tags.get("ImageDescription")
        self.tags = {"ImageDescription": desc.value} if desc is not None and isinstance(
            desc.value, str) and desc.value and not desc.value.startswith(("{", "ImageJ")) else {}
        self.info = SequenceInfo(
            path=path, kind="tiff", frames=len(self.tif.pages), width=px.shape[1],
            height=px.shape[0], dtype=px.dtype, layout=_layout_of(px),
        )

    def _page(self, i: int) -> np.ndarray:
        page = self.tif.pages[i]
        try:
            px = page.asarray()
        except Exception as exc:
            raise ImageError(f"{self.path}: page {i} does not decode: {exc}") from None
        if page.planarconfig == 2 and px.ndim == 3 and px.shape[0] in (3, 4):
            px = np.moveaxis(px, 0, -1)
        if px.ndim == 3 and px.shape[2] == 1:
            px = px[..., 0]
        return np.ascontiguousarray(px)

    def frames(self) -> Iterator[Frame]:
        first = self.info
        for i in range(len(self.tif.pages)):
            px = self._page(i)
            if px.shape[:2] != (first.height, first.width) or px.dtype != first.dtype:
                raise ImageError(
                    f"{self.path}: page {i} is {px.shape[1]}x{px.shape[0]} {px.dtype}, page 0 "
                    f"is {first.width}x{first.height} {first.dtype}: not one sequence")
            yield Frame(i, Image(px, format="tiff", layout=_layout_of(px),
                                 tiff_tags=dict(self.tags)))

    def close(self) -> None:
        self.tif.close()


# --------------------------------------------------------------------------- FLIR SEQ / CSQ
def _fff_order(block: bytes | memoryview) -> str:
    return ">" if 0 < struct.unpack(">I", block[20:24])[0] < 0x10000 else "<"


def _fff_records(block, name: str) -> tuple[int, list[tuple[int, int, int]]]:
    """``(size, [(type, offset, length)])`` of the FFF record file at the start of ``block``."""
    if len(block) < 64 or bytes(block[:4]) not in _FFF_MAGIC:
        raise ImageError(f"{name}: no FLIR FFF record here")
    order = _fff_order(block)
    index_at, n = struct.unpack(order + "II", block[24:32])
    if index_at + 32 * n > len(block) or n > 1024:
        raise ImageError(f"{name}: FLIR FFF index is outside the file")
    size = index_at + 32 * n
    records = []
    for k in range(n):
        at = index_at + 32 * k
        rtype, _sub, _ver, _id, offset, length = struct.unpack(order + "HHIIII",
                                                               block[at:at + 20])
        if rtype == 0:
            continue
        records.append((rtype, offset, length))
        size = max(size, offset + length)
    return size, records


def _flir_kind(path: Path) -> SequenceKind | None:
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            _size, records = _fff_records(mm, str(path))
            for rtype, offset, _length in records:
                if rtype == _FFF_RAW_DATA:
                    return "flir-csq" if mm[offset + 32:offset + 36] == b"\xff\xd8\xff\xf7" \
                        else "flir-seq"
    except (OSError, ValueError, ImageError, struct.error):
        return None
    return None


class FlirSequenceReader(_Reader):
    """FLIR SEQ and CSQ: FFF record files one after the other, each a frame of raw 16-bit
    sensor counts (plain words or PNG in SEQ, JPEG-LS in CSQ), decoded by
    :func:`irsrgan.flir.raw_from_fff`, each with its own camera constants
    (:func:`irsrgan.flir.camera_from_fff`, in ``Image.flir``). Frame times come from each
    frame's camera-info record (milliseconds; ``time_base`` 1/1000, relative to the first
    frame). Padding between records is skipped by searching for the next record that
    parses."""

    def __init__(self, path: Path, *, max_pixels: int | None = None) -> None:
        self.path = path
        self.max_pixels = max_pixels
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self.mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
            first = next(self._records(), None)
            if first is None:
                raise ImageError(f"{path}: FLIR sequence holds no frames")
            px = self._decode(*first, 0)
            self.t0 = self._time(*first)
            rate = self._rate()
        except BaseException:
            self.close()
            raise
        self.info = SequenceInfo(
            path=path, kind=_flir_kind(path) or "flir-seq",
            frames=sum(1 for _ in self._records()), width=px.shape[1],
            height=px.shape[0], dtype=px.dtype, layout="gray",
            time_base=Fraction(1, 1000) if self.t0 is not None else None, rate=rate,
            codec="FLIR FFF",
        )

    def _records(self) -> Iterator[tuple[int, int, list]]:
        """``(start, size, records)`` of each frame's record file."""
        mm, at = self.mm, 0
        while at + 64 <= len(mm):
            try:
                size, records = _fff_records(memoryview(mm)[at:], str(self.path))
            except (ImageError, struct.error):
                nxt = min((i for i in (mm.find(m, at + 1) for m in _FFF_MAGIC) if i >= 0),
                          default=-1)
                if nxt < 0:
                    return
                at = nxt
                continue
            yield at, size, records
            at += max(size, 64)

    def _block(self, start: int, size: int) -> bytes:
        block = self.mm[start:start + size]
        if 0 < size - len(block) <= MAX_TAIL_SHORTFALL:
            # some cameras end the file a few bytes short of the last record's declared length
            block += bytes(size - len(block))
        return block

    def _decode(self, start: int, size: int, records: list, index: int) -> np.ndarray:
        return raw_from_fff(self._block(start, size), f"{self.path} frame {index}",
                            max_pixels=self.max_pixels)

    def _image(self, start: int, size: int, index: int) -> Image:
        """Frame ``index``'s raw counts, with its own camera constants (None when its record
        file has no CameraInfo record: counts only) in ``flir`` and, as JSON, in the
        ImageDescription (:func:`irsrgan.flir.flir_description`, as R-JPEGs read raw)."""
        block = self._block(start, size)
        name = f"{self.path} frame {index}"
        px = raw_from_fff(block, name, max_pixels=self.max_pixels)
        try:
            camera = camera_from_fff(block, name)
        except ImageError:
            camera = None
        source = FlirSource(camera, (px.shape[1], px.shape[0]), None)
        desc = flir_description(source, f"{self.path.name} frame {index}")
        return Image(px, format="tiff", layout="gray", tiff_tags={"ImageDescription": desc},
                     flir=source)

    def _time(self, start: int, size: int, records: list) -> int | None:
        """Milliseconds since the epoch from the camera-info record, None if absent."""
        for rtype, offset, length in records:
            if rtype == _FFF_CAMERA_INFO and length >= _FFF_TIME_AT + 10:
                rec = self.mm[start + offset:start + offset + length]
                order = "<" if struct.unpack("<H", rec[:2])[0] == 2 else ">"
                seconds, ms, _tz = struct.unpack(order + "IIh",
                                                 rec[_FFF_TIME_AT:_FFF_TIME_AT + 10])
                return seconds * 1000 + ms if seconds else None
        return None

    def _rate(self) -> Fraction | None:
        times = []
        for i, rec in enumerate(self._records()):
            times.append(self._time(*rec))
            if i >= 8:
                break
        deltas = [b - a for a, b in zip(times, times[1:], strict=False)
                  if a is not None and b is not None and b > a]
        if not deltas:
            return None
        return Fraction(1000, int(np.median(deltas))).limit_denominator(1001)

    def frames(self) -> Iterator[Frame]:
        for index, rec in enumerate(self._records()):
            image = self._image(rec[0], rec[1], index)
            t = self._time(*rec)
            pts = t - self.t0 if t is not None and self.t0 is not None else None
            yield Frame(index, image, pts)

    def close(self) -> None:
        if getattr(self, "mm", None) is not None:
            self.mm.close()
            self.mm = None
        self._fh.close()
