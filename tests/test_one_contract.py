"""One contract per concept: one scorer, one LR seed rule, one device rule (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from irsrgan.cli import main
from irsrgan.data import ValidationDataset
from irsrgan.degradations import get_preset
from irsrgan.evaluate import evaluate, load_item
from irsrgan.image import read_image
from irsrgan.inference import pick_device
from irsrgan.metrics import psnr
from irsrgan.models import Generator
from irsrgan.sample import thermal_sample
from irsrgan.train import validate

from .conftest import TOL, write_test_image


class NearestX2(Generator):
    """A x2 "model": nearest-neighbour upscaling, optionally rounded to 8-bit grey levels (so
    its output survives being written to an 8-bit file exactly)."""

    arch, cpu_backend = "nearest-x2", "torch"

    def __init__(self, *, levels: int | None = None) -> None:
        super().__init__(scale=2, in_channels=1, out_channels=1)
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.repeat_interleave(2, -2).repeat_interleave(2, -1)
        return y if self.levels is None else (y * self.levels).round() / self.levels


def _hr8(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = F.interpolate(torch.from_numpy(rng.random((1, 1, 12, 12))), size=(48, 48),
                           mode="bicubic", align_corners=False)[0, 0].numpy()
    return np.clip(40 + 170 * smooth + rng.normal(0, 6, (48, 48)), 0, 255).astype(np.uint8)


def test_validation_evaluate_and_metrics_give_the_same_psnr(tmp_path: Path):
    folder = tmp_path / "hr"
    write_test_image(folder / "frame.png", _hr8())
    model = NearestX2(levels=255)

    val_set = ValidationDataset(folder, scale=2, preset="bicubic", seed=3)
    by_validation = validate(model, val_set, torch.device("cpu"))

    summary = evaluate([model], folder, tmp_path / "report", seed=3, lpips="off", grid=0,
                       device="cpu", backend="torch")
    label = [k for k in summary["means"] if k != "bicubic"][0]
    by_evaluate = summary["means"][label]["psnr"]

    # the SR evaluate scored, written as an 8-bit file (exact: the model rounds to grey levels)
    sr = model(val_set[0]["lr"][None]).clamp(0, 1)
    sr_file = tmp_path / "sr" / "frame.png"
    write_test_image(sr_file, (sr[0, 0].numpy() * 255).round().astype(np.uint8))
    assert main(["metrics", str(sr_file), str(folder / "frame.png"), "--crop", "2",
                 "--lpips", "none", "--json", str(tmp_path / "m.json")]) == 0
    by_metrics = json.loads((tmp_path / "m.json").read_text())["mean"]["psnr"]

    assert 20 < by_validation["psnr"] < 45  # a real, finite score
    assert by_evaluate == pytest.approx(by_validation["psnr"], abs=TOL["psnr_db"])
    assert by_metrics == pytest.approx(by_validation["psnr"], abs=TOL["psnr_db"])
    assert summary["means"]["bicubic"]["psnr"] == pytest.approx(by_validation["bicubic_psnr"],
                                                                abs=TOL["psnr_db"])


def test_16bit_validation_scores_on_the_bit_depth_scale_as_evaluate_does(tmp_path: Path):
    """16-bit frames enter models stretched per image; validation used to score there (a
    different number than evaluate's for the same SR). Both now use the 16-bit scale."""
    folder = tmp_path / "hr"
    counts = thermal_sample(48, 64)  # 14-bit counts spanning ~5000 of 65535
    write_test_image(folder / "frame.tiff", counts, "tiff")
    model = NearestX2()
    val_set = ValidationDataset(folder, scale=2, preset="bicubic", seed=0)
    by_validation = validate(model, val_set, torch.device("cpu"))
    summary = evaluate([model], folder, tmp_path / "report", lpips="off", grid=0,
                       device="cpu", backend="torch")
    label = [k for k in summary["means"] if k != "bicubic"][0]
    assert summary["means"][label]["psnr"] == pytest.approx(by_validation["psnr"],
                                                            abs=TOL["psnr_db"])
    item = val_set[0]
    in_model_space = float(psnr(model(item["lr"][None]), item["hr"][None], crop_border=2)[0])
    span = float(counts.max()) - float(counts.min())
    assert by_validation["psnr"] - in_model_space == pytest.approx(
        20 * np.log10(65535 / span), abs=1e-4)


def test_degrade_evaluate_and_validation_make_the_same_lr(tmp_path: Path):
    """One --seed, one LR per file: `degrade` seeds by (seed, file name), and so do
    `evaluate` and training's validation, whatever the file's position in the folder."""
    folder = tmp_path / "hr"
    write_test_image(folder / "a-first.png", _hr8(1))
    write_test_image(folder / "sub" / "b.png", _hr8(2))  # second in the sorted list
    assert main(["degrade", str(folder), "-o", str(tmp_path / "lr"), "-s", "2", "-p",
                 "thermal", "--seed", "7"]) == 0
    written = read_image(tmp_path / "lr" / "sub" / "b.png").pixels

    preset = get_preset("thermal")
    item = load_item(1, folder / "sub" / "b.png", folder, scale=2, preset=preset, seed=7,
                     max_size=None)
    val = ValidationDataset(folder, scale=2, preset="thermal", seed=7)
    assert val[1]["name"] == item.name == "sub/b.png"
    assert torch.equal(val[1]["lr"][None], item.lr)
    as_file = (item.lr[0, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(written, as_file)
    other_seed = load_item(1, folder / "sub" / "b.png", folder, scale=2, preset=preset,
                           seed=8, max_size=None)
    assert not torch.equal(other_seed.lr, item.lr)  # the seed matters: a noisy preset


def test_pick_device_under_torchrun(monkeypatch):
    """Training's device is inference's rule plus the process's GPU (was train._device)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    assert pick_device("auto", local_rank=1) == torch.device("cpu")  # gloo: no MPS
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert pick_device("auto") == torch.device("cuda")
