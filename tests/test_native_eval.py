"""No-reference figures (faceting, overshoot) and ``evaluate --native``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from irsrgan import metrics
from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.models import create_model

from .conftest import write_test_image

pytestmark = pytest.mark.usefixtures("one_thread")


def _smooth(h=64, w=64):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return (0.5 + 0.3 * torch.sin(4 * xx + 2 * yy))[None, None].double()


def test_faceting_zero_for_the_reference_and_high_for_posterised():
    ref = _smooth()
    assert float(metrics.faceting(ref, ref)[0]) == 0.0
    # plateaus: the gentle gradient flattened into 6 levels
    shares = [float(metrics.faceting((ref * n).round() / n, ref)[0]) for n in (4, 6, 12)]
    assert shares[0] > shares[1] > shares[2] > 0.1  # wider plateaus, more facets
    assert shares[1] > 0.3
    # sharpening-like gain raises the gradient: not facets
    assert float(metrics.faceting(0.5 + 1.5 * (ref - 0.5), ref)[0]) == 0.0


def test_faceting_ignores_a_flat_reference():
    flat = torch.full((1, 1, 32, 32), 0.4, dtype=torch.float64)
    assert float(metrics.faceting(flat, flat)[0]) == 0.0


def test_local_gradient_of_a_ramp():
    ramp = torch.arange(16, dtype=torch.float64).expand(1, 1, 16, 16) * 0.01
    g = metrics.local_gradient(ramp, 4)
    torch.testing.assert_close(g, torch.full_like(g, 0.01))


def test_overshoot_share_of_the_range():
    lr = torch.tensor([[[[0.2, 0.6], [0.4, 0.3]]]])
    sr = torch.full((1, 1, 4, 4), 0.5)
    assert float(metrics.overshoot(sr, lr)[0]) == 0.0
    sr[0, 0, 1, 1] = 0.7  # 0.1 above the max of a 0.4 range
    assert float(metrics.overshoot(sr, lr)[0]) == pytest.approx(0.25)


def test_evaluate_native_writes_crops_and_figures(tmp_path):
    rng = np.random.default_rng(0)
    base = F.interpolate(torch.from_numpy(rng.random((1, 1, 12, 14))), size=(40, 44),
                         mode="bicubic")[0, 0].numpy()
    px = (2000 + 3000 * (base - base.min()) / np.ptp(base)).astype(np.uint16)
    write_test_image(tmp_path / "frames" / "a.png", px)
    write_test_image(tmp_path / "frames" / "b.png", (px // 64).astype(np.uint8))
    torch.manual_seed(0)
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2),
               tmp_path / "m.safetensors")
    out = tmp_path / "native"
    assert main(["evaluate", "--native", str(tmp_path / "frames"), "--model",
                 str(tmp_path / "m.safetensors"), "-o", str(out), "-q", "--tile", "0"]) == 0
    summary = json.loads((out / "native.json").read_text())
    assert summary["n_images"] == 2 and summary["scale"] == 2
    assert summary["means"]["bicubic"]["faceting"] == 0.0
    assert 0.0 <= summary["means"]["m"]["faceting"] <= 1.0
    assert sorted(p.name for p in (out / "crops").iterdir()) == ["000_a.png", "001_b.png"]
    rows = (out / "native.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2  # header + 2 frames x (bicubic, m)
    # the native overshoot is in counts for the 16-bit frame: share x its range (3000)
    a = [r.split(",") for r in rows[1:] if r.startswith("a.png,m,")][0]
    assert float(a[4]) == pytest.approx(float(a[3]) * 3000, rel=1e-3)
    assert main(["evaluate", "--native", str(tmp_path / "frames"), "--data", "x", "--model",
                 str(tmp_path / "m.safetensors"), "-o", str(out), "-q"]) == 2
