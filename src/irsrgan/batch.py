"""Apply a per-image function to files and folders, mirroring the tree under an output folder.

Shared by ``irsrgan upscale`` and ``irsrgan degrade``: outputs keep their input's name, are
written atomically, an existing output is skipped unless ``overwrite``, an input is never
overwritten, and one bad file is reported while the rest are processed. Planning never stops at
one input either: a missing input, a broken symbolic link or a link loop becomes a job that is
reported as failed. An output folder inside an input folder is left out of the walk (so a rerun
does not upscale the previous outputs). An output is written in the format its name says.
"""

from __future__ import annotations

import errno
import os
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import ConfigError, IrsrganError
from .flir import flir_fff
from .image import IMAGE_SUFFIXES, Image, as_format, read_image, write_image
from .streaming import ImageRows, check_assembly, streamable, write_rows


@dataclass(frozen=True)
class FileJob:
    src: Path
    dst: Path
    name: str  # the input's path relative to its folder (or its file name)
    error: str | None = None  # a problem found while planning: reported, never read


@dataclass
class BatchResult:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    flir_previews: list[Path] = field(default_factory=list)  # FLIR R-JPEGs read as preview
    seconds: float = 0.0  # wall time of the whole batch
    output_pixels: int = 0  # pixels written (width x height, summed over the outputs)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict:
        """Plain lists and numbers (to send between processes)."""
        return {"done": [str(p) for p in self.done], "skipped": [str(p) for p in self.skipped],
                "failed": [[str(p), why] for p, why in self.failed],
                "flir_previews": [str(p) for p in self.flir_previews],
                "seconds": self.seconds, "output_pixels": self.output_pixels}

    @classmethod
    def combined(cls, parts: Sequence[dict]) -> BatchResult:
        """One result from the :meth:`to_json` of several processes run side by side (their
        wall time is the longest one's)."""
        out = cls()
        for part in parts:
            out.done += [Path(p) for p in part["done"]]
            out.skipped += [Path(p) for p in part["skipped"]]
            out.failed += [(Path(p), why) for p, why in part["failed"]]
            out.flir_previews += [Path(p) for p in part["flir_previews"]]
            out.seconds = max(out.seconds, part["seconds"])
            out.output_pixels += part["output_pixels"]
        return out

    def summary(self) -> str:
        lines = [
            f"{len(self.done)} written, {len(self.skipped)} skipped (output exists; "
            f"--overwrite to replace), {len(self.failed)} failed"
        ]
        if self.done and self.seconds > 0:
            lines.append(f"{self.seconds:.1f} s: {len(self.done) / self.seconds:.2f} images/s, "
                         f"{self.output_pixels / 1e6 / self.seconds:.2f} MP/s written")
        lines += [f"  FAILED {src}: {_without_name(why, src)}" for src, why in self.failed]
        if self.flir_previews:
            n = len(self.flir_previews)
            lines.append(
                f"note: {n} input(s) are FLIR radiometric JPEGs (e.g. {self.flir_previews[0]}); "
                "their 8-bit preview was processed, not the sensor data. --flir-raw reads the "
                "raw 16-bit counts instead (written as 16-bit TIFF).")
        return "\n".join(lines)


def plan_jobs(
    inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *, flir_raw: bool = False
) -> list[FileJob]:
    """Pair every input image with its output path.

    A single input file with an output that has an image suffix (and is not a folder) writes
    exactly there; otherwise ``output`` is a folder: files go in it by name, folders are
    mirrored under it. With ``flir_raw``, the output of a FLIR radiometric JPEG is a 16-bit TIFF
    of its raw counts: same stem, suffix ``.tiff``. Inputs that are missing, empty folders,
    broken links or link loops give jobs with ``error`` set.

    Raises:
        ConfigError: ``output`` (or a folder above it) is a file where a folder is needed.
    """
    output = Path(output)
    srcs = [Path(p) for p in inputs]
    if (len(srcs) == 1 and srcs[0].is_file() and output.suffix.lower() in IMAGE_SUFFIXES
            and not output.is_dir()):
        check_output_folder(output.parent)
        jobs = [FileJob(srcs[0], output, srcs[0].name)]
    else:
        check_output_folder(output)
        jobs = _folder_jobs(srcs, output)
    if flir_raw:
        jobs = [replace(j, dst=j.dst.with_suffix(".tiff"))
                if j.error is None and _is_flir_rjpeg(j.src) else j for j in jobs]
    return jobs


def check_output_folder(folder: Path) -> None:
    """Refuse an output folder that is (or lies under) an existing file, in one line."""
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                where = "is a file" if p == folder else f"lies under {p}, which is a file"
                raise ConfigError(f"output folder {folder} {where}, not a folder")
            return


