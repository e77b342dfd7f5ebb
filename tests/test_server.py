"""The web server and HTTP API: every route, limits, 16-bit round trips, jobs, concurrency."""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
import threading
import time
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch
from torch.nn import functional as F

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install '.[web]'")
try:  # python-multipart (uploads); its module was named multipart before 0.0.13
    import python_multipart  # noqa: F401
except ImportError:
    pytest.importorskip("multipart", reason="uploads need python-multipart: pip install '.[web]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx: pip install '.[test]'")

with warnings.catch_warnings():  # Starlette >= 1.x: "use httpx2"; httpx still works
    warnings.filterwarnings("ignore", message=".*httpx.*", category=UserWarning)
    from fastapi.testclient import TestClient  # noqa: E402

from irsrgan import server  # noqa: E402
from irsrgan.checkpoint import load_model, save_model  # noqa: E402
from irsrgan.cli import build_parser, main  # noqa: E402
from irsrgan.cli.serve_cmd import is_loopback  # noqa: E402
from irsrgan.denoise import DenoiseUpscaler  # noqa: E402
from irsrgan.errors import CheckpointError, ConfigError  # noqa: E402
from irsrgan.image import decode_image, sniff_format  # noqa: E402
from irsrgan.inference import Upscaler  # noqa: E402
from irsrgan.interpolate import interpolate_models  # noqa: E402
from irsrgan.metrics import laplacian_variance  # noqa: E402
from irsrgan.models import create_model  # noqa: E402
from irsrgan.sample import thermal_sample  # noqa: E402
from irsrgan.server import ServerConfig, build_catalog, create_app  # noqa: E402

OVERLAP = 4  # small overlap: tile 24 is allowed (min tile = max(16, 4 * 4 + 8))
FINISHED = ("done", "failed", "cancelled")


# --------------------------------------------------------------------------- fixtures
def _tiny(path: Path, *, seed: int, scale: int = 2, num_features: int = 8, **prov) -> Path:
    torch.manual_seed(seed)
    model = create_model("compact", scale=scale, num_features=num_features, num_convs=2)
    save_model(model, path, provenance=prov or None)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "tiny-x2": _tiny(folder / "tiny-x2.safetensors", seed=1),
        "tiny-psnr-x2": _tiny(folder / "tiny-psnr-x2.safetensors", seed=0),
        "other-x4": _tiny(folder / "other-x4.safetensors", seed=2, scale=4),
    }


def _config(models: dict[str, Path], **overrides) -> ServerConfig:
    settings = dict(
        models=tuple(str(p) for p in models.values()), include_bundled=False, backend="torch",
        device="cpu", overlap=OVERLAP, workers=2, preload=False,
    )
    settings.update(overrides)
    return ServerConfig(**settings)


@pytest.fixture()
def client(models):
    with TestClient(create_app(_config(models))) as c:
        yield c


def _slow_loader(delay: float, gate: threading.Event | None = None):
    """Loads the real model; every forward pass takes ``delay`` seconds longer and, with a
    ``gate``, waits while the gate is closed (cleared), so a test can hold jobs mid-way."""

    def hook(_module, _inputs):
        time.sleep(delay)
        if gate is not None:
            assert gate.wait(timeout=30), "the test never reopened the gate"

    def load(path):
        model = load_model(path)
        model.register_forward_pre_hook(hook)
        return model

    return load


def _library(path: Path, image_bytes: bytes, *, tile=None, model=None, consistency=None):
    """What the library gives for the same file: the reference for the server's output
    (measurement consistency by default for 16-bit and float, as the server and the CLI)."""
    from irsrgan.consistency import consistent_image

    model = model if model is not None else load_model(path)
    upscaler = Upscaler(model, device="cpu", tile=tile, overlap=OVERLAP, backend="torch")
    image = decode_image(image_bytes)
    out = upscaler.upscale_image(image)
    if consistency if consistency is not None else image.dtype != np.uint8:
        out = consistent_image(out, image)
    return out


