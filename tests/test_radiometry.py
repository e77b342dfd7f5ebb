"""FLIR raw counts -> temperatures: the camera constants, the formula, flyr, the CLI, `info`."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.consistency import block_mean
from irsrgan.errors import ConfigError, ImageError
from irsrgan.flir import FlirCamera, read_flir
from irsrgan.image import read_image
from irsrgan.info import file_info
from irsrgan.models import create_model
from irsrgan.radiometry import (
    atmospheric_transmission,
    planck_counts,
    raw_to_kelvin,
    raw_to_units,
    with_overrides,
)

from .conftest import require_shared_data
from .test_flir import CAMERA, make_rjpeg

RJPEG = "flir-radiometric/rjpeg"


def camera(**changes) -> FlirCamera:
    return replace(FlirCamera.from_dict(CAMERA), **changes)


def forward_counts(cam: FlirCamera, t_obj: float) -> float:
    """What the detector sees of an object at ``t_obj`` K, written the physical way round:
    object (+ reflection) -> air (half the distance) -> IR window -> air -> lens."""
    tau, win, e = atmospheric_transmission(cam), cam.ir_window_transmission, cam.emissivity
    signal = e * planck_counts(cam, t_obj) + (1 - e) * planck_counts(
        cam, cam.reflected_apparent_temperature)
    signal = tau * signal + (1 - tau) * planck_counts(cam, cam.atmospheric_temperature)
    signal = win * signal + (1 - win) * planck_counts(cam, cam.ir_window_temperature)
    return tau * signal + (1 - tau) * planck_counts(cam, cam.atmospheric_temperature)


def test_camera_constants_read_from_the_record():
    raw = np.full((6, 8), 14000, np.uint16)
    for order in "<>":
        _, cam = read_flir(make_rjpeg(raw, order=order, camera=CAMERA), "cam.jpg")
        assert cam.planck_o == -6159 and cam.camera_model == "FLIR E30bx"
        assert cam.big_endian == (order == ">")
        for key, value in CAMERA.items():
            got = getattr(cam, key)
            assert got == value if isinstance(value, str) else got == pytest.approx(value,
                                                                                   rel=1e-6)


def test_plain_planck_inversion_by_hand():
    # emissivity 1, no air, no window: T = B / ln(R1 / (R2 (S + O)) + F)
    cam = camera(emissivity=1.0, object_distance=0.0)
    s = 14000.0
    by_hand = 1397.1 / math.log(14936.05859375 / (0.011179725639522076 * (s - 6159)) + 1.0)
    assert raw_to_kelvin(np.array([s]), cam)[0] == pytest.approx(by_hand, abs=1e-9)


@pytest.mark.parametrize("changes", [
    {},  # the file's: emissivity 0.98, 5 m of air at 3 degC, reflected 10 degC
    {"emissivity": 0.6, "object_distance": 40.0, "relative_humidity": 0.9},
    {"ir_window_transmission": 0.7, "ir_window_temperature": 310.0},
])
def test_conversion_inverts_the_physical_forward_model(changes):
    cam = camera(**changes)
    temps = np.array([250.0, 283.15, 300.0, 350.0, 420.0])
    counts = np.array([forward_counts(cam, t) for t in temps])
    assert np.allclose(raw_to_kelvin(counts, cam), temps, atol=1e-6)


def test_atmospheric_transmission_by_hand():
    # h2o = 0.5 exp(1.5587 + 0.06939*3 - 0.00027816*9 + 0.00000068455*27), path sqrt(5/2)
    h2o = 0.5 * math.exp(1.5587 + 0.06939 * 3.0 - 0.00027816 * 9 + 0.00000068455 * 27)
    r = math.sqrt(2.5)
    tau = (1.9 * math.exp(-r * (0.006569 - 0.002276 * math.sqrt(h2o)))
           - 0.9 * math.exp(-r * (0.01262 - 0.00667 * math.sqrt(h2o))))
    assert atmospheric_transmission(camera()) == pytest.approx(tau, rel=1e-6)
    # 276.15 K is stored as a float32: t differs from 3 by < 1e-5 degC
    assert 0.98 < tau < 1.0


def test_units_and_overrides():
    raw = np.array([[9000, 14000], [16000, 17144]], np.uint16)
    cam = camera()
    c = raw_to_units(raw, cam, "celsius")
    assert c.dtype == np.float32
    assert np.allclose(raw_to_units(raw, cam, "kelvin"), c + 273.15, atol=1e-4)
    assert np.allclose(raw_to_units(raw, cam, "fahrenheit"), c * 1.8 + 32, atol=1e-4)
    assert raw_to_units(raw, cam, "counts") is raw
    # lower emissivity: less of the signal is the object's, a warm object reads warmer
    warm = raw_to_units(raw, with_overrides(cam, emissivity=0.5), "celsius")
    assert np.all(warm[c > 10.0] > c[c > 10.0])
    cam2 = with_overrides(cam, reflected_temp_c=-20.0)
    assert cam2.reflected_apparent_temperature == pytest.approx(253.15)
    with pytest.raises(ConfigError, match="emissivity must be in"):
        with_overrides(cam, emissivity=1.5)
    # counts below what the surroundings alone give have no temperature
    assert math.isnan(raw_to_kelvin(np.array([0.0]), cam)[0])


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
def test_matches_flyr_on_every_real_rjpeg():
    flyr = pytest.importorskip("flyr", reason="flyr (test extra) compares our conversion")
    folder = require_shared_data(RJPEG)
    compared = []
    for path in sorted(folder.glob("*.jpg")):
        raw, cam = read_flir(path.read_bytes(), path.name)
        ours = raw_to_units(raw, cam, "celsius")
        try:
            theirs = flyr.unpack(str(path)).celsius
        except ValueError:
            assert path.name.startswith("07_")  # big-endian: flyr misreads it, we read it
            assert cam.big_endian and 19.0 < np.nanmin(ours) < np.nanmax(ours) < 38.0
            continue
        assert np.abs(ours - theirs).max() < 0.01, path.name
        # with overrides too, within the camera's calibrated range (outside it, near the
        # formula's pole where counts barely exceed the background, rounding differs)
        e = with_overrides(cam, emissivity=0.8, reflected_temp_c=25.0)
        theirs_e = flyr.unpack(str(path)).adjust_metadata(
            emissivity=0.8, reflected_apparent_temperature=298.15).celsius
        lo, hi = (cam.camera_temperature_range_min - 273.15,
                  cam.camera_temperature_range_max - 273.15)
        calibrated = (theirs_e >= lo) & (theirs_e <= hi)
        diff = np.abs(raw_to_units(raw, e, "celsius") - theirs_e)[calibrated]
        assert diff.size == 0 or diff.max() < 0.01, path.name
        compared.append(diff.size)
    assert len(compared) == 25 and sum(compared) > 1_000_000  # pixels compared with overrides


@pytest.fixture
def identity_x2(tmp_path):
    """A x2 model that upsamples by nearest neighbour (its residual branch is zero)."""
    model = create_model("compact", scale=2, num_features=8, num_convs=2)
    torch.nn.init.zeros_(model.body[-1].weight)
    torch.nn.init.zeros_(model.body[-1].bias)
    weights = tmp_path / "m.safetensors"
    save_model(model, weights)
    return weights


def test_upscale_writes_celsius_tiff_with_its_constants(tmp_path, identity_x2, capsys):
    rng = np.random.default_rng(1)
    raw = rng.integers(12000, 16000, (12, 16)).astype(np.uint16)
    src = tmp_path / "cam.jpg"
    src.write_bytes(make_rjpeg(raw, camera=CAMERA))
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "--model", str(identity_x2), "-q",
                 "--flir-raw", "--units", "celsius", "--emissivity", "0.9"]) == 0
    err = capsys.readouterr().err
    assert "cam.jpg: raw 16x12 (preview 16x12) -> 32x24 float32 degC TIFF cam.tiff" in err
    assert "emissivity 0.9" in err
    img = read_image(out / "cam.tiff")
    want = raw_to_units(raw, camera(emissivity=0.9), "celsius")
    assert img.dtype == np.float32 and img.pixels.shape == (24, 32)
    # the sensor's reading of every pixel is kept (consistency is on for temperatures)
    assert np.abs(block_mean(img.pixels.astype(np.float64), 2) - want).max() < 0.01
    assert np.allclose(img.pixels[::2, ::2], want, atol=1e-3)  # nearest model: unchanged
    # the constants travel in the description: the file can be converted again later
    assert img.flir.units == "celsius" and img.flir.camera.emissivity == pytest.approx(0.9)
    assert img.flir.camera.planck_o == -6159
    info = file_info(out / "cam.tiff")
    assert info["temperature_c"]["max"] == pytest.approx(float(want.max()), abs=1e-3)


def test_units_need_flir_raw_and_constants(tmp_path, identity_x2, capsys):
    raw = np.full((8, 8), 14000, np.uint16)
    src = tmp_path / "cam.jpg"
    src.write_bytes(make_rjpeg(raw))  # no CameraInfo record
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--units", "kelvin",
                 "--model", str(identity_x2), "-q"]) == 2
    assert "--units, --emissivity and --reflected-temp need --flir-raw" in capsys.readouterr().err
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--units", "kelvin",
                 "--flir-raw", "--model", str(identity_x2), "-q"]) == 1
    assert "no camera constants" in capsys.readouterr().err
    assert not (tmp_path / "o" / "cam.tiff").exists()
    # a bad override is refused before any file is read
    src.write_bytes(make_rjpeg(raw, camera=CAMERA))
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--flir-raw", "--emissivity",
                 "1.2", "--model", str(identity_x2), "-q"]) == 2
    assert "emissivity must be in (0, 1], got 1.2" in capsys.readouterr().err


def test_info_json_of_an_rjpeg(tmp_path, capsys):
    raw = np.array([[14000, 15000], [16000, 17144]], np.uint16)
    src = tmp_path / "cam.jpg"
    src.write_bytes(make_rjpeg(raw, camera=CAMERA))
    assert main(["info", str(src), "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["format"] == "flir-rjpeg" and info["raw_size"] == [2, 2]
    assert info["camera"]["model"] == "FLIR E30bx"
    assert info["constants"]["planck_r2"] == pytest.approx(0.011179725639522076)
    c = raw_to_units(raw, camera(), "celsius")
    assert info["temperature_c"]["max"] == pytest.approx(float(c.max()), abs=1e-4)
    assert info["temperature_c"]["mean"] == pytest.approx(float(c.astype(np.float64).mean()),
                                                          abs=1e-4)
    assert main(["info", str(src)]) == 0
    table = capsys.readouterr().out
    assert "FLIR E30bx s/n 49021720" in table and "reflected apparent temperature  10.00 degC" \
        in table


def test_info_on_the_big_endian_file_and_a_bad_one(tmp_path, capsys):
    path = require_shared_data(RJPEG) / "07_-_BillHotFlashThermography.jpg"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nothing")
    assert main(["info", str(path), str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    assert "bad.png: not a PNG" in captured.err
    (info,) = json.loads(captured.out)
    assert info["camera"]["model"] == "ThermaCAM EX320"
    assert info["raw_size"] == [320, 240]
    assert 19.0 < info["temperature_c"]["min"] < info["temperature_c"]["max"] < 38.0


def test_image_in_units_refuses_other_images(tmp_path):
    from irsrgan.image import Image
    from irsrgan.radiometry import image_in_units

    with pytest.raises(ImageError, match="not FLIR raw counts"):
        image_in_units(Image(pixels=np.zeros((4, 4), np.uint16), format="tiff"), "celsius")


def test_metrics_reports_degrees_against_the_rjpeg(tmp_path, capsys):
    from irsrgan.image import write_image
    from irsrgan.radiometry import image_in_units

    raw = np.random.default_rng(4).integers(14000, 17000, (16, 16)).astype(np.uint16)
    hr = tmp_path / "hr" / "cam.jpg"
    hr.parent.mkdir()
    hr.write_bytes(make_rjpeg(raw, camera=CAMERA))
    celsius = image_in_units(read_image(hr, flir_raw=True), "celsius")
    warmer = replace(celsius, pixels=celsius.pixels + np.float32(0.25))
    (tmp_path / "sr").mkdir()
    write_image(tmp_path / "sr" / "cam.tiff", warmer)
    report = tmp_path / "m.json"
    assert main(["metrics", str(tmp_path / "sr"), str(tmp_path / "hr"), "--lpips", "none",
                 "--json", str(report)]) == 0
    assert "MAE/RMSE/bias are in degC" in capsys.readouterr().out
    (row,) = json.loads(report.read_text())["images"]
    assert row["unit"] == "degC"
    assert row["mae"] == pytest.approx(0.25, abs=1e-4)
    assert row["bias"] == pytest.approx(0.25, abs=1e-4)


@pytest.mark.parametrize("units", ["celsius", "counts"])
def test_every_real_rjpeg_upscales_consistently(tmp_path, units):
    """A random (so inconsistent) x2 model; with --consistency the area-downsampled output
    is the sensor's reading: within 0.01 degC, or one count."""
    folder = require_shared_data(RJPEG)
    torch.manual_seed(0)
    weights = tmp_path / "m.safetensors"
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), weights)
    out = tmp_path / "out"
    assert main(["upscale", str(folder), "-o", str(out), "--model", str(weights), "-q",
                 "--flir-raw", "--units", units]) == 0
    for path in sorted(folder.glob("*.jpg")):
        raw, cam = read_flir(path.read_bytes(), path.name)
        want = raw_to_units(raw, cam, units).astype(np.float64)
        got = read_image(out / f"{path.stem}.tiff").pixels.astype(np.float64)
        err = np.abs(block_mean(got, 2) - want)
        assert np.nanmax(err) <= (0.01 if units == "celsius" else 1.0), path.name
