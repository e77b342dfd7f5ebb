"""Sequence outputs that survive an interruption: frame folders, TIFF stacks and video files.

Every output is written position by position (0 = the first selected frame) and knows how
many leading positions are already finished, so a job that was stopped resumes at the first
missing frame:

* **frame folder**: each frame is its own file, written atomically under the input frame's
  name; the finished frames are the files already there.
* **TIFF stack** and **video**: finished frames are kept in a work folder next to the output
  (``.NAME.irsrgan-work/``, with a ``job.json`` that must match the job resuming it); the
  container is assembled from it at the end into a temporary file and renamed over ``NAME``,
  so ``NAME`` is either absent or complete. TIFF frames are kept one file each. Video is
  encoded in segments of ``segment_frames`` frames (NUT files, which keep any time base); a
  segment counts once it is closed, and the final container is a remux of the segments'
  packets (no second encode). H.264 is encoded without B-frames so that segments join with
  increasing decode times.

Video pixels: 8-bit gray goes into the luma plane unchanged (H.264: ``yuv420p`` with neutral
chroma, FFV1: ``gray``); 16-bit gray only into lossless FFV1 (``gray16le``, every count
kept), which needs Matroska (``.mkv``) or AVI; RGB is converted to ``yuv420p`` (H.264) or
``bgr0`` (FFV1). Each frame keeps its presentation time, shifted so that the first selected
frame is at 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError, ImageError
from ..image import Image, atomic_write_bytes, read_image, write_image

Codec = Literal["auto", "h264", "ffv1"]
VIDEO_SUFFIXES = {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov", ".avi": "avi"}
TIFF_SUFFIXES = {".tif", ".tiff"}
#: H.264 quality: constant rate factor (lower is better; 17 is close to visually lossless)
H264_CRF = 17
#: containers each codec may go in
CODEC_CONTAINERS = {"h264": {".mkv", ".mp4", ".mov", ".avi"}, "ffv1": {".mkv", ".avi"}}
#: frame rate assumed for a video made from frames without times (folders, TIFF stacks)
DEFAULT_RATE = Fraction(25)
DEFAULT_SEGMENT_FRAMES = 16
_JOB_FILE = "job.json"


def work_folder(output: Path) -> Path:
    return output.parent / f".{output.name}.irsrgan-work"


def choose_codec(codec: Codec, dtype: np.dtype, suffix: str, input_codec: str | None) -> str:
    """The codec for ``codec="auto"`` (16-bit: FFV1; 8-bit: FFV1 when the input was FFV1
    and the container takes it, else H.264), checked against the bit depth and container."""
    suffix = suffix.lower()
    sixteen = np.dtype(dtype).itemsize > 1
    if codec == "auto":
        if sixteen or (input_codec == "ffv1" and suffix in CODEC_CONTAINERS["ffv1"]):
            codec = "ffv1"
        else:
            codec = "h264"
    if codec not in CODEC_CONTAINERS:
        raise ConfigError(f"codec (--codec) must be 'auto', 'h264' or 'ffv1', got {codec!r}")
    if sixteen and codec != "ffv1":
        raise ConfigError(f"{dtype} frames need a lossless 16-bit codec: use --codec ffv1 "
                          "(H.264 keeps 8 bits)")
    if suffix not in CODEC_CONTAINERS[codec]:
        good = " or ".join(sorted(CODEC_CONTAINERS[codec]))
        raise ConfigError(f"{codec.upper()} video cannot be written as {suffix or 'no suffix'}: "
                          f"use {good}")
    return codec


class _WorkFolder:
    """The work folder of a TIFF or video output and the job description it belongs to."""

    def __init__(self, output: Path, job: dict, *, overwrite: bool) -> None:
        self.output = output
        self.path = work_folder(output)
        self.job = job
        state = self.path / _JOB_FILE
        if self.path.exists():
            try:
                old = json.loads(state.read_text())
            except (OSError, ValueError):
                old = None
            if old != job:
                if not overwrite:
                    differs = sorted(k for k in set(job) | set(old or {})
                                     if (old or {}).get(k) != job.get(k))
                    raise ConfigError(
                        f"{self.path} holds an interrupted job with other settings "
                        f"({', '.join(differs) or 'unreadable job.json'} differ): run the same "
                        "command to resume it, or pass --overwrite to start again")
                shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        if not state.exists():
            atomic_write_bytes(state, (json.dumps(job, indent=1) + "\n").encode())

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _tmp_beside(path: Path) -> Path:
    return path.parent / f".{path.stem}.{os.getpid()}.tmp{path.suffix}"


@contextlib.contextmanager
def _written_atomically(path: Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error
    it is removed (no partial output)."""
    tmp = _tmp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# --------------------------------------------------------------------------- frame folder
