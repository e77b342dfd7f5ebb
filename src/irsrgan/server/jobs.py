"""Upscaling jobs and the thread pool that runs them.

A :class:`Job` (one image) or :class:`ClipJob` (one clip) holds its request, progress and,
once done, its result in memory; :class:`JobManager` queues them on worker threads, reports
progress, cancels, expires finished results and drops everything at shutdown. Nothing here
knows about HTTP: the routes of :mod:`.app` call these methods.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.nn import functional as F

from ..consistency import consistent_image
from ..denoise import anchored_tensor, anchors, default_strength, strength_for
from ..display import display_window
from ..errors import CheckpointError, ConfigError, IrsrganError
from ..image import Image, RangeMode, encode_image, from_tensor, to_tensor
from .catalog import CacheKey, ModelCache, round_alpha
from .previews import flir_info, preview_image, sharpness_figures, value_unit
from .settings import ServerConfig

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "cancelling", "done", "failed", "cancelled"]

MEDIA_TYPES = {"png": "image/png", "tiff": "image/tiff", "jpeg": "image/jpeg", "bmp": "image/bmp"}
SUFFIXES = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg", "bmp": ".bmp"}


class JobCancelled(Exception):
    """Raised from the progress callback to stop a job's inference."""


class QueueFull(IrsrganError):
    """Too many jobs are queued or running."""