def output_folder(jobs: Sequence[FileJob], output: Path) -> Path:
    """The folder the planned outputs go in: ``output``, or its parent for one output file."""
    return output.parent if len(jobs) == 1 and jobs[0].dst == output else output


def make_output_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) and check that files can be written in it.

    Raises:
        ConfigError: one line naming the folder and why it cannot be used.
    """
    check_output_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _try_write(folder)
    except OSError as exc:
        raise ConfigError(f"output folder {folder} is not writable: "
                          f"{exc.strerror or exc}") from None


def _try_write(folder: Path) -> None:
    import tempfile

    with tempfile.TemporaryFile(dir=folder):
        pass


def _is_flir_rjpeg(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            return head == b"\xff\xd8" and flir_fff(head + fh.read()) is not None
    except OSError:
        return False  # reported when the file is read


def _folder_jobs(srcs: list[Path], output: Path) -> list[FileJob]:
    jobs = []
    for src in srcs:
        if src.is_dir():
            found = list(walk_images(src, exclude=[output]))
            if not found:
                jobs.append(FileJob(src, output / src.name, src.name,
                                    error="folder holds no PNG, TIFF, JPEG or BMP files"))
            jobs += [FileJob(p, output / p.relative_to(src), p.relative_to(src).as_posix(),
                             error=problem) for p, problem in found]
        elif src.is_file():
            jobs.append(FileJob(src, output / src.name, src.name))
        else:
            jobs.append(FileJob(src, output / src.name, src.name, error=_missing(src)))
    return jobs


def _missing(path: Path) -> str:
    """Why ``path`` is neither a file nor a folder."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if path.is_symlink():
            return f"broken symbolic link (to {os.readlink(path)})"
        if exc.errno == errno.ENOENT:
            return "no such file or folder"
        return f"cannot read: {exc.strerror or exc}"
    return "not a file or folder"


def walk_images(root: Path, exclude: Sequence[Path] = ()) -> Iterator[tuple[Path, str | None]]:
    """``(path, problem)`` for the image files under ``root``, in sorted order.

    Symbolic links to folders are followed unless they point back to a folder above them
    (a loop, reported); broken links and link loops named like images are reported
    (``problem`` set); folders in ``exclude`` (an output folder) are skipped.
    """
    skip = {p.resolve() for p in exclude if p.exists()}

    def visit(folder: Path, above: frozenset[Path]) -> Iterator[tuple[Path, str | None]]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield folder, f"cannot list folder: {exc.strerror or exc}"
            return
        for entry in entries:
            path = Path(entry.path)
            if _is(entry.is_dir):  # follows links
                real = path.resolve()
                if real in skip:
                    continue
                if real in above:
                    yield path, f"symbolic link loop (back to {real}); not followed"
                    continue
                yield from visit(path, above | {real})
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                yield path, None if _is(entry.is_file) else _missing(path)

    yield from visit(root, frozenset({root.resolve()}))


def _is(test: Callable[[], bool]) -> bool:
    """``entry.is_dir()`` / ``is_file()``, False where the link cannot be followed (loops)."""
    try:
        return test()
    except OSError:
        return False


