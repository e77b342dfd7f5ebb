"""The settings of one server (models offered, device, tiles, workers, limits), checked when
made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from ..tiling import MAX_OVERLAP


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
