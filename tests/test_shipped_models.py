"""The models shipped in the package: they load, carry their provenance, and beat bicubic."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from irsrgan.checkpoint import DEFAULT_MODEL, bundled_models, load_model, read_metadata
from irsrgan.data import ValidationDataset
from irsrgan.denoise import robust_partner
from irsrgan.inference import Upscaler
from irsrgan.metrics import hf_energy_ratio, psnr

from .conftest import require_shared_data

EXPECTED = ("irsrgan-faithful-x4", "irsrgan-robust-x4", "irsrgan-psnr-x4", "irsrgan-x4",
            "irsrgan-faithful-x2", "irsrgan-psnr-x2")


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


# the faithful model is for clean input only (degraded input goes to its robust partner)
@pytest.mark.parametrize("name, preset", [
    (n, p) for n in bundled_models() if "psnr" in n or "robust" in n
    for p in ("bicubic", "thermal")] + [("irsrgan-faithful-x4", "bicubic")])
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


def test_default_is_the_faithful_model_with_its_robust_partner():
    from irsrgan.denoise import DenoiseUpscaler

    assert DEFAULT_MODEL == "irsrgan-faithful-x4"
    assert robust_partner(DEFAULT_MODEL) == "irsrgan-psnr-x4"
    DenoiseUpscaler(load_model(DEFAULT_MODEL), load_model("irsrgan-psnr-x4"))  # mixable
    DenoiseUpscaler(load_model(DEFAULT_MODEL), load_model("irsrgan-robust-x4"))  # --robust


def test_pair_ends_each_win_their_protocol():
    """The faithful end beats the robust one on clean LR, the robust end on sensor-degraded
    LR (the reason to ship a pair), on the same four validation frames."""
    faithful = load_model("irsrgan-faithful-x4")
    robust = load_model(robust_partner("irsrgan-faithful-x4"))
    clean = _val(4, "bicubic")
    degraded = _val(4, "thermal")
    assert _scores(faithful, clean)[:, 0].mean() > _scores(robust, clean)[:, 0].mean()
    assert _scores(robust, degraded)[:, 0].mean() > _scores(faithful, degraded)[:, 0].mean()


def test_faithful_model_beats_bicubic_on_ground_level_frames():
    """thermitage-dunr (another camera, ground level, 16-bit): clean LR, 4 frames."""
    root = require_shared_data("thermitage-dunr")
    ds = ValidationDataset(root, scale=4, preset="bicubic", seed=0, limit=4, max_size=256)
    scores = _scores(load_model("irsrgan-faithful-x4"), ds)
    gains = scores[:, 0] - scores[:, 1]
    assert (gains > 0).all() and gains.mean() > 1.0, gains.tolist()


def test_x2_pair_the_faithful_end_beats_bicubic_on_ground_level_frames_where_psnr_x2_loses():
    """The x2 pair: irsrgan-faithful-x2 names irsrgan-psnr-x2 as its robust end; on clean
    thermitage-dunr LR (4 frames) the faithful end beats bicubic on every frame and the old
    x2 model, trained on sensor-degraded pairs only, does not."""
    from irsrgan.denoise import DenoiseUpscaler

    assert robust_partner("irsrgan-faithful-x2") == "irsrgan-psnr-x2"
    faithful, robust = load_model("irsrgan-faithful-x2"), load_model("irsrgan-psnr-x2")
    DenoiseUpscaler(faithful, robust)  # mixable
    root = require_shared_data("thermitage-dunr")
    ds = ValidationDataset(root, scale=2, preset="bicubic", seed=0, limit=4, max_size=256)
    ours, old = _scores(faithful, ds), _scores(robust, ds)
    gains = ours[:, 0] - ours[:, 1]
    assert (gains > 0).all() and gains.mean() > 0.8, gains.tolist()
    assert (ours[:, 0] > old[:, 0]).all(), (ours[:, 0] - old[:, 0]).tolist()
