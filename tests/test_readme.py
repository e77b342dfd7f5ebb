"""The README's Python example runs as written (and the library's docstring examples run
through pytest's --doctest-modules, see pyproject.toml)."""

from __future__ import annotations

import doctest

import irsrgan

from .conftest import REPO


def test_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example writes its files where it runs
    result = doctest.testfile(str(REPO / "README.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0
    assert (tmp_path / "frame-x2.tiff").is_file()


def test_public_api_is_importable_from_the_package():
    for name in irsrgan.__all__:
        assert getattr(irsrgan, name) is not None, name
    assert irsrgan.Upscaler.__module__ == "irsrgan.inference"
    assert issubclass(irsrgan.ConfigError, irsrgan.IrsrganError)
    assert issubclass(irsrgan.ConfigError, ValueError)
