"""Upscale one sequence into an output of the same kind, streaming and resumable.

``read (thread) -> Upscaler.upscale_frames -> write (thread)``: decoding and encoding overlap
with the model, each through a queue of a few frames, so memory does not depend on the clip's
length. A stopped job (Ctrl-C, a crash, a kill) keeps its finished frames
(:mod:`irsrgan.sequences.writers`); running the same command again decodes up to the first
missing frame without upscaling anything before it and carries on from there.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..consistency import consistent_image
from ..errors import ConfigError, ImageError
from ..image import IMAGE_SUFFIXES, Image, RangeMode, ValueMap, value_map_for
from ..radiometry import UNIT_SYMBOLS, ZERO_CELSIUS
from .frames import Frame, Selection, SequenceInfo
from .limits import ClipLimits
from .readers import FolderReader, open_sequence
from .units import FLIR_KINDS, check_units, converts, frames_in_units
from .writers import (
    DEFAULT_SEGMENT_FRAMES,
    TIFF_SUFFIXES,
    VIDEO_SUFFIXES,
    Codec,
    FolderOutput,
    TiffStackOutput,
    VideoOutput,
    choose_codec,
)

if TYPE_CHECKING:
    from ..inference import Upscaler

#: frames waiting between the reader, the model and the writer (each way)
QUEUE_FRAMES = 4
#: the value map of a 16-bit or float clip spans the values of its first this many frames
VALUE_MAP_FRAMES = 16


@dataclass
class SequenceResult:
    src: Path
    output: Path
    written: int = 0  # frames upscaled by this run
    resumed: int = 0  # frames found finished from an earlier run
    skipped: bool = False  # the output existed (overwrite was off)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.src}: skipped, {self.output} exists (--overwrite to replace)"
        resumed = f" (resumed after {self.resumed} finished)" if self.resumed else ""
        lines = [f"{self.src} -> {self.output}: {self.written} frames upscaled{resumed}"]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def output_path(src: Path, info: SequenceInfo, output: Path,
                units: str = "counts") -> tuple[Path, list[str]]:
    """Where the upscaled sequence goes, and notes on choices made.

    ``output`` with a video or TIFF suffix is the file itself; otherwise it is a folder that
    receives a copy of the same kind named like the input: a video keeps its name (16-bit
    video becomes ``.mkv``: only FFV1 keeps 16 bits), a TIFF stack its name, a frame folder
    its name (with the same frame names), and FLIR SEQ/CSQ become a TIFF stack, ``STEM.tiff``:
    16-bit raw counts, or float32 temperatures with ``units`` other than ``counts``.
    """
    suffix = output.suffix.lower()
    if suffix in VIDEO_SUFFIXES or suffix in TIFF_SUFFIXES:
        return output, []
    if suffix in IMAGE_SUFFIXES:
        raise ConfigError(f"-o {output}: a sequence cannot be written as one {suffix} image: "
                          "give NAME.mkv, .mp4, .mov, .avi, .tiff or a folder")
    notes = []
    if info.kind == "video":
        name = src.name
        if info.dtype.itemsize > 1 and src.suffix.lower() not in (".mkv", ".avi"):
            name = src.stem + ".mkv"
            notes.append(f"16-bit video is written as lossless FFV1 in Matroska: {name}")
        return output / name, notes
    if info.kind in FLIR_KINDS:
        if units == "counts":
            notes.append("FLIR SEQ/CSQ raw counts are written as a 16-bit TIFF stack (or give "
                         "-o NAME.mkv for lossless FFV1 video)")
        else:
            notes.append(f"FLIR SEQ/CSQ temperatures ({units}) are written as a float32 TIFF "
                         "stack")
        return output / (src.stem + ".tiff"), notes
    return output / src.name, notes


def _output_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    return "folder"


def _prefetch(items: Iterable, size: int) -> Iterator:
    """Iterate ``items`` in a background thread, ``size`` ahead; errors are re-raised here."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    end = object()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", end))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(("error", exc))

    thread = threading.Thread(target=work, daemon=True, name="irsrgan-read")
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


