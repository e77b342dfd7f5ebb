"""The models shipped in the package: they load, carry their provenance, and beat bicubic."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from irsrgan.checkpoint import DEFAULT_MODEL, bundled_models, load_model, read_metadata
from irsrgan.data import ValidationDataset
from irsrgan.inference import Upscaler
from irsrgan.metrics import hf_energy_ratio, psnr

from .conftest import require_shared_data

EXPECTED = ("irsrgan-psnr-x4", "irsrgan-x4", "irsrgan-psnr-x2")


def test_expected_models_are_bundled_with_cards():
    bundled = bundled_models()
    for name in EXPECTED:
        assert name in bundled, f"{name} missing from src/irsrgan/weights"
        meta = read_metadata(bundled[name])
        prov = meta["provenance"]
        assert prov["train_data"]["licence"] == "CC BY 4.0"
        assert "HIT-UAV" in prov["train_data"]["attribution"]
        assert bundled[name].with_suffix(".md").is_file()
        assert bundled[name].stat().st_size < 5 * 2**20  # "under a few MB"
    assert DEFAULT_MODEL in bundled


def _val(scale: int, preset: str):
    root = require_shared_data("hit-uav/val")
    return ValidationDataset(root, scale=scale, preset=preset, seed=0, limit=4, max_size=256)


def _scores(model, ds):
    up = Upscaler(model, device="cpu", tile=0)
    s = model.scale
    out = []
    for i in range(len(ds)):
        lr, hr = ds[i]["lr"][None], ds[i]["hr"][None]
        sr = up.upscale(lr).clamp(0, 1)
        bic = F.interpolate(lr, scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1)
        out.append((float(psnr(sr, hr, crop_border=s)), float(psnr(bic, hr, crop_border=s)),
                    float(hf_energy_ratio(sr, hr)), float(hf_energy_ratio(bic, hr))))
    return torch.tensor(out)


@pytest.mark.parametrize("name", [n for n in bundled_models() if "psnr" in n])
@pytest.mark.parametrize("preset", ["bicubic", "thermal"])
def test_psnr_models_beat_bicubic_on_val(name, preset):
    model = load_model(name)
    scores = _scores(model, _val(model.scale, preset))
    gains = scores[:, 0] - scores[:, 1]
    assert (gains > 0).all(), f"{name} on {preset}: gains {gains.tolist()}"
    if preset == "bicubic":
        assert gains.mean() > 1.0


def test_gan_model_is_sharper_than_psnr_model_and_above_bicubic():
    ds = _val(4, "bicubic")
    psnr_scores = _scores(load_model("irsrgan-psnr-x4"), ds)
    gan_scores = _scores(load_model("irsrgan-x4"), ds)
    assert (gan_scores[:, 0] > gan_scores[:, 1]).all()  # above bicubic in PSNR
    # high-frequency energy closer to the HR's (ratio 1) than the PSNR model's
    assert ((gan_scores[:, 2] - 1).abs().mean() < (psnr_scores[:, 2] - 1).abs().mean())