class FolderOutput:
    """One file per frame, named like the input frame, in ``folder``."""

    def __init__(self, folder: Path, names: list[str], *, overwrite: bool) -> None:
        self.folder = folder
        self.names = names
        folder.mkdir(parents=True, exist_ok=True)
        self.finished = 0
        if not overwrite:
            while self.finished < len(names) and (folder / names[self.finished]).exists():
                self.finished += 1

    def write(self, position: int, frame, image: Image) -> None:
        write_image(self.folder / self.names[position], image)

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


# --------------------------------------------------------------------------- TIFF stack
class TiffStackOutput:
    """A multi-page TIFF, assembled at the end from one file per frame in the work folder."""

    def __init__(self, output: Path, job: dict, *, overwrite: bool) -> None:
        self.output = output
        self.work = _WorkFolder(output, job, overwrite=overwrite)
        self.finished = 0
        while self._part(self.finished).exists():
            self.finished += 1

    def _part(self, position: int) -> Path:
        return self.work.path / f"frame_{position:07d}.tif"

    def write(self, position: int, frame, image: Image) -> None:
        write_image(self._part(position), Image(image.pixels, format="tiff",
                                                layout=image.layout, tiff_tags=image.tiff_tags))

    def finish(self) -> None:
        import tifffile

        parts = sorted(self.work.path.glob("frame_*.tif"))
        if not parts:
            raise ImageError(f"{self.output}: no frames were selected, nothing to write")
        total = sum(p.stat().st_size for p in parts)
        with _written_atomically(self.output) as tmp, tifffile.TiffWriter(
                tmp, bigtiff=total > 3_900_000_000) as tif:
            for part in parts:
                image = read_image(part)
                px = image.pixels
                desc = image.tiff_tags.get("ImageDescription")
                tif.write(px, photometric="rgb" if px.ndim == 3 else "minisblack",
                          description=desc, metadata=None, contiguous=False)
        self.work.remove()

    def abort(self) -> None:
        pass


