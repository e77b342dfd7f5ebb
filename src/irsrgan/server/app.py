"""A local web app and HTTP API for upscaling thermal images (FastAPI).

``create_app(ServerConfig(...))`` builds the application; ``irsrgan serve`` runs it with uvicorn.

* ``GET /``: a single self-contained page (``irsrgan/web/``; no CDN, no build step).
* ``GET /api/health``, ``GET /api/models``.
* ``POST /api/upscale``: multipart image in, upscaled file out (synchronous, for scripts).
* ``POST /api/jobs`` -> job id; ``GET /api/jobs/{id}`` (status, tiles done); ``DELETE`` cancels
  or releases; ``GET /api/jobs/{id}/result`` (the file, in the input's format and bit depth);
  ``GET /api/jobs/{id}/preview`` (an 8-bit display-stretched PNG of the result or of bicubic).
* ``POST /api/clips`` -> job id: a clip (video, TIFF stack, FLIR SEQ/CSQ) upscaled by
  :func:`irsrgan.sequences.upscale_sequence`, followed with the same ``/api/jobs/{id}`` routes
  (progress in frames; previews are 8-bit H.264 MP4s).

Inference runs in a thread pool (the event loop only parses requests and copies bytes), on one
:class:`~irsrgan.inference.Upscaler` per ``(model, alpha)`` kept in a small LRU cache. Results
live in memory only and are dropped when fetched, deleted, cancelled, expired or at shutdown;
the server writes no files for them (large multipart uploads are spooled by the multipart
parser to the system temporary folder and removed with the request). A clip job works in its own
temporary folder (the upload, the output, the previews), removed when the job is released.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import logging
import math
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from torch import nn
from torch.nn import functional as F

from .. import __version__
from ..checkpoint import (
    DEFAULT_MODEL,
    bundled_models,
    check_model_file,
    load_model,
    read_generator_state,
    read_metadata,
    resolve_model_path,
)
from ..consistency import consistent_image
from ..denoise import default_strength, parse_strength, strength_for
from ..errors import (
    CheckpointError,
    ConfigError,
    ImageError,
    ImageTooLargeError,
    IrsrganError,
    SequenceTooLongError,
)
from ..image import (
    BT601_LUMA,
    Image,
    RangeMode,
    ValueMap,
    decode_image,
    encode_image,
    from_tensor,
    sniff_format,
    to_tensor,
)
from ..inference import MAX_OVERLAP, Upscaler, pick_device
from ..interpolate import interpolate_models
from ..metrics import laplacian_variance
from ..radiometry import UNIT_SYMBOLS, Units, image_in_units

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "cancelling", "done", "failed", "cancelled"]

MEDIA_TYPES = {"png": "image/png", "tiff": "image/tiff", "jpeg": "image/jpeg", "bmp": "image/bmp"}
SUFFIXES = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg", "bmp": ".bmp"}
ALPHA_STEP = 0.01  # interpolation weights are rounded to this (one cache entry per step)
METRIC_SIDE = 2048  # sharpness figures use at most the central METRIC_SIDE^2 output pixels
PREVIEW_PERCENTILES = (0.5, 99.5)  # display stretch of 16-bit and float images
MAX_TILE = 8192
_PAIR_NAME = re.compile(r"^(?P<base>.+)-psnr-(?P<scale>x\d+)$")
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


# ============================================================================ configuration
@dataclass(frozen=True)
class ServerConfig:
    """Settings of one server.

    Args:
        models: model files or bundled names to offer besides the bundled models; the first is
            the default model.
        include_bundled: offer the models shipped in the package.
        default_model: the id of the default model (else the first of ``models``, else
            ``irsrgan-faithful-x4`` (DEFAULT_MODEL) when bundled, else the first listed).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        tile: LR tile side used when a request gives none (None: from free memory).
        overlap: LR tile overlap (see :class:`~irsrgan.inference.Upscaler`).
        batch_size: tiles per forward pass (progress is reported per batch).
        backend: the Upscaler's backend (``auto`` uses ONNX Runtime on CPU when installed).
        workers: inference threads: this many jobs run at once, the rest wait in a queue.
        max_upload_bytes: largest request body accepted (413 beyond).
        max_pixels: largest input image in pixels (width x height; 413 beyond), checked from
            the file header before decoding.
        max_jobs: jobs held at once (queued, running and finished results awaiting download);
            when full, the oldest finished jobs are dropped, and a new job is refused (429)
            only when all are still queued or running.
        result_ttl: seconds a finished job's result is kept when nobody fetches it.
        cache_size: upscalers (loaded or interpolated models) kept in memory.
        allowed_hosts: accepted ``Host`` headers (None: any); a server bound to localhost
            should accept only local names, which stops DNS-rebinding pages from reading it.
        preload: load the default model in the background at start-up.
        max_clip_bytes: largest clip upload (413 beyond, refused while it arrives).
        max_clip_frames: most frames in a clip (413 from the container's header; a clip whose
            header does not say fails at the first frame past it).
        max_clip_seconds: longest clip in seconds, checked as ``max_clip_frames``.
        max_clip_pixels: largest clip frame in pixels (413, from the header before decoding).
    """

    models: tuple[str, ...] = ()
    include_bundled: bool = True
    default_model: str | None = None
    device: str = "auto"
    tile: int | None = None
    overlap: int = 16
    batch_size: int = 4
    backend: Literal["auto", "torch", "onnxruntime"] = "auto"
    workers: int = 2
    max_upload_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 4096 * 1024
    max_jobs: int = 16
    result_ttl: float = 600.0
    cache_size: int = 4
    allowed_hosts: tuple[str, ...] | None = None
    preload: bool = True
    max_clip_bytes: int = 256 * 1024 * 1024
    max_clip_frames: int = 600
    max_clip_seconds: float = 60.0
    max_clip_pixels: int = 1280 * 1024

    def __post_init__(self) -> None:
        checks = (
            ("workers", self.workers, 1), ("max_upload_bytes", self.max_upload_bytes, 1),
            ("max_pixels", self.max_pixels, 1), ("max_jobs", self.max_jobs, 1),
            ("cache_size", self.cache_size, 1), ("batch_size", self.batch_size, 1),
            ("overlap", self.overlap, 0), ("max_clip_bytes", self.max_clip_bytes, 1),
            ("max_clip_frames", self.max_clip_frames, 1),
            ("max_clip_pixels", self.max_clip_pixels, 1),
        )
        for name, value, low in checks:
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.overlap > MAX_OVERLAP:
            raise ConfigError(f"overlap must be <= {MAX_OVERLAP} LR pixels, got {self.overlap}")
        if self.tile is not None and self.tile != 0 and self.tile < self.min_tile:
            raise ConfigError(
                f"tile must be 0 (no tiling) or >= {self.min_tile} for overlap {self.overlap}, "
                f"got {self.tile}"
            )
        if self.result_ttl < 0:
            raise ConfigError(f"result_ttl must be >= 0 seconds, got {self.result_ttl}")
        if not self.max_clip_seconds > 0:
            raise ConfigError(f"max_clip_seconds must be > 0, got {self.max_clip_seconds}")

    @property
    def min_tile(self) -> int:
        """The smallest tile the Upscaler accepts with this overlap."""
        return max(16, 4 * self.overlap + 8)


# ============================================================================ model catalog
@dataclass(frozen=True)
class ModelInfo:
    """One model the server offers, read from its file's metadata (weights not loaded)."""

    id: str
    path: Path
    source: Literal["bundled", "file"]
    arch: str
    config: dict
    scale: int
    in_channels: int
    out_channels: int
    stage: str | None = None
    summary: str = ""
    psnr_model: str | None = None  # declared PSNR partner (provenance "psnr_model")
    pair: tuple[str, str] | None = None  # (psnr id, gan id) for network interpolation
    robust_model: str | None = None  # declared robust partner (provenance "denoise_partner")
    denoise_pair: tuple[str, str] | None = None  # (faithful id, robust id) for --denoise

    def to_json(self) -> dict[str, Any]:
        pair = None
        if self.pair is not None:
            pair = {"psnr": self.pair[0], "gan": self.pair[1],
                    "role": "psnr" if self.id == self.pair[0] else "gan"}
        denoise = None
        if self.denoise_pair is not None:
            denoise = {"faithful": self.denoise_pair[0], "robust": self.denoise_pair[1],
                       "role": "faithful" if self.id == self.denoise_pair[0] else "robust"}
        return {
            "id": self.id, "scale": self.scale, "arch": self.arch,
            "in_channels": self.in_channels, "out_channels": self.out_channels,
            "stage": self.stage, "summary": self.summary, "source": self.source, "pair": pair,
            "denoise": denoise,
        }


