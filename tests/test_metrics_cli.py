"""``irsrgan metrics``: folders matched by relative stem, JSON report, LPIPS note, size errors."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from irsrgan import metrics
from irsrgan.cli import main, metrics_cmd
from irsrgan.image import Image, write_image

TOL_PSNR_DB = 1e-3
TOL_SSIM = 1e-4
SKI_SSIM = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
CROP = 2


def _scene(h, w, seed, top):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w)), (0, 0), 2.0)
    return (base - base.min()) / (base.max() - base.min()) * top


@pytest.fixture
def folders(tmp_path):
    """sr/ and hr/: an 8-bit pair a, a 16-bit pair sub/b (PNG vs TIFF), one unmatched each."""
    rng = np.random.default_rng(0)
    hr_a = _scene(40, 48, 1, 255).round().astype(np.uint8)
    sr_a = np.clip(hr_a + rng.integers(-6, 7, hr_a.shape), 0, 255).astype(np.uint8)
    hr_b = (_scene(33, 45, 2, 12000) + 2000).round().astype(np.uint16)  # 14-bit-like counts
    sr_b = (hr_b.astype(np.int64) + rng.integers(-40, 41, hr_b.shape) + 10).astype(np.uint16)
    for d in ("sr/sub", "hr/sub"):
        (tmp_path / d).mkdir(parents=True)
    write_image(tmp_path / "hr" / "a.png", Image(hr_a))
    write_image(tmp_path / "sr" / "a.png", Image(sr_a))
    write_image(tmp_path / "hr" / "sub" / "b.tif", Image(hr_b, format="tiff"))
    write_image(tmp_path / "sr" / "sub" / "b.png", Image(sr_b))
    write_image(tmp_path / "hr" / "only_hr.png", Image(hr_a))
    write_image(tmp_path / "sr" / "only_sr.png", Image(sr_a))
    return tmp_path, {"a": (sr_a, hr_a, 255.0), "sub/b": (sr_b, hr_b, 65535.0)}


@pytest.fixture
def no_lpips_weights(tmp_path, monkeypatch):
    """No torchvision cache and no lpips package, whatever this machine has."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setattr(metrics, "lpips_package_weights_path", lambda net: None)


def test_folders_json_values_and_notes(folders, no_lpips_weights, capsys):
    root, truth = folders
    out_json = root / "report.json"
    rc = main(["metrics", str(root / "sr"), str(root / "hr"), "--crop", str(CROP),
               "--json", str(out_json)])
    assert rc == 0
    report = json.loads(out_json.read_text())
    assert [r["name"] for r in report["images"]] == ["a", "sub/b"]
    assert report["unmatched_sr"] == ["only_sr"] and report["unmatched_hr"] == ["only_hr"]
    assert report["crop_border"] == CROP and report["lpips_net"] is None
    c = slice(CROP, -CROP)
    for row in report["images"]:
        sr, hr, rng_max = truth[row["name"]]
        assert row["psnr"] == pytest.approx(
            peak_signal_noise_ratio(hr[c, c], sr[c, c], data_range=rng_max), abs=TOL_PSNR_DB
        )
        assert row["ssim"] == pytest.approx(
            structural_similarity(hr[c, c], sr[c, c], data_range=rng_max, **SKI_SSIM),
            abs=TOL_SSIM,
        )
        assert 0.5 < row["hf_ratio"] < 50
        assert "lpips" not in row and "lpips_i" not in row
    a, b = report["images"]
    assert "mae" not in a  # 8-bit: no native units to speak of
    sr_b, hr_b, _ = truth["sub/b"]
    diff = sr_b[c, c].astype(np.float64) - hr_b[c, c]
    assert b["dtype"] == "uint16"
    assert b["mae"] == pytest.approx(np.abs(diff).mean(), abs=1e-9)
    assert b["rmse"] == pytest.approx(np.sqrt((diff**2).mean()), abs=1e-9)
    assert b["bias"] == pytest.approx(10.0, abs=1.0)
    assert report["mean"]["psnr"] == pytest.approx((a["psnr"] + b["psnr"]) / 2, abs=1e-12)
    assert report["mean"]["mae"] == b["mae"] and report["count"]["mae"] == 1
    assert report["count"]["psnr"] == 2
    printed = capsys.readouterr().out
    assert "PSNR dB" in printed and "MAE" in printed and "mean (2)" in printed
    assert f"{a['psnr']:.3f}" in printed
    assert "unmatched SR (1): only_sr" in printed and "unmatched HR (1): only_hr" in printed
    lpips_notes = [ln for ln in printed.splitlines() if "LPIPS-I-ref left out" in ln]
    assert len(lpips_notes) == 1 and "lpips" in lpips_notes[0] and "vgg16" in lpips_notes[0]
    # the advice names this command's options, not the library's arguments
    note = lpips_notes[0]
    assert "--lpips-weights PATH" in note and "--backbone-weights PATH" in note
    for library_word in ("lin_weights", "lin=False", "explicit path", "loss/metric"):
        assert library_word not in note


