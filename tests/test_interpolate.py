"""Network interpolation: exact endpoints, the midpoint, mismatches refused, the command."""

from __future__ import annotations

import pytest
import torch

from irsrgan.checkpoint import load_model, save_model
from irsrgan.cli import main
from irsrgan.errors import CheckpointError
from irsrgan.interpolate import interpolate_models
from irsrgan.models import create_model


def _pair():
    torch.manual_seed(0)
    a = create_model("compact", scale=2, num_features=8, num_convs=2)
    torch.manual_seed(1)
    b = create_model("compact", scale=2, num_features=8, num_convs=2)
    return a, b


def test_endpoints_are_exact_and_midpoint_is_the_mean():
    a, b = _pair()
    for alpha, ref in ((0.0, a), (1.0, b)):
        mixed = interpolate_models(a, b, alpha).state_dict()
        assert all(torch.equal(mixed[k], v) for k, v in ref.state_dict().items())
    mid = interpolate_models(a, b, 0.3).state_dict()
    for k, va in a.state_dict().items():
        torch.testing.assert_close(mid[k], 0.7 * va + 0.3 * b.state_dict()[k])


def test_mismatched_architectures_are_refused():
    a, _ = _pair()
    other = create_model("compact", scale=2, num_features=8, num_convs=3)
    with pytest.raises(CheckpointError, match="cannot interpolate different architectures"):
        interpolate_models(a, other, 0.5)
    with pytest.raises(CheckpointError, match="cannot interpolate"):
        interpolate_models(a, create_model("rrdbnet", scale=2, num_features=8, num_blocks=1,
                                           growth=4), 0.5)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        interpolate_models(a, a, 1.5)


def test_interpolate_command_uses_ema_weights_of_training_states(tmp_path):
    a, b = _pair()
    save_model(a, tmp_path / "a.safetensors")
    ema_state = {"irsrgan_train_state": True, "arch": b.arch, "model_config": b.config,
                 "generator": a.state_dict(), "generator_ema": b.state_dict()}
    torch.save(ema_state, tmp_path / "last.pt")
    assert main(["interpolate", str(tmp_path / "a.safetensors"), str(tmp_path / "last.pt"),
                 "--alpha", "1", "-o", str(tmp_path / "c.safetensors")]) == 0
    c = load_model(tmp_path / "c.safetensors").state_dict()
    assert all(torch.equal(c[k], v) for k, v in b.state_dict().items())