# --------------------------------------------------------------------------- video
class VideoOutput:
    """A video file encoded in closed segments in the work folder and remuxed at the end."""

    def __init__(self, output: Path, job: dict, *, codec: str, time_base: Fraction | None,
                 rate: Fraction | None, first_pts: int | None, overwrite: bool,
                 segment_frames: int = DEFAULT_SEGMENT_FRAMES) -> None:
        if segment_frames < 1:
            raise ConfigError(f"segment_frames must be >= 1, got {segment_frames}")
        self.output = output
        self.codec = codec
        self.rate = rate or DEFAULT_RATE
        self.time_base = time_base or 1 / self.rate
        self.segment_frames = segment_frames
        self.work = _WorkFolder(output, {**job, "segment_frames": segment_frames},
                                overwrite=overwrite)
        done = 0
        while self._segment(done).exists():
            done += 1
        for stale in self.work.path.glob("*.part.nut"):
            stale.unlink()
        self.finished = done * segment_frames
        self._open = None  # (container, stream, segment index)
        self._pts0 = first_pts or 0

    def _segment(self, k: int) -> Path:
        return self.work.path / f"segment_{k:06d}.nut"

    def _pts(self, position: int, frame) -> int:
        if frame.pts is None:
            return round(position / self.rate / self.time_base)
        return frame.pts - self._pts0

    def write(self, position: int, frame, image: Image) -> None:
        import av

        k = position // self.segment_frames
        if self._open is None or self._open[2] != k:
            self._close_segment()
            container = av.open(str(self._segment(k).with_suffix(".part.nut")), "w",
                                format="nut")
            stream = container.add_stream(_ENCODERS[self.codec], rate=self.rate)
            stream.width, stream.height = image.width, image.height
            stream.pix_fmt = _pix_fmt(self.codec, image)
            stream.time_base = self.time_base
            stream.codec_context.time_base = self.time_base
            if self.codec == "h264":
                stream.codec_context.options = {"crf": str(H264_CRF), "bf": "0"}
            else:
                stream.codec_context.options = {"level": "3", "slicecrc": "1"}
            self._open = (container, stream, k)
        container, stream, _ = self._open
        vf = _video_frame(self.codec, image)
        vf.pts = self._pts(position, frame)
        vf.time_base = self.time_base
        try:
            for packet in stream.encode(vf):
                container.mux(packet)
        except av.FFmpegError as exc:
            raise ImageError(f"{self.output}: cannot encode frame {frame.index}: {exc}") from None
        if position % self.segment_frames == self.segment_frames - 1:
            self._close_segment()

    def _close_segment(self) -> None:
        if self._open is None:
            return
        container, stream, k = self._open
        self._open = None
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        os.replace(self._segment(k).with_suffix(".part.nut"), self._segment(k))

    def finish(self) -> None:
        import av

        self._close_segment()
        segments = sorted(self.work.path.glob("segment_*.nut"))
        segments = [s for s in segments if not s.name.endswith(".part.nut")]
        if not segments:
            raise ImageError(f"{self.output}: no frames were selected, nothing to write")
        fmt = VIDEO_SUFFIXES[self.output.suffix.lower()]
        with _written_atomically(self.output) as tmp, av.open(str(tmp), "w", format=fmt) as out:
            stream = None
            for seg in segments:
                with av.open(str(seg)) as src:
                    if stream is None:
                        stream = out.add_stream_from_template(src.streams.video[0])
                    for packet in src.demux(src.streams.video[0]):
                        if packet.dts is None:
                            continue
                        packet.stream = stream
                        out.mux(packet)
        self.work.remove()

    def abort(self) -> None:
        """Drop the open segment (its frames are redone on resume); closed ones stay."""
        if self._open is None:
            return
        container, _, k = self._open
        self._open = None
        with contextlib.suppress(Exception):
            container.close()
        with contextlib.suppress(OSError):
            self._segment(k).with_suffix(".part.nut").unlink()


_ENCODERS = {"h264": "libx264", "ffv1": "ffv1"}


def _pix_fmt(codec: str, image: Image) -> str:
    px = image.pixels
    gray = px.ndim == 2
    if px.dtype == np.uint16 and gray and codec == "ffv1":
        return "gray16le"
    if px.dtype != np.uint8:
        raise ImageError(f"video frames must be 8-bit, or 16-bit gray with FFV1; got "
                         f"{px.dtype} {'gray' if gray else 'colour'} (write a TIFF stack)")
    if codec == "h264":
        return "yuv420p"
    return "gray" if gray else ("bgra" if px.shape[2] == 4 else "bgr0")


def _video_frame(codec: str, image: Image):
    import av

    px = image.pixels
    fmt = _pix_fmt(codec, image)
    if fmt in ("gray", "gray16le"):
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(px), format=fmt)
    if fmt == "yuv420p" and px.ndim == 2:
        h, w = px.shape
        if h % 2 or w % 2:
            raise ImageError(f"H.264 needs an even frame size, got {w}x{h}: use --codec ffv1")
        chroma = np.full(h * w // 2, 128, np.uint8)
        return av.VideoFrame.from_ndarray(
            np.concatenate([px.ravel(), chroma]).reshape(h * 3 // 2, w), format="yuv420p")
    rgb = px[..., :3] if fmt != "bgra" else px
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb),
                                       format="rgba" if fmt == "bgra" else "rgb24")
    return frame.reformat(format=fmt)
