"""``irsrgan --help`` builds every subcommand's parser; it must not load PyTorch (seconds and
hundreds of MB at every start): each ``*_cmd`` module imports what its ``run`` needs there."""

from __future__ import annotations

import subprocess
import sys

from irsrgan.cli import main


def test_building_every_parser_does_not_import_torch():
    code = ("import sys; from irsrgan.cli import COMMANDS, build_parser; p = build_parser(); "
            "sub = next(a for a in p._actions if a.dest == 'command'); "
            "print(sorted(sub.choices) == sorted(COMMANDS), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "False"]


def test_models_lists_the_bundled_models_and_architectures(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Bundled models (use with --model NAME):")
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("irsrgan-faithful-x4"))
    assert "[default]" in line and "M parameters" in line
    assert "\nArchitectures (weights files of these load with --model PATH):" in out
    assert "  compact " in out
    assert "Foreign files recognised:" in out
