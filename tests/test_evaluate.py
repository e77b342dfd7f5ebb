"""``irsrgan evaluate``: report files and keys, values recomputed independently (skimage),
the alpha sweep's ends, the seeded LR, paired-LR mode, LPIPS columns, and clear errors."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch.nn import functional as F

from irsrgan import evaluate as ev
from irsrgan import metrics
from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.data import ValidationDataset
from irsrgan.degradations import get_preset
from irsrgan.errors import ConfigError
from irsrgan.image import Image, read_image, write_image
from irsrgan.models import create_model

from .conftest import TOL

S = 2
OVERLAP = 16  # the Upscaler's default context, reflect-padded at image borders
TOL_PSNR_DB = 1e-4
TOL_SSIM = 1e-5
SKI_SSIM = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
LUMA = (0.299, 0.587, 0.114)


def _scene(h, w, seed, top):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w)), (0, 0), 1.5)
    return (base - base.min()) / (base.max() - base.min()) * top


@pytest.fixture(autouse=True)
def no_lpips_weights(tmp_path, monkeypatch):
    """No torchvision cache and no lpips package, whatever this machine has."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setattr(metrics, "lpips_package_weights_path", lambda net: None)


@pytest.fixture
def models(tmp_path):
    """Tiny x2 compact models: A and B (same architecture), C (other width), X4 (x4)."""
    paths = {}
    for name, seed, kwargs in (("A", 0, {}), ("B", 1, {}), ("C", 2, {"num_features": 4}),
                               ("X4", 3, {"scale": 4})):
        torch.manual_seed(seed)
        cfg = {"scale": S, "num_features": 8, "num_convs": 2} | kwargs
        paths[name] = tmp_path / f"{name}.safetensors"
        save_model(create_model("compact", **cfg), paths[name],
                   provenance={"recipe": f"unit-test-{name}"})
    return paths


@pytest.fixture
def data(tmp_path):
    """hr/: a.png 8-bit gray 40x36, b.png 8-bit RGB 37x42 (odd height), sub/c16.png 16-bit."""
    root = tmp_path / "hr"
    (root / "sub").mkdir(parents=True)
    a = _scene(40, 36, 1, 255).round().astype(np.uint8)
    b = np.stack([_scene(37, 42, s, 255) for s in (2, 3, 4)], -1).round().astype(np.uint8)
    c = (_scene(38, 44, 5, 9000) + 2000).round().astype(np.uint16)  # 14-bit-like counts
    write_image(root / "a.png", Image(a))
    write_image(root / "b.png", Image(b, layout="rgb"))
    write_image(root / "sub" / "c16.png", Image(c))
    return root, {"a.png": a, "b.png": b, "sub/c16.png": c}


def _rows(report):
    with open(report / "per_image.csv", newline="") as fh:
        return {(r["image"], r["method"]): r for r in csv.DictReader(fh)}


