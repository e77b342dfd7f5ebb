"""Presets: named degradation pipelines read from YAML, and :func:`degrade`, which runs one.

A :class:`Preset` is data: a list of steps (the built-in ones live in
``irsrgan/presets/*.yaml``; a user passes a file path, or ``mix:bicubic=0.4,thermal=0.6``).
:func:`degrade` runs a preset with independent draws for each sample of the batch and returns the
LR at exactly ``(H // scale, W // scale)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ..bundled import PRESET_NAMES  # the built-in presets (defined without PyTorch)
from ..errors import ConfigError, ImageError
from .distributions import _check_weights, _parse_number
from .ops import _check_image
from .steps import ChoiceStep, Step, _Ctx, _no_extra, _run, parse_steps


@dataclass(frozen=True)
class Preset:
    """A named degradation pipeline; ``config`` is the mapping it was read from (YAML data),
    kept so checkpoints and reports can record exactly what made their LR."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""
    config: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any], *, name: str | None = None,
                  _depth: int = 0) -> Preset:
        """Build from a mapping with ``steps: [...]`` or ``mix: [{preset, weight}, ...]``."""
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"a preset must be a mapping, got {type(cfg).__name__}")
        data = dict(cfg)
        pname = str(data.pop("name", name or "custom"))
        desc = str(data.pop("description", "") or "")
        where = f"preset {pname!r}"
        # what `irsrgan calibrate` measured: provenance only, recorded with the config
        measured = data.pop("measured", None)
        if measured is not None and not isinstance(measured, Mapping):
            raise ConfigError(f"{where}.measured must be a mapping, got {measured!r}")
        if "mix" in data and "steps" in data:
            raise ConfigError(f"{where}: give either 'steps' or 'mix', not both")
        if "mix" in data:
            items = data.pop("mix")
            if not isinstance(items, (list, tuple)) or not items:
                raise ConfigError(f"{where}.mix must be a non-empty list of {{preset, weight}}")
            branches, weights = [], []
            for j, it in enumerate(items):
                if not isinstance(it, Mapping) or "preset" not in it:
                    raise ConfigError(f"{where}.mix[{j}] must be a mapping with 'preset'")
                it = dict(it)
                sub = it.pop("preset")
                weights.append(_parse_number(it.pop("weight", 1.0), f"{where}.mix[{j}].weight"))
                _no_extra(it, f"{where}.mix[{j}]")
                if _depth > 8:
                    raise ConfigError(f"{where}: presets mix each other too deeply")
                if isinstance(sub, Mapping):
                    branches.append(cls.from_dict(sub, _depth=_depth + 1).steps)
                else:
                    branches.append(get_preset(str(sub), _depth=_depth + 1).steps)
            _check_weights(weights, len(branches), f"{where}.mix")
            steps: tuple[Step, ...] = (ChoiceStep(branches=tuple(branches),
                                                  weights=tuple(weights)),)
        else:
            steps = parse_steps(data.pop("steps", None), f"{where}.steps")
        _no_extra(data, where)
        return cls(name=pname, steps=steps, description=desc, config=dict(cfg))

    def __call__(self, hr: torch.Tensor, scale: int, generator: torch.Generator) -> torch.Tensor:
        return degrade(hr, scale, self, generator)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None


def _parse_inline_mix(spec: str, depth: int) -> Preset:
    """``mix:bicubic=0.4,thermal=0.6`` (names or YAML paths)."""
    body = spec[len("mix:"):]
    items = []
    for part in filter(None, (p.strip() for p in body.split(","))):
        name, sep, weight = part.rpartition("=")
        if not sep or not name:
            raise ConfigError(f"preset {spec!r}: expected mix:NAME=WEIGHT,NAME=WEIGHT")
        items.append({"preset": name, "weight": _parse_number(weight, f"preset {spec!r}")})
    if not items:
        raise ConfigError(f"preset {spec!r}: expected mix:NAME=WEIGHT,NAME=WEIGHT")
    return Preset.from_dict({"name": spec, "mix": items}, _depth=depth)


def get_preset(name_or_path: str | Path | Preset | Mapping, *, _depth: int = 0) -> Preset:
    """A preset by built-in name (:data:`PRESET_NAMES`), YAML file path, inline
    ``mix:NAME=W,NAME=W`` or mapping. Raises :class:`ConfigError` naming what was wrong."""
    if isinstance(name_or_path, Preset):
        return name_or_path
    if isinstance(name_or_path, Mapping):
        return Preset.from_dict(name_or_path, _depth=_depth)
    spec = str(name_or_path)
    if spec in PRESET_NAMES:
        text = (resources.files("irsrgan") / "presets" / f"{spec}.yaml").read_text("utf-8")
        return Preset.from_dict(_load_yaml(text, f"built-in preset {spec}"), name=spec,
                                _depth=_depth)
    if spec.startswith("mix:"):
        return _parse_inline_mix(spec, _depth)
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"preset file {spec} does not exist")
        data = _load_yaml(path.read_text("utf-8"), spec)
        return Preset.from_dict(data, name=path.stem, _depth=_depth)
    raise ConfigError(
        f"unknown preset {spec!r}: expected one of {', '.join(PRESET_NAMES)}, a YAML file, "
        "or mix:NAME=WEIGHT,..."
    )


def degrade(
    hr: torch.Tensor, scale: int, preset: str | Path | Preset, generator: torch.Generator
) -> torch.Tensor:
    """Make LR from HR with a preset; each sample gets its own independent draws.

    Args:
        hr: ``(B, C, H, W)`` float in [0, 1]. scale: integer factor >= 1.
        preset: a :class:`Preset` or anything :func:`get_preset` accepts.
        generator: every random choice comes from it (same seed, same LR).

    Returns:
        float32 ``(B, C, H // scale, W // scale)`` (exactly; a pipeline that ends elsewhere
        gets a final antialiased bicubic resize).
    """
    _check_image(hr, "hr")
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale must be an integer >= 1, got {scale!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    h, w = hr.shape[-2:]
    if h // scale < 1 or w // scale < 1:
        raise ImageError(f"hr of size {h}x{w} is smaller than the scale {scale}")
    p = get_preset(preset)
    ctx = _Ctx(hr_size=(int(h), int(w)), target=(h // scale, w // scale), scale=float(scale))
    x = hr.float()
    with torch.no_grad():
        return _run(list(p.steps), x, ctx, generator).contiguous()


__all__ = ["PRESET_NAMES", "Preset", "degrade", "get_preset"]
