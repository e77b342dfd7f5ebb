"""Temperature units for FLIR SEQ/CSQ clips (the real SampleSEQ.seq and SampleCSQ.csq): every
frame converted with its own camera constants, as R-JPEG stills are, upscaled into a float32
TIFF stack that carries the constants; refused clearly where it cannot work."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.consistency import block_mean
from irsrgan.errors import ConfigError
from irsrgan.flir import source_from_description
from irsrgan.info import file_info
from irsrgan.models import create_model
from irsrgan.radiometry import raw_to_units
from irsrgan.sequences import open_sequence, upscale_sequence
from irsrgan.sequences.writers import work_folder

from .conftest import require_shared_data

#: |block mean of the output - the frame's own conversion|: float32 temperatures through the
#: unit map and back (measured at most 1.4e-6 degC with --consistency; the nearest model 1.9e-6
#: degC on SEQ, 3.8e-6 degC, 0 K and 7.6e-6 degF on CSQ)
TEMPERATURE_TOL = 1e-4


@pytest.fixture
def seeded_x2(tmp_path):
    """A tiny x2 model with seeded random weights (its output is not the input's)."""
    torch.manual_seed(0)
    path = tmp_path / "seeded.safetensors"
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), path)
    return path


@pytest.fixture
def nearest_x2(tmp_path):
    """A x2 compact model whose body is zero: its output is the nearest-neighbour upscale."""
    model = create_model("compact", scale=2, num_features=8, num_convs=2)
    for p in model.parameters():
        p.data.zero_()
    path = tmp_path / "nearest.safetensors"
    save_model(model, path)
    return path


def source_frames(path, end=None):
    with open_sequence(path) as reader:
        return [f.image for f in reader.frames()][:end]


def pages(path):
    with tifffile.TiffFile(path) as tif:
        return [(p.asarray(), p.description) for p in tif.pages]


def upscale(*args, temporal=0):
    """``irsrgan upscale ARGS --flir-raw --tile 96`` (tiled), frame by frame by default."""
    return main(["upscale", *map(str, args), "--flir-raw", "--tile", "96", "--temporal",
                 str(temporal), "-q"])


def test_seq_in_celsius_keeps_each_frames_reading(tmp_path, seeded_x2, capsys):
    src = require_shared_data("flir-sequences") / "SampleSEQ.seq"
    assert upscale(src, "-o", tmp_path, "--model", seeded_x2, "--units", "celsius",
                   "--consistency", temporal=0.5) == 0
    err = capsys.readouterr().err
    assert "temperatures (celsius) are written as a float32 TIFF stack" in err
    assert "float32 degC, each frame converted with its own camera constants (first: " \
           "emissivity 0.95, reflected 20.00 degC)" in err
    out = pages(tmp_path / "SampleSEQ.tiff")
    frames = source_frames(src)
    assert len(out) == len(frames) == 2
    for index, ((px, desc), frame) in enumerate(zip(out, frames, strict=True)):
        assert px.dtype == np.float32 and px.shape == (960, 1280)
        want = raw_to_units(frame.pixels, frame.flir.camera, "celsius")
        assert 18.5 < want.min() < want.max() < 38.5  # the scene, degC
        # --consistency: every 2x2 block keeps the sensor's reading of its pixel
        assert np.abs(block_mean(px.astype(np.float64), 2) - want).max() < TEMPERATURE_TOL
        # the page carries its frame's constants (as a still's TIFF does)
        source = source_from_description(desc, (1280, 960))
        assert source.units == "celsius" and source.camera == frame.flir.camera
        assert json.loads(desc)["irsrgan-flir"]["source"] == f"SampleSEQ.seq frame {index}"
    # irsrgan info: every page, each converted with its own constants
    info = file_info(tmp_path / "SampleSEQ.tiff")
    assert (info["format"], info["pages"], info["units"]) == ("tiff-stack", 2, "celsius")
    assert info["camera"]["model"] == "FLIR SC660"
    assert info["temperature_c"]["max"] == pytest.approx(max(float(p.max()) for p, _ in out))


def test_seq_without_consistency_seeded_and_nearest(tmp_path, seeded_x2, nearest_x2):
    """Without --consistency the model alone decides: the nearest model gives back the
    conversion itself; a random one is near it (measured within 0.67 degC)."""
    src = require_shared_data("flir-sequences") / "SampleSEQ.seq"
    frames = source_frames(src)
    for model, tol in ((nearest_x2, TEMPERATURE_TOL), (seeded_x2, 1.0)):
        out = tmp_path / f"{model.stem}.tiff"
        assert upscale(src, "-o", out, "--model", model, "--units", "celsius") == 0
        for (px, _), frame in zip(pages(out), frames, strict=True):
            want = raw_to_units(frame.pixels, frame.flir.camera, "celsius")
            assert np.abs(block_mean(px.astype(np.float64), 2) - want).max() < tol


