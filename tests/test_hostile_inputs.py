"""Regression tests for the defects of the hostile-input review (issue 10), one block per item:
bombs refused from headers, the CLI's pixel limit, one-line errors instead of tracebacks,
outputs like their inputs, batches that go on, long names, output formats by name, messages,
and reruns with the output inside the input."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image as PILImage
from PIL import ImageOps

from irsrgan.batch import default_max_pixels
from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.errors import ImageError
from irsrgan.image import Image, decode_image, read_image, sniff_format, write_image
from irsrgan.models import create_model

from .fuzz_corpus import _exif_jpeg, _png_chunk, _retag, weights_corpus


@pytest.fixture
def model_file(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), path)
    return path


def _png_declaring(width: int, height: int) -> bytes:
    chunk = _png_chunk
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 400_000)) + chunk(b"IEND", b""))


def _good(folder: Path, name: str = "good.png") -> Path:
    path = folder / name
    write_image(path, Image(np.arange(12 * 14, dtype=np.uint8).reshape(12, 14)))
    return path


def _upscale(*args: str | Path) -> int:
    device = [] if "--device" in args else ["--device", "cpu"]
    return main(["upscale", *map(str, args), *device, "--quiet"])


# ----------------------------------------------------------------- 1. samples-per-pixel bomb
def test_tiff_declaring_512_samples_per_pixel_is_refused_before_decoding():
    bio = io.BytesIO()
    tifffile.imwrite(bio, np.zeros((16, 16, 512), np.uint8), photometric="minisblack",
                     planarconfig="contig", compression="zlib", tile=(16, 16))
    bomb = _retag(bio.getvalue(), ImageWidth=1024, ImageLength=1024)  # 512 MiB decoded
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match=r"s\.tiff: 512 samples per pixel; irsrgan reads 1 "
                                              r"to 4"):
            decode_image(bomb, "s.tiff", max_pixels=4096 * 1024)  # within the pixel limit
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


# ----------------------------------------------------------------- 2. the CLI's pixel limit
def test_cli_refuses_a_declared_20000x20000_png_and_goes_on(tmp_path, model_file, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "bomb.png").write_bytes(_png_declaring(20000, 20000))
    _good(src)
    out = tmp_path / "out"
    assert _upscale(src, "-o", out, "--model", model_file) == 1  # default limit from memory
    err = capsys.readouterr().err
    assert f"FAILED {src / 'bomb.png'}: 20000x20000 exceeds" in err and "--max-pixels" in err
    assert [p.name for p in out.iterdir()] == ["good.png"]
    assert main(["degrade", str(src), "-o", str(tmp_path / "lr"), "--scale", "2"]) == 1
    assert "20000x20000 exceeds" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "lr").iterdir()] == ["good.png"]


def test_max_pixels_overrides_the_default(tmp_path, model_file, capsys):
    good = _good(tmp_path)
    assert _upscale(good, "-o", tmp_path / "o", "--model", model_file,
                    "--max-pixels", "100") == 1
    assert "14x12 exceeds 100 pixels" in capsys.readouterr().err
    assert _upscale(good, "-o", tmp_path / "o", "--model", model_file,
                    "--max-pixels", str(14 * 12)) == 0


def test_default_limit_is_half_the_available_memory(monkeypatch):
    import psutil

    class Memory:
        available = 8 * 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory)
    from irsrgan.cli.upscale_cmd import upscale_max_pixels

    assert default_max_pixels(1024) == 4 * 2**30 // 1024
    assert upscale_max_pixels() == 4 * 2**30 // (40 * 4)  # 40 B x 4 channels: the input


def test_a_large_legal_image_is_decoded_once(tmp_path, model_file, monkeypatch):
    import irsrgan.image as image_mod

    calls = []
    real = image_mod.cv2.imdecode

    def counting(buf, flags):
        calls.append(1)
        return real(buf, flags)

    monkeypatch.setattr(image_mod.cv2, "imdecode", counting)
    path = tmp_path / "big.png"
    write_image(path, Image(np.zeros((150, 170), np.uint8)))
    assert _upscale(path, "-o", tmp_path / "o", "--model", model_file, "--tile", "64",
                    "--overlap", "4") == 0
    assert len(calls) == 1 and read_image(tmp_path / "o" / "big.png").width == 340


# ----------------------------------------------------------------- 3. one line, not a traceback
@pytest.mark.parametrize("args, message", [
    (["-o", "{file}"], "output folder {file} is a file, not a folder"),
    (["-o", "{file}/"], "output folder {file} is a file, not a folder"),
    (["-o", "{file}/sub/"], "output folder {file}/sub lies under {file}, which is a file"),
    (["--device", "bogus"], "device must be auto, cpu, cuda, cuda:N or mps, got 'bogus'"),
    (["--tile", "-1"], "tile must be >= 0 (0 disables tiling), got -1"),
    (["--overlap", "-1"], "overlap must be >= 0, got -1"),
    (["--overlap", "1000"], "overlap must be <= 256 LR pixels, got 1000"),
    (["--tile", "8"], "--tile 8 is too small for --overlap 16: use at least 72"),
    (["--alpha", "2", "--model-b", "{model}"], "--alpha must be in [0, 1], got 2.0"),
    (["--alpha", "0.5"], "--alpha and --model-b go together"),
])
def test_bad_arguments_end_in_one_line(tmp_path, model_file, capsys, args, message):
    src = tmp_path / "in"
    src.mkdir()
    _good(src)
    file = tmp_path / "existing.png"
    file.write_bytes(b"x")
    args = [a.format(file=file, model=model_file) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out")]
    assert _upscale(src, "--model", model_file, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"irsrgan upscale: error: {message.format(file=file)}")
    assert err.count("\n") == 1


def test_cuda_without_cuda_and_an_unwritable_output_are_one_line(tmp_path, model_file, capsys):
    good = _good(tmp_path)
    if not torch.cuda.is_available():
        assert _upscale(good, "-o", tmp_path / "o", "--model", model_file, "--device",
                        "cuda") == 2
        assert capsys.readouterr().err == ("irsrgan upscale: error: device 'cuda' requested "
                                           "but CUDA is not available\n")
    if os.access("/sys", os.W_OK) and not os.path.ismount("/sys"):
        pytest.skip("/sys is writable here")
    assert _upscale(good, "-o", "/sys/irsrgan-test", "--model", model_file) == 2
    err = capsys.readouterr().err
    assert err.startswith("irsrgan upscale: error: output folder /sys/irsrgan-test is not "
                          "writable: ") and err.count("\n") == 1


def test_degrade_preview_under_a_file_is_one_line(tmp_path, capsys):
    good = _good(tmp_path)
    assert main(["degrade", str(good), "--scale", "2", "--preview",
                 str(good / "x.png")]) == 2
    assert capsys.readouterr().err == (f"irsrgan degrade: error: output folder {good} is a "
                                       "file, not a folder\n")


@pytest.mark.parametrize("name, message", [
    ("wrong-shapes.safetensors", r"tensor shapes do not fit compact .*body\.0\.weight "
                                 r"\(8, 1, 5, 5\) \(expected \(8, 1, 3, 3\)\)"),
    ("config-list.safetensors", "the model config must be a mapping"),
    ("config-unknown-key.safetensors", "cannot build compact .*bogus"),
    ("config-huge-features.safetensors", "num_features=200000 is implausible"),
    ("config-zero-channels.safetensors", "in_channels=0 is implausible"),
])
def test_broken_weights_are_one_line_in_upscale_and_stop_serve(tmp_path, capsys, monkeypatch,
                                                               name, message):
    data = dict(weights_corpus())[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    good = _good(tmp_path)
    assert _upscale(good, "-o", tmp_path / "o", "--model", bad) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err
    assert __import__("re").search(message, err), err
    pytest.importorskip("fastapi")
    import uvicorn

    def must_not_start(*args, **kwargs):
        raise AssertionError("serve started with a broken model")

    monkeypatch.setattr(uvicorn, "run", must_not_start)
    assert main(["serve", "--model", str(bad), "--device", "cpu"]) == 2
    assert name in capsys.readouterr().err


def test_interpolate_into_a_file_is_one_line(tmp_path, model_file, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "b.safetensors"
    assert main(["interpolate", str(model_file), str(model_file), "--alpha", "0.5",
                 "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"irsrgan interpolate: error: -o {out}: cannot write: "
                                       "Not a directory\n")


# ----------------------------------------------------------------- 4. outputs like their inputs
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_on_read(orientation):
    rng = np.random.default_rng(orientation)
    stored = np.kron(rng.integers(0, 256, (3, 4, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    data = _exif_jpeg(stored, orientation)
    upright = np.asarray(ImageOps.exif_transpose(PILImage.open(io.BytesIO(data))))
    got = decode_image(data, "r.jpg").pixels
    assert got.shape == upright.shape == ((12, 16, 3) if orientation < 5 else (16, 12, 3))
    assert np.abs(got.astype(int) - upright.astype(int)).max() <= 2  # two JPEG decoders


def test_cmyk_multipage_and_imagej_tiffs_are_refused_clearly():
    rgb = np.zeros((6, 7, 3), np.uint8)
    bio = io.BytesIO()
    PILImage.fromarray(rgb).convert("CMYK").save(bio, "TIFF")
    with pytest.raises(ImageError, match="c.tiff: CMYK TIFF is not supported"):
        decode_image(bio.getvalue(), "c.tiff")
    for kwargs, n in (({"photometric": "minisblack"}, 3), ({"imagej": True}, 3)):
        bio = io.BytesIO()
        tifffile.imwrite(bio, np.zeros((n, 6, 7), np.uint8), **kwargs)
        with pytest.raises(ImageError, match=f"p.tif: multi-page TIFF with {n} images; .*video"):
            decode_image(bio.getvalue(), "p.tif")


def test_radiometric_tiffs_without_photometric_or_min_is_white_keep_their_counts():
    """Real radiometric TIFFs (thermitage-dunr) have no Photometric tag: read as gray, counts
    as stored; MinIsWhite is not inverted either (the values are measurements)."""
    counts = np.arange(12 * 14, dtype=np.uint16).reshape(12, 14) + 14000
    bio = io.BytesIO()
    tifffile.imwrite(bio, counts, photometric="minisblack")
    data = bytearray(bio.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        offset = tif.pages.first.tags[262].offset
    data[offset:offset + 2] = struct.pack("<H", 65000)  # the tag becomes an unknown one
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        assert 262 not in tif.pages.first.tags
    image = decode_image(bytes(data), "r.tiff")
    assert image.layout == "gray" and np.array_equal(image.pixels, counts)
    bio = io.BytesIO()
    tifffile.imwrite(bio, counts, photometric="miniswhite")
    assert np.array_equal(decode_image(bio.getvalue(), "w.tiff").pixels, counts)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_alpha_png_stays_gray_alpha(tmp_path, model_file, dtype):
    rng = np.random.default_rng(0)
    hi = np.iinfo(dtype).max
    px = rng.integers(0, hi, (12, 14, 2), dtype=dtype)
    path = tmp_path / "ga.png"
    write_image(path, Image(px, "png", "gray-alpha"))
    assert path.read_bytes()[25] == 4  # IHDR colour type 4: gray + alpha
    back = read_image(path)
    assert back.layout == "gray-alpha" and np.array_equal(back.pixels, px)
    assert _upscale(path, "-o", tmp_path / "out", "--model", model_file) == 0
    out = (tmp_path / "out" / "ga.png").read_bytes()
    assert out[25] == 4 and out[24] == (16 if dtype == np.uint16 else 8)
    assert read_image(tmp_path / "out" / "ga.png").pixels.shape == (24, 28, 2)
    if dtype == np.uint8:
        assert PILImage.open(tmp_path / "out" / "ga.png").mode == "LA"


def test_infinities_and_nan_of_a_float_tiff_come_back_as_themselves(tmp_path, model_file):
    px = np.linspace(20, 40, 12 * 14, dtype=np.float32).reshape(12, 14)
    px[0, 0], px[1, 1], px[2, 2] = np.nan, np.inf, -np.inf
    path = tmp_path / "t.tiff"
    write_image(path, Image(px, "tiff"))
    assert _upscale(path, "-o", tmp_path / "out", "--model", model_file) == 0
    out = read_image(tmp_path / "out" / "t.tiff").pixels
    assert np.isnan(out[0:2, 0:2]).all()
    assert (out[2:4, 2:4] == np.inf).all() and (out[4:6, 4:6] == -np.inf).all()
    assert np.isfinite(out).sum() == out.size - 12


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no footprint arithmetic at scale 0
def test_degrade_keeps_infinities_where_they_were_all_a_footprint_held():
    from irsrgan.cli.degrade_cmd import degrade_image, file_generator

    px = np.linspace(20, 40, 12 * 14, dtype=np.float32).reshape(12, 14)
    px[0, 0] = np.nan
    px[2:4, 2:4] = np.inf
    px[4, 4] = -np.inf
    px[6, 6], px[6, 7] = np.inf, -np.inf
    lr = degrade_image(Image(px, "tiff"), 2, "bicubic", file_generator(0, "t")).pixels
    assert lr.shape == (6, 7)
    assert np.isnan(lr[0, 0]) and lr[1, 1] == np.inf and lr[2, 2] == -np.inf
    assert np.isnan(lr[3, 3])  # +Inf and -Inf together: undefined
    assert np.isfinite(lr).sum() == 6 * 7 - 4


# ----------------------------------------------------------------- 5. the batch goes on
def test_missing_inputs_broken_links_and_loops_are_reported_and_the_rest_processed(
        tmp_path, model_file, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _good(src, "a.png")
    (src / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (src / "loop.png").symlink_to(src / "loop.png")
    (src / "sub" / "up").symlink_to(src)  # a folder loop
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _good(elsewhere, "e.png")
    (src / "linked").symlink_to(elsewhere)  # a link to a folder: followed
    out = tmp_path / "out"
    assert _upscale(tmp_path / "ghost.png", src, "-o", out, "--model", model_file) == 1
    err = capsys.readouterr().err
    assert f"FAILED {tmp_path / 'ghost.png'}: no such file or folder" in err
    assert f"FAILED {src / 'dangling.png'}: broken symbolic link" in err
    assert f"FAILED {src / 'loop.png'}: symbolic link loop" in err
    assert f"FAILED {src / 'sub' / 'up'}: symbolic link loop (back to {src})" in err
    assert "2 written, 0 skipped (output exists; --overwrite to replace), 4 failed" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "a.png", "linked/e.png"]


# ----------------------------------------------------------------- 6. long names
def test_a_244_character_name_is_written(tmp_path, model_file):
    name = "n" * 240 + ".png"
    good = _good(tmp_path, name)
    assert _upscale(good, "-o", tmp_path / "out", "--model", model_file) == 0
    assert read_image(tmp_path / "out" / name).width == 28
    assert [p.name for p in (tmp_path / "out").iterdir()] == [name]


# ----------------------------------------------------------------- 8. the name decides the format
def test_the_output_is_written_in_the_format_its_name_says(tmp_path, model_file, capsys):
    lying = tmp_path / "png-bytes.tiff"
    ok, buf = cv2.imencode(".png", np.full((12, 14), 9000, np.uint16))
    lying.write_bytes(buf.tobytes())
    assert _upscale(lying, "-o", tmp_path / "out", "--model", model_file) == 0
    written = tmp_path / "out" / "png-bytes.tiff"
    assert sniff_format(written.read_bytes()) == "tiff"
    assert read_image(written).pixels.dtype == np.uint16
    assert _upscale(lying, "-o", tmp_path / "out.jpg", "--model", model_file) == 1
    err = capsys.readouterr().err
    assert ("out.jpg: JPEG cannot hold uint16 pixels without changing them; name the "
            "output .png or .tiff") in err
    assert not (tmp_path / "out.jpg").exists()
    assert _upscale(_good(tmp_path), "-o", tmp_path / "g.bmp", "--model", model_file) == 0
    assert sniff_format((tmp_path / "g.bmp").read_bytes()) == "bmp"


# ----------------------------------------------------------------- 9. messages
def test_messages_name_the_file_once_and_carry_no_library_noise(tmp_path, model_file, capfd):
    data = bytearray(cv2.imencode(".png", np.zeros((12, 14), np.uint8))[1].tobytes())
    data[29] ^= 0xFF  # the IHDR CRC
    bad = tmp_path / "crc.png"
    bad.write_bytes(bytes(data))
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_declaring(60000, 60000))
    assert _upscale(bad, bomb, "-o", tmp_path / "out", "--model", model_file) == 1
    err = capfd.readouterr().err
    assert f"  FAILED {bad}: PNG 'IHDR' chunk is corrupt (CRC mismatch)\n" in err
    assert f"  FAILED {bomb}: 60000x60000 exceeds" in err
    assert "libpng" not in err and "OpenCV" not in err and err.count(str(bad)) == 1


def test_a_bomb_without_a_pixel_limit_is_refused_without_opencv_internals():
    with pytest.raises(ImageError) as info:
        decode_image(_png_declaring(40000, 40000), "b.png")  # OpenCV's own limit: 2^30 pixels
    assert str(info.value) == ("b.png: PNG data is corrupt, or 40000x40000 is too large for "
                               "the decoder")


def test_api_messages_show_no_object_reprs(model_file):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from irsrgan.server import ServerConfig, create_app

    config = ServerConfig(models=(str(model_file),), include_bundled=False, device="cpu",
                          backend="torch", preload=False, overlap=4)
    with TestClient(create_app(config)) as client:
        for data in (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"II*\x00" + b"\xff" * 40):
            r = client.post("/api/upscale", files={"image": ("x.png", data, "image/png")})
            assert r.status_code == 422, r.text
            assert "object at 0x" not in r.text and r.json()["detail"].startswith("x.png: ")


# ----------------------------------------------------------------- 10. output inside the input
def test_rerun_with_the_output_inside_the_input_does_not_upscale_old_outputs(
        tmp_path, model_file, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _good(src)
    out = src / "x2"
    assert _upscale(src, "-o", out, "--model", model_file) == 0
    assert _upscale(src, "-o", out, "--model", model_file) == 0
    assert "0 written, 1 skipped" in capsys.readouterr().err
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*.png")) == [
        "good.png", "x2/good.png"]