def _bicubic_lr(hr):
    """The 'bicubic' protocol's LR, written out here: antialiased bicubic, clamped."""
    h, w = hr.shape[-2:]
    return F.interpolate(hr, size=(h // S, w // S), mode="bicubic", align_corners=False,
                         antialias=True).clamp(0, 1)


def _bicubic_up(lr):
    return F.interpolate(lr, scale_factor=S, mode="bicubic", align_corners=False).clamp(0, 1)


def _model_up(path, lr):
    """The model on a reflect-padded LR, padding removed (the Upscaler's untiled contract)."""
    from irsrgan.checkpoint import load_model

    model = load_model(path)
    with torch.no_grad():
        out = model(F.pad(lr, (OVERLAP,) * 4, mode="reflect"))
    c = OVERLAP * S
    return out[..., c:-c, c:-c].clamp(0, 1)


def _ski(sr, hr, data_range):
    sr_c, hr_c = sr[S:-S, S:-S], hr[S:-S, S:-S]
    return (peak_signal_noise_ratio(hr_c, sr_c, data_range=data_range),
            structural_similarity(hr_c, sr_c, data_range=data_range, **SKI_SSIM))


def _html_links_exist(report):
    text = (report / "index.html").read_text("utf-8")
    links = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", text)
    assert links, "index.html links nothing"
    for link in links:
        assert not re.match(r"^[a-z]+:|^/", link), f"not a relative link: {link}"
        assert (report / link).is_file(), f"index.html links a missing file: {link}"
    return text, links


def test_report_values_sweep_and_html(tmp_path, models, data, capsys):
    root, pixels = data
    report = tmp_path / "report"
    rc = main(["evaluate", "--model", str(models["A"]), "--data", str(root), "--scale", str(S),
               "--degradation", "bicubic", "--out", str(report), "--seed", "3",
               "--sweep-alpha", "0,0.5,1", "--model-b", str(models["B"]), "--grid", "2", "-q"])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    summary = json.loads((report / "summary.json").read_text())
    rows = _rows(report)
    names = ["a.png", "b.png", "sub/c16.png"]
    methods = ["bicubic", "A", "B", "interp@0", "interp@0.5", "interp@1"]
    assert list(summary["means"]) == methods
    assert set(rows) == {(n, m) for n in names for m in methods}

    st = summary["settings"]
    assert (st["scale"], st["degradation"], st["seed"], st["n_images"], st["crop_border"]) == (
        S, "bicubic", 3, 3, S)
    assert st["images"] == names and st["paired_lr"] is None
    prov = summary["methods"]["A"]
    assert prov["provenance"] == {"recipe": "unit-test-A"}
    assert prov["sha256"] == hashlib.sha256(models["A"].read_bytes()).hexdigest()
    assert prov["arch"] == "compact" and prov["config"]["num_features"] == 8

    # bicubic's gain over itself is exactly zero, per image and on average
    assert summary["means"]["bicubic"]["psnr_gain"] == 0.0
    assert summary["means"]["bicubic"]["ssim_gain"] == 0.0
    assert all(float(rows[(n, "bicubic")]["psnr_gain"]) == 0.0 for n in names)
    assert "bicubic" not in summary["models"]
    # per-model summary = the CSV's per-image gains
    gains = [float(rows[(n, "A")]["psnr"]) - float(rows[(n, "bicubic")]["psnr"]) for n in names]
    m = summary["models"]["A"]
    assert m["psnr_gain"] == pytest.approx(np.mean(gains), abs=1e-9)
    assert m["beats_bicubic_psnr"] == pytest.approx(np.mean([g > 0 for g in gains]))
    assert m["n_images"] == 3
    assert set(summary["models"]) == {"A", "B", "interp@0", "interp@0.5", "interp@1"}

    # a.png, recomputed independently: LR, bicubic, the model, skimage metrics
    hr = pixels["a.png"].astype(np.float64) / 255.0
    lr = _bicubic_lr(torch.from_numpy(hr).float()[None, None])
    for method, sr in (("bicubic", _bicubic_up(lr)), ("A", _model_up(models["A"], lr))):
        p, q = _ski(sr[0, 0].double().numpy(), hr, 1.0)
        assert float(rows[("a.png", method)]["psnr"]) == pytest.approx(p, abs=TOL_PSNR_DB)
        assert float(rows[("a.png", method)]["ssim"]) == pytest.approx(q, abs=TOL_SSIM)
    # b.png: colour -> BT.601 gray, odd height cropped to a multiple of the scale
    rgb = pixels["b.png"].astype(np.float64)
    gray = (LUMA[0] * rgb[..., 0] + LUMA[1] * rgb[..., 1] + LUMA[2] * rgb[..., 2])[:36] / 255
    sr = _bicubic_up(_bicubic_lr(torch.from_numpy(gray).float()[None, None]))
    p, q = _ski(sr[0, 0].double().numpy(), gray, 1.0)
    assert float(rows[("b.png", "bicubic")]["psnr"]) == pytest.approx(p, abs=TOL_PSNR_DB)
    assert float(rows[("b.png", "bicubic")]["ssim"]) == pytest.approx(q, abs=TOL_SSIM)
    # 16-bit: model space is the image's min..max; PSNR on the 16-bit range; MAE in counts
    c = pixels["sub/c16.png"].astype(np.float64)
    lo, hi = c.min(), c.max()
    sr = _bicubic_up(_bicubic_lr(torch.from_numpy((c - lo) / (hi - lo)).float()[None, None]))
    native = sr[0, 0].double().numpy() * (hi - lo) + lo
    p, q = _ski(native, c, 65535.0)
    row = rows[("sub/c16.png", "bicubic")]
    assert float(row["psnr"]) == pytest.approx(p, abs=TOL_PSNR_DB)
    assert float(row["ssim"]) == pytest.approx(q, abs=TOL_SSIM)
    mae = np.abs(native - c)[S:-S, S:-S].mean()
    assert float(row["mae"]) == pytest.approx(mae, rel=1e-5)
    assert 0 < float(row["mae"]) < 9000
    assert rows[("a.png", "bicubic")]["mae"] == ""  # 8-bit: no radiometric error
    assert summary["means"]["bicubic"]["n"]["mae"] == 1

    # the sweep's ends are the two models, exactly
    for n in names:
        for key in ("psnr", "ssim", "hf_ratio"):
            assert rows[(n, "interp@0")][key] == rows[(n, "A")][key]
            assert rows[(n, "interp@1")][key] == rows[(n, "B")][key]
        assert rows[(n, "interp@0.5")]["psnr"] != rows[(n, "A")]["psnr"]
    sweep = summary["sweep"]
    assert (sweep["a"], sweep["b"]) == ("A", "B")
    assert [p["alpha"] for p in sweep["points"]] == [0.0, 0.5, 1.0]

    # LPIPS is left out, and both the JSON and the HTML say why
    assert not any("lpips" in k for k in next(iter(rows.values())))
    assert not any("lpips" in e for e in summary["means"].values())
    assert any("LPIPS" in n and "not found" in n for n in summary["notes"])
    text, links = _html_links_exist(report)
    assert "LPIPS, LPIPS-I and LPIPS-I-ref left out" in text
    files = summary["files"]
    for key in ("psnr_box", "ssim_box", "perception_distortion", "per_image", "summary"):
        assert files[key] in links
    assert [g["image"] for g in files["grids"]] == ["a.png", "sub/c16.png"]  # spread: first, last
    for g in files["grids"]:
        assert g["file"] in links
        crop = g["crop"]
        assert crop["size"] == 24 and crop["x"] >= S and crop["y"] >= S
        assert set(g["values"]) == set(methods)


def test_detail_crop_finds_the_textured_region():
    hr = torch.full((1, 1, 64, 80), 0.5)
    g = torch.Generator().manual_seed(0)
    hr[..., 30:46, 50:66] = torch.rand(16, 16, generator=g)
    y, x = ev.detail_crop(hr, 16, border=2)
    assert (y, x) == (30, 50)
    corner = torch.full((1, 1, 48, 48), 0.5)
    corner[..., :16, :16] = torch.rand(16, 16, generator=g)
    assert ev.detail_crop(corner, 16, border=4) == (4, 4)  # nearest the texture, inside


def test_lr_is_seeded_per_image_and_matches_validation(tmp_path, data):
    """A random preset: the same seed gives the same LR (and report), another seed another;
    the LR is training validation's for the same seed."""
    root, _ = data
    paths = ev.find_pairs(root, None, None)
    preset = get_preset("thermal")
    items = [ev.load_item(i, p, root, scale=S, preset=preset, seed=7, max_size=None)
             for i, (p, _) in enumerate(paths)]
    again = ev.load_item(0, paths[0][0], root, scale=S, preset=preset, seed=7, max_size=None)
    other = ev.load_item(0, paths[0][0], root, scale=S, preset=preset, seed=8, max_size=None)
    assert torch.equal(items[0].lr, again.lr)
    assert not torch.equal(items[0].lr, other.lr)
    assert not torch.equal(items[0].lr[..., :16, :16], items[1].lr[..., :16, :16])
    val = ValidationDataset(root, scale=S, preset="thermal", seed=7)
    for i in (0, 2):  # 8-bit gray and 16-bit (colour is converted differently in data.py)
        assert torch.allclose(items[i].lr[0], val[i]["lr"], atol=TOL["reordered"])
        assert torch.allclose(items[i].hr[0], val[i]["hr"], atol=TOL["reordered"])

    # --max-size: the same centre window as validation's
    small = ev.load_item(2, paths[2][0], root, scale=S, preset=preset, seed=7, max_size=25)
    val_small = ValidationDataset(root, scale=S, preset="thermal", seed=7, max_size=25)[2]
    assert small.hr.shape[-2:] == (24, 24) and small.lr.shape[-2:] == (12, 12)
    assert torch.allclose(small.hr[0], val_small["hr"], atol=TOL["reordered"])
    assert torch.allclose(small.lr[0], val_small["lr"], atol=TOL["reordered"])

    out1, out2 = tmp_path / "r1", tmp_path / "r2"
    for out in (out1, out2):
        ev.evaluate([], root, out, scale=S, degradation="thermal", seed=7, grid=0,
                    lpips="off", max_size=24)
    assert (out1 / "per_image.csv").read_bytes() == (out2 / "per_image.csv").read_bytes()
    summary = json.loads((out1 / "summary.json").read_text())
    assert summary["settings"]["max_size"] == 24
    assert list(summary["means"]) == ["bicubic"] and summary["models"] == {}
    assert any("turned off" in n for n in summary["notes"])


def test_paired_lr_mode(tmp_path, models, data):
    root, pixels = data
    lr_dir = tmp_path / "lr"
    (lr_dir / "sub").mkdir(parents=True)
    lr_a = cv2.resize(pixels["a.png"], (18, 20), interpolation=cv2.INTER_AREA)
    write_image(lr_dir / "a.tif", Image(lr_a, format="tiff"))  # matched by name, not suffix
    write_image(lr_dir / "b.png", Image(cv2.resize(pixels["b.png"], (21, 18),
                                                   interpolation=cv2.INTER_AREA), layout="rgb"))
    c = pixels["sub/c16.png"]
    write_image(lr_dir / "sub" / "c16.png", Image(c[::2, ::2].copy()))
    report = tmp_path / "report"
    rc = main(["evaluate", "--model", str(models["A"]), "--data", str(root), "--out",
               str(report), "--paired-lr", str(lr_dir), "--grid", "1", "-q"])
    assert rc == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["settings"]["scale"] == S  # taken from the model
    assert summary["settings"]["paired_lr"] == str(lr_dir.resolve())
    assert summary["settings"]["degradation"] is None
    rows = _rows(report)
    hr = pixels["a.png"].astype(np.float64) / 255
    lr = torch.from_numpy(read_image(lr_dir / "a.tif").pixels.astype(np.float32) / 255)
    for method, sr in (("bicubic", _bicubic_up(lr[None, None])),
                       ("A", _model_up(models["A"], lr[None, None]))):
        p, q = _ski(sr[0, 0].double().numpy(), hr, 1.0)
        assert float(rows[("a.png", method)]["psnr"]) == pytest.approx(p, abs=TOL_PSNR_DB)
        assert float(rows[("a.png", method)]["ssim"]) == pytest.approx(q, abs=TOL_SSIM)
    # 16-bit pair of the same dtype: the LR is mapped with the HR's value map (its min..max)
    c = c.astype(np.float64)
    lo, hi = c.min(), c.max()
    lr16 = torch.from_numpy((c[::2, ::2] - lo) / (hi - lo)).float()[None, None]
    native = _bicubic_up(lr16)[0, 0].double().numpy() * (hi - lo) + lo
    mae = np.abs(native - c)[S:-S, S:-S].mean()
    assert float(rows[("sub/c16.png", "bicubic")]["mae"]) == pytest.approx(mae, rel=1e-5)
    _html_links_exist(report)


def test_lpips_columns_when_a_metric_is_available(tmp_path, models, data):
    root, pixels = data
    lp = metrics.LPIPS("vgg", lin=False, pretrained_backbone=False)
    summary = ev.evaluate([models["A"]], root, tmp_path / "rep", degradation="bicubic", grid=1,
                          lpips=lp, limit=1, backend="torch")
    rows = _rows(tmp_path / "rep")
    assert summary["settings"]["n_images"] == 1 and set(rows) == {("a.png", "bicubic"),
                                                                  ("a.png", "A")}
    assert set(summary["means"]["A"]) >= {"lpips", "lpips_i", "lpips_i_ref"}
    assert any("uncalibrated" in n for n in summary["notes"])
    hr = torch.from_numpy(pixels["a.png"].astype(np.float32) / 255)[None, None]
    sr = _bicubic_up(_bicubic_lr(hr))
    sr_c, hr_c = metrics.crop(sr, S), metrics.crop(hr, S)
    with torch.no_grad():
        d = lp(sr_c, hr_c)
    assert float(rows[("a.png", "bicubic")]["lpips"]) == pytest.approx(float(d[0]), rel=1e-4)
    li = metrics.lpips_i(sr_c, hr_c, d)
    assert float(rows[("a.png", "bicubic")]["lpips_i"]) == pytest.approx(float(li[0]), rel=1e-4)
    text, _ = _html_links_exist(tmp_path / "rep")
    assert "LPIPS-I" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "{tmp}/nowhere"], "does not exist"),
        (["--model-b", "{C}", "--sweep-alpha", "0.5"], "same architecture"),
        (["--model-b", "{B}"], "only used with sweep_alphas"),
        (["--sweep-alpha", "0.5"], "needs model_b"),
        (["--sweep-alpha", "0.1,x", "--model-b", "{B}"], "--sweep-alpha must be"),
        (["--sweep-alpha", "1.5", "--model-b", "{B}"], "in [0, 1]"),
        (["--scale", "4"], "is a x2 model"),
        (["--model", "{X4}"], "is a x4 model"),
        (["--paired-lr", "{tmp}/lr_partial"], "no LR of the same name"),
        (["--model", "{tmp}/missing.safetensors"], "neither a file nor a bundled model"),
    ],
)
def test_errors_exit_2(tmp_path, models, data, capsys, extra, message):
    root, pixels = data
    (tmp_path / "lr_partial").mkdir()
    write_image(tmp_path / "lr_partial" / "a.png", Image(pixels["a.png"][::2, ::2].copy()))
    subs = {"tmp": str(tmp_path), **{k: str(v) for k, v in models.items()}}
    extra = [e.format(**subs) for e in extra]
    args = ["evaluate", "--model", str(models["A"]), "--data", str(root),
            "--out", str(tmp_path / "rep"), "-q"]
    if "--data" in extra:
        args = args[:3] + args[5:]
    rc = main(args + extra)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "irsrgan evaluate: error:" in err and message in err
    assert not (tmp_path / "rep" / "summary.json").exists()


