"""The methods an evaluation compares: bicubic, models, an interpolation sweep, denoise
strengths, each with its :class:`~irsrgan.inference.Upscaler`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ..checkpoint import load_model, model_info
from ..denoise import DenoiseUpscaler, Strength, parse_strength, robust_partner
from ..engines import EngineName
from ..errors import CheckpointError, ConfigError
from ..inference import Upscaler
from ..interpolate import interpolate_models
from ..models import Generator, model_config, require_generator

BICUBIC = "bicubic"

ModelSpec = str | os.PathLike | nn.Module
BackendName = EngineName


@dataclass
class Method:
    """One way to upscale: bicubic, a model, or an interpolated model."""

    label: str
    kind: Literal["bicubic", "model", "interpolated", "denoise"]
    upscaler: Upscaler | DenoiseUpscaler | None = None
    alpha: float | None = None
    provenance: dict = field(default_factory=dict)
    seconds: float = 0.0


def _load(spec: ModelSpec, what: str) -> tuple[Generator, str, dict]:
    """``(model, label, provenance)`` for a path, a bundled name or a generator."""
    if isinstance(spec, nn.Module):
        model = require_generator(spec, what)
        label = Path(model.source).stem if model.source else model.arch
        prov = {"source": model.source, "arch": model.arch, "config": model_config(model)}
        return model, label, prov
    try:
        info = model_info(spec)
    except CheckpointError as exc:
        raise CheckpointError(f"{what}: {exc}") from None
    model = load_model(info.path)
    label = _file_label(Path(spec)) if Path(spec).exists() else str(spec)
    prov: dict[str, Any] = {
        "source": str(spec), "file": str(info.path.resolve()), "arch": info.arch,
        "config": info.config, "sha256": info.sha256(),
    }
    if info.has_metadata:
        prov["provenance"] = info.provenance
    return model, label, prov


def _file_label(path: Path) -> str:
    """A model file's label: its stem, or its run folder's name for a training run's
    ``model`` / ``best`` / ``last`` files (``runs/cpu-psnr-x4/model.safetensors`` ->
    ``cpu-psnr-x4``)."""
    if path.stem in ("model", "best", "last") and path.parent.name:
        return path.parent.name if path.stem == "model" else f"{path.parent.name}-{path.stem}"
    return path.stem


def _unique(label: str, used: set[str], source: str | None) -> str:
    if label not in used:
        return label
    if source:
        parent = Path(source).parent.name
        candidate = f"{parent}/{label}" if parent else label
        if candidate not in used:
            return candidate
    n = 2
    while f"{label}-{n}" in used:
        n += 1
    return f"{label}-{n}"


def _parse_alphas(alphas: Sequence[float]) -> list[float]:
    out: list[float] = []
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
            raise ConfigError(f"sweep_alphas must be numbers in [0, 1], got {a!r}")
        if not 0.0 <= float(a) <= 1.0:
            raise ConfigError(f"sweep_alphas must be in [0, 1], got {a}")
        if float(a) not in out:
            out.append(float(a))
    return out


def parse_alpha_list(text: str) -> list[float]:
    """``"0.1,0.3,0.5"`` -> ``[0.1, 0.3, 0.5]`` (for ``--sweep-alpha``)."""
    values = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise ConfigError(
                f"--sweep-alpha must be comma-separated numbers in [0, 1], got {text!r}"
            ) from None
    if not values:
        raise ConfigError(f"--sweep-alpha must list at least one alpha, got {text!r}")
    return _parse_alphas(values)


def _alpha_label(alpha: float) -> str:
    return f"interp@{alpha:g}"


def build_methods(
    models: Sequence[ModelSpec],
    *,
    scale: int | None,
    model_b: ModelSpec | None = None,
    sweep_alphas: Sequence[float] = (),
    device: str | torch.device | None = "auto",
    tile: int | None = None,
    backend: BackendName = "auto",
    ensemble: bool = False,
    denoise: Sequence[Strength] = (),
    robust: ModelSpec | None = None,
    anchor: bool = True,
) -> tuple[list[Method], int, dict | None]:
    """Bicubic, the models, the interpolation sweep, and the denoise strengths (between the
    first model and ``robust``, default its named partner; above strength 0 with their levels
    anchored unless ``anchor`` is False, as ``irsrgan upscale`` does), each with its Upscaler.

    Returns:
        ``(methods, scale, sweep)``; ``sweep`` names the two ends and the labels per alpha.

    Raises:
        ConfigError: scales disagree, a sweep without ``model_b`` or the reverse.
        CheckpointError: a model cannot be loaded, or ``model_b`` does not match the model.
    """
    alphas = _parse_alphas(sweep_alphas)
    if alphas and model_b is None:
        raise ConfigError("sweep_alphas (--sweep-alpha) needs model_b (--model-b)")
    if model_b is not None and not alphas:
        raise ConfigError("model_b (--model-b) is only used with sweep_alphas (--sweep-alpha)")
    if model_b is not None and not models:
        raise ConfigError("model_b (--model-b) needs a model (--model) for alpha 0")
    loaded = [_load(m, f"model {m}") for m in models]
    b_loaded = _load(model_b, f"model_b {model_b}") if model_b is not None else None
    for model, label, prov in loaded + ([b_loaded] if b_loaded else []):
        s = int(model.scale)
        if scale is None:
            scale = s
        elif s != scale:
            raise ConfigError(
                f"model {prov.get('source') or label} is a x{s} model, but the scale is "
                f"{scale} (--scale): every model must have the evaluated scale"
            )
    if scale is None:
        raise ConfigError("scale (--scale) is required when no model is given")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale must be an integer >= 1, got {scale!r}")

    # every check and every model first; Upscalers (an ONNX export each on CPU) last
    methods = [Method(BICUBIC, "bicubic", provenance={
        "method": "torch F.interpolate(mode='bicubic', align_corners=False), clamped to [0, 1]"
    })]
    nets: list[nn.Module | None] = [None]
    used = {BICUBIC}
    for (model, label, prov), spec in zip(loaded, models, strict=True):
        label = _unique(label, used, None if isinstance(spec, nn.Module) else str(spec))
        used.add(label)
        methods.append(Method(label, "model", provenance=prov))
        nets.append(model)
    sweep = None
    if b_loaded is not None:
        model_a, label_a = loaded[0][0], methods[1].label
        model_bm, label_b, prov_b = b_loaded
        arch_a, arch_b = model_a.arch, model_bm.arch
        cfg_a, cfg_b = model_a.config, model_bm.config
        if arch_a != arch_b or cfg_a != cfg_b:
            raise CheckpointError(
                f"model_b (--model-b) {model_b} is {arch_b} {cfg_b}, but model (--model) "
                f"{models[0]} is {arch_a} {cfg_a}: network interpolation needs the same "
                "architecture and hyperparameters"
            )
        same_b = [m for m in methods if m.kind == "model" and m.provenance.get("sha256")
                  and m.provenance.get("sha256") == prov_b.get("sha256")]
        if same_b:
            label_b = same_b[0].label
        else:
            label_b = _unique(label_b, used, None if isinstance(model_b, nn.Module)
                              else str(model_b))
            used.add(label_b)
            methods.append(Method(label_b, "model", provenance=prov_b))
            nets.append(model_bm)
        points = []
        for alpha in alphas:
            label = _unique(_alpha_label(alpha), used, None)
            used.add(label)
            methods.append(Method(label, "interpolated", alpha=alpha, provenance={
                "interpolated": {"a": label_a, "b": label_b, "alpha": alpha}}))
            nets.append(interpolate_models(model_a, model_bm, alpha))
            points.append({"alpha": alpha, "method": label})
        sweep = {"a": label_a, "b": label_b, "points": points}
    engine = dict(device=device, tile=tile, backend=backend, ensemble=ensemble)
    for method, net in zip(methods, nets, strict=True):
        if net is not None:
            method.upscaler = Upscaler(net, **engine)
    if denoise:
        if not models:
            raise ConfigError("denoise (--denoise) needs a model (--model): the faithful end")
        if robust is None and not isinstance(models[0], nn.Module):
            robust = robust_partner(models[0])
        if robust is None:
            raise ConfigError(f"denoise (--denoise): model {models[0]} names no robust "
                              "partner; give one (--robust)")
        robust_model, robust_label, _ = _load(robust, f"robust {robust}")
        for strength in dict.fromkeys(parse_strength(v) for v in denoise):
            label = _unique(f"denoise@{strength}", used, None)
            used.add(label)
            methods.append(Method(label, "denoise", DenoiseUpscaler(
                loaded[0][0], robust_model, strength, anchor=anchor, **engine), provenance={
                "denoise": {"faithful": methods[1].label, "robust": robust_label,
                            "strength": strength, "anchor": anchor}}))
    return methods, scale, sweep


def _consistency_variants(methods: list[Method]) -> list[Method]:
    """A ``+consistency`` twin of every method (its provenance names the method)."""
    return [Method(f"{m.label}+consistency", "model" if m.kind == "model" else "interpolated",
                   alpha=m.alpha, provenance={"consistency_of": m.label}) for m in methods]