class _BackgroundWriter:
    """Runs ``write(position, frame, image)`` calls in one thread, in order."""

    def __init__(self, write: Callable, size: int) -> None:
        self.write = write
        self.q: queue.Queue = queue.Queue(maxsize=size)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, daemon=True, name="irsrgan-write")
        self.thread.start()

    def _work(self) -> None:
        while True:
            job = self.q.get()
            if job is None:
                return
            if self.error is None:
                try:
                    self.write(*job)
                except BaseException as exc:  # noqa: BLE001 - re-raised in put/close
                    self.error = exc

    def put(self, *job) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(job)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def upscale_sequence(
    src: str | os.PathLike,
    output: str | os.PathLike,
    upscaler: Upscaler,
    *,
    selection: Selection | None = None,
    codec: Codec = "auto",
    range_mode: RangeMode = "auto",
    overwrite: bool = False,
    progress: bool = True,
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
    max_pixels: int | None = None,
    job: dict | None = None,
    temporal: float = 0.0,
    process: Callable[[Iterator], Iterator] | None = None,
    limits: ClipLimits | None = None,
    on_frame: Callable[[int, Frame, Image], None] | None = None,
    units: str = "counts",
    emissivity: float | None = None,
    reflected_temp_c: float | None = None,
    consistency: bool = False,
    anchor: bool = False,
) -> SequenceResult:
    """Upscale the sequence ``src`` into ``output`` (a file or folder of the kind its suffix
    says; see :func:`output_path` for choosing it).

    Args:
        selection: source frames to process (``--start``, ``--end``, ``--every``).
        codec: for video output: ``auto``, ``h264`` or ``ffv1``.
        range_mode: as :meth:`Upscaler.upscale_frames` (``auto``: one map for the clip).
        overwrite: replace an existing output and discard an interrupted job's frames.
        segment_frames: video frames per resumable segment.
        temporal: temporal blend strength on static pixels (0: off; see
            :mod:`irsrgan.sequences.temporal`); a resumed job restarts the blend at the first
            missing frame.
        job: what else identifies the job (the model...), stored in the work folder: a job
            is only resumed by a run with the same description.
        process: replaces ``upscaler.upscale_frames`` (images in, images out; tests and
            filters use it).
        limits: the most frames and seconds the source may hold, checked from its header
            before decoding, then while reading (:class:`~irsrgan.sequences.limits.ClipLimits`).
        on_frame: called as ``on_frame(position, source_frame, upscaled_image)`` after each
            frame is upscaled (progress, previews); an exception it raises stops the job as an
            interruption does.
        units: ``counts`` (default: the frames as read), or for FLIR SEQ/CSQ ``celsius``,
            ``kelvin`` or ``fahrenheit``: each frame converted to float32 temperatures with
            its own camera constants before upscaling, as stills are
            (:func:`irsrgan.radiometry.image_in_units`); needs a TIFF stack output.
        emissivity, reflected_temp_c: FLIR overrides of every frame's constants (as stills'
            ``--emissivity`` and ``--reflected-temp``, degC); with ``counts`` they are only
            recorded in each page's description.
        consistency: correct every output frame so that the mean of each SxS block equals
            its input pixel (:func:`irsrgan.consistency.consistent_image`, as stills'
            ``--consistency``), after the temporal blend; off by default for clips, since it
            puts each frame's own noise back into the static pixels the blend steadies.
        anchor: level-anchor every output frame to its input frame before the temporal
            blend, as the denoise pair does for stills at strengths above 0
            (:meth:`Upscaler.upscale_frames`, :func:`irsrgan.denoise.anchors`).

    Raises:
        ImageError, ConfigError: unreadable input, unsupported output, or an interrupted job
            with other settings in the way.
        SequenceTooLongError: the source is past ``limits``.
    """
    src, output = Path(src), Path(output)
    selection = selection or Selection()
    result = SequenceResult(src, output)
    if output.resolve() == src.resolve():
        raise ConfigError(f"{output}: the output is the input itself; refusing to overwrite it")
    if output.exists() and not overwrite and _output_kind(output) != "folder":
        result.skipped = True
        return result
    kind = _output_kind(output)
    with open_sequence(src, max_pixels=max_pixels) as reader:
        info = reader.info
        check_units(src, info, output, kind, units, emissivity, reflected_temp_c)
        result.notes += [f"{d} dropped (only the video is upscaled)" for d in info.dropped]
        source = reader.frames()
        if limits is not None:
            limits.check(info)
            source = limits.guard(source, info)
        frames = selection.apply(source)
        if converts(units, emissivity, reflected_temp_c):
            frames = frames_in_units(frames, src, units, emissivity, reflected_temp_c)
        first = next(frames, None)
        if first is None:
            raise ConfigError(f"{src}: the selection (--start/--end/--every) holds no frames "
                              f"of {info.frames if info.frames is not None else 'its'} frames")
        if units != "counts":
            result.notes.append(units_note(first.image, units))
        head = [first, *itertools.islice(frames, VALUE_MAP_FRAMES - 1)]
        vmap = None if range_mode == "stretch" else clip_value_map(
            [f.image for f in head], range_mode)
        frames = itertools.chain(head[1:], frames)
        description = {
            "input": str(src.resolve()), "input_bytes": _size(src), "kind": info.kind,
            "start": selection.start, "end": selection.end, "every": selection.every,
            "range_mode": range_mode, "value_map": [vmap.offset, vmap.scale] if vmap else None,
            "temporal": temporal,
            **({"units": units, "emissivity": emissivity, "reflected_temp_c": reflected_temp_c}
               if converts(units, emissivity, reflected_temp_c) else {}),
            **({"consistency": True} if consistency else {}),
            **({"anchor": True} if anchor else {}),
            **(job or {}),
        }
        out = _open_output(kind, output, src, reader, info, selection, description, codec,
                           first, overwrite, segment_frames)
        result.resumed = out.finished
        total = selection.count(info.estimated_frames())
        bar = tqdm(total=total, initial=out.finished, unit="frame", disable=not progress,
                   desc=src.name, dynamic_ncols=True, smoothing=0.1)
        pending = _positions(_chain(first, frames), out.finished)
        positions: list[tuple[int, Frame]] = []

        def images():
            for position, frame in _prefetch(pending, QUEUE_FRAMES):
                positions.append((position, frame))
                yield frame.image

        upscale = process or (lambda it: upscaler.upscale_frames(
            it, range_mode=range_mode, value_map=vmap, temporal=temporal, anchor=anchor))
        writer = _BackgroundWriter(out.write, QUEUE_FRAMES)
        try:
            for image in upscale(images()):
                position, frame = positions.pop(0)
                if consistency:
                    image = consistent_image(image, frame.image)
                writer.put(position, frame, image)
                if on_frame is not None:
                    on_frame(position, frame, image)
                result.written += 1
                bar.update(1)
            writer.close()
            out.finish()
        except BaseException:
            with contextlib.suppress(BaseException):  # the first error is the one to report
                writer.close()
            out.abort()
            raise
        finally:
            bar.close()
    if kind == "video" and info.kind != "video" and info.rate is None:
        result.notes.append(f"{src} has no frame times: the video runs at 25 frames/s")
    return result


