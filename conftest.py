"""pytest, repository-wide: the docstring examples of src/irsrgan run with --doctest-modules
(pyproject.toml); modules that need an optional extra are left out where it is missing."""

from __future__ import annotations

import importlib.util

OPTIONAL = {"src/irsrgan/server.py": "fastapi"}  # irsrgan[web]

collect_ignore = [path for path, package in OPTIONAL.items()
                  if importlib.util.find_spec(package) is None]