def _png(px: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", px)
    assert ok
    return buf.tobytes()


def _tiff(px: np.ndarray) -> bytes:
    bio = io.BytesIO()
    tifffile.imwrite(bio, px, photometric="minisblack")
    return bio.getvalue()


def _gray8(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def _post(client, data: bytes, name: str = "frame.png", path: str = "/api/upscale", **fields):
    form = {k: str(v) for k, v in fields.items()}
    return client.post(path, files={"image": (name, data, "application/octet-stream")},
                       data=form)


def _wait(client, job_id: str, *, timeout: float = 30.0, until=FINISHED) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} not {until} after {timeout} s: {job}")


# --------------------------------------------------------------------------- models, health
def test_health_and_models(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["device"] == "cpu"
    assert health["workers"] == 2 and health["models"] == 3
    body = client.get("/api/models").json()
    assert body["default"] == "tiny-x2"  # the first --model
    by_id = {m["id"]: m for m in body["models"]}
    assert set(by_id) == {"tiny-x2", "tiny-psnr-x2", "other-x4"}
    assert by_id["tiny-x2"]["scale"] == 2 and by_id["other-x4"]["scale"] == 4
    assert by_id["tiny-x2"]["pair"] == {"psnr": "tiny-psnr-x2", "gan": "tiny-x2", "role": "gan"}
    assert by_id["tiny-psnr-x2"]["pair"]["role"] == "psnr"
    assert by_id["other-x4"]["pair"] is None
    assert body["limits"]["min_tile"] == 24
    assert all("path" not in m for m in body["models"])  # local paths are not disclosed


def test_bundled_models_are_offered_and_paired_by_name(tmp_path, monkeypatch):
    files = {
        "irsrgan-psnr-x4": _tiny(tmp_path / "irsrgan-psnr-x4.safetensors", seed=0, scale=4,
                                 stage="psnr"),
        "irsrgan-x4": _tiny(tmp_path / "irsrgan-x4.safetensors", seed=1, scale=4, stage="gan",
                            summary="GAN x4"),
        "irsrgan-psnr-x2": _tiny(tmp_path / "irsrgan-psnr-x2.safetensors", seed=2),
    }
    monkeypatch.setattr(server.catalog, "bundled_models", lambda: dict(files))
    monkeypatch.setattr(server.catalog, "DEFAULT_MODEL", "irsrgan-x4")
    catalog, default = build_catalog(ServerConfig())
    assert default == "irsrgan-x4"  # DEFAULT_MODEL when bundled
    assert catalog["irsrgan-x4"].pair == ("irsrgan-psnr-x4", "irsrgan-x4")
    assert catalog["irsrgan-psnr-x4"].pair == ("irsrgan-psnr-x4", "irsrgan-x4")
    assert catalog["irsrgan-psnr-x2"].pair is None  # no irsrgan-x2 yet
    assert catalog["irsrgan-x4"].source == "bundled" and catalog["irsrgan-x4"].scale == 4
    assert catalog["irsrgan-x4"].stage == "gan" and catalog["irsrgan-x4"].summary == "GAN x4"
    # a bundled name given with --model becomes the default
    _, default = build_catalog(ServerConfig(models=("irsrgan-psnr-x2",)))
    assert default == "irsrgan-psnr-x2"


def test_pair_from_provenance_and_refused_for_different_architectures(tmp_path):
    smooth = _tiny(tmp_path / "smooth.safetensors", seed=0)
    sharp = _tiny(tmp_path / "sharp.safetensors", seed=1, psnr_model="smooth")
    a_psnr = _tiny(tmp_path / "a-psnr-x2.safetensors", seed=2, num_features=8)
    a_gan = _tiny(tmp_path / "a-x2.safetensors", seed=3, num_features=16)
    config = ServerConfig(models=tuple(map(str, (sharp, smooth, a_psnr, a_gan))),
                          include_bundled=False)
    catalog, default = build_catalog(config)
    assert default == "sharp"
    assert catalog["sharp"].pair == ("smooth", "sharp") == catalog["smooth"].pair
    assert catalog["a-x2"].pair is None and catalog["a-psnr-x2"].pair is None


def test_no_models_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(server.catalog, "bundled_models", dict)
    with pytest.raises(ConfigError, match="no models to serve"):
        create_app(ServerConfig())
    with pytest.raises(ConfigError, match="tile must be 0"):
        ServerConfig(tile=10)


# --------------------------------------------------------------------------- page, OpenAPI
def test_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/app.js" in refs and "/static/app.css" in refs
    for ref in refs:
        assert not ref.startswith(("http:", "https:", "//")), ref
        if ref.startswith("/static/"):
            asset = client.get(ref)
            assert asset.status_code == 200 and len(asset.content) > 1000, ref
            assert not re.search(r"https?://", asset.text), f"{ref} refers to another host"
    assert client.get("/static/../__init__.py").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/health", "/api/models", "/api/upscale", "/api/jobs", "/api/jobs/{job_id}",
            "/api/jobs/{job_id}/result", "/api/jobs/{job_id}/preview", "/api/clips"} <= set(paths)
    assert set(paths["/api/jobs/{job_id}"]) == {"get", "delete"}
    assert client.get("/docs").status_code == 200


# --------------------------------------------------------------------------- synchronous API
def test_upscale_8bit_png_matches_the_library(client, models):
    data = _png(_gray8())
    r = _post(client, data, name="../../etc/frame one.png")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == 'attachment; filename="frame_one_x2.png"'
    assert r.headers["x-irsrgan-model"] == "tiny-x2" and r.headers["x-irsrgan-scale"] == "2"
    out = decode_image(r.content)
    assert out.pixels.dtype == np.uint8 and out.pixels.shape == (48, 64)
    expected = _library(models["tiny-x2"], data)
    np.testing.assert_array_equal(out.pixels, expected.pixels)
    metrics = json.loads(r.headers["x-irsrgan-metrics"])
    assert metrics["measured_pixels"] == 48 * 64
    assert client.get("/api/health").json()["jobs"] == {}  # the synchronous job is released


def test_self_ensemble_request_matches_the_library(client, models):
    data = _png(_gray8())
    r = _post(client, data, ensemble="true", tile=0)
    assert r.status_code == 200, r.text
    ref = Upscaler(load_model(models["tiny-x2"]), device="cpu", tile=0, overlap=OVERLAP,
                   backend="torch", ensemble=True)
    expected = ref.upscale_image(decode_image(data)).pixels
    out = decode_image(r.content).pixels
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, _library(models["tiny-x2"], data, tile=0).pixels)
    job = _wait(client, _post(client, data, path="/api/jobs", ensemble="true").json()["id"])
    assert job["ensemble"] is True and job["status"] == "done"