def units_note(image: Image, units: str) -> str:
    """What the temperatures were converted with (the first selected frame's constants)."""
    cam = image.flir.camera
    return (f"float32 {UNIT_SYMBOLS[units]}, each frame converted with its own camera "
            f"constants (first: emissivity {cam.emissivity:.3g}, reflected "
            f"{cam.reflected_apparent_temperature - ZERO_CELSIUS:.2f} degC)")


def clip_value_map(images: list[Image], range_mode: RangeMode = "auto") -> ValueMap:
    """One value map for a clip from its first frames: :func:`~irsrgan.image.value_map_for`
    of each, spanning them all (8-bit: the dtype's range; a flat first frame, such as a
    camera's shutter frame, does not set the clip's scale on its own)."""
    maps = [value_map_for(image.channels(), range_mode) for image in images]
    if all(m == maps[0] for m in maps):
        return maps[0]
    lo = min(m.offset for m in maps)
    hi = max(m.offset + m.scale for m in maps)
    return ValueMap(offset=lo, scale=hi - lo)


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


def _chain(first: Frame, rest: Iterator[Frame]) -> Iterator[Frame]:
    yield first
    yield from rest


def _positions(frames: Iterator[Frame], finished: int) -> Iterator[tuple[int, Frame]]:
    for position, frame in enumerate(frames):
        if position >= finished:
            yield position, frame


def _open_output(kind, output, src, reader, info, selection, description, codec, first,
                 overwrite, segment_frames):
    if kind == "folder":
        if not isinstance(reader, FolderReader):
            raise ConfigError(f"{output}: give a video (.mkv, .mp4, .mov, .avi) or TIFF (.tiff) "
                              f"output for {src}; frame folders are written from frame folders")
        names = [n for i, n in enumerate(reader.names()) if selection.keeps(i)]
        return FolderOutput(output, names, overwrite=overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    if kind == "tiff":
        return TiffStackOutput(output, description, overwrite=overwrite)
    chosen = choose_codec(codec, info.dtype, output.suffix, info.codec)
    if info.layout not in ("gray",) and info.dtype.itemsize > 1:
        raise ImageError(f"{src}: 16-bit colour frames cannot go into a video: write a TIFF "
                         "stack (-o NAME.tiff)")
    return VideoOutput(
        output, {**description, "codec": chosen}, codec=chosen, time_base=info.time_base,
        rate=info.rate / selection.every if info.rate else None, first_pts=first.pts,
        overwrite=overwrite, segment_frames=segment_frames,
    )
