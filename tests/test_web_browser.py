"""The web page in a real browser: Debian's Chromium, headless, driven by Playwright.

The server runs in a thread (uvicorn on a free loopback port) with a tiny x2 model pair. The
browser is the system's ``/usr/bin/chromium`` (never downloaded by the test: no
``playwright install``); the test skips, saying why, when it or the Python packages are absent.
A screenshot is written to pytest's ``tmp_path`` and copied to ``$IRSRGAN_ARTIFACTS`` if set.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install '.[web]'")
try:  # python-multipart (uploads); its module was named multipart before 0.0.13
    import python_multipart  # noqa: F401
except ImportError:
    pytest.importorskip("multipart", reason="uploads need python-multipart: pip install '.[web]'")
uvicorn = pytest.importorskip("uvicorn", reason="needs uvicorn: pip install '.[web]'")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs the Python playwright package: pip install '.[test]'"
)

from irsrgan.checkpoint import save_model  # noqa: E402
from irsrgan.image import read_image  # noqa: E402
from irsrgan.models import create_model  # noqa: E402
from irsrgan.sample import thermal_sample  # noqa: E402
from irsrgan.server import ServerConfig, create_app  # noqa: E402

from .conftest import SHARED_DATA  # noqa: E402
from .test_flir import make_rjpeg  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
)
REAL_FRAME = SHARED_DATA / "flir-radiometric" / "raw16" / "11_-_IR_moving_car_raw16.png"


@pytest.fixture()
def live_server(tmp_path):
    """A uvicorn server in a thread on a free port; yields its base URL."""
    paths = []
    for name, seed in (("tiny-x2", 1), ("tiny-psnr-x2", 0)):
        torch.manual_seed(seed)
        path = tmp_path / f"{name}.safetensors"
        save_model(create_model("compact", scale=2, num_features=8, num_convs=2), path)
        paths.append(str(path))
    config = ServerConfig(models=tuple(paths), include_bundled=False, device="cpu",
                          backend="torch", overlap=4)
    app = create_app(config)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def _input_image(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A real 16-bit radiometric frame when ../shared/data is there, else a generated one."""
    if REAL_FRAME.is_file():
        px = cv2.imread(str(REAL_FRAME), cv2.IMREAD_UNCHANGED)
    else:
        px = thermal_sample(120, 160)
    path = tmp_path / "thermal frame.png"
    assert cv2.imwrite(str(path), px)
    return path, px


def _launch(pw, tmp_path):
    return pw.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
        args=CHROMIUM_ARGS, accept_downloads=True, viewport={"width": 1280, "height": 900},
    )


def _download(page, selector: str, folder: Path) -> Path:
    """Click a download link or button; the file saved under its suggested name."""
    with page.expect_download() as info:
        page.click(selector)
    path = folder / info.value.suggested_filename
    info.value.save_as(str(path))
    return path