def test_consistency_variants_score_the_projected_output(tmp_path, models, data):
    from irsrgan.consistency import project_block_mean

    root, arrays = data
    area = Path(__file__).resolve().parents[1] / "configs" / "degradations" / "area.yaml"
    summary = ev.evaluate([models["A"]], root / "a.png", tmp_path / "rep", degradation=area,
                          consistency=True, grid=0)
    assert list(summary["means"]) == ["bicubic", "A", "bicubic+consistency", "A+consistency"]
    assert summary["methods"]["A+consistency"]["consistency_of"] == "A"
    # the variant's PSNR is that of the projected bicubic output, computed here
    hr = torch.from_numpy(arrays["a.png"][:40, :36] / 255.0).float()[None, None]
    lr = F.interpolate(hr, scale_factor=1 / S, mode="area")
    sr = _bicubic_up(lr)[0, 0].double().numpy()
    fixed = project_block_mean(sr, lr[0, 0].double().numpy(), S, low=0.0, high=1.0)
    want, _ = _ski(fixed, hr[0, 0].double().numpy(), 1.0)
    got = summary["means"]["bicubic+consistency"]["psnr"]
    assert got == pytest.approx(want, abs=1e-3)
    assert got > summary["means"]["bicubic"]["psnr"]  # the HR itself is consistent here


