"""Every entry point over the hostile corpus of tests/fuzz_corpus.py: ``decode_image``,
``upscale``, ``degrade``, ``metrics``, the weights loader and the HTTP API.

Asserted for every case: an image or a one-line error naming the file (no traceback, nothing
printed by a decoder library), no partial or temporary output file (every output decodes), no
HTTP 500, and bounded memory (the decoders' peak allocation, measured with tracemalloc, stays
far below what any bomb of the corpus declares: 60000 x 60000 pixels, or 1024 x 1024 x 512
samples = 512 MiB).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import torch

from irsrgan.checkpoint import load_model, model_info, save_model
from irsrgan.cli import main
from irsrgan.errors import CheckpointError, ImageError
from irsrgan.image import decode_image, read_image, sniff_format
from irsrgan.models import create_model

from .fuzz_corpus import image_corpus, weights_corpus

CORPUS = image_corpus()
LIMIT = 64 * 64  # pixels: the corpus' valid images are 14 x 12
PEAK_BYTES = 32 * 2**20  # tracemalloc peak allowed over the whole corpus

# the corpus files that are good images (all others must be refused with one line)
#: multi-page TIFFs: refused as images, read as clips by `metrics` and `upscale` (docs/VIDEO.md)
STACKS = {"imagej-stack.tif", "multipage.tiff"}
DECODABLE = {
    "-dash.png", "UPPER.PNG", "bilevel.png", "exif-rotated.jpg", "float.tiff",
    "gray-alpha.png", "gray-flipped.jpg", "gray.jpg", "gray16.png", "gray16.tiff", "gray8.png",
    "one-pixel.png", "palette.png", "palette.tiff", "png-content.tiff", "rgb-flipped.bmp",
    "rgb-flipped.jpg", "rgb-planar-flipped.tiff", "rgb-planar.tiff", "rgb.bmp", "rgb.jpg",
    "rgb.png",
    "with space.png", "x" * 236 + ".png", "ünïcødé-кадр.png",
}
NOISE = ("Traceback", "libpng", "OpenCV", "tifffile", "object at 0x", "weights_only")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), path)
    return path


@pytest.fixture(scope="module")
def corpus_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for name, data in CORPUS:
        (folder / name).write_bytes(data)
    return folder


def _one_line(message: str, name: str) -> None:
    assert "\n" not in message and name in message, message
    assert not any(word in message for word in NOISE), message


def test_decode_gives_an_image_or_a_one_line_error_in_bounded_memory(capfd):
    decoded = set()
    tracemalloc.start()
    try:
        for name, data in CORPUS:
            try:
                decode_image(data, name, max_pixels=LIMIT)
            except ImageError as exc:
                _one_line(str(exc), name)
            else:
                decoded.add(name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded == DECODABLE
    assert peak < PEAK_BYTES, f"decoders allocated {peak / 2**20:.0f} MiB"
    assert capfd.readouterr().err == ""  # no decoder library printed anything


def test_upscale_over_the_corpus_writes_the_good_files_and_reports_the_rest(
        tmp_path, corpus_folder, model_file, capfd):
    out = tmp_path / "out"
    rc = main(["upscale", str(corpus_folder), "-o", str(out), "--model", str(model_file),
               "--device", "cpu", "--max-pixels", str(LIMIT), "--quiet"])
    err = capfd.readouterr().err
    assert rc == 1
    assert not any(word in err for word in NOISE), err
    written = {p.name for p in out.iterdir()}
    assert written == DECODABLE  # no temporary file left, no partial output
    assert err.count("  FAILED ") == len(CORPUS) - len(DECODABLE)
    for name in written:
        image = read_image(out / name)
        assert image.format == {"png": "png", "tiff": "tiff", "jpg": "jpeg", "bmp": "bmp"}[
            name.rsplit(".", 1)[1].lower()]  # the name decides the format
    assert sniff_format((out / "png-content.tiff").read_bytes()) == "tiff"
    assert read_image(out / "exif-rotated.jpg").pixels.shape == (28, 24, 3)  # upright, x2
    assert read_image(out / "gray-alpha.png").layout == "gray-alpha"


def test_degrade_over_the_corpus(tmp_path, corpus_folder, capfd):
    out = tmp_path / "lr"
    rc = main(["degrade", str(corpus_folder), "-o", str(out), "--scale", "2",
               "--max-pixels", str(LIMIT)])
    err = capfd.readouterr().err
    assert rc == 1 and not any(word in err for word in NOISE), err
    written = {p.name for p in out.iterdir()}
    assert written == DECODABLE - {"one-pixel.png"}  # 1x1 is smaller than the scale
    for name in written:
        read_image(out / name)


def test_metrics_over_the_corpus(corpus_folder, capfd):
    for name, _ in CORPUS:
        path = str(corpus_folder / name)
        rc = main(["metrics", path, path, "--lpips", "none", "--max-pixels", str(LIMIT)])
        err = capfd.readouterr().err
        # SSIM needs 11 x 11 pixels; PSNR and SSIM refuse NaN and Inf
        # a TIFF stack is a clip for `metrics` (docs/VIDEO.md): compared with itself, frame by frame
        scored = name in DECODABLE - {"one-pixel.png", "float.tiff"} | STACKS
        assert rc == (0 if scored else 1), (name, err)
        assert not any(word in err for word in NOISE), err


@pytest.mark.parametrize("reader", [load_model, model_info])
def test_loader_over_the_weights_corpus(tmp_path, capfd, reader):
    """load_model and model_info (which reads our files' headers only) accept and refuse the
    same files."""
    loaded = set()
    for name, data in weights_corpus():
        path = tmp_path / name
        path.write_bytes(data)
        try:
            reader(path)
        except CheckpointError as exc:
            _one_line(str(exc), name)
        else:
            loaded.add(name)
    assert loaded == {"good.safetensors", "good.pth"}
    assert capfd.readouterr().err == ""


def test_api_over_the_corpus_never_answers_500(model_file, capfd):
    from fastapi.testclient import TestClient

    from irsrgan.server import ServerConfig, create_app

    config = ServerConfig(models=(str(model_file),), include_bundled=False, device="cpu",
                          backend="torch", preload=False, max_pixels=LIMIT, overlap=4)
    tracemalloc.start()
    try:
        with TestClient(create_app(config)) as client:
            for name, data in CORPUS:
                r = client.post("/api/upscale",
                                files={"image": (name, data, "application/octet-stream")})
                if name in DECODABLE:
                    assert r.status_code == 200, (name, r.text)
                else:
                    assert r.status_code in (413, 415, 422), (name, r.status_code, r.text)
                    detail = r.json()["detail"]
                    assert "\n" not in detail and not any(w in detail for w in NOISE), detail
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"the server allocated {peak / 2**20:.0f} MiB"
    assert not any(word in capfd.readouterr().err for word in NOISE)
