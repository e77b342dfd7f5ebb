"""`irsrgan calibrate`: injected noise, stripes and bit depth are recovered from frames alone."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import yaml

from irsrgan.calibrate import calibrate, measure_frame
from irsrgan.cli import main
from irsrgan.degradations import get_preset
from irsrgan.image import Image, encode_image, write_image

NOISE, COLUMN = 9.0, 4.0  # counts, on a 12-bit scene spanning about 3000 counts


def _frames(n: int = 6, bits: int = 12, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    top = 2**bits - 1
    out = []
    for _ in range(n):
        field = cv2.GaussianBlur(rng.standard_normal((256, 320)), (0, 0), 12)
        field = (field - field.min()) / (field.max() - field.min())
        scene = 300 + 0.75 * top * field
        scene += COLUMN * rng.standard_normal(320)[None, :]
        scene += NOISE * rng.standard_normal(scene.shape)
        out.append(np.clip(np.rint(scene), 0, top).astype(np.uint16))
    return out


@pytest.fixture(scope="module")
def camera_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("camera")
    for i, px in enumerate(_frames()):
        write_image(d / f"frame_{i:02d}.png", Image(px))
    return d


def test_calibrate_recovers_injected_noise_stripes_and_bit_depth(camera_dir):
    cal = calibrate([camera_dir])
    assert len(cal.frames) == 6 and not cal.skipped
    for f in cal.frames:
        px = cv2.imread(f.name, cv2.IMREAD_UNCHANGED)
        span = float(px.max()) - float(px.min())
        assert f.pixel_noise == pytest.approx(NOISE / span, rel=0.2)
        assert f.column_stripe == pytest.approx(COLUMN / span, rel=0.2)
        assert f.row_stripe < 0.3 * COLUMN / span  # none injected
        assert f.bits == 12 and f.level_step == 1.0
        assert f.jpeg_quality is None and f.clipped_low == 0.0
    assert cal.summary()["bits"] == 12


def test_bit_depth_of_counts_shifted_into_16_bits():
    px = _frames(1, bits=14)[0] << 2  # 14-bit counts stored as multiples of 4
    f = measure_frame(encode_image(Image(px)), "shifted.png")
    assert f.level_step == 4.0 and f.bits == 14


def test_8bit_jpeg_quality_and_agc_clipping_are_measured():
    px = (_frames(1, bits=12)[0] / 4095 * 330 - 90).clip(0, 255).astype(np.uint8)
    assert (px == 0).mean() > 0.05  # an AGC that clips the cold end
    f = measure_frame(encode_image(Image(px, format="jpeg"), jpeg_quality=80), "agc.jpg")
    assert f.jpeg_quality == 80
    assert f.bits == 8
    assert f.clipped_low == pytest.approx(float((px == 0).mean()), abs=0.02)
    assert f.clipped_high == 0.0


def test_preset_ranges_cover_the_measurements_and_load(camera_dir):
    cal = calibrate([camera_dir])
    cfg = cal.preset(name="cam", scale=4)
    preset = get_preset(cfg)  # a mapping is accepted like a YAML file
    assert preset.name == "cam" and cfg["measured"]["bits"] == 12
    steps = {s["op"]: s for s in cfg["steps"]}
    lo, hi = steps["noise"]["sigma"]["log_uniform"]
    med = cal.summary()["pixel_noise"][1]
    assert lo < med * math.sqrt(1 - 1 / 16) < hi
    lo, hi = steps["stripe"]["column_sigma"]["log_uniform"]
    assert lo < cal.summary()["column_stripe"][1] < hi
    assert "jpeg" not in steps and steps["quantize"]["bits"] == 12


def test_cli_writes_a_preset_that_degrade_accepts(camera_dir, tmp_path, capsys):
    out = tmp_path / "cam.yaml"
    assert main(["calibrate", str(camera_dir), "-o", str(out), "--report",
                 str(tmp_path / "cam.md")]) == 0
    printed = capsys.readouterr().out
    assert "| column stripe sigma |" in printed and "built-in thermal" in printed
    cfg = yaml.safe_load(out.read_text())
    assert cfg["name"] == "cam" and cfg["measured"]["frames"] == 6
    assert (tmp_path / "cam.md").read_text().startswith("Calibration from 6 frames")
    lr_dir = tmp_path / "lr"
    assert main(["degrade", str(camera_dir), "-o", str(lr_dir), "--preset", str(out),
                 "--scale", "4"]) == 0
    lr = cv2.imread(str(lr_dir / "frame_00.png"), cv2.IMREAD_UNCHANGED)
    assert lr.shape == (64, 80) and lr.dtype == np.uint16


def test_cli_refuses_no_images_and_a_non_yaml_output(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["calibrate", str(tmp_path / "empty"), "-o", str(tmp_path / "c.yaml")]) == 2
    assert "no readable image" in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path), "-o", str(tmp_path / "c.txt")]) == 2
    assert not (tmp_path / "c.yaml").exists()


def test_a_bad_file_is_skipped_and_reported(camera_dir, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    cal = calibrate([camera_dir, tmp_path / "broken.png"])
    assert len(cal.frames) == 6 and cal.skipped[0][0].endswith("broken.png")
    assert "broken.png" in cal.report()
