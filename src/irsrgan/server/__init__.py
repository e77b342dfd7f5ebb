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

The package, one concern a module:

- :mod:`.settings`: :class:`ServerConfig`, the settings and limits of one server;
- :mod:`.catalog`: the models offered (:func:`build_catalog`, PSNR/GAN and faithful/robust
  pairs) and :class:`ModelCache`, the upscalers built from them;
- :mod:`.jobs`: :class:`Job`, :class:`ClipJob` and :class:`JobManager` (queue, workers,
  progress, cancel, expiry), without HTTP;
- :mod:`.previews`: what the page shows besides the file (8-bit previews, values for the
  readout, sharpness figures);
- :mod:`.app`: :func:`create_app`, the FastAPI routes and upload limits.
"""

import importlib

from ..display import PREVIEW_PERCENTILES, display_window
from .catalog import (
    ALPHA_STEP,
    CacheKey,
    ModelCache,
    ModelInfo,
    ModelLoader,
    build_catalog,
)
from .jobs import (
    CLIP_MEDIA_TYPES,
    MEDIA_TYPES,
    SUFFIXES,
    ClipJob,
    Job,
    JobCancelled,
    JobManager,
    JobStatus,
    QueueFull,
)
from .previews import (
    METRIC_SIDE,
    flir_info,
    gray_values,
    preview_image,
    sharpness_figures,
    value_unit,
)
from .settings import ServerConfig

#: names of :mod:`.app`, imported when first used: the app needs FastAPI (``irsrgan[web]``),
#: the settings, catalog, jobs and previews do not
_APP_NAMES = ("CLIP_PATH", "FORM_OVERHEAD", "MAX_TILE", "create_app", "safe_filename")


def __getattr__(name: str):
    if name in _APP_NAMES or name == "app":
        app = importlib.import_module(f"{__name__}.app")
        return app if name == "app" else getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "JobManager", "ModelCache", "ModelInfo", "ServerConfig", "build_catalog", "create_app",
    "display_window", "preview_image", "safe_filename", "sharpness_figures",
    # the pieces of the modules above, importable from here as before the split
    "ALPHA_STEP", "CLIP_MEDIA_TYPES", "CLIP_PATH", "FORM_OVERHEAD", "MAX_TILE", "MEDIA_TYPES",
    "METRIC_SIDE", "PREVIEW_PERCENTILES", "SUFFIXES", "CacheKey", "ClipJob", "Job",
    "JobCancelled", "JobStatus", "ModelLoader", "QueueFull", "flir_info", "gray_values",
    "value_unit",
]