def test_flir_rjpeg_preview_or_raw_counts(client, models):
    from .test_flir import make_rjpeg

    raw = thermal_sample(24, 32, seed=4)
    data = make_rjpeg(raw)
    job = _wait(client, _post(client, data, name="cam.jpg", path="/api/jobs").json()["id"])
    assert job["input"]["format"] == "jpeg" and job["input"]["flir_preview"] is True
    r = _post(client, data, name="cam.jpg", flir_raw="true")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="cam_x2.tiff"'
    out = decode_image(r.content)
    assert out.format == "tiff" and out.pixels.dtype == np.uint16 and out.pixels.shape == (48, 64)
    # the same result as upscaling the raw counts stored as a 16-bit PNG
    np.testing.assert_array_equal(out.pixels, _library(models["tiny-x2"], _png(raw)).pixels)


def test_flir_temperatures_and_the_values_for_a_readout(client, models):
    from irsrgan.consistency import consistent_image
    from irsrgan.radiometry import image_in_units

    from .test_flir import CAMERA, make_rjpeg

    raw = thermal_sample(24, 32, seed=4)
    data = make_rjpeg(raw, camera=CAMERA)
    r = _post(client, data, name="cam.jpg", path="/api/jobs", flir_raw="true", units="celsius")
    job = _wait(client, r.json()["id"])
    assert job["status"] == "done", job
    assert job["input"]["unit"] == "degC"
    assert job["input"]["flir"] == {"raw_size": [32, 24], "preview_size": [32, 24],
                                    "units": "celsius", "camera": "FLIR E30bx"}
    assert job["output"]["filename"] == "cam_x2.tiff" and job["output"]["dtype"] == "float32"
    v = client.get(job["links"]["values"])
    assert v.status_code == 200 and v.headers["x-unit"] == "degC"
    assert (v.headers["x-width"], v.headers["x-height"]) == ("64", "48")
    values = np.frombuffer(v.content, "<f4").reshape(48, 64)
    out = decode_image(client.get(job["links"]["result"]).content)
    np.testing.assert_array_equal(values, out.pixels)
    # the temperatures the library gives for the same file
    want = image_in_units(decode_image(data, "cam.jpg", flir_raw=True), "celsius")
    lib = Upscaler(load_model(models["tiny-x2"]), device="cpu", overlap=OVERLAP,
                   backend="torch").upscale_image(want)
    np.testing.assert_allclose(out.pixels, consistent_image(lib, want).pixels, atol=1e-4)
    assert job["consistency"] is True  # the default for temperatures
    means = out.pixels.reshape(24, 2, 32, 2).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(means - want.pixels).max() < 1e-3  # each 2x2 block reads as the sensor read
    # units concern FLIR raw data only: a PNG in the same request form is upscaled as it is
    r = _post(client, _png(raw), name="a.png", flir_raw="true", units="celsius")
    assert r.status_code == 200 and decode_image(r.content).pixels.dtype == np.uint16
    # consistency off on request: the model's output as it is
    r = _post(client, _png(raw), name="a.png", consistency="false")
    np.testing.assert_array_equal(decode_image(r.content).pixels, _library(
        models["tiny-x2"], _png(raw), consistency=False).pixels)


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16bit_round_trip_through_jobs(client, models, fmt):
    px = thermal_sample(40, 56, seed=3)  # uint16 counts about 7000..12000
    data = _png(px) if fmt == "png" else _tiff(px)
    r = _post(client, data, name=f"scene.{'tif' if fmt == 'tiff' else 'png'}", path="/api/jobs",
              model="tiny-psnr-x2")
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/jobs/{job['id']}"
    assert job["input"] == {"width": 56, "height": 40, "dtype": "uint16", "format": fmt,
                            "layout": "gray", "channels": 1, "flir_preview": False,
                            "unit": "value"}
    job = _wait(client, job["id"])
    assert job["status"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] >= 1
    assert job["output"]["width"] == 112 and job["output"]["height"] == 80

    # previews: 8-bit PNG, display-stretched between the input's 0.5 and 99.5 percentiles
    for which in ("", "?image=bicubic"):
        p = client.get(f"/api/jobs/{job['id']}/preview{which}")
        assert p.status_code == 200 and p.headers["content-type"] == "image/png"
        prev = decode_image(p.content).pixels
        assert prev.dtype == np.uint8 and prev.shape == (80, 112)
        assert prev.min() <= 3 and prev.max() >= 252

    # the sharpness figures, computed here by hand from the same unit-range input
    lr = torch.from_numpy((px.astype(np.float32) - px.min()) / (px.max() - px.min()))[None, None]
    bicubic = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False)
    v_bic = float(laplacian_variance(bicubic.clamp(0, 1), pixel_scale=255)[0])
    m = job["metrics"]
    assert m["laplacian_variance_bicubic"] == pytest.approx(v_bic, rel=1e-4)
    assert m["hf_ratio"] == pytest.approx(
        m["laplacian_variance_result"] / m["laplacian_variance_bicubic"], rel=1e-9)

    res = client.get(f"/api/jobs/{job['id']}/result")
    assert res.status_code == 200
    assert res.headers["content-type"] == f"image/{fmt}"
    suffix = ".tif" if fmt == "tiff" else ".png"
    assert res.headers["content-disposition"] == f'attachment; filename="scene_x2{suffix}"'
    assert sniff_format(res.content) == fmt
    out = decode_image(res.content)
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (80, 112)
    np.testing.assert_array_equal(out.pixels, _library(models["tiny-psnr-x2"], data).pixels)
    # fetched: released (result and job record are gone)
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404


