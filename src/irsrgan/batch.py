"""Apply a per-image function to files and folders, mirroring the tree under an output folder.

Shared by ``irsrgan upscale`` and ``irsrgan degrade``: outputs keep their input's name, are
written atomically, an existing output is skipped unless ``overwrite``, an input is never
overwritten, and one bad file is reported while the rest are processed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from .errors import ImageError
from .flir import flir_fff
from .image import IMAGE_SUFFIXES, Image, read_image, write_image


@dataclass(frozen=True)
class FileJob:
    src: Path
    dst: Path
    name: str  # the input's path relative to its folder (or its file name)


@dataclass
class BatchResult:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    flir_previews: list[Path] = field(default_factory=list)  # FLIR R-JPEGs read as preview

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [
            f"{len(self.done)} written, {len(self.skipped)} skipped (output exists; "
            f"--overwrite to replace), {len(self.failed)} failed"
        ]
        lines += [f"  FAILED {src}: {why}" for src, why in self.failed]
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

    A single input file with an output that has an image suffix writes exactly there;
    otherwise ``output`` is a folder: files go in it by name, folders are mirrored under it.
    With ``flir_raw``, the output of a FLIR radiometric JPEG is a 16-bit TIFF of its raw
    counts: same stem, suffix ``.tiff``.

    Raises:
        ImageError: an input does not exist or a folder holds no images.
    """
    output = Path(output)
    srcs = [Path(p) for p in inputs]
    if len(srcs) == 1 and srcs[0].is_file() and output.suffix.lower() in IMAGE_SUFFIXES:
        jobs = [FileJob(srcs[0], output, srcs[0].name)]
    else:
        jobs = _folder_jobs(srcs, output)
    if flir_raw:
        jobs = [replace(j, dst=j.dst.with_suffix(".tiff")) if _is_flir_rjpeg(j.src) else j
                for j in jobs]
    return jobs


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
            files = sorted(
                p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                raise ImageError(f"{src}: folder holds no PNG, TIFF, JPEG or BMP files")
            jobs += [FileJob(p, output / p.relative_to(src), p.relative_to(src).as_posix())
                     for p in files]
        elif src.is_file():
            jobs.append(FileJob(src, output / src.name, src.name))
        else:
            raise ImageError(f"{src}: no such file or folder")
    return jobs


def run_batch(
    jobs: Sequence[FileJob],
    process: Callable[[Image, FileJob], Image],
    *,
    overwrite: bool = False,
    progress: bool = True,
    desc: str = "images",
    max_pixels: int | None = None,
    jpeg_quality: int = 95,
    flir_raw: bool = False,
) -> BatchResult:
    """Read each ``src``, apply ``process(image, job)``, write ``dst`` atomically; never stop
    at one failure."""
    result = BatchResult()
    seen: dict[Path, Path] = {}
    bar = tqdm(jobs, desc=desc, unit="img", disable=not progress, dynamic_ncols=True)
    for job in bar:
        bar.set_postfix_str(job.src.name, refresh=False)
        dst_key = job.dst.resolve()
        if dst_key == job.src.resolve():
            result.failed.append((job.src, "output path is the input itself; refusing to "
                                  "overwrite an input"))
            continue
        if dst_key in seen:
            result.failed.append((job.src, f"same output {job.dst} as {seen[dst_key]}"))
            continue
        seen[dst_key] = job.src
        if job.dst.exists() and not overwrite:
            result.skipped.append(job.src)
            continue
        try:
            image = read_image(job.src, max_pixels=max_pixels, flir_raw=flir_raw)
            if image.flir_preview:
                result.flir_previews.append(job.src)
            out = process(image, job)
            job.dst.parent.mkdir(parents=True, exist_ok=True)
            write_image(job.dst, out, jpeg_quality=jpeg_quality)
        except (ImageError, ValueError, OSError, RuntimeError) as exc:
            msg = str(exc)
            if isinstance(exc, OSError) and not isinstance(exc, ImageError):
                msg = f"cannot write {job.dst}: {exc.strerror or exc}"
            result.failed.append((job.src, msg))
            continue
        result.done.append(job.src)
    return result
