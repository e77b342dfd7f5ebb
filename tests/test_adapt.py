"""`irsrgan adapt`: a short run on a handful of frames (output, card, resume, never worse)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from irsrgan.adapt import adapt, patch_size_for, split_frames
from irsrgan.checkpoint import load_model, read_metadata, save_model
from irsrgan.cli import main
from irsrgan.errors import ConfigError
from irsrgan.image import Image, write_image
from irsrgan.models import create_model


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    """Six 16-bit 96x128 frames of a smooth scene with column stripes and noise."""
    d = tmp_path_factory.mktemp("camera")
    rng = np.random.default_rng(1)
    for i in range(6):
        field = cv2.GaussianBlur(rng.standard_normal((96, 128)), (0, 0), 5)
        scene = 8000 + 900 * field / field.std() + 6 * rng.standard_normal(128)[None]
        scene += 5 * rng.standard_normal(scene.shape)
        write_image(d / f"frame_{i + 1}.png", Image(np.rint(scene).astype(np.uint16)))
    (d / "frame_10.png").write_bytes(b"not an image")  # skipped, and sorts after frame_6
    return d


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model("compact", scale=4, num_features=8, num_convs=2)
    path = tmp_path_factory.mktemp("base") / "tiny.safetensors"
    save_model(model, path, provenance={"recipe": "test"})
    return path


def test_split_holds_out_the_tail_in_natural_order():
    paths = [Path(f"f_{i}.png") for i in (1, 2, 3, 4, 5, 6, 7, 8)]
    train, held = split_frames(paths, 0.25)
    assert held == [Path("f_7.png"), Path("f_8.png")] and len(train) == 6
    assert split_frames(paths[:2], 0.9) == ([paths[0]], [paths[1]])
    with pytest.raises(ConfigError, match="at least 2 frames"):
        split_frames(paths[:1], 0.25)


def test_patch_size_follows_the_small_frames():
    assert patch_size_for([512, 512, 480], 4) == 128
    assert patch_size_for([60, 120, 120, 180, 240, 480], 4) == 112
    with pytest.raises(ConfigError, match="too small"):
        patch_size_for([20, 24, 30], 4)


def test_adapt_writes_a_model_and_card_and_resumes(frames, tiny_base, tmp_path):
    out = tmp_path / "cam.safetensors"
    said: list[str] = []
    first = adapt([frames], out, base=str(tiny_base), minutes=0.05, batch_size=4,
                  progress=False, say=said.append, lr=1e-3)
    assert any("skipped" in s and "frame_10.png" in s for s in said)
    assert first.output == out and out.is_file() and first.card.is_file()
    model = load_model(out)
    assert model.scale == 4 and model.arch == "compact"
    prov = read_metadata(out)["provenance"]
    assert prov["train_frames"] == 4 and prov["held_out_frames"] == 2
    assert prov["calibration"]["frames"] == 4 and prov["adapted_from"] == str(tiny_base)
    card = first.card.read_text()
    assert "Frames: 4 trained on, 2 held out" in card and "| this file |" in card
    assert first.steps > 0
    work = out.with_suffix(".adapt")
    assert json.loads((work / "plan.json").read_text())["held_out"][-1].endswith("frame_6.png")
    # the same command with a larger budget continues the run
    second = adapt([frames], out, base=str(tiny_base), minutes=0.1, batch_size=4,
                   progress=False, say=said.append, lr=1e-3)
    assert second.steps > first.steps
    assert second.minutes > first.minutes
    # a chosen model is never worse than the base on the held-out frames
    g_cam, g_clean = second.scores.gain_over(second.base_scores)
    assert (g_cam >= 0 and g_clean >= 0) or not second.adapted


def test_a_diverged_run_keeps_the_base(frames, tiny_base, tmp_path):
    out = tmp_path / "bad.safetensors"
    result = adapt([frames], out, base=str(tiny_base), minutes=0.05, batch_size=4,
                   progress=False, say=lambda s: None, lr=10.0)  # an absurd learning rate
    assert not result.adapted and result.chosen == "base"
    base, kept = load_file(str(tiny_base)), load_file(str(out))
    assert all(torch.equal(base[k], kept[k]) for k in base)
    assert "Not adapted" in result.card.read_text()
    assert read_metadata(out)["provenance"]["adapted"] is False


def test_cli_refuses_a_work_folder_of_other_frames(frames, tiny_base, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    args = ["adapt", str(frames), "-o", str(out), "--from", str(tiny_base), "--minutes",
            "0.03", "--batch-size", "4", "--no-progress"]
    assert main(args) == 0
    assert "held-out" in capsys.readouterr().out
    other = tmp_path / "other"
    other.mkdir()
    for p in sorted(frames.glob("frame_[1-4].png")):
        (other / p.name).write_bytes(p.read_bytes())
    assert main(["adapt", str(other), *args[2:]]) == 2
    assert "holds a run for other frames" in capsys.readouterr().err
    # the adapted model is named by path like any other
    assert main(["upscale", str(frames / "frame_1.png"), "-o", str(tmp_path / "up"),
                 "--model", str(out)]) == 0
    up = cv2.imread(str(tmp_path / "up" / "frame_1.png"), cv2.IMREAD_UNCHANGED)
    assert up.shape == (384, 512) and up.dtype == np.uint16


def test_cli_refuses_bad_arguments(frames, tmp_path, capsys):
    assert main(["adapt", str(frames), "-o", str(tmp_path / "m.pt")]) == 2
    assert ".safetensors" in capsys.readouterr().err
    assert main(["adapt", str(frames), "-o", str(tmp_path / "m.safetensors"),
                 "--minutes", "0"]) == 2


def test_refuses_to_overwrite_the_base_or_use_a_foreign_work_folder(frames, tiny_base, tmp_path):
    with pytest.raises(ConfigError, match="base model's own file"):
        adapt([frames], tiny_base, base=str(tiny_base), minutes=0.01, progress=False,
              say=lambda s: None)
    mine = tmp_path / "photos"
    (mine / "train").mkdir(parents=True)
    (mine / "train" / "keep.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match="did not make"):
        adapt([frames], tmp_path / "m.safetensors", base=str(tiny_base), work=mine,
              minutes=0.01, progress=False, say=lambda s: None)
    assert (mine / "train" / "keep.png").read_bytes() == b"x"