def default_max_pixels(bytes_per_pixel: int, *, share: float = 0.5) -> int:
    """The pixel limit that keeps one image within ``share`` of the available memory, for a
    command that needs ``bytes_per_pixel`` bytes per input pixel (decoded input, float copies,
    output): the CLI's default ``--max-pixels``."""
    import psutil

    return max(1, int(psutil.virtual_memory().available * share) // bytes_per_pixel)


def _without_name(message: str, src: Path) -> str:
    """A failure message without a leading ``src: `` (the summary prints the path once)."""
    prefix = f"{src}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def run_batch(
    jobs: Sequence[FileJob],
    process: Callable[[Image, FileJob], Image | ImageRows],
    *,
    overwrite: bool = False,
    progress: bool = True,
    desc: str = "images",
    max_pixels: int | None = None,
    jpeg_quality: int = 95,
    flir_raw: bool = False,
    part: tuple[int, int] = (0, 1),
) -> BatchResult:
    """Read each ``src``, apply ``process(image, job)``, write ``dst`` atomically; never stop
    at one failure.

    Pipelined: a thread reads and decodes the next input and another encodes and writes the
    previous output while ``process`` runs (at most one image ahead and one behind, so memory
    stays bounded). ``process`` may return an :class:`~irsrgan.streaming.ImageRows`, whose bands
    are computed here and handed to the writer as they come.

    ``part=(rank, world)`` processes only every ``world``-th job from ``rank`` (scale-out:
    each process writes its own share); every job is still checked, so that two inputs with
    one output are refused whichever process holds them.
    """
    rank, world = part
    result = BatchResult()
    started = time.perf_counter()
    todo: list[FileJob] = []
    seen: dict[Path, Path] = {}
    for index, job in enumerate(jobs):
        mine = index % world == rank
        if job.error is not None:
            if mine:
                result.failed.append((job.src, job.error))
            continue
        dst_key = job.dst.resolve()
        if dst_key == job.src.resolve():
            if mine:
                result.failed.append((job.src, "output path is the input itself; refusing "
                                      "to overwrite an input"))
            continue
        if dst_key in seen:
            if mine:
                result.failed.append((job.src, f"same output {job.dst} as {seen[dst_key]}"))
            continue
        seen[dst_key] = job.src
        if not mine:
            continue
        if job.dst.exists() and not overwrite:
            result.skipped.append(job.src)
            continue
        todo.append(job)

    def read(job: FileJob) -> Image:
        image = read_image(job.src, max_pixels=max_pixels, flir_raw=flir_raw)
        as_format(image, job.dst)  # refuse what the output's format cannot hold, early
        return image

    bar = tqdm(todo, desc=desc, unit="img", disable=not progress, dynamic_ncols=True)
    with ThreadPoolExecutor(1, "irsrgan-read") as reader, \
            ThreadPoolExecutor(1, "irsrgan-write") as writer:
        pending: list[tuple[FileJob, Future]] = []  # writes not yet reported, in order
        ahead = reader.submit(read, todo[0]) if todo else None
        for n, job in enumerate(bar):
            bar.set_postfix_str(job.src.name, refresh=False)
            current = ahead
            ahead = reader.submit(read, todo[n + 1]) if n + 1 < len(todo) else None
            try:
                image = current.result()
                if image.flir_preview:
                    result.flir_previews.append(job.src)
                out = process(image, job)
                job.dst.parent.mkdir(parents=True, exist_ok=True)
                # a whole image waits for the write before it; a streamed one may start while
                # the writer finishes the last bands of the previous one
                streamed = isinstance(out, ImageRows)
                while pending and (pending[0][1].done() or len(pending) > int(streamed)):
                    _report(result, *pending.pop(0))
                if streamed:
                    pending.append((job, _stream(writer, job.dst, out.as_format(job.dst),
                                                 jpeg_quality)))
                else:
                    out = as_format(out, job.dst)
                    pending.append((job, writer.submit(_write, job.dst, out, jpeg_quality)))
            except _REPORTED as exc:
                result.failed.append((job.src, _failure(exc, job)))
        for entry in pending:
            _report(result, *entry)
    result.seconds = time.perf_counter() - started
    return result


_REPORTED = (IrsrganError, OSError, RuntimeError, MemoryError)


def _failure(exc: BaseException, job: FileJob) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --tile or a lower --max-pixels)"
    if isinstance(exc, OSError) and not isinstance(exc, IrsrganError):
        return f"cannot write {job.dst}: {exc.strerror or exc}"
    return str(exc)


def _write(dst: Path, image: Image, jpeg_quality: int) -> int:
    write_image(dst, image, jpeg_quality=jpeg_quality)
    return image.width * image.height


def _report(result: BatchResult, job: FileJob, future: Future) -> None:
    try:
        pixels = future.result()
    except _REPORTED as exc:
        result.failed.append((job.src, _failure(exc, job)))
        return
    result.done.append(job.src)
    result.output_pixels += pixels


_END = object()


def _stream(writer: ThreadPoolExecutor, dst: Path, rows: ImageRows, jpeg_quality: int) -> Future:
    """Compute ``rows``' bands here while the writer thread encodes the ones before (two
    bands in flight at most). A failure on either side stops both and leaves no file. An
    output to be assembled in memory that cannot fit is refused before any band is computed."""
    if not streamable(rows):
        check_assembly(dst, rows)
    handoff: queue.Queue = queue.Queue(maxsize=2)

    def bands() -> Iterator[np.ndarray]:
        while (band := handoff.get()) is not _END:
            if isinstance(band, BaseException):
                raise band
            yield band

    def write() -> int:
        write_rows(dst, replace(rows, bands=bands()), jpeg_quality=jpeg_quality)
        return rows.width * rows.height

    future = writer.submit(write)

    def put(item) -> None:
        while not future.done():
            try:
                handoff.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    try:
        for band in rows.bands:
            if future.done():  # the writer failed: stop computing
                break
            put(band)
    except BaseException as exc:
        put(exc)
        future.exception()  # wait: the temporary file is gone when this returns
        raise
    put(_END)
    return future