def test_csq_in_kelvin_and_fahrenheit(tmp_path, nearest_x2):
    src = require_shared_data("flir-sequences") / "SampleCSQ.csq"
    frames = source_frames(src, end=2)
    for units, tol in (("kelvin", TEMPERATURE_TOL), ("fahrenheit", 2 * TEMPERATURE_TOL)):
        out = tmp_path / f"{units}.tiff"
        assert upscale(src, "-o", out, "--model", nearest_x2, "--units", units,
                       "--end", "2") == 0
        got = pages(out)
        assert len(got) == 2
        for (px, desc), frame in zip(got, frames, strict=True):
            assert px.dtype == np.float32 and px.shape == (1536, 2048)
            want = raw_to_units(frame.pixels, frame.flir.camera, units)
            assert np.abs(block_mean(px.astype(np.float64), 2) - want).max() < tol
            assert source_from_description(desc, (2048, 1536)).units == units
    celsius = raw_to_units(frames[0].pixels, frames[0].flir.camera, "celsius")
    assert 15.5 < celsius.min() < celsius.max() < 35.5


def test_overrides_move_temperatures_the_right_way(tmp_path, nearest_x2):
    """Lower emissivity: more of the counts are reflected surroundings (20 degC), so what is
    hotter than them gets hotter and what is colder colder; a hotter reflected temperature
    leaves less for the object: every pixel colder."""
    src = require_shared_data("flir-sequences") / "SampleSEQ.seq"
    runs = {}
    for name, extra in (("file", []), ("e08", ["--emissivity", "0.8"]),
                        ("r30", ["--reflected-temp", "30"])):
        out = tmp_path / f"{name}.tiff"
        assert upscale(src, "-o", out, "--model", nearest_x2, "--units", "celsius",
                       "--end", "1", *extra) == 0
        ((px, desc),) = pages(out)
        runs[name] = (px[::2, ::2].astype(np.float64), source_from_description(desc, (1, 1)))
    base, e08, r30 = runs["file"][0], runs["e08"][0], runs["r30"][0]
    assert runs["file"][1].camera.emissivity == pytest.approx(0.95)
    assert runs["e08"][1].camera.emissivity == pytest.approx(0.8)
    assert runs["r30"][1].camera.reflected_apparent_temperature == pytest.approx(303.15)
    # the atmosphere is at 20 degC too, 1 m away: the turning point is 20 degC
    hot, cold = base > 20.05, base < 19.95
    assert hot.sum() > 300_000 and cold.sum() > 300  # measured 306 678 and 388 of 307 200
    assert (e08[hot] > base[hot]).all() and (e08[cold] < base[cold]).all()
    assert (e08 - base)[base > 35].mean() > 2.0  # measured 2.77 degC
    assert (r30 < base).all() and (base - r30).mean() > 0.4  # measured 0.46..0.57 degC


def test_counts_stay_counts_and_carry_the_constants(tmp_path, nearest_x2):
    src = require_shared_data("flir-sequences") / "SampleSEQ.seq"
    out = tmp_path / "counts.tiff"
    assert upscale(src, "-o", out, "--model", nearest_x2, "--emissivity", "0.9") == 0
    frames = source_frames(src)
    for (px, desc), frame in zip(pages(out), frames, strict=True):
        assert px.dtype == np.uint16
        np.testing.assert_array_equal(px[::2, ::2], frame.pixels)
        source = source_from_description(desc, (1280, 960))
        assert source.units == "counts" and source.camera.emissivity == pytest.approx(0.9)
    info = file_info(out)  # counts converted page by page with the recorded constants
    want = [raw_to_units(f.pixels, source.camera, "celsius") for f in frames]
    assert info["temperature_c"]["min"] == pytest.approx(min(float(w.min()) for w in want))


def test_units_into_video_and_on_video_are_refused(tmp_path, nearest_x2, capsys):
    av = pytest.importorskip("av")
    src = require_shared_data("flir-sequences") / "SampleSEQ.seq"
    out = tmp_path / "seq.mkv"
    assert upscale(src, "-o", out, "--model", nearest_x2, "--units", "celsius") == 1
    err = capsys.readouterr().err
    assert (f"-o {out}: --units celsius gives float32 temperatures, which .mkv video cannot "
            "hold: write a TIFF stack (-o seq.tiff)") in err
    assert not out.exists() and not work_folder(out).exists()

    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 40 * i, np.uint8), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert upscale(clip, "-o", tmp_path / "o", "--model", nearest_x2, "--units", "kelvin") == 1
    err = capsys.readouterr().err
    assert f"{clip}: --units kelvin needs FLIR raw counts (an R-JPEG, SEQ or CSQ file); " \
           "this is a video, not a FLIR file" in err
    assert not (tmp_path / "o" / "clip.mp4").exists()
    with pytest.raises(ConfigError, match="--emissivity/--reflected-temp needs FLIR raw"):
        upscale_sequence(clip, tmp_path / "o.tiff", None, emissivity=0.9, progress=False)
    # --units still needs --flir-raw, as for R-JPEGs
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--units", "celsius",
                 "--model", str(nearest_x2), "-q"]) == 2
    assert "--units, --emissivity and --reflected-temp need --flir-raw" in \
        capsys.readouterr().err
