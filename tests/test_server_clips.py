"""Clips through the HTTP API: upload, progress in frames, download the same kind of file,
previews a browser plays, and the limits (bytes, frame size, frames, seconds) refused with
413 before anything is decoded past them."""

from __future__ import annotations

import asyncio
import io
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install '.[web]'")
av = pytest.importorskip("av", reason="clips need PyAV: pip install '.[video]'")

from irsrgan import server  # noqa: E402
from irsrgan.checkpoint import load_model  # noqa: E402
from irsrgan.errors import ConfigError  # noqa: E402
from irsrgan.inference import Upscaler  # noqa: E402
from irsrgan.sequences import ClipLimits, open_sequence, upscale_sequence  # noqa: E402
from irsrgan.server import create_app  # noqa: E402

from .conftest import require_shared_data  # noqa: E402
from .test_sequences import count_decoded, make_clip  # noqa: E402
from .test_server import (  # noqa: E402
    FINISHED,
    OVERLAP,
    TestClient,
    _config,
    _slow_loader,
    _tiny,
    _wait,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "tiny-x2": _tiny(folder / "tiny-x2.safetensors", seed=1),
        "tiny-psnr-x2": _tiny(folder / "tiny-psnr-x2.safetensors", seed=0),
    }


def _frames(n: int, h: int = 24, w: int = 32, dtype=np.uint8, seed: int = 0) -> list:
    """A drifting gradient with noise: frames that differ, as a clip's do."""
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 60000
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = (x + 2 * i) / (w + 2 * n) * 0.8 * top + y / h * 0.1 * top
        noise = rng.normal(0, 0.02 * top, (h, w))
        out.append(np.clip(base + noise, 0, top).astype(dtype))
    return out


def _post_clip(client, path: Path, name: str | None = None, **fields):
    form = {k: str(v) for k, v in fields.items()}
    with open(path, "rb") as fh:
        return client.post("/api/clips", data=form,
                           files={"clip": (name or path.name, fh, "application/octet-stream")})