def test_sets_and_protocols_give_one_table(tmp_path, models, data):
    """Two sets x two protocols: a report each, and sets.md/json rows equal to each report."""
    root, _ = data
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.png").write_bytes((root / "a.png").read_bytes())
    out = tmp_path / "rep"
    assert main(["evaluate", "--model", str(models["A"]), "--data", f"one={root}", "--data",
                 f"two={other}", "--degradation", "bicubic", "--degradation", "thermal",
                 "--out", str(out), "--no-lpips", "-q", "--grid", "0"]) == 0
    table = json.loads((out / "sets.json").read_text())
    assert table["protocols"] == ["bicubic", "thermal"]
    got = {(r["set"], r["protocol"], r["method"]): r for r in table["rows"]}
    assert len(got) == 2 * 2 * 2  # sets x protocols x (bicubic, A)
    for set_name in ("one", "two"):
        for protocol in ("bicubic", "thermal"):
            summary = json.loads((out / f"{set_name}-{protocol}" / "summary.json").read_text())
            row = got[(set_name, protocol, "A")]
            assert row["psnr_gain"] == pytest.approx(summary["models"]["A"]["psnr_gain"])
            assert row["n_images"] == summary["settings"]["n_images"]
    md = (out / "sets.md").read_text()
    assert md.count("\n| one |") == 2 and md.count("\n| two |") == 2
    # the thermal protocol makes other LR than the clean one
    assert got[("one", "thermal", "A")]["psnr"] != got[("one", "bicubic", "A")]["psnr"]