def test_lpips_columns_when_available(folders, monkeypatch):
    root, truth = folders

    class FixedDistance:
        net = "vgg"

        def __call__(self, hr, sr):
            return torch.tensor([0.25])

    monkeypatch.setattr(metrics_cmd, "build_lpips", lambda *a, **k: FixedDistance())
    out_json = root / "r.json"
    assert main(["metrics", str(root / "sr" / "a.png"), str(root / "hr" / "a.png"),
                 "--json", str(out_json)]) == 0
    (row,) = json.loads(out_json.read_text())["images"]
    assert row["name"] == "a.png" and row["lpips"] == 0.25
    sr = truth["a"][0].astype(np.float64)
    p = np.pad(sr, 1, mode="reflect")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * sr
    assert row["lpips_i"] == pytest.approx(math.log2(lap.var()) / 0.25, rel=1e-5)
    assert row["lpips_i_ref"] > 0


def test_size_mismatch_names_both_files(folders, capsys):
    """One bad pair is reported; the other pairs are still scored (exit status 1)."""
    root, _ = folders
    write_image(root / "sr" / "a.png", Image(np.zeros((40, 47), np.uint8)))
    rc = main(["metrics", str(root / "sr"), str(root / "hr"), "--lpips", "none"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "sub/b " in captured.out and "mean (1)" in captured.out
    err = captured.err
    assert "sizes differ" in err and "47x40" in err and "48x40" in err
    assert str(root / "sr" / "a.png") in err and str(root / "hr" / "a.png") in err


def test_file_and_folder_or_nothing_matched_are_errors(folders, capsys):
    root, _ = folders
    assert main(["metrics", str(root / "sr" / "a.png"), str(root / "hr"), "--lpips", "none"]) == 2
    assert "both be files or both be folders" in capsys.readouterr().err
    (root / "empty").mkdir()
    assert main(["metrics", str(root / "empty"), str(root / "hr"), "--lpips", "none"]) == 2
    assert "no SR/HR pairs" in capsys.readouterr().err


def test_explicit_missing_lpips_weights_is_an_error(folders, capsys):
    root, _ = folders
    missing = root / "nowhere.pth"
    rc = main(["metrics", str(root / "sr"), str(root / "hr"), "--lpips", "alex",
               "--lpips-weights", str(missing)])
    assert rc == 2
    assert str(missing) in capsys.readouterr().err


def test_score_pairs_is_the_commands_loop_without_printing(folders, tmp_path):
    """irsrgan.metrics_files scores pairs as `irsrgan metrics` does; a bad pair is recorded
    and the rest scored."""
    from irsrgan.metrics_files import match_pairs, score_pairs

    root, truth = folders
    pairs, sr_only, hr_only = match_pairs(root / "sr", root / "hr")
    assert [p[0] for p in pairs] == ["a", "sub/b"]
    assert (sr_only, hr_only) == (["only_sr"], ["only_hr"])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    scored = score_pairs([*pairs, ("broken", tmp_path / "broken.png", pairs[0][2])],
                         crop_border=CROP)
    assert [r["name"] for r in scored.rows] == ["a", "sub/b"]
    assert [n for n, _ in scored.failed] == ["broken"]
    for row in scored.rows:
        sr, hr, peak = truth[row["name"]]
        c = (slice(CROP, -CROP), slice(CROP, -CROP))
        want = peak_signal_noise_ratio(hr[c].astype(np.float64), sr[c].astype(np.float64),
                                       data_range=peak)
        assert abs(row["psnr"] - want) < TOL_PSNR_DB