def _decode(data: bytes, tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    with open_sequence(path) as reader:
        return reader.info, [f.image.pixels for f in reader.frames()]


def _library(model_path: Path, src: Path, out: Path, **kwargs) -> list:
    """The CLI's path for the same clip: the reference for the server's output."""
    up = Upscaler(load_model(model_path), device="cpu", overlap=OVERLAP, backend="torch")
    upscale_sequence(src, out, up, progress=False, **kwargs)
    with open_sequence(out) as reader:
        return [f.image.pixels for f in reader.frames()]


def _folders(job_id: str, app) -> Path | None:
    job = app.state.manager.get(job_id)
    return None if job is None else job.folder


# --------------------------------------------------------------------------- round trips
def test_8bit_mp4_clip_upload_progress_previews_and_download(models, tmp_path):
    src = tmp_path / "flight.mp4"
    frames = _frames(6)
    make_clip(src, frames, codec="libx264", pix_fmt="yuv420p", rate=12)
    app = create_app(_config(models))
    with TestClient(app) as client:
        r = _post_clip(client, src, model="tiny-x2", temporal=0.5)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["kind"] == "clip" and r.headers["Location"] == f"/api/jobs/{job['id']}"
        assert job["input"]["frames"] == 6 and job["input"]["rate"] == 12
        assert job["input"]["width"] == 32 and job["input"]["height"] == 24
        assert job["progress"]["unit"] == "frames" and job["progress"]["total"] == 6
        folder = _folders(job["id"], app)
        assert folder is not None and folder.is_dir()
        done = _wait(client, job["id"])
        assert done["status"] == "done", done
        assert done["progress"]["done"] == done["progress"]["total"] == 6
        assert done["progress"]["fps"] > 0 and done["progress"]["eta_s"] is None
        out = done["output"]
        assert (out["width"], out["height"], out["dtype"]) == (64, 48, "uint8")
        assert out["filename"] == "flight_x2.mp4" and out["media_type"] == "video/mp4"
        assert out["codec"] == "h264"

        # previews: 8-bit H.264 MP4s of the result and of bicubic, one frame per frame
        for which in ("", "?image=bicubic"):
            p = client.get(f"/api/jobs/{job['id']}/preview{which}")
            assert p.status_code == 200 and p.headers["content-type"] == "video/mp4"
            path = tmp_path / f"preview{len(which)}.mp4"
            path.write_bytes(p.content)
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
                assert (s.width, s.height, s.average_rate) == (64, 48, 12)
                assert sum(1 for _ in c.decode(s)) == 6
        # a browser seeks with Range requests
        part = client.get(f"/api/jobs/{job['id']}/preview", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100
        assert client.get(f"/api/jobs/{job['id']}/values").status_code == 409

        res = client.get(f"/api/jobs/{job['id']}/result")
        assert res.status_code == 200 and res.headers["content-type"] == "video/mp4"
        assert 'filename="flight_x2.mp4"' in res.headers["content-disposition"]
        info, got = _decode(res.content, tmp_path, "flight_x2.mp4")
        # fetched: released, its folder removed
        assert client.get(f"/api/jobs/{job['id']}").status_code == 404
        assert not folder.exists()
    assert info.kind == "video" and info.codec == "h264" and len(got) == 6
    assert (info.width, info.height, info.rate) == (64, 48, Fraction(12))
    assert all(px.dtype == np.uint8 and px.shape == (48, 64) for px in got)
    # the same as `irsrgan upscale` gives (H.264 is lossy but deterministic)
    ref = _library(models["tiny-x2"], src, tmp_path / "ref" / "flight.mp4", temporal=0.5)
    assert all(np.array_equal(a, b) for a, b in zip(got, ref, strict=True))


def test_16bit_clip_stays_16bit_lossless_and_matches_the_library(models, tmp_path):
    frames = _frames(4, dtype=np.uint16, seed=3)
    src = tmp_path / "raw16.mkv"
    make_clip(src, frames, codec="ffv1", pix_fmt="gray16le", rate=30)
    with TestClient(create_app(_config(models))) as client:
        job = _post_clip(client, src, name="raw16.mkv", model="tiny-psnr-x2",
                         temporal=0).json()
        done = _wait(client, job["id"])
        assert done["status"] == "done", done
        assert done["output"]["codec"] == "ffv1" and done["output"]["dtype"] == "uint16"
        res = client.get(f"/api/jobs/{job['id']}/result")
        assert res.headers["content-type"] == "video/x-matroska"
        info, got = _decode(res.content, tmp_path, "raw16_x2.mkv")
    # Matroska keeps milliseconds: 4 frames at 1/30 s read back as 29.8 frames/s
    assert info.codec == "ffv1" and abs(info.rate - 30) < 0.5
    assert [px.dtype for px in got] == [np.dtype(np.uint16)] * 4
    ref = _library(models["tiny-psnr-x2"], src, tmp_path / "ref" / "raw16.mkv")
    assert all(np.array_equal(a, b) for a, b in zip(got, ref, strict=True))  # every count


def test_tiff_stack_clip_comes_back_as_a_tiff_stack(models, tmp_path):
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, np.stack(_frames(3, dtype=np.uint16, seed=4)),
                     photometric="minisblack")
    app = create_app(_config(models))
    with TestClient(app) as client:
        job = _post_clip(client, src, model="tiny-x2").json()
        assert job["input"]["kind"] == "tiff" and job["input"]["frames"] == 3
        done = _wait(client, job["id"])
        assert done["status"] == "done", done
        assert done["output"]["filename"] == "stack_x2.tif"
        folder = app.state.manager.get(job["id"]).folder
        res = client.get(f"/api/jobs/{job['id']}/result?keep=true")
        assert res.headers["content-type"] == "image/tiff"
        assert folder.is_dir() and client.get(f"/api/jobs/{job['id']}").status_code == 200
    assert not folder.exists()  # kept until shutdown, then removed
    pages = tifffile.imread(io.BytesIO(res.content))
    assert pages.shape == (3, 48, 64) and pages.dtype == np.uint16


def test_flir_seq_clip_becomes_a_16bit_tiff_stack(models, tmp_path):
    seq = require_shared_data("flir-sequences") / "SampleSEQ.seq"
    with open_sequence(seq) as reader:
        n = reader.info.frames
        w, h = reader.info.width, reader.info.height
    app = create_app(_config(models, max_clip_pixels=w * h, max_clip_frames=n))
    with TestClient(app) as client:
        job = _post_clip(client, seq, model="tiny-x2", temporal=0).json()
        assert job["input"]["kind"] == "flir-seq", job
        done = _wait(client, job["id"], timeout=600)
        assert done["status"] == "done", done
        assert done["output"]["filename"] == "SampleSEQ_x2.tiff"
        pages = tifffile.imread(io.BytesIO(client.get(f"/api/jobs/{job['id']}/result").content))
    assert pages.shape == (n, 2 * h, 2 * w) and pages.dtype == np.uint16


# --------------------------------------------------------------------------- limits
def test_a_long_clip_is_refused_from_its_header_without_decoding(models, tmp_path,
                                                                 monkeypatch):
    src = tmp_path / "long.mp4"
    make_clip(src, _frames(50), codec="libx264", pix_fmt="yuv420p", rate=25)
    decoded = count_decoded(monkeypatch)
    app = create_app(_config(models, max_clip_frames=3))
    with TestClient(app) as client:
        r = _post_clip(client, src)
        assert r.status_code == 413
        assert r.json()["detail"] == ("clip too long: long.mp4: 50 frames; the limit is 3 "
                                      "frames (set with --max-clip-frames)")
        assert decoded[0] <= 1  # the first frame, which tells the pixel format
        assert app.state.manager.jobs == {}
    with TestClient(create_app(_config(models, max_clip_seconds=1.5))) as client:
        r = _post_clip(client, src)
        assert r.status_code == 413
        assert r.json()["detail"] == ("clip too long: long.mp4: 2 s long; the limit is 1.5 s "
                                      "(set with --max-clip-seconds)")


def test_a_clip_that_hides_its_length_stops_at_the_first_frame_past_the_limit(
        models, tmp_path, monkeypatch):
    """A raw H.264 stream says neither its frame count nor its duration: the job reads 3
    frames, decodes the 4th, and fails saying why; nothing is kept."""
    src = tmp_path / "raw.h264"
    make_clip(src, _frames(50), codec="libx264", pix_fmt="yuv420p", fmt="h264")
    decoded = count_decoded(monkeypatch)
    app = create_app(_config(models, max_clip_frames=3))
    with TestClient(app) as client:
        r = _post_clip(client, src, model="tiny-x2", temporal=0)
        assert r.status_code == 202, r.text
        assert r.json()["progress"]["total"] == 0  # unknown
        done = _wait(client, r.json()["id"])
        assert done["status"] == "failed"
        assert done["error"] == ("raw.h264: more than 3 frames (the container did not say how "
                                 "many); the limit is 3 frames")
        assert decoded[0] == 1 + 4  # the upload's probe (1 frame), then the job (3 + 1)
        assert _folders(r.json()["id"], app) is None  # removed
        assert client.get(f"/api/jobs/{r.json()['id']}/result").status_code == 409


def test_frame_size_type_and_upload_size_limits(models, tmp_path, monkeypatch):
    src = tmp_path / "c.mkv"
    make_clip(src, _frames(3), pix_fmt="gray")
    decoded = count_decoded(monkeypatch)
    with TestClient(create_app(_config(models, max_clip_pixels=100))) as client:
        r = _post_clip(client, src)
        assert r.status_code == 413
        assert r.json()["detail"] == ("clip frames too large: c.mkv: frames of 32x24 exceed 100 "
                                      "pixels; the limit is 100 pixels per frame (set with "
                                      "--max-clip-pixels)")
        assert decoded[0] == 0  # refused from the codec's header
    with TestClient(create_app(_config(models, max_clip_bytes=1000))) as client:
        big = tmp_path / "big.mkv"
        make_clip(big, _frames(20, seed=9), pix_fmt="gray")
        assert big.stat().st_size > 2000
        r = _post_clip(client, big)
        assert r.status_code == 413
        assert r.json()["detail"].startswith("upload too large: ")
        assert "the limit is 1000 bytes" in r.text and "--max-clip-mb" in r.text
        # a still image is not a clip; a bad option is refused before the upload is read
        png = tmp_path / "a.png"
        import cv2

        cv2.imwrite(str(png), _frames(1)[0])
        r = _post_clip(client, png)
        assert r.status_code == 415 and "single images go to POST /api/jobs" in r.text
        r = _post_clip(client, src, model="nope")
        assert r.status_code == 422 and "model must be one of" in r.text
        r = _post_clip(client, src, range_mode="stretch", temporal=0.5)
        assert r.status_code == 422 and "temporal blending needs one value map" in r.text
        r = _post_clip(client, src, alpha=0.5, denoise="0.3")
        assert r.status_code == 422


def test_clip_upload_without_content_length_is_counted_and_cut(tmp_path):
    """A chunked clip upload streams through (not held in memory) and is stopped once past
    the clip limit (plus the form's overhead)."""
    received = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(len(message["body"]))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def run(total_chunks: int) -> list[dict]:
        chunks = [b"x" * 40_000] * total_chunks
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/clips", "headers": []}
        limit = server.app._BodyLimit(app, limit=200, allowed=150, clip_allowed=100_000)
        asyncio.run(limit(scope, receive, send))
        return sent

    sent = run(4)  # 160 kB <= 100 kB + 64 kiB: passed through, chunk by chunk
    assert sent[0]["status"] == 200 and received == [40_000] * 4
    received.clear()
    sent = run(10)  # 400 kB: stopped at the 5th chunk (200 kB > 165.5 kB)
    assert sent[0]["status"] == 413 and len(received) == 4
    assert b"the limit is 100000 bytes" in sent[1]["body"]


def test_a_chunked_clip_upload_over_the_limit_is_refused_by_the_app(models, tmp_path):
    """No Content-Length: the bytes are counted while the form is parsed; 413, no job."""
    boundary = "xyzzy"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"clip\"; "
            f"filename=\"c.mkv\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        for _ in range(40):
            yield b"\0" * 4096
        yield tail

    app = create_app(_config(models, max_clip_bytes=50_000))
    with TestClient(app) as client:
        r = client.post("/api/clips", content=body(),
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413, r.text
        assert "the limit is 50000 bytes" in r.json()["detail"]
        assert app.state.manager.jobs == {}


# --------------------------------------------------------------------------- jobs
def test_a_running_clip_job_cancels_and_its_folder_goes(models, tmp_path):
    gate = threading.Event()
    src = tmp_path / "c.mkv"
    make_clip(src, _frames(8), pix_fmt="gray")
    app = create_app(_config(models), loader=_slow_loader(0.0, gate))
    with TestClient(app) as client:
        job = _post_clip(client, src, model="tiny-x2", tile=0).json()
        _wait(client, job["id"], until=("running",))
        folder = _folders(job["id"], app)
        assert folder.is_dir()
        r = client.delete(f"/api/jobs/{job['id']}")
        assert r.status_code == 202
        gate.set()
        done = _wait(client, job["id"], until=FINISHED)
        assert done["status"] == "cancelled" and done["progress"]["done"] < 8
        assert not folder.exists()
        assert client.get(f"/api/jobs/{job['id']}/preview").status_code == 409


def test_limits_are_offered_and_the_config_checks_them(models):
    with TestClient(create_app(_config(models))) as client:
        limits = client.get("/api/models").json()["limits"]
    assert limits["max_clip_bytes"] == 256 * 1024 * 1024
    assert limits["max_clip_frames"] == 600 and limits["max_clip_seconds"] == 60
    assert limits["max_clip_pixels"] == 1280 * 1024
    with pytest.raises(ConfigError, match="max_clip_frames must be an integer >= 1, got 0"):
        _config(models, max_clip_frames=0)
    with pytest.raises(ConfigError, match="max_clip_seconds must be > 0"):
        _config(models, max_clip_seconds=0)
    with pytest.raises(ValueError, match="max_frames must be an integer >= 1"):
        ClipLimits(max_frames=0)


def test_clip_at_a_fixed_denoise_strength_is_anchored_as_the_cli_does(tmp_path):
    """A clip through a faithful/robust pair at strength 1: every frame level-anchored to its
    input, the same bytes as ``irsrgan upscale --denoise 1`` (a lossless TIFF stack)."""
    from irsrgan.server import ServerConfig

    robust = _tiny(tmp_path / "rob-x2.safetensors", seed=5)
    faithful = _tiny(tmp_path / "fai-x2.safetensors", seed=4, denoise_partner="rob-x2")
    config = ServerConfig(models=(str(faithful), str(robust)), include_bundled=False,
                          backend="torch", device="cpu", overlap=OVERLAP, preload=False)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, np.stack(_frames(3)), photometric="minisblack")
    with TestClient(create_app(config)) as client:
        r = _post_clip(client, src, model="fai-x2", denoise="1", temporal=0)
        assert r.status_code == 202, r.text
        done = _wait(client, r.json()["id"])
        assert done["status"] == "done", done
        res = client.get(f"/api/jobs/{done['id']}/result")
    got = _decode(res.content, tmp_path, "got.tif")[1]
    up = Upscaler(load_model(robust), device="cpu", overlap=OVERLAP, backend="torch")
    upscale_sequence(src, tmp_path / "want.tif", up, progress=False, temporal=0, anchor=True)
    upscale_sequence(src, tmp_path / "plain.tif", up, progress=False, temporal=0)
    want, plain = tifffile.imread(tmp_path / "want.tif"), tifffile.imread(tmp_path / "plain.tif")
    assert not np.array_equal(want, plain)  # the anchoring did something
    np.testing.assert_array_equal(np.stack(got), want)
