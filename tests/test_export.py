"""ONNX export: dynamic height and width, parity with PyTorch through ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.export import check_onnx, export_onnx
from irsrgan.models import create_model

from .conftest import TOL

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("arch,kw", [
    ("compact", dict(num_features=8, num_convs=2)),
    ("rrdbnet", dict(num_features=8, num_blocks=1, growth=4)),
    ("crdbnet", dict(num_features=8, num_blocks=1, growth=4)),
])
def test_onnx_matches_pytorch_on_other_sizes(tmp_path, arch, kw):
    torch.manual_seed(0)
    model = create_model(arch, scale=4, **kw).eval()
    path = tmp_path / "m.onnx"
    diff = export_onnx(model, path)
    assert diff is not None and diff < TOL["onnx"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in [(16, 16), (29, 41)]:
        x = torch.rand(1, 1, h, w)
        got = sess.run(None, {"lr": x.numpy()})[0]
        assert got.shape == (1, 1, 4 * h, 4 * w)
        np.testing.assert_allclose(got, model(x).detach().numpy(), atol=TOL["onnx"])
    assert check_onnx(model, path) < TOL["onnx"]


def test_export_command(tmp_path, capsys):
    torch.manual_seed(0)
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2),
               tmp_path / "m.safetensors")
    assert main(["export", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m.onnx")]) == 0
    assert "max |onnxruntime - pytorch|" in capsys.readouterr().out
    assert (tmp_path / "m.onnx").stat().st_size > 1000
