"""One error rule: a user's mistake raises an IrsrganError subclass (one line from the CLI);
anything else is a bug and keeps its traceback."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from irsrgan import cli
from irsrgan.errors import ConfigError, ImageError, IrsrganError
from irsrgan.inference import Upscaler
from irsrgan.losses import charbonnier_loss
from irsrgan.models import create_model
from irsrgan.models.blocks import check_shuffle_scale

from .conftest import REPO, write_test_image

BUILTIN_ERRORS = {"ValueError", "TypeError", "KeyError", "RuntimeError", "SystemExit"}


def test_the_library_raises_no_builtin_error_types():
    """Every ``raise`` in src/ names one of irsrgan's errors (or re-raises): no plain
    ValueError, TypeError, KeyError, RuntimeError, and no SystemExit from library code."""
    found = []
    for path in sorted((REPO / "src" / "irsrgan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in BUILTIN_ERRORS:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {exc.id}")
    assert found == []


@pytest.mark.parametrize(("call", "kind", "words"), [
    (lambda: create_model("no-such-net"), ConfigError, "unknown architecture 'no-such-net'"),
    (lambda: create_model("compact", scale=5), ConfigError, "scale must be"),
    (lambda: create_model("compact", colour=True), ConfigError, "bad hyperparameters"),
    (lambda: check_shuffle_scale(6), ConfigError, "got 6"),
    (lambda: charbonnier_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), eps=0),
     ConfigError, "eps must be > 0"),
    (lambda: Upscaler(create_model("compact", scale=2, num_features=4, num_convs=1),
                      device="cpu", backend="torch").upscale(torch.zeros(1, 8, 8)),
     ImageError, "lr must be (B, C, H, W), got (1, 8, 8)"),
])
def test_library_mistakes_raise_irsrgan_errors(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    assert isinstance(info.value, IrsrganError) and isinstance(info.value, ValueError)
    assert words in str(info.value)


def test_cli_prints_one_line_for_a_user_mistake(tmp_path: Path, capsys):
    src = write_test_image(tmp_path / "a.png", np.zeros((16, 16), np.uint8))
    status = cli.main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model",
                       str(tmp_path / "missing.safetensors"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("irsrgan upscale: error: ") and "missing.safetensors" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_keeps_the_traceback_of_a_bug(monkeypatch, capsys):
    from irsrgan.cli import info_cmd

    def broken(args):
        return 1 // 0

    monkeypatch.setattr(info_cmd, "run", broken)  # register() binds it when main() runs
    with pytest.raises(ZeroDivisionError):
        cli.main(["info", "x.png"])
    assert capsys.readouterr().err == ""