def test_float_tiff_and_colour_jpeg(client):
    temps = (20.0 + 5.0 * np.random.default_rng(0).random((24, 32))).astype(np.float32)
    r = _post(client, _tiff(temps), name="celsius.tiff")
    assert r.status_code == 200 and r.headers["content-type"] == "image/tiff"
    out = decode_image(r.content).pixels
    assert out.dtype == np.float32 and out.shape == (48, 64)
    assert 15.0 < float(out.mean()) < 30.0  # degrees stay degrees (mapped back exactly)

    rgb = np.dstack([_gray8(seed=k) for k in range(3)])
    ok, buf = cv2.imencode(".jpg", rgb)
    job = _post(client, buf.tobytes(), name="palette.jpg", path="/api/jobs").json()
    assert job["input"]["layout"] == "rgb" and job["input"]["channels"] == 3
    job = _wait(client, job["id"])
    prev = decode_image(client.get(job["links"]["preview"]).content)
    assert prev.pixels.shape == (48, 64, 3) and prev.layout == "rgb"
    res = client.get(job["links"]["result"])
    assert res.headers["content-type"] == "image/jpeg"
    out = decode_image(res.content)
    assert out.pixels.shape == (48, 64, 3) and out.pixels.dtype == np.uint8


@pytest.mark.parametrize("range_mode", ["auto", "stretch"])
def test_8bit_preview_shows_the_files_pixels(client, range_mode):
    px = (60 + _gray8() // 4).astype(np.uint8)  # values 60..123: stretch mode differs
    job = _post(client, _png(px), path="/api/jobs", range_mode=range_mode).json()
    job = _wait(client, job["id"])
    prev = decode_image(client.get(job["links"]["preview"]).content).pixels
    out = decode_image(client.get(job["links"]["result"]).content).pixels
    assert prev.dtype == out.dtype == np.uint8 and prev.shape == out.shape == (48, 64)
    assert np.abs(prev.astype(int) - out.astype(int)).max() <= 1
    assert out.min() < 70 and out.max() > 110  # not stretched to 0..255


def test_page_footnote_and_docs_say_what_the_previews_do(client):
    """The page's footnote and docs/WEB.md describe the previews as the code makes them (the
    two tests above check the code): 8-bit as stored, 16-bit/float stretched by percentiles."""
    from irsrgan import display

    def words(text: str) -> str:
        return " ".join(text.split())

    page = words(client.get("/").text)
    docs = words((Path(__file__).parents[1] / "docs" / "WEB.md").read_text())
    assert server.PREVIEW_PERCENTILES is display.PREVIEW_PERCENTILES == (0.5, 99.5)
    for text in (page, docs):
        assert "an 8-bit input is shown as stored" in text
        assert "16-bit or float input stretched linearly between its 0.5 and 99.5 percentiles" \
            in text.replace("input is stretched", "input stretched")
        assert "first frame" in text  # clips: one stretch, from the first frame
    assert "display-stretched and coloured" not in page  # the old, wrong footnote


def test_file_type_is_decided_by_content_not_name(client):
    r = _post(client, _png(_gray8()), name="notes.txt")
    assert r.status_code == 200 and sniff_format(r.content) == "png"
    r = _post(client, _tiff(_gray8()), name="photo.png")
    assert r.status_code == 200 and sniff_format(r.content) == "tiff"
    assert r.headers["content-disposition"] == 'attachment; filename="photo_x2.tif"'


def _truncated_png() -> bytes:
    return _png(_gray8(64, 64))[:80]


@pytest.mark.parametrize(
    ("data", "fields", "status", "message"),
    [
        (b"", {}, 422, "file is empty"),
        (b"hello, this is text\n" * 10, {}, 415, "checked by content"),
        (None, {}, 422, "PNG is truncated"),  # a truncated PNG
        ("png", {"model": "nope"}, 422, "model must be one of"),
        ("png", {"model": "other-x4", "alpha": 0.5}, 422, "needs a PSNR/GAN model pair"),
        ("png", {"alpha": 1.5}, 422, "less than or equal to 1"),
        ("png", {"tile": 10}, 422, "tile must be 0"),
        ("png", {"range_mode": "bogus"}, 422, "range_mode"),
    ],
)
def test_bad_requests(client, data, fields, status, message):
    if data is None:
        data = _truncated_png()
    elif data == "png":
        data = _png(_gray8())
    for path in ("/api/upscale", "/api/jobs"):
        r = _post(client, data, path=path, **fields)
        assert r.status_code == status, r.text
        assert message in r.text
    assert client.post("/api/upscale", data={"model": "tiny-x2"}).status_code == 422  # no file
    assert client.get("/api/health").json()["jobs"] == {}


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width x height`` (a decompression-bomb's header)."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + tag + body
                + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _tiff_claiming(width: int, height: int) -> bytes:
    """A small TIFF whose ImageWidth/ImageLength tags were rewritten to a huge size."""
    data = bytearray(_tiff(_gray8(8, 8)))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = tif.pages[0].tags
        for name, value in (("ImageWidth", width), ("ImageLength", height)):
            tag = tags[name]
            fmt = "<H" if tag.dtype == 3 else "<I"
            data[tag.valueoffset:tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(data)


def test_decompression_bombs_and_large_images_are_refused(models):
    app = create_app(_config(models, max_pixels=40 * 40))
    with TestClient(app) as client:
        for data in (_png_header_only(60000, 60000), _tiff_claiming(60000, 60000)):
            r = _post(client, data)
            assert r.status_code == 413, r.text
            assert "60000x60000 exceeds 1600 pixels" in r.json()["detail"]
            assert "--max-pixels" in r.json()["detail"]
        assert _post(client, _png(_gray8(40, 41))).status_code == 413
        assert _post(client, _png(_gray8(40, 40))).status_code == 200


def test_upload_size_limit(models):
    app = create_app(_config(models, max_upload_bytes=10_000))
    with TestClient(app) as client:
        big = _png(_gray8(150, 150, seed=1))  # noise does not compress: > 20 kB
        assert len(big) > 20_000
        for path in ("/api/upscale", "/api/jobs"):
            r = _post(client, big, path=path)
            assert r.status_code == 413
            assert "upload too large" in r.json()["detail"] and "10000 bytes" in r.text
        assert _post(client, _png(_gray8())).status_code == 200


def test_upload_size_limit_without_content_length():
    """A chunked body (no Content-Length) is counted as it arrives and cut at the limit."""
    reached = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        reached.append(scope)

    chunks = [b"x" * 60] * 5
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/jobs", "headers": []}
    asyncio.run(server.app._BodyLimit(app, limit=200, allowed=150)(scope, receive, send))
    assert not reached and sent[0]["status"] == 413
    assert b"upload too large: more than 200 bytes" in sent[1]["body"]
    assert len(chunks) == 1  # stopped reading at the 4th chunk (240 > 200 bytes)


# --------------------------------------------------------------------------- interpolation
def test_alpha_interpolates_the_pair_and_models_are_cached(models):
    calls = []

    def loader(path):
        calls.append(Path(path).name)
        return load_model(path)

    data = _png(_gray8(seed=5))
    with TestClient(create_app(_config(models), loader=loader)) as client:
        half = _post(client, data, alpha=0.5)
        assert half.status_code == 200 and half.headers["x-irsrgan-alpha"] == "0.5"
        assert sorted(calls) == ["tiny-psnr-x2.safetensors", "tiny-x2.safetensors"]
        again = _post(client, data, alpha=0.504)  # rounds to the same 0.50: cached
        assert len(calls) == 2
        np.testing.assert_array_equal(decode_image(again.content).pixels,
                                      decode_image(half.content).pixels)
        zero = _post(client, data, model="tiny-x2", alpha=0)  # alpha 0 = the PSNR model
        one = _post(client, data, model="tiny-psnr-x2", alpha=1)  # alpha 1 = the GAN model
        plain = _post(client, data)  # tiny-x2, the default, shares the alpha-1 entry
        assert len(calls) == 4
        keys = client.app.state.manager.cache.keys()
        assert ("tiny-x2", None) in keys and ("tiny-psnr-x2", None) in keys
    mixed = interpolate_models(load_model(models["tiny-psnr-x2"]),
                               load_model(models["tiny-x2"]), 0.5)
    np.testing.assert_array_equal(decode_image(half.content).pixels,
                                  _library(None, data, model=mixed).pixels)
    np.testing.assert_array_equal(decode_image(zero.content).pixels,
                                  _library(models["tiny-psnr-x2"], data).pixels)
    np.testing.assert_array_equal(decode_image(one.content).pixels,
                                  decode_image(plain.content).pixels)
    assert not np.array_equal(decode_image(zero.content).pixels,
                              decode_image(one.content).pixels)


def test_model_cache_is_bounded(models):
    app = create_app(_config(models, cache_size=2))
    with TestClient(app) as client:
        for alpha in (0.2, 0.4, 0.6):
            assert _post(client, _png(_gray8()), alpha=alpha).status_code == 200
        assert app.state.manager.cache.keys() == [("tiny-psnr-x2+tiny-x2", 0.4),
                                                  ("tiny-psnr-x2+tiny-x2", 0.6)]


# --------------------------------------------------------------------------- jobs
def test_tile_override_reports_tiles(client, models):
    px = thermal_sample(40, 56, seed=1)
    data = _png(px)
    job = _post(client, data, path="/api/jobs", tile=24).json()
    assert job["tile"] == 24
    job = _wait(client, job["id"])
    # cores of 24 - 2 * 4 = 16 LR px: ceil(40 / 16) * ceil(56 / 16) = 3 * 4 tiles
    assert job["progress"] == {"done": 12, "total": 12, "fraction": 1.0, "unit": "tiles"}
    res = client.get(f"/api/jobs/{job['id']}/result?keep=true")
    np.testing.assert_array_equal(decode_image(res.content).pixels,
                                  _library(models["tiny-x2"], data, tile=24).pixels)
    assert client.get(f"/api/jobs/{job['id']}").json()["status"] == "done"  # kept
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204  # released
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 404
    assert client.get("/api/jobs/nonexistent/preview").status_code == 404


def _start(client, seed: int, tile: int = 24) -> dict:
    # 64 x 96 LR px in cores of 24 - 2 * 4 = 16 px: 4 * 6 = 24 tiles
    r = _post(client, _png(thermal_sample(64, 96, seed=seed)), path="/api/jobs", tile=tile)
    assert r.status_code == 202, r.text
    return r.json()


def test_two_jobs_progress_independently_and_cancel_stops_one(models):
    gate = threading.Event()
    gate.set()
    # 24 tiles of 1 per batch, 20 ms each: about 0.5 s per job
    app = create_app(_config(models, batch_size=1), loader=_slow_loader(0.02, gate))
    with TestClient(app) as client:
        a, b = _start(client, 1), _start(client, 2)
        both_running = False
        worst_health = 0.0
        end = time.monotonic() + 30
        while time.monotonic() < end and not both_running:
            t0 = time.monotonic()
            assert client.get("/api/health").status_code == 200
            worst_health = max(worst_health, time.monotonic() - t0)
            ja = client.get(f"/api/jobs/{a['id']}").json()
            jb = client.get(f"/api/jobs/{b['id']}").json()
            both_running = all(
                j["status"] == "running" and 0 < j["progress"]["done"] <= 20
                for j in (ja, jb)
            )
            if not both_running and ja["progress"]["done"] > 20:
                break
            time.sleep(0.005)
        assert both_running, (ja, jb)  # one worker per job: both advance at the same time
        assert worst_health < 1.0  # the event loop is not blocked by inference
        gate.clear()  # hold both jobs (each may finish the tile it is on)

        assert client.get(f"/api/jobs/{a['id']}/result").status_code == 409  # not done yet
        r = client.delete(f"/api/jobs/{a['id']}")
        assert r.status_code == 202 and r.json()["status"] == "cancelling"
        gate.set()
        ja = _wait(client, a["id"])
        assert ja["status"] == "cancelled"
        stopped_at = ja["progress"]["done"]
        assert stopped_at < 24
        jb = _wait(client, b["id"])
        assert jb["status"] == "done" and jb["progress"] == {"done": 24, "total": 24,
                                                             "fraction": 1.0, "unit": "tiles"}
        time.sleep(0.1)
        assert client.get(f"/api/jobs/{a['id']}").json()["progress"]["done"] == stopped_at
        r = client.get(f"/api/jobs/{a['id']}/result")
        assert r.status_code == 409 and "cancelled" in r.json()["detail"]
        assert client.get(f"/api/jobs/{b['id']}/result").status_code == 200


def test_queued_job_cancels_at_once_and_full_queue_is_refused(models):
    gate = threading.Event()  # closed: the first job holds the only worker
    app = create_app(_config(models, workers=1, max_jobs=2, batch_size=1),
                     loader=_slow_loader(0.0, gate))
    with TestClient(app) as client:
        a, b = _start(client, 1), _start(client, 2)
        assert _wait(client, a["id"], until=("running",))["progress"]["done"] == 0
        assert client.get(f"/api/jobs/{b['id']}").json()["status"] == "queued"  # 1 worker
        r = _post(client, _png(_gray8()), path="/api/jobs")
        assert r.status_code == 429 and "too many jobs" in r.json()["detail"]
        r = client.delete(f"/api/jobs/{b['id']}")
        assert r.status_code == 202 and r.json()["status"] == "cancelled"
        assert r.json()["progress"]["done"] == 0
        assert client.delete(f"/api/jobs/{a['id']}").json()["status"] == "cancelling"
        gate.set()
        assert _wait(client, a["id"])["status"] == "cancelled"
        # finished jobs make room: the oldest is dropped for a new one
        c = _post(client, _png(_gray8()), path="/api/jobs")
        assert c.status_code == 202
        assert client.get(f"/api/jobs/{b['id']}").status_code == 404


def test_results_expire(models):
    app = create_app(_config(models, result_ttl=0.0))
    with TestClient(app) as client:
        job = _post(client, _png(_gray8()), path="/api/jobs").json()
        app.state.manager.jobs[job["id"]].future.result(timeout=30)
        assert client.get(f"/api/jobs/{job['id']}").status_code == 404
        assert app.state.manager.jobs == {}


def test_shutdown_cancels_jobs_and_forgets_results(models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = create_app(_config(models, batch_size=1), loader=_slow_loader(0.02))
    with TestClient(app) as client:
        done = _post(client, _png(_gray8()), path="/api/jobs").json()
        _wait(client, done["id"])
        running = _start(client, 1)
        _wait(client, running["id"], until=("running",))
        job = app.state.manager.jobs[running["id"]]
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 5
    assert job.status == "cancelled" and job.done < 24 and job.result is None
    assert app.state.manager.jobs == {} and app.state.manager.cache.keys() == []
    assert list(tmp_path.iterdir()) == []  # nothing written to the working folder


def test_failed_job_reports_the_error(models):
    # a 3-channel model cannot run on RGBA input: the job fails with the library's message
    rgb = models["tiny-x2"].parent / "rgb-x2.safetensors"
    if not rgb.exists():
        torch.manual_seed(0)
        save_model(create_model("compact", scale=2, num_features=8, num_convs=2,
                                in_channels=3, out_channels=3), rgb)
    app = create_app(_config({"rgb": rgb}))
    with TestClient(app) as client:
        px = np.dstack([_gray8(seed=k) for k in range(4)])
        r = _post(client, _png(px))
        assert r.status_code == 422
        assert "cannot run a 3-channel model on 4-channel input" in r.json()["detail"]
        job = _post(client, _png(px), path="/api/jobs").json()
        job = _wait(client, job["id"])
        assert job["status"] == "failed" and "3-channel" in job["error"]


def test_allowed_hosts(models):
    app = create_app(_config(models, allowed_hosts=("127.0.0.1", "localhost")))
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/health", headers={"host": "attacker.example"}).status_code == 400


# --------------------------------------------------------------------------- CLI
def test_serve_command(models, monkeypatch, capsys):
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.model, args.workers) == ("127.0.0.1", 8000, [], 2)
    seen = {}

    def fake_run(app, host, port, **kwargs):
        seen.update(app=app, host=host, port=port)

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    assert main(["serve", "--model", str(models["other-x4"]), "--port", "8123",
                 "--device", "cpu", "--max-pixels", "1000"]) == 0
    app = seen["app"]
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert app.state.default_model == "other-x4" and app.state.config.max_pixels == 1000
    assert "127.0.0.1" in app.state.config.allowed_hosts
    assert "http://127.0.0.1:8123/" in capsys.readouterr().err
    main(["serve", "--model", str(models["other-x4"]), "--max-clip-mb", "0.5",
          "--max-clip-frames", "7", "--max-clip-seconds", "2.5", "--max-clip-pixels", "999"])
    c = seen["app"].state.config
    assert (c.max_clip_bytes, c.max_clip_frames, c.max_clip_seconds, c.max_clip_pixels) == (
        512 * 1024, 7, 2.5, 999)
    main(["serve", "--model", str(models["other-x4"]), "--host", "0.0.0.0"])
    assert seen["app"].state.config.allowed_hosts is None
    assert "no authentication" in capsys.readouterr().err

    monkeypatch.setattr(server.catalog, "bundled_models", dict)
    assert main(["serve"]) == 2
    assert "no models to serve" in capsys.readouterr().err


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.org")


def test_broken_model_files(tmp_path, models):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        create_app(_config({"broken": broken}))
    # a model file that breaks after start-up: the job fails as a server error (500)
    copy = tmp_path / "later-x2.safetensors"
    copy.write_bytes(models["tiny-x2"].read_bytes())
    with TestClient(create_app(_config({"later": copy}))) as client:
        copy.write_bytes(b"garbage")
        r = _post(client, _png(_gray8()))
        assert r.status_code == 500
        assert "model later-x2 cannot be loaded" in r.json()["detail"]


# --------------------------------------------------------------------------- denoise pairs
def test_denoise_pair_auto_fixed_and_16bit_default(tmp_path):
    """A faithful model naming its robust partner: the API's denoise strength equals the
    library's interpolation; auto follows the image's noise; 16-bit keeps the faithful end."""
    robust = _tiny(tmp_path / "rob-x2.safetensors", seed=5)
    faithful = _tiny(tmp_path / "fai-x2.safetensors", seed=4, denoise_partner="rob-x2")
    config = ServerConfig(models=(str(faithful), str(robust)), include_bundled=False,
                          backend="torch", device="cpu", overlap=OVERLAP, preload=False)
    f_model, r_model = load_model(faithful), load_model(robust)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    smooth = 128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    clean = np.clip(smooth, 0, 255).astype(np.uint8)
    noisy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
    with TestClient(create_app(config)) as c:
        body = {m["id"]: m for m in c.get("/api/models").json()["models"]}
        assert body["fai-x2"]["denoise"] == {"faithful": "fai-x2", "robust": "rob-x2",
                                             "role": "faithful"}
        assert body["rob-x2"]["denoise"]["role"] == "robust"
        # a fixed strength equals the library's pair: the interpolated model, levels anchored
        r = _post(c, _png(clean), denoise="0.5")
        assert r.status_code == 200 and r.headers["x-irsrgan-denoise"] == "0.5"
        pair = DenoiseUpscaler(f_model, r_model, 0.5, device="cpu", overlap=OVERLAP,
                               backend="torch")
        want = pair.upscale_image(decode_image(_png(clean))).pixels
        assert np.array_equal(decode_image(r.content).pixels, want)
        plain = _library(faithful, _png(clean),
                         model=interpolate_models(f_model, r_model, 0.5)).pixels
        assert not np.array_equal(plain, want)  # the anchoring did something
        # auto (the default for 8-bit): the noisy frame goes to the robust end
        job = c.post("/api/jobs", files={"image": ("n.png", _png(noisy), "image/png")}).json()
        job = _wait(c, job["id"])
        assert job["denoise"]["requested"] == "auto" and job["denoise"]["strength"] == 1.0
        result = c.get(f"/api/jobs/{job['id']}/result")
        assert np.array_equal(decode_image(result.content).pixels,
                              pair.upscale_image(decode_image(_png(noisy)), strength=1).pixels)
        # 16-bit without a choice: faithful (strength 0)
        px16 = (noisy.astype(np.uint16) * 200 + 1000)
        r16 = _post(c, _tiff(px16), name="f.tiff")
        assert r16.headers["x-irsrgan-denoise"] == "0"
        assert np.array_equal(decode_image(r16.content).pixels,
                              _library(faithful, _tiff(px16)).pixels)
        # the robust model alone runs plain; asked for a strength, it uses the pair
        r = _post(c, _png(noisy), model="rob-x2")
        assert "x-irsrgan-denoise" not in r.headers
        assert _post(c, _png(clean), model="rob-x2", denoise="0").headers[
            "x-irsrgan-denoise"] == "0"
        # refused: a bad value, alpha together with denoise, a model without a pair
        assert _post(c, _png(clean), denoise="lots").status_code == 422
        assert "denoise strength" in _post(c, _png(clean), denoise="1.5").json()["detail"]
        assert _post(c, _png(clean), denoise="0.5", alpha=0.5).status_code == 422
    plain = ServerConfig(models=(str(robust),), include_bundled=False, backend="torch",
                         device="cpu", overlap=OVERLAP, preload=False)
    with TestClient(create_app(plain)) as c:
        r = _post(c, _png(clean), denoise="auto")
        assert r.status_code == 422 and "faithful/robust" in r.json()["detail"]