def test_named_and_plain_sets_cannot_mix(tmp_path, models, data):
    root, _ = data
    assert main(["evaluate", "--model", str(models["A"]), "--data", f"one={root}", "--data",
                 str(root), "--out", str(tmp_path / "r"), "--no-lpips", "-q"]) == 2


def test_denoise_methods_equal_their_ends(tmp_path, models, data):
    """Without anchoring denoise@0 scores like the faithful model and denoise@1 like the robust
    one; with it (the default) denoise@0 is still the faithful model and denoise@1 differs;
    auto records the strength it used for every image."""
    root, _ = data
    for anchor in (False, True):
        out = tmp_path / f"rep-{anchor}"
        ev.evaluate([models["A"], models["B"]], root, out, degradation="thermal",
                    lpips="off", denoise=["0", "1", "auto"], robust=models["B"], grid=0,
                    tile=0, anchor=anchor)
        rows = _rows(out)
        for name in ("a.png", "b.png", "sub/c16.png"):
            assert float(rows[(name, "denoise@0.0")]["psnr"]) == pytest.approx(
                float(rows[(name, "A")]["psnr"]), abs=1e-9)
            robust_end = float(rows[(name, "denoise@1.0")]["psnr"])
            if anchor:
                assert robust_end != pytest.approx(float(rows[(name, "B")]["psnr"]), abs=1e-6)
            else:
                assert robust_end == pytest.approx(float(rows[(name, "B")]["psnr"]), abs=1e-9)
            assert 0.0 <= float(rows[(name, "denoise@auto")]["strength"]) <= 1.0
    with pytest.raises(ConfigError, match="names no robust partner"):
        ev.evaluate([models["A"]], root, tmp_path / "r2", lpips="off", denoise=["auto"])


def test_html_report_reads_as_prose_not_python(tmp_path, models, data):
    """No Python ``None`` and no raw JSON in index.html: unknown settings are said in words,
    provenance is one readable line per entry."""
    root, _ = data
    summary = ev.evaluate([models["A"]], root, tmp_path / "report", scale=S, grid=0,
                          lpips="off")
    assert summary["settings"]["max_size"] is None and summary["settings"]["tile"] is None
    text = (tmp_path / "report" / "index.html").read_text("utf-8")
    cells = re.sub(r"(<[^>]+>)+", "|", text)  # the text between tags
    assert not re.search(r"\bNone\b", cells)
    assert "{&quot;" not in text and '{"' not in text  # no json.dumps of a dict
    assert "|max size|whole frames|" in cells and "|limit|none: every image|" in cells
    assert "|tile|chosen from free memory|" in cells
    assert "|arch|: compact" in cells and "recipe = unit-test-A" in cells