def _info_from_file(model_id: str, path: Path, source: Literal["bundled", "file"]) -> ModelInfo:
    provenance: dict = {}
    try:
        meta = read_metadata(path)
    except Exception:  # not one of our safetensors files: detect from the weights
        meta = {}
    if meta.get("format") == "irsrgan":
        try:
            arch, config = str(meta["arch"]), dict(meta["config"])
            scale, cin = int(meta["scale"]), int(meta["in_channels"])
            cout = int(meta["out_channels"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: metadata is incomplete or malformed: {exc}") from None
        provenance = meta.get("provenance") or {}
        if not isinstance(provenance, dict):
            provenance = {}
    else:
        arch, config, _ = read_generator_state(path)
        scale = int(config.get("scale", 1))
        cin, cout = int(config.get("in_channels", 1)), int(config.get("out_channels", 1))
    stage = provenance.get("stage")
    partner = provenance.get("psnr_model")
    robust = provenance.get("denoise_partner")
    return ModelInfo(
        id=model_id, path=path, source=source, arch=arch, config=config, scale=scale,
        in_channels=cin, out_channels=cout,
        stage=str(stage) if stage else None, summary=str(provenance.get("summary") or ""),
        psnr_model=str(partner) if partner else None,
        robust_model=str(robust) if robust else None,
    )


def build_catalog(config: ServerConfig) -> tuple[dict[str, ModelInfo], str]:
    """The models to offer, with PSNR/GAN pairs found, and the default model's id.

    Pairs (for the fidelity-perception slider) are found from data, not a fixed list: a GAN
    model whose provenance names ``psnr_model``, or the naming rule ``NAME-psnr-xN`` <->
    ``NAME-xN``; both must have the same architecture and hyperparameters.

    Raises:
        ConfigError: no model at all, or ``default_model`` is not offered.
        CheckpointError: a given model file cannot be read.
    """
    catalog: dict[str, ModelInfo] = {}
    if config.include_bundled:
        for name, path in bundled_models().items():
            try:
                catalog[name] = _info_from_file(name, path, "bundled")
            except (CheckpointError, OSError) as exc:
                log.warning("bundled model %s cannot be read, not offered: %s", name, exc)
    given: list[str] = []
    bundled = bundled_models()
    for source in config.models:
        source = str(source)
        if not Path(source).exists() and source in bundled:  # a bundled model's name
            if source not in catalog:
                catalog[source] = _info_from_file(source, bundled[source], "bundled")
            given.append(source)
            continue
        path = resolve_model_path(source)  # raises CheckpointError naming the source
        if not path.is_file():
            raise CheckpointError(f"model {source}: not a file")
        base = path.name.split(".")[0] or "model"
        model_id, n = base, 2
        while model_id in catalog and catalog[model_id].path.resolve() != path.resolve():
            model_id, n = f"{base}-{n}", n + 1
        if model_id not in catalog:
            check_model_file(path)  # a broken file stops the server here, not every request
            catalog[model_id] = _info_from_file(model_id, path, "file")
        given.append(model_id)
    if not catalog:
        raise ConfigError(
            "no models to serve: no bundled weights are installed and no --model was given "
            "(give a weights file with --model PATH)"
        )
    catalog = _with_pairs(catalog)
    default = config.default_model or (given[0] if given else None)
    if default is None:
        default = DEFAULT_MODEL if DEFAULT_MODEL in catalog else next(iter(catalog))
    if default not in catalog:
        raise ConfigError(
            f"default_model {default!r} is not offered (models: {', '.join(catalog)})"
        )
    return catalog, default


def _with_pairs(catalog: dict[str, ModelInfo]) -> dict[str, ModelInfo]:
    pairs: dict[str, tuple[str, str]] = {}
    declared = [(i.psnr_model, i.id) for i in catalog.values() if i.psnr_model]
    named = [
        (i.id, f"{m['base']}-{m['scale']}")
        for i in catalog.values() if (m := _PAIR_NAME.match(i.id))
    ]
    for psnr_id, gan_id in declared + named:
        if psnr_id not in catalog or gan_id not in catalog or psnr_id == gan_id:
            continue
        if psnr_id in pairs or gan_id in pairs:
            continue  # first declaration wins (provenance before naming)
        a, b = catalog[psnr_id], catalog[gan_id]
        if (a.arch, a.config) != (b.arch, b.config):
            log.warning(
                "models %s and %s look like a PSNR/GAN pair but differ (%s %s vs %s %s): "
                "no interpolation offered", psnr_id, gan_id, a.arch, a.config, b.arch, b.config,
            )
            continue
        pairs[psnr_id] = pairs[gan_id] = (psnr_id, gan_id)
    denoise: dict[str, tuple[str, str]] = {}
    for info in catalog.values():
        robust = catalog.get(info.robust_model or "")
        if robust is None or robust.id == info.id:
            continue
        if (info.arch, info.config) != (robust.arch, robust.config):
            log.warning("model %s names %s as its robust partner, but they differ: no denoise "
                        "strength offered", info.id, robust.id)
            continue
        denoise[info.id] = (info.id, robust.id)
        denoise.setdefault(robust.id, (info.id, robust.id))
    return {
        model_id: replace(info, pair=pairs.get(model_id), denoise_pair=denoise.get(model_id))
        for model_id, info in catalog.items()
    }


def _round_alpha(alpha: float) -> float:
    return round(round(float(alpha) / ALPHA_STEP) * ALPHA_STEP, 6)


# ============================================================================ model cache
ModelLoader = Callable[[Path], nn.Module]
CacheKey = tuple[str, float | None]


class _Slot:
    def __init__(self) -> None:
        self.ready = threading.Event()
        self.value: Upscaler | None = None
        self.error: BaseException | None = None


class ModelCache:
    """Upscalers keyed by ``(model id, alpha)``, built once and shared by all jobs (LRU).

    ``alpha`` is rounded to :data:`ALPHA_STEP`; 0 and 1 map to the PSNR and GAN models
    themselves. Thread-safe: concurrent requests for one key wait for a single load.
    """

    def __init__(
        self, catalog: dict[str, ModelInfo], config: ServerConfig, loader: ModelLoader
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.loader = loader
        self._slots: OrderedDict[CacheKey, _Slot] = OrderedDict()
        self._lock = threading.Lock()
        self._mixes: dict[str, tuple[str, str]] = {}  # interpolated key name -> (psnr, gan)

    def key(self, model_id: str, alpha: float | None, *, denoise: bool = False) -> CacheKey:
        """The cache key of a request; raises ConfigError for an unknown model or bad alpha.

        ``alpha`` weighs the model's PSNR/GAN pair, or with ``denoise`` its faithful/robust
        pair (the denoise strength)."""
        info = self.catalog.get(model_id)
        if info is None:
            raise ConfigError(
                f"model must be one of {', '.join(self.catalog)}; got {model_id!r}"
            )
        if alpha is None:
            return (model_id, None)
        what = "denoise strength" if denoise else "alpha"
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0 <= alpha <= 1):
            raise ConfigError(f"{what} must be a number in [0, 1], got {alpha!r}")
        pair = info.denoise_pair if denoise else info.pair
        if pair is None:
            raise ConfigError(
                f"denoise needs a faithful/robust model pair; model {model_id!r} has none "
                "(leave denoise out)" if denoise else
                f"alpha needs a PSNR/GAN model pair; model {model_id!r} has none "
                "(leave alpha out)"
            )
        a = _round_alpha(alpha)
        psnr_id, gan_id = pair
        if a == 0.0:
            return (psnr_id, None)
        if a == 1.0:
            return (gan_id, None)
        name = f"{psnr_id}+{gan_id}"
        with self._lock:
            self._mixes[name] = (psnr_id, gan_id)
        return (name, a)

    def get(self, key: CacheKey) -> Upscaler:
        with self._lock:
            slot = self._slots.get(key)
            owner = slot is None
            if owner:
                slot = self._slots[key] = _Slot()
            self._slots.move_to_end(key)
        if owner:
            try:
                slot.value = self._build(key)
            except BaseException as exc:
                slot.error = exc
                with self._lock:
                    if self._slots.get(key) is slot:
                        del self._slots[key]
            finally:
                slot.ready.set()
            self._evict()
        else:
            slot.ready.wait()
        if slot.error is not None:
            raise slot.error
        assert slot.value is not None  # set by the owner when no error
        return slot.value

    def _build(self, key: CacheKey) -> Upscaler:
        name, alpha = key
        if alpha is None:
            model = self.loader(self.catalog[name].path)
        else:
            with self._lock:
                psnr_id, gan_id = self._mixes[name]
            model = interpolate_models(
                self.loader(self.catalog[psnr_id].path), self.loader(self.catalog[gan_id].path),
                alpha,
            )
        upscaler = Upscaler(
            model, device=self.config.device, tile=self.config.tile,
            overlap=self.config.overlap, batch_size=self.config.batch_size,
            backend=self.config.backend,
        )
        log.info("loaded model %s (alpha %s) on %s, %s backend", name, alpha,
                 upscaler.device, upscaler.backend)
        return upscaler

    def _evict(self) -> None:
        with self._lock:
            ready = [k for k, s in self._slots.items() if s.ready.is_set()]
            while len(self._slots) > self.config.cache_size and ready:
                del self._slots[ready.pop(0)]

    def keys(self) -> list[CacheKey]:
        with self._lock:
            return [k for k, s in self._slots.items() if s.ready.is_set() and s.error is None]

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()


# ============================================================================ jobs
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
            strength, level = strength_for(image, requested, range_mode)
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
            alpha=None if alpha is None else _round_alpha(alpha), denoise=denoised,
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
        self.start()
        with self._lock:
            self._make_room_locked()
            self.jobs[job.id] = job
            assert self._executor is not None
            job.future = self._executor.submit(self._run, job)
        return job

    def submit_clip(self, job: ClipJob) -> ClipJob:
        """Queue a clip job made by the ``/api/clips`` route (its folder holds the upload)."""
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
        self._check(job)
        with self._lock:
            job.stage = "encoding"
        out = from_tensor(sr, image, vmap)
        if job.consistency:
            out = consistent_image(out, image)
        result = encode_image(out)
        bicubic = F.interpolate(lr, scale_factor=upscaler.scale, mode="bicubic",
                                align_corners=False)
        window = display_window(lr, image)
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


def value_unit(image: Image) -> str:
    """What the pixel values of an image are, for the page's readout."""
    if image.flir is not None:
        return UNIT_SYMBOLS.get(image.flir.units, image.flir.units)
    return "level" if image.dtype == np.uint8 else "value"


def flir_info(image: Image) -> dict[str, Any]:
    """The FLIR source of a raw-data image: sizes, units, camera."""
    source = image.flir
    camera = source.camera
    return {"raw_size": list(source.raw_size),
            "preview_size": list(source.preview_size) if source.preview_size else None,
            "units": source.units, "camera": camera.camera_model if camera else None}


def gray_values(data: bytes) -> tuple[np.ndarray, int, int]:
    """The values of an encoded result as float32 ``(H, W)`` (colour: BT.601 luma)."""
    img = decode_image(data, "result")
    chans = img.channels().astype(np.float32)
    gray = chans[0] if chans.shape[0] < 3 else (
        BT601_LUMA[0] * chans[0] + BT601_LUMA[1] * chans[1] + BT601_LUMA[2] * chans[2])
    return np.ascontiguousarray(gray, dtype="<f4"), img.width, img.height


def _drop_data(job: Job) -> None:
    job.image = None
    job.result = job.preview = job.preview_bicubic = None
    if job.status not in ("running", "cancelling"):  # else the worker removes it when it stops
        _remove_folder(job)


# ============================================================================ figures
def _gray(x: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` -> ``(1, 1, H, W)``: BT.601 luma for colour, the first channel else."""
    if x.shape[1] >= 3:
        w = x.new_tensor(BT601_LUMA).view(1, 3, 1, 1)
        return (x[:, :3] * w).sum(1, keepdim=True)
    return x[:, :1]


def _central(x: torch.Tensor, side: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return x[..., y0:y0 + side, x0:x0 + side]


def sharpness_figures(sr: torch.Tensor, bicubic: torch.Tensor) -> dict[str, Any]:
    """PSNR-free sharpness figures of a result against bicubic upscaling of the same input.

    Both are clamped to the unit range, made gray and cropped to the central
    ``METRIC_SIDE x METRIC_SIDE`` pixels. ``laplacian_variance_*`` is the population variance of
    the 4-neighbour Laplacian in 8-bit units (unit range x 255; for 16-bit and float input the
    unit range is the image's own min..max). ``hf_ratio`` is their ratio (result / bicubic):
    above 1 the result carries more high-frequency energy than bicubic (detail, or noise).

    Returns:
        a dict of floats (None where undefined, e.g. a flat image).
    """
    a = _gray(_central(sr, METRIC_SIDE)).clamp(0, 1)
    b = _gray(_central(bicubic, METRIC_SIDE)).clamp(0, 1)
    v_result = float(laplacian_variance(a, pixel_scale=255.0)[0])
    v_bicubic = float(laplacian_variance(b, pixel_scale=255.0)[0])
    # = metrics.hf_energy_ratio(a, b), from the variances already computed (scale-free)
    ratio = v_result / v_bicubic if v_bicubic > 0 else math.nan
    out: dict[str, Any] = {
        "laplacian_variance_bicubic": v_bicubic,
        "laplacian_variance_result": v_result,
        "hf_ratio": ratio,
        "measured_pixels": int(a.shape[-1] * a.shape[-2]),
    }
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in out.items()}


def display_window(lr: torch.Tensor, like: Image) -> tuple[float, float] | None:
    """The unit-range values a preview shows as black and white: None for 8-bit input (shown
    as stored), else the input's 0.5 and 99.5 percentiles."""
    if like.dtype == np.uint8:
        return None
    values = lr.numpy().ravel()
    if values.size > 250_000:  # percentiles of a strided subsample suffice for display
        values = values[:: values.size // 250_000 + 1]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, PREVIEW_PERCENTILES))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return low, high


def preview_image(
    x: torch.Tensor, like: Image, vmap: ValueMap, window: tuple[float, float] | None
) -> Image:
    """An 8-bit image of ``x`` (``(1, C, H, W)``, unit range, shaped like ``like``) for display.

    With ``window`` None (8-bit input) the preview's pixels are those of the downloaded file;
    else unit values ``window[0]..window[1]`` are stretched linearly to 0..255 (the same
    window for the result and for bicubic, so they compare).
    """
    if window is None:
        px = from_tensor(x, like, vmap).channels()
    else:
        low, high = window
        unit = x[0].numpy().astype(np.float32, copy=True)
        unit -= low
        unit *= 255.0 / (high - low)
        np.nan_to_num(unit, copy=False, nan=0.0)
        np.clip(unit, 0.0, 255.0, out=unit)
        np.rint(unit, out=unit)
        px = unit.astype(np.uint8)
    if like.layout in ("gray", "gray-as-rgb") or px.shape[0] == 1:
        return Image(pixels=np.ascontiguousarray(px[0]), format="png", layout="gray")
    if like.layout == "gray-alpha":
        px = np.stack([px[0], px[0], px[0], px[1]])
    chans = np.ascontiguousarray(np.moveaxis(px, 0, -1))
    return Image(pixels=chans, format="png", layout="rgba" if chans.shape[2] == 4 else "rgb")


# ============================================================================ the app
ImageField = Annotated[
    UploadFile, File(description="PNG, TIFF, JPEG or BMP (checked by content); 8/16-bit, float")
]
ModelField = Annotated[str | None, Form(description="model id (GET /api/models)")]
AlphaField = Annotated[
    float | None,
    Form(ge=0, le=1, description="fidelity-perception weight of the model's PSNR/GAN pair: "
         "0 = PSNR model, 1 = GAN model (only for models with a pair)"),
]
DenoiseField = Annotated[
    str | None,
    Form(description="denoise strength for models with a faithful/robust pair: auto "
         "(estimated from the image's noise and stripes), or 0 (faithful) .. 1 (robust); "
         "default auto for 8-bit images, 0 for 16-bit and float ones"),
]
TileField = Annotated[int | None, Form(ge=0, description="LR tile side; 0 = no tiling")]
RangeField = Annotated[
    RangeMode, Form(description="value mapping: auto = 8-bit by dtype, 16-bit/float "
                    "stretched per image and mapped back exactly")
]
FlirRawField = Annotated[
    bool, Form(description="FLIR radiometric JPEG: upscale its raw 16-bit sensor counts "
               "(returned as 16-bit TIFF) instead of its 8-bit preview")
]
UnitsField = Annotated[
    Units, Form(description="with flir_raw, for FLIR radiometric JPEGs (other files ignore "
                "it): raw counts (16-bit TIFF) or temperatures (float32 TIFF) converted with "
                "the camera's constants")
]
ConsistencyField = Annotated[
    bool | None, Form(description="make the mean of every SxS block of the result equal its "
                      "input pixel (what the sensor measured); default: on for 16-bit and "
                      "float images, off for 8-bit")
]
EnsembleField = Annotated[
    bool, Form(description="self-ensemble over 8 flips/rotations: 8x the time, +0.12 dB "
               "with the PSNR model on clean frames")
]
ClipField = Annotated[
    UploadFile, File(description="a clip, checked by content: video (MP4, MKV, AVI, MOV...), "
                     "multi-page TIFF or FLIR SEQ/CSQ")
]
ClipDenoiseField = Annotated[
    str | None,
    Form(description="for models with a faithful/robust pair: a fixed strength 0 (faithful) .. "
         "1 (robust) for every frame; auto or none: the faithful model as it is (a strength "
         "measured per frame would change the model from frame to frame)"),
]
TemporalField = Annotated[
    float, Form(ge=0, le=1, description="blend each frame with the previous output where the "
                "input does not move, 0..1 (0: frame by frame), as irsrgan upscale --temporal")
]
ResultQuery = Annotated[
    bool, Query(description="keep the job after this download (default: released)")
]
PreviewQuery = Annotated[
    Literal["result", "bicubic"],
    Query(description="the result, or bicubic upscaling of the input (the page's 'before')"),
]


def safe_filename(name: str | None) -> str:
    """The base name of an uploaded file, restricted to ``[A-Za-z0-9._-]`` (no paths)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    return base[:100] or "image"


CLIP_PATH = "/api/clips"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small form fields


class _BodyLimit:
    """ASGI middleware: refuse POST bodies over the limit with 413 before parsing them.

    Image requests are read whole here (they are decoded in memory anyway). Clip uploads
    (``CLIP_PATH``) have their own, larger limit and are not held in memory: the multipart
    parser spools them to disk while this counts the bytes and stops the request at the limit.
    """

    def __init__(self, app: Any, limit: int, allowed: int, clip_allowed: int | None = None
                 ) -> None:
        self.app = app
        self.limit = limit  # the body size refused (the image limit plus form overhead)
        self.allowed = allowed  # the image limit named in the message
        self.clip_allowed = clip_allowed  # the clip limit (None: clips as images)

    def _message(self, size: str, clip: bool) -> str:
        allowed = self.clip_allowed if clip else self.allowed
        option = "--max-clip-mb" if clip else "--max-upload-mb"
        return (f"upload too large: {size}; the limit is {allowed} bytes "
                f"({allowed / 2**20:g} MiB, set with {option})")

    async def _refuse(self, scope: dict, receive: Any, send: Any, size: str,
                      clip: bool = False) -> None:
        response = JSONResponse({"detail": self._message(size, clip)}, status_code=413)
        await response(scope, receive, send)

    async def _clip(self, scope: dict, receive: Any, send: Any, length: str) -> None:
        assert self.clip_allowed is not None
        limit = self.clip_allowed + FORM_OVERHEAD
        if length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, f"{int(length)} bytes", clip=True)
            return
        size = 0
        started = False

        async def counted() -> dict:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:  # FastAPI passes an HTTPException raised while parsing through
                raise HTTPException(413, self._message(f"more than {limit} bytes", True))
            return message

        async def sending(message: dict) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except HTTPException as exc:
            if started or exc.status_code != 413:
                raise
            await self._refuse(scope, receive, send, f"more than {limit} bytes", clip=True)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if self.clip_allowed is not None and scope.get("path") == CLIP_PATH:
            await self._clip(scope, receive, send, length)
            return
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send, f"{int(length)} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await self._refuse(scope, receive, send, f"more than {self.limit} bytes")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _save_upload(fh: Any, dst: Path) -> int:
    """Copy a spooled upload to ``dst``; its size in bytes."""
    fh.seek(0)
    with open(dst, "wb") as out:
        shutil.copyfileobj(fh, out, 1 << 20)
        return out.tell()


def _web_dir() -> Path:
    return Path(str(resources.files("irsrgan") / "web"))


def create_app(
    config: ServerConfig | None = None, *, loader: ModelLoader | None = None
) -> Any:
    """Build the FastAPI application.

    Args:
        config: server settings (defaults: bundled models, auto device, limits as documented).
        loader: ``path -> generator`` (default :func:`irsrgan.checkpoint.load_model`); the
            cache calls it once per model it builds.

    Returns:
        a ``fastapi.FastAPI`` instance (``app.state.manager`` is the :class:`JobManager`,
        ``app.state.catalog`` the offered models).

    Raises:
        ConfigError: no models, a bad setting or an unavailable device.
        CheckpointError: a model file cannot be read.
    """
    config = config or ServerConfig()
    device = pick_device(config.device)
    catalog, default_model = build_catalog(config)
    cache = ModelCache(catalog, config, loader or (lambda path: load_model(path)))
    manager = JobManager(cache, config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any):
        manager.start()
        if config.preload:
            manager.preload(default_model)
        try:
            yield
        finally:
            await run_in_threadpool(manager.shutdown)

    app = FastAPI(
        title="irsrgan",
        version=__version__,
        description="Super-resolution for infrared (thermal) images: upscale PNG, TIFF and "
        "JPEG files, 8- or 16-bit, keeping the format and bit depth. See docs/WEB.md.",
        lifespan=lifespan,
    )
    app.state.manager = manager
    app.state.catalog = catalog
    app.state.config = config
    app.state.default_model = default_model
    app.add_middleware(_BodyLimit, limit=config.max_upload_bytes + FORM_OVERHEAD,
                       allowed=config.max_upload_bytes, clip_allowed=config.max_clip_bytes)
    if config.allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    image_responses = {
        200: {"content": {t: {} for t in MEDIA_TYPES.values()},
              "description": "the upscaled image, in the input's format and bit depth"},
        413: {"description": "upload or image too large"},
        415: {"description": "not a PNG, TIFF, JPEG or BMP file (by content)"},
        422: {"description": "bad parameter, or an image that cannot be decoded or processed"},
    }

    # ---------------------------------------------------------------- helpers
    def check_tile(tile: int | None) -> None:
        if tile is not None and tile != 0 and not config.min_tile <= tile <= MAX_TILE:
            raise HTTPException(
                422, f"tile must be 0 (no tiling) or {config.min_tile}..{MAX_TILE} LR pixels "
                     f"(overlap {config.overlap}), got {tile}"
            )

    async def prepare(
        image: UploadFile, model: str | None, alpha: float | None, tile: int | None,
        flir_raw: bool = False, denoise: str | None = None, units: Units = "counts",
    ) -> tuple[Image, str, str, int | None]:
        name = safe_filename(image.filename)
        try:
            data = await image.read()
        finally:
            await image.close()
        if len(data) > config.max_upload_bytes:
            raise HTTPException(413, f"upload too large: {len(data)} bytes; the limit is "
                                     f"{config.max_upload_bytes} bytes")
        model_id = model or default_model
        try:
            cache.key(model_id, alpha)
            if denoise is not None:
                if alpha is not None:
                    raise ConfigError("give alpha or denoise, not both")
                parse_strength(denoise)
                cache.key(model_id, 0.0, denoise=True)  # the model must have a pair
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        check_tile(tile)
        if not data:
            raise HTTPException(422, f"{name}: file is empty")
        if sniff_format(data) is None:
            raise HTTPException(
                415, f"{name}: not a PNG, TIFF, JPEG or BMP file (checked by content, not name); "
                     "clips (video, FLIR SEQ/CSQ) go to POST /api/clips"
            )
        try:
            decoded = await run_in_threadpool(
                decode_image, data, name, max_pixels=config.max_pixels, flir_raw=flir_raw
            )
        except ImageError as exc:
            message = str(exc)
            if isinstance(exc, ImageTooLargeError):  # refused from the header: no decoding
                raise HTTPException(413, f"image too large: {message}") from None
            raise HTTPException(422, message) from None
        # units apply to FLIR raw data only, as flir_raw applies to FLIR files only
        if units != "counts" and decoded.flir is not None and decoded.flir.preview_size:
            try:
                decoded = image_in_units(decoded, units)
            except IrsrganError as exc:
                raise HTTPException(422, str(exc)) from None
        return decoded, name, model_id, tile

    def find(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise HTTPException(
                404, f"no job {job_id!r}: unknown, expired, deleted or already fetched"
            )
        return job

    async def start_job(
        image: ImageField,
        model: ModelField = None,
        alpha: AlphaField = None,
        tile: TileField = None,
        range_mode: RangeField = "auto",
        flir_raw: FlirRawField = False,
        ensemble: EnsembleField = False,
        denoise: DenoiseField = None,
        units: UnitsField = "counts",
        consistency: ConsistencyField = None,
    ) -> Job:
        """The upscaling form shared by /api/upscale and /api/jobs: checked, decoded, queued."""
        decoded, name, model_id, tile = await prepare(image, model, alpha, tile, flir_raw,
                                                      denoise, units)
        try:
            return manager.submit(decoded, name, model_id, alpha, tile, range_mode, ensemble,
                                  denoise, consistency)
        except QueueFull as exc:
            raise HTTPException(429, str(exc)) from None
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None

    def result_response(job: Job) -> Response:
        if job.status != "done" or job.result is None:
            raise HTTPException(409, _not_ready(job))
        headers = {
            "Content-Disposition": f'attachment; filename="{job.filename}"',
            "X-Irsrgan-Model": job.model_id,
            "X-Irsrgan-Scale": str(job.scale),
            "X-Irsrgan-Metrics": json.dumps(job.metrics, separators=(",", ":")),
        }
        if job.alpha is not None:
            headers["X-Irsrgan-Alpha"] = f"{job.alpha:g}"
        if job.denoise is not None:
            headers["X-Irsrgan-Denoise"] = f"{job.denoise['strength']:g}"
        return Response(job.result, media_type=MEDIA_TYPES[job.format], headers=headers)

    def clip_file(job: ClipJob, path: Path | None, media_type: str, *,
                  attachment: bool = False, release: bool = False) -> Response:
        if job.status != "done" or path is None or not path.is_file():
            raise HTTPException(409, _not_ready(job))
        headers = {"X-Irsrgan-Model": job.model_id, "X-Irsrgan-Scale": str(job.scale),
                   "Cache-Control": "no-store"}
        if attachment:
            headers["Content-Disposition"] = f'attachment; filename="{job.filename}"'
        # released after the file is sent (the response reads it after this returns)
        task = BackgroundTask(manager.release, job) if release else None
        return FileResponse(path, media_type=media_type, headers=headers, background=task)

    def probe_clip(src: Path, name: str) -> Any:
        """The clip's SequenceInfo, refused from its header when past a limit."""
        from ..sequences import ClipLimits, open_sequence, sniff_sequence

        def clean(exc: Exception) -> str:
            return str(exc).replace(str(src), name)

        kind = sniff_sequence(src)
        if kind is None or kind == "folder":
            raise HTTPException(415, f"{name}: not a video (MP4, MKV, AVI, MOV...), multi-page "
                                     "TIFF or FLIR SEQ/CSQ file (checked by content, not name); "
                                     "single images go to POST /api/jobs")
        try:
            with open_sequence(src, max_pixels=config.max_clip_pixels) as reader:
                info = reader.info
        except ImageTooLargeError as exc:
            raise HTTPException(413, f"clip frames too large: {clean(exc)}; the limit is "
                                     f"{config.max_clip_pixels} pixels per frame (set with "
                                     "--max-clip-pixels)") from None
        except (ImageError, OSError) as exc:
            raise HTTPException(422, clean(exc)) from None
        try:
            ClipLimits(config.max_clip_frames, config.max_clip_seconds).check(info)
        except SequenceTooLongError as exc:
            raise HTTPException(413, f"clip too long: {clean(exc)} (set with "
                                     f"--max-clip-{exc.limit})") from None
        return info

    @app.post(CLIP_PATH, status_code=202, summary="Start a clip upscaling job",
              responses={202: {"description": "the job (follow it at /api/jobs/{id})"},
                         413: {"description": "upload, frame size, frame count or duration "
                                              "over the limits"},
                         415: {"description": "not a video, TIFF stack or FLIR SEQ/CSQ"},
                         422: {"description": "bad parameter, or a clip that cannot be read"}})
    async def create_clip_job(
        clip: ClipField,
        model: ModelField = None,
        alpha: AlphaField = None,
        denoise: ClipDenoiseField = None,
        tile: TileField = None,
        range_mode: RangeField = "auto",
        ensemble: EnsembleField = False,
        temporal: TemporalField = 0.5,
    ) -> JSONResponse:
        """A video, multi-page TIFF or FLIR SEQ/CSQ, upscaled frame by frame as
        ``irsrgan upscale`` does (same output kind: 16-bit stays 16-bit, lossless); progress in
        frames at ``GET /api/jobs/{id}``, previews as 8-bit H.264 MP4."""
        from ..sequences import output_path
        from ..sequences.writers import TIFF_SUFFIXES, VIDEO_SUFFIXES, choose_codec

        name = safe_filename(clip.filename) if clip.filename else "clip"
        model_id = model or default_model
        try:
            strength = None if denoise is None else parse_strength(denoise)
            if strength == "auto":
                strength = None  # as the CLI: clips keep the model as it is
            if strength is not None:
                if alpha is not None:
                    raise ConfigError("give alpha or denoise, not both")
                key = cache.key(model_id, float(strength), denoise=True)
            else:
                key = cache.key(model_id, alpha)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        check_tile(tile)
        if range_mode == "stretch" and temporal:
            raise HTTPException(422, "temporal blending needs one value map for the clip: "
                                     "use range_mode auto or dtype, or temporal 0")
        folder = Path(tempfile.mkdtemp(prefix="irsrgan-clip-"))
        try:
            src = folder / name
            size = await run_in_threadpool(_save_upload, clip.file, src)
            await clip.close()
            if size > config.max_clip_bytes:  # the body limit allows for the form's overhead
                raise HTTPException(413, f"upload too large: {size} bytes; the limit is "
                                         f"{config.max_clip_bytes} bytes "
                                         f"({config.max_clip_bytes / 2**20:g} MiB, set with "
                                         "--max-clip-mb)")
            if size == 0:
                raise HTTPException(422, f"{name}: file is empty")
            info = await run_in_threadpool(probe_clip, src, name)
            dst, _ = output_path(src, info, folder / "out")
            suffix = dst.suffix.lower()
            sixteen_colour = info.dtype.itemsize > 1 and info.layout != "gray"
            if (suffix not in VIDEO_SUFFIXES and suffix not in TIFF_SUFFIXES) or (
                    info.kind == "video" and sixteen_colour):
                dst = dst.with_suffix(".tiff" if info.kind != "video" or sixteen_colour
                                      else ".mkv")
            codec = None
            if dst.suffix.lower() in VIDEO_SUFFIXES:
                try:
                    codec = choose_codec("auto", info.dtype, dst.suffix, info.codec)
                except ConfigError as exc:
                    raise HTTPException(422, str(exc)) from None
            info_json = {
                "kind": info.kind, "width": info.width, "height": info.height,
                "dtype": str(info.dtype), "layout": info.layout, "codec": info.codec,
                "frames": info.estimated_frames(),
                "rate": float(info.rate) if info.rate else None,
                "duration": info.duration, "bytes": size, "format": info.kind,
                "unit": "level" if info.dtype == np.uint8 else "value", "flir_preview": False,
            }
            job = ClipJob(
                id=secrets.token_urlsafe(12), name=name, image=None, model_id=model_id,
                alpha=None if alpha is None else _round_alpha(alpha), key=key,
                scale=catalog[model_id].scale,
                denoise=None if strength is None else {"requested": denoise,
                                                       "strength": float(strength),
                                                       "noise": None},
                tile=tile, range_mode=range_mode, ensemble=ensemble, input_info=info_json,
                total=info.estimated_frames() or 0, folder=folder, src=src, output=dst,
                temporal=temporal, codec=codec,
                previews={"result": folder / "preview-result.mp4",
                          "bicubic": folder / "preview-bicubic.mp4"},
            )
            manager.submit_clip(job)
        except QueueFull as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(429, str(exc)) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse(job.to_json(), status_code=202,
                            headers={"Location": f"/api/jobs/{job.id}"})

    # ---------------------------------------------------------------- page
    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        html = (_web_dir() / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": _CSP,
                                           "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=str(_web_dir())), name="static")

    # ---------------------------------------------------------------- API
    @app.get("/api/health", summary="Server status")
    async def health() -> dict:
        return {
            "status": "ok",
            "version": __version__,
            "device": str(device),
            "workers": config.workers,
            "models": len(catalog),
            "loaded_models": len(cache.keys()),
            "jobs": manager.counts(),
        }

    @app.get("/api/models", summary="Models offered, with PSNR/GAN pairs and limits")
    async def models() -> dict:
        return {
            "default": default_model,
            "models": [info.to_json() for info in catalog.values()],
            "limits": {
                "max_upload_bytes": config.max_upload_bytes,
                "max_pixels": config.max_pixels,
                "min_tile": config.min_tile,
                "max_tile": MAX_TILE,
                "alpha_step": ALPHA_STEP,
                "max_clip_bytes": config.max_clip_bytes,
                "max_clip_frames": config.max_clip_frames,
                "max_clip_seconds": config.max_clip_seconds,
                "max_clip_pixels": config.max_clip_pixels,
            },
        }

    @app.post("/api/upscale", summary="Upscale one image (synchronous)",
              response_class=Response, responses=image_responses)
    async def upscale(job: Job = Depends(start_job)) -> Response:  # noqa: B008
        assert job.future is not None
        try:
            await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            manager.release(job)
            if job.future.cancelled():  # cancelled while queued (server shutting down)
                raise HTTPException(503, f"job {job.id} was cancelled") from None
            raise  # the request itself was cancelled (client gone)
        try:
            if job.status == "failed":
                raise HTTPException(422 if job.error_kind == "input" else 500, job.error)
            return result_response(job)
        finally:
            manager.release(job)

    @app.post("/api/jobs", status_code=202, summary="Start an upscaling job")
    async def create_job(job: Job = Depends(start_job)) -> JSONResponse:  # noqa: B008
        return JSONResponse(job.to_json(), status_code=202,
                            headers={"Location": f"/api/jobs/{job.id}"})

    @app.get("/api/jobs/{job_id}", summary="A job's status and progress (tiles done)")
    async def job_status(job_id: str) -> dict:
        return find(job_id).to_json()

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job, or release a finished one",
                responses={202: {"description": "cancellation requested"},
                           204: {"description": "finished job released"}})
    async def delete_job(job_id: str) -> Response:
        job = find(job_id)
        if job.finished_state:
            manager.release(job)
            return Response(status_code=204)
        manager.cancel(job)
        return JSONResponse(job.to_json(), status_code=202)

    @app.get("/api/jobs/{job_id}/result", summary="The upscaled file",
             response_class=Response, responses=image_responses)
    async def job_result(
        job_id: str, keep: ResultQuery = False
    ) -> Response:
        job = find(job_id)
        if isinstance(job, ClipJob):
            return clip_file(job, job.output, job.media_type, attachment=True,
                             release=not keep)
        response = result_response(job)
        if not keep:
            manager.release(job)
        return response

    @app.get("/api/jobs/{job_id}/preview",
             summary="8-bit display PNG of the result (a clip: an 8-bit H.264 MP4)",
             response_class=Response,
             responses={200: {"content": {"image/png": {}, "video/mp4": {}}}})
    async def job_preview(
        job_id: str, image: PreviewQuery = "result"
    ) -> Response:
        job = find(job_id)
        if isinstance(job, ClipJob):
            return clip_file(job, job.previews.get(image), "video/mp4")
        data = job.preview if image == "result" else job.preview_bicubic
        if job.status != "done" or data is None:
            raise HTTPException(409, _not_ready(job))
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/values", summary="The result's values, for a readout",
             response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}}}})
    async def job_values(job_id: str) -> Response:
        """Little-endian float32, row by row (colour as luma); ``X-Width``, ``X-Height`` and
        ``X-Unit`` (``counts``, ``degC``, ``K``, ``degF``, ``level`` or ``value``) say how to
        read them. Fetch before the result: fetching the result releases the job."""
        job = find(job_id)
        if isinstance(job, ClipJob):
            raise HTTPException(409, f"job {job.id} is a clip: no values readout (download the "
                                     "result)")
        if job.status != "done" or job.result is None:
            raise HTTPException(409, _not_ready(job))
        values, w, h = await run_in_threadpool(gray_values, job.result)
        return Response(values.tobytes(), media_type="application/octet-stream",
                        headers={"X-Width": str(w), "X-Height": str(h),
                                 "X-Unit": job.input_info["unit"],
                                 "Cache-Control": "no-store"})

    return app


def _not_ready(job: Job) -> str:
    if job.status == "failed":
        return f"job {job.id} failed: {job.error}"
    if job.status in ("cancelled", "cancelling"):
        return f"job {job.id} was cancelled"
    return (f"job {job.id} is {job.status} ({job.done}/{job.total} tiles); "
            f"poll GET /api/jobs/{job.id}")


__all__ = [
    "JobManager", "ModelCache", "ModelInfo", "ServerConfig", "build_catalog", "create_app",
    "display_window", "preview_image", "safe_filename", "sharpness_figures",
]