def test_page_upscales_a_16bit_image_in_chromium(live_server, tmp_path):
    src, px = _input_image(tmp_path)
    assert px.dtype == np.uint16
    h, w = px.shape
    foreign, console_errors = [], []
    with sync_api.sync_playwright() as pw:
        context = _launch(pw, tmp_path)
        try:
            page = context.new_page()
            page.on("request", lambda r: None if r.url.startswith(
                (live_server, "blob:", "data:")) else foreign.append(r.url))
            page.on("console", lambda m: console_errors.append(m.text)
                    if m.type == "error" else None)
            page.goto(live_server + "/")
            page.wait_for_selector("#model option[value='tiny-x2']", state="attached")
            assert page.input_value("#scale") == "2"
            assert page.is_visible("#alpha-row")  # tiny-psnr-x2 <-> tiny-x2 form a pair
            page.eval_on_selector(  # a range input: set it as a user's drag would
                "#alpha", "el => { el.value = '0.5'; el.dispatchEvent(new Event('input')); }")
            assert page.text_content("#alpha-value") == "0.50"

            page.set_input_files("#file", str(src))
            assert "thermal frame.png" in page.text_content("#file-info")
            page.click("#run")
            page.wait_for_selector("#download:not([hidden])", timeout=60_000)
            assert page.text_content("#status").startswith("done in")
            sizes = page.evaluate(
                "() => ['before', 'after'].map(id => [document.getElementById(id).naturalWidth,"
                " document.getElementById(id).naturalHeight])"
            )
            assert sizes == [[2 * w, 2 * h], [2 * w, 2 * h]]
            metrics = page.inner_text("#metrics")
            assert f"{2 * w}\u00d7{2 * h}, uint16, PNG" in metrics
            assert "tiny-x2, alpha 0.5" in metrics
            assert "High-frequency ratio" in metrics and "n/a" not in metrics
            # the ratio says which way is which, in the row and as its tooltip
            hf_row = page.locator("#metrics tr", has_text="High-frequency ratio")
            assert "1 = as much fine detail as bicubic; above 1 = more" in hf_row.inner_text()
            assert "not a quality score" in hf_row.get_attribute("title")

            page.click("[data-zoom='2']")
            assert page.text_content("#zoom-value") == "200%"
            page.click("[data-zoom='fit']")
            shot = tmp_path / "web-page.png"
            page.screenshot(path=str(shot), full_page=True)

            saved = _download(page, "#download", tmp_path)
            assert saved.name == "thermal_frame_x2.png"

            # a FLIR radiometric JPEG, with "raw sensor data" ticked: a 16-bit TIFF back,
            # labelled as what it is and named as the CLI names it
            rjpeg = tmp_path / "cam.jpg"
            rjpeg.write_bytes(make_rjpeg(px[:24, :32].copy()))
            page.click("details summary")
            page.check("#flir-raw")
            page.set_input_files("#file", str(rjpeg))
            page.click("#run")
            page.wait_for_function(
                "() => document.getElementById('metrics').innerText.includes('uint16, TIFF')",
                timeout=60_000)
            metrics = page.inner_text("#metrics")
            assert "FLIR radiometric JPEG: raw 32\u00d724 (preview 32\u00d724), raw counts" \
                in metrics
            raw_saved = _download(page, "#download", tmp_path)
            assert raw_saved.name == "cam_x2.tiff"
        finally:
            context.close()

    raw_out = read_image(raw_saved)
    assert raw_out.format == "tiff" and raw_out.pixels.dtype == np.uint16
    assert raw_out.pixels.shape == (48, 64)
    out = read_image(saved)
    assert out.pixels.dtype == np.uint16  # 16-bit stays 16-bit
    assert out.pixels.shape == (2 * h, 2 * w)
    # the tiny model adds a random residual to a nearest-upsampled skip: the scene stays
    assert abs(float(out.pixels.mean()) - float(px.mean())) < 0.1 * float(np.ptp(px))
    assert foreign == [], f"the page fetched from other hosts: {foreign}"
    assert console_errors == [], console_errors
    artifacts = os.environ.get("IRSRGAN_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)


def test_readout_palette_and_a_two_file_batch_with_its_zip(live_server, tmp_path):
    import re
    import zipfile

    from .test_flir import CAMERA

    rng = np.random.default_rng(5)
    gray = (rng.random((24, 32)) * 40000 + 10000).astype(np.uint16)
    first = tmp_path / "a.png"
    assert cv2.imwrite(str(first), gray)
    second = tmp_path / "cam.jpg"  # a FLIR R-JPEG with its constants: read in degrees
    second.write_bytes(make_rjpeg(gray[:20, :28].copy(), camera=CAMERA))
    console_errors = []
    with sync_api.sync_playwright() as pw:
        context = _launch(pw, tmp_path)
        try:
            page = context.new_page()
            page.on("console", lambda m: console_errors.append(m.text)
                    if m.type == "error" else None)
            page.goto(live_server + "/")
            page.wait_for_selector("#model option[value='tiny-x2']", state="attached")
            page.click("details summary")
            page.check("#flir-raw")
            page.select_option("#units", "celsius")
            page.set_input_files("#file", [str(first), str(second)])
            assert page.text_content("#file-info").startswith("2 files")
            page.click("#run")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('done: 2 of 2')",
                timeout=60_000)
            assert page.locator("#batch-list li").count() == 2
            # a small image is one tile, and the page says so in the singular
            time_row = page.locator("#metrics tr", has_text="Time").inner_text()
            assert ", 1 tile, " in time_row, time_row
            assert page.evaluate("() => [plural(1, 'tile'), plural(3, 'frame')]") == [
                "1 tile", "3 frames"]
            assert "cam_x2.tiff" in page.inner_text("#batch-list")

            # the readout under the cursor: the degC of the shown (last) result
            page.click("[data-zoom='4']")
            box = page.locator("#viewer").bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            text = page.text_content("#readout")
            m = re.fullmatch(r"x (\d+), y (\d+): (-?\d+\.\d\d) \u00b0C", text)
            assert m, text
            x, y, shown = int(m[1]), int(m[2]), float(m[3])

            # a palette changes the display, not the data
            centre = """() => { const img = document.getElementById('after');
                const c = document.createElement('canvas'); c.width = img.naturalWidth;
                c.height = img.naturalHeight; const x = c.getContext('2d');
                x.drawImage(img, 0, 0); return Array.from(x.getImageData(
                c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3)); }"""
            r, g, b = page.evaluate(centre)
            assert r == g == b  # white-hot: gray
            page.select_option("#palette", "iron")
            page.wait_for_function(f"() => new Set(({centre})()).size > 1", timeout=10_000)
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            assert page.text_content("#readout") == text

            zipped = _download(page, "#download-zip", tmp_path)
            assert zipped.name == "irsrgan-batch-2.zip"
        finally:
            context.close()
    with zipfile.ZipFile(zipped) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["a_x2.png", "cam_x2.tiff"]
        (tmp_path / "z").mkdir()
        zf.extractall(tmp_path / "z")
    a = read_image(tmp_path / "z" / "a_x2.png")
    assert a.pixels.dtype == np.uint16 and a.pixels.shape == (48, 64)
    cam = read_image(tmp_path / "z" / "cam_x2.tiff")
    assert cam.pixels.dtype == np.float32 and cam.flir.units == "celsius"
    assert cam.pixels[y, x] == pytest.approx(shown, abs=0.006)  # the readout is the data
    assert console_errors == [], console_errors


