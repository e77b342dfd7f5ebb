"""The FastAPI application: the page, the routes and the upload limits.

:func:`create_app` wires a :class:`~.settings.ServerConfig`, the model catalog and a
:class:`~.jobs.JobManager` to the HTTP routes (see the package docstring for the API).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..checkpoint import load_model
from ..denoise import parse_strength
from ..errors import ConfigError, ImageError, ImageTooLargeError, IrsrganError, SequenceTooLongError
from ..image import Image, RangeMode, decode_image, sniff_format
from ..inference import pick_device
from ..radiometry import Units, image_in_units
from .catalog import ALPHA_STEP, ModelCache, ModelLoader, build_catalog, round_alpha
from .jobs import MEDIA_TYPES, ClipJob, Job, JobManager, QueueFull
from .previews import gray_values
from .settings import ServerConfig

MAX_TILE = 8192
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


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
         "1 (robust) for every frame, level-anchored above 0 as stills are; auto or none: the "
         "faithful model as it is (a strength measured per frame would change the model from "
         "frame to frame)"),
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
                alpha=None if alpha is None else round_alpha(alpha), key=key,
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