@dataclass
class Job:
    """One upscaling request and, once done, its result (in memory)."""

    id: str
    name: str
    image: Image | None
    model_id: str
    alpha: float | None
    key: CacheKey
    scale: int
    denoise: dict | None = field(default=None, kw_only=True)
    tile: int | None
    range_mode: RangeMode
    input_info: dict
    ensemble: bool = False
    consistency: bool = False
    status: JobStatus = "queued"
    stage: str = "queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    error_kind: Literal["input", "internal"] | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: bytes | None = None
    preview: bytes | None = None
    preview_bicubic: bytes | None = None
    metrics: dict | None = None
    backend: str | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    future: concurrent.futures.Future | None = None

    @property
    def finished_state(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    @property
    def format(self) -> str:
        return str(self.input_info["format"])

    @property
    def anchored(self) -> bool:
        """Whether the output is level-anchored to the input: at a denoise strength that
        :func:`irsrgan.denoise.anchors` (as the CLI's pair and clips are)."""
        return self.denoise is not None and anchors(self.denoise["strength"])

    @property
    def filename(self) -> str:
        stem = self.name.rsplit(".", 1)[0] if "." in self.name else self.name
        # FLIR raw data is written as the CLI writes it: NAME.tiff
        suffix = ".tiff" if "flir" in self.input_info else SUFFIXES[self.format]
        return f"{stem or 'image'}_x{self.scale}{suffix}"

    def to_json(self) -> dict[str, Any]:
        fraction = self.done / self.total if self.total else (1.0 if self.status == "done" else 0.0)
        end = self.finished if self.finished is not None else time.time()
        base = f"/api/jobs/{self.id}"
        return {
            "id": self.id,
            "kind": "image",
            "status": self.status,
            "stage": self.stage,
            "name": self.name,
            "model": self.model_id,
            "alpha": self.alpha,
            "denoise": self.denoise,
            "scale": self.scale,
            "tile": self.tile,
            "ensemble": self.ensemble,
            "consistency": self.consistency,
            "backend": self.backend,
            "progress": {"done": self.done, "total": self.total, "fraction": round(fraction, 4),
                         "unit": "tiles"},
            "input": self.input_info,
            "output": self._output_json(),
            "metrics": self.metrics,
            "error": self.error,
            "created": self.created,
            "elapsed_s": round(end - self.started, 3) if self.started else None,
            "links": {
                "self": base, "result": f"{base}/result", "preview": f"{base}/preview",
                "preview_bicubic": f"{base}/preview?image=bicubic",
                "values": f"{base}/values",
            },
        }

    def _output_json(self) -> dict[str, Any]:
        return {
            "width": self.input_info["width"] * self.scale,
            "height": self.input_info["height"] * self.scale,
            "format": self.format,
            "dtype": self.input_info["dtype"],
            "filename": self.filename,
            "media_type": MEDIA_TYPES[self.format],
        }


CLIP_MEDIA_TYPES = {".mp4": "video/mp4", ".mkv": "video/x-matroska", ".mov": "video/quicktime",
                    ".avi": "video/x-msvideo", ".tif": "image/tiff", ".tiff": "image/tiff"}


@dataclass
class ClipJob(Job):
    """One clip: its upload, output and previews live in ``folder`` (removed on release)."""

    folder: Path | None = None
    src: Path | None = None
    output: Path | None = None
    temporal: float = 0.5
    codec: str | None = None  # of a video output
    upscaling_since: float | None = None
    previews: dict[str, Path] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        stem = self.output.stem if self.output is not None else "clip"
        suffix = self.output.suffix if self.output is not None else ""
        return f"{stem}_x{self.scale}{suffix}"

    @property
    def format(self) -> str:
        return self.output.suffix.lstrip(".").lower() if self.output is not None else ""

    @property
    def media_type(self) -> str:
        return CLIP_MEDIA_TYPES.get(f".{self.format}", "application/octet-stream")

    def _output_json(self) -> dict[str, Any]:
        info = self.input_info
        return {"width": info["width"] * self.scale, "height": info["height"] * self.scale,
                "dtype": info["dtype"], "frames": info["frames"], "rate": info["rate"],
                "format": self.format, "codec": self.codec, "filename": self.filename,
                "media_type": self.media_type}

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        total = self.total or None
        fps = eta = None
        if self.upscaling_since is not None and self.done:
            end = self.finished if self.finished is not None else time.time()
            fps = self.done / max(end - self.upscaling_since, 1e-6)
            if total and self.status == "running":
                eta = max(0.0, (total - self.done) / fps)
        out.update(
            kind="clip", temporal=self.temporal, consistency=False, metrics=None,
            progress={**out["progress"], "unit": "frames",
                      "fps": None if fps is None else round(fps, 3),
                      "eta_s": None if eta is None else round(eta, 1)},
        )
        base = f"/api/jobs/{self.id}"
        out["links"] = {"self": base, "result": f"{base}/result",
                        "preview": f"{base}/preview",
                        "preview_bicubic": f"{base}/preview?image=bicubic"}
        return out


def _remove_folder(job: Job) -> None:
    if isinstance(job, ClipJob) and job.folder is not None:
        shutil.rmtree(job.folder, ignore_errors=True)
        job.folder = None


class JobManager:
    """Jobs in a thread pool: submit, progress, cancel, results in memory, expiry."""

    def __init__(self, cache: ModelCache, config: ServerConfig) -> None:
        self.cache = cache
        self.config = config
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.config.workers, thread_name_prefix="irsrgan-job"
                )

    def preload(self, model_id: str) -> None:
        self.start()
        key = self.cache.key(model_id, None)

        def load() -> None:
            try:
                self.cache.get(key)
            except Exception as exc:  # reported again, clearly, by the first job that needs it
                log.warning("could not preload model %s: %s", model_id, exc)

        assert self._executor is not None
        self._executor.submit(load)

    def shutdown(self) -> None:
        """Cancel every job, stop the threads, drop all results and models."""
        with self._lock:
            jobs = list(self.jobs.values())
            executor, self._executor = self._executor, None
        for job in jobs:
            job.cancel_event.set()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for job in self.jobs.values():
                _drop_data(job)
            self.jobs.clear()
        self.cache.clear()

    # ---------------------------------------------------------------- jobs
    def submit(
        self, image: Image, name: str, model_id: str, alpha: float | None, tile: int | None,
        range_mode: RangeMode, ensemble: bool = False, denoise: str | None = None,
        consistency: bool | None = None,
    ) -> Job:
        info = self.cache.catalog.get(model_id)
        denoised = None
        faithful = info is not None and info.denoise_pair is not None and (
            info.denoise_pair[0] == model_id or denoise is not None)
        if faithful and alpha is None:
            # a faithful model with its robust partner: the strength the CLI would use (the
            # robust model itself runs plain unless a strength is asked for)
            requested = default_strength(denoise, image.pixels.dtype)
            strength, level = strength_for(image, requested, range_mode, info.scale)
            key = self.cache.key(model_id, strength, denoise=True)
            denoised = {"requested": requested, "strength": strength,
                        "noise": None if level is None else round(level.effective, 6)}
        elif denoise is not None:
            raise ConfigError(f"denoise needs a faithful/robust model pair; model {model_id!r} "
                              "has none" if info is None or info.denoise_pair is None else
                              "give alpha or denoise, not both")
        else:
            key = self.cache.key(model_id, alpha)
        px = image.pixels
        job = Job(
            id=secrets.token_urlsafe(12), name=name, image=image, model_id=model_id,
            alpha=None if alpha is None else round_alpha(alpha), denoise=denoised,
            key=key, scale=info.scale, tile=tile, range_mode=range_mode, ensemble=ensemble,
            # as `irsrgan upscale`: on by default for 16-bit and float (temperature) data
            consistency=image.dtype != np.uint8 if consistency is None else consistency,
            input_info={
                "width": image.width, "height": image.height, "dtype": str(px.dtype),
                "format": image.format, "layout": image.layout,
                "channels": 1 if px.ndim == 2 else int(px.shape[2]),
                "flir_preview": image.flir_preview,
                "unit": value_unit(image),
                **({"flir": flir_info(image)} if image.flir is not None else {}),
            },
        )
        return self._enqueue(job)

    def submit_clip(self, job: ClipJob) -> ClipJob:
        """Queue a clip job made by the ``/api/clips`` route (its folder holds the upload)."""
        return self._enqueue(job)

    def _enqueue(self, job: Job) -> Job:
        """Hold ``job`` (room made, or :class:`QueueFull`) and hand it to a worker thread."""
        self.start()
        with self._lock:
            self._make_room_locked()
            self.jobs[job.id] = job
            assert self._executor is not None
            job.future = self._executor.submit(self._run, job)
        return job

    def _make_room_locked(self) -> None:
        self._sweep_locked()
        if len(self.jobs) >= self.config.max_jobs:
            finished = sorted(
                (j for j in self.jobs.values() if j.finished_state),
                key=lambda j: j.finished or 0.0,
            )
            if not finished:
                raise QueueFull(
                    f"too many jobs: {len(self.jobs)} are queued or running (the limit is "
                    f"{self.config.max_jobs}); wait for one to finish or cancel one"
                )
            dropped = finished[0]
            _drop_data(dropped)
            del self.jobs[dropped.id]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._sweep_locked()
            return self.jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        """Ask a queued or running job to stop (it stops at its next batch of tiles)."""
        with self._lock:
            if job.finished_state:
                return
            job.cancel_event.set()
            if job.future is not None and job.future.cancel():
                self._finish(job, "cancelled")
            else:
                job.status = "cancelling"

    def release(self, job: Job) -> None:
        """Forget a job and its data (cancelling it first if still active)."""
        self.cancel(job)
        with self._lock:
            _drop_data(job)
            self.jobs.pop(job.id, None)

    def counts(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for job in self.jobs.values():
                out[job.status] = out.get(job.status, 0) + 1
            return out

    def _sweep_locked(self) -> None:
        now = time.time()
        expired = [
            j for j in self.jobs.values()
            if j.finished_state and j.finished is not None
            and now - j.finished >= self.config.result_ttl
        ]
        for job in expired:
            _drop_data(job)
            del self.jobs[job.id]

    def _finish(self, job: Job, status: JobStatus, error: str | None = None) -> None:
        if error and isinstance(job, ClipJob) and job.folder is not None:
            error = error.replace(f"{job.folder}/", "")  # no server paths in messages
        job.status = status
        job.stage = status
        job.error = error
        job.finished = time.time()
        job.image = None
        if status != "done" or job.id not in self.jobs:  # failed, or released meanwhile
            _drop_data(job)

    # ---------------------------------------------------------------- the worker
    def _run(self, job: Job) -> None:
        try:
            if isinstance(job, ClipJob):
                self._work_clip(job)
            else:
                self._work(job)
        except JobCancelled:
            with self._lock:
                self._finish(job, "cancelled")
        except CheckpointError as exc:  # a served model file is broken: not the user's fault
            log.error("job %s: model %s cannot be loaded: %s", job.id, job.model_id, exc)
            with self._lock:
                job.error_kind = "internal"
                self._finish(job, "failed", f"model {job.model_id} cannot be loaded: {exc}")
        except IrsrganError as exc:
            with self._lock:
                job.error_kind = "input"
                self._finish(job, "failed", str(exc))
        except MemoryError:
            with self._lock:
                job.error_kind = "internal"
                self._finish(job, "failed", "out of memory: try a smaller image or tile")
        except Exception as exc:
            log.exception("job %s failed", job.id)
            with self._lock:
                job.error_kind = "internal"
                self._finish(job, "failed", f"internal error: {type(exc).__name__}: {exc}")

    def _check(self, job: Job) -> None:
        if job.cancel_event.is_set():
            raise JobCancelled

    def _start(self, job: Job) -> Any:
        """Mark ``job`` running and return its upscaler with the job's tile and ensemble."""
        with self._lock:
            self._check(job)
            job.status, job.stage, job.started = "running", "loading model", time.time()
        upscaler = self.cache.get(job.key)
        self._check(job)
        if (job.tile is not None and job.tile != upscaler.tile) or job.ensemble:
            upscaler = copy.copy(upscaler)  # shares the model (and ONNX session), not settings
            if job.tile is not None:
                upscaler.tile = job.tile
            upscaler.ensemble = job.ensemble
        job.backend = upscaler.backend
        return upscaler

    def _work(self, job: Job) -> None:
        upscaler = self._start(job)
        image = job.image
        if image is None:  # released meanwhile
            raise JobCancelled
        with self._lock:
            job.stage = "upscaling"
        lr, vmap = to_tensor(image, job.range_mode)

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total
            if job.cancel_event.is_set():
                raise JobCancelled

        sr = upscaler.upscale(lr, progress)
        if job.anchored:
            sr = anchored_tensor(sr, lr)  # as the CLI's pair does (irsrgan.denoise)
        self._check(job)
        with self._lock:
            job.stage = "encoding"
        out = from_tensor(sr, image, vmap)
        if job.consistency:
            out = consistent_image(out, image)
        result = encode_image(out)
        bicubic = F.interpolate(lr, scale_factor=upscaler.scale, mode="bicubic",
                                align_corners=False)
        window = display_window(lr, image.dtype)
        preview = encode_image(preview_image(sr, image, vmap, window))
        preview_bicubic = encode_image(preview_image(bicubic, image, vmap, window))
        metrics = sharpness_figures(sr, bicubic)
        with self._lock:
            self._check(job)
            job.result, job.preview, job.preview_bicubic = result, preview, preview_bicubic
            job.metrics = metrics
            self._finish(job, "done")

    def _work_clip(self, job: ClipJob) -> None:
        """Upscale a clip with :func:`irsrgan.sequences.upscale_sequence` (the CLI's path), the
        previews written as the frames come."""
        from ..sequences import ClipLimits, upscale_sequence
        from ..sequences.preview import ClipPreview

        upscaler = self._start(job)
        assert job.folder is not None and job.src is not None and job.output is not None
        rate = job.input_info.get("rate")
        preview = ClipPreview(job.previews["bicubic"], job.previews["result"],
                              None if rate is None else Fraction(rate).limit_denominator(100_000))

        def on_frame(position: int, frame: Any, image: Image) -> None:
            preview.add(frame.image, image)
            job.done = position + 1
            if job.cancel_event.is_set():
                raise JobCancelled

        with self._lock:
            job.stage, job.upscaling_since = "upscaling", time.time()
        limits = ClipLimits(max_frames=self.config.max_clip_frames,
                            max_seconds=self.config.max_clip_seconds)
        try:
            upscale_sequence(
                job.src, job.output, upscaler, range_mode=job.range_mode, progress=False,
                temporal=job.temporal, limits=limits, max_pixels=self.config.max_clip_pixels,
                on_frame=on_frame, job={"model": job.model_id, "alpha": job.alpha},
                anchor=job.anchored,
            )
            preview.close()
        except BaseException:
            preview.abort()
            raise
        finally:
            with contextlib.suppress(OSError):
                job.src.unlink()  # the upload is no longer needed
        with self._lock:
            self._check(job)
            job.total = job.done
            self._finish(job, "done")


def _drop_data(job: Job) -> None:
    job.image = None
    job.result = job.preview = job.preview_bicubic = None
    if job.status not in ("running", "cancelling"):  # else the worker removes it when it stops
        _remove_folder(job)