def test_page_upscales_a_clip_plays_it_and_downloads_it(live_server, tmp_path):
    """A short 8-bit MP4: uploaded with progress, shown as two synchronised videos under the
    divider, downloaded as an MP4 of the same frames at twice the size and the same rate."""
    av = pytest.importorskip("av", reason="clips need PyAV: pip install '.[video]'")
    from .test_sequences import make_clip

    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:48, 0:64]
    frames = [np.clip(x * 3 + 10 * i + y + rng.normal(0, 4, x.shape), 0, 255).astype(np.uint8)
              for i in range(8)]
    src = tmp_path / "short clip.mp4"
    make_clip(src, frames, codec="libx264", pix_fmt="yuv420p", rate=10)
    console_errors = []
    with sync_api.sync_playwright() as pw:
        context = _launch(pw, tmp_path)
        try:
            page = context.new_page()
            page.on("console", lambda m: console_errors.append(m.text)
                    if m.type == "error" else None)
            page.goto(live_server + "/")
            page.wait_for_selector("#model option[value='tiny-x2']", state="attached")
            page.set_input_files("#file", str(src))
            page.wait_for_function(
                "() => document.getElementById('file-info').textContent.includes('(clip)')")
            page.click("#run")
            page.wait_for_selector("#download:not([hidden])", timeout=120_000)
            assert page.text_content("#status").startswith("done in")
            assert page.is_visible("#after-video") and page.is_visible("#player")
            assert not page.is_visible("#after") and page.is_visible("#clip-note")
            sizes = page.evaluate(
                "() => ['before-video', 'after-video'].map(id => { const v ="
                " document.getElementById(id); return [v.videoWidth, v.videoHeight,"
                " v.readyState >= 2]; })")
            assert sizes == [[128, 96, True], [128, 96, True]]
            assert page.text_content("#clip-frame") == "frame 1 / 8"
            metrics = page.inner_text("#metrics")
            assert "64\u00d748, uint8, video (h264), 8 frames, 10 frames/s" in metrics
            assert "128\u00d796, uint8, MP4 (H264), 8 frames" in metrics

            page.click("#play")  # both videos play, the result leading and bicubic following
            page.wait_for_function(
                "() => document.getElementById('after-video').currentTime > 0.3",
                timeout=20_000)
            page.click("#play")
            page.wait_for_function("() => document.getElementById('play').textContent"
                                   " === 'Play'")
            t = page.evaluate("() => ['after-video', 'before-video'].map(id =>"
                              " document.getElementById(id).currentTime)")
            assert t[0] > 0.3 and abs(t[0] - t[1]) < 0.1, t  # paused together
            page.screenshot(path=str(tmp_path / "web-clip.png"), full_page=True)

            saved = _download(page, "#download", tmp_path)
            assert saved.name == "short_clip_x2.mp4"
        finally:
            context.close()
    with av.open(str(saved)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (128, 96, 10)
        out = [f.to_ndarray(format="gray") for f in container.decode(stream)]
    assert len(out) == 8
    # the scene is kept: each frame's mean follows the input's (the tiny model adds little)
    for a, b in zip(out, frames, strict=True):
        assert abs(float(a.mean()) - float(b.mean())) < 12
    assert console_errors == [], console_errors
    artifacts = os.environ.get("IRSRGAN_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "web-clip.png", Path(artifacts) / "web-clip.png")


def test_a_robust_end_that_is_also_a_psnr_model_gets_the_alpha_slider_only(tmp_path):
    """The shipped pair's robust end (irsrgan-psnr-x4) is also the PSNR half of a PSNR/GAN
    pair: its label says both, the page shows it the alpha slider and no Denoise menu, and a
    strength chosen on the faithful model before does not ride along (the server refuses a
    form with both alpha and denoise)."""
    paths = {}
    for name, seed, prov in (("tiny-fai-x2", 3, {"denoise_partner": "tiny-psnr-x2"}),
                             ("tiny-psnr-x2", 0, None), ("tiny-x2", 1, None)):
        torch.manual_seed(seed)
        paths[name] = tmp_path / f"{name}.safetensors"
        save_model(create_model("compact", scale=2, num_features=8, num_convs=2),
                   paths[name], provenance=prov)
    config = ServerConfig(models=tuple(str(p) for p in paths.values()), include_bundled=False,
                          device="cpu", backend="torch", overlap=4)
    srv = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=0,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    assert srv.started, "the test server did not start"
    url = f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}/"
    src = tmp_path / "frame.png"
    assert cv2.imwrite(str(src), (thermal_sample(24, 32) // 256).astype(np.uint8))
    try:
        with sync_api.sync_playwright() as pw:
            context = _launch(pw, tmp_path)
            try:
                page = context.new_page()
                page.goto(url)
                page.wait_for_selector("#model option[value='tiny-psnr-x2']", state="attached")
                labels = page.eval_on_selector_all(
                    "#model option", "os => os.map(o => o.textContent)")
                assert "tiny-psnr-x2 (PSNR, robust end)" in labels, labels
                page.select_option("#model", "tiny-fai-x2")
                assert page.is_visible("#denoise-row") and not page.is_visible("#alpha-row")
                page.select_option("#denoise", "0.5")
                page.select_option("#model", "tiny-psnr-x2")
                assert page.is_visible("#alpha-row") and not page.is_visible("#denoise-row")
                page.set_input_files("#file", str(src))
                page.click("#run")
                page.wait_for_selector("#download:not([hidden])", timeout=60_000)
                assert page.text_content("#status").startswith("done in")
                metrics = page.inner_text("#metrics")
                assert "tiny-psnr-x2, alpha 0" in metrics and "Denoise" not in metrics
            finally:
                context.close()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
