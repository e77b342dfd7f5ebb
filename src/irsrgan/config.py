"""Training recipes as typed dataclasses, read from YAML and validated.

Unknown keys and wrong types are errors that name the key (``train.lr: expected float, got
str 'fast'``). Any value can be overridden from the command line with ``--set train.lr=1e-4``
(the value is parsed as YAML).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` as a string; recipes mean a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


@dataclass
class ModelConfig:
    arch: str = "compact"
    scale: int = 4
    in_channels: int = 1
    out_channels: int = 1
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    train: str = "../shared/data/hit-uav/train"
    val: str | None = "../shared/data/hit-uav/val"
    patch_size: int = 128
    batch_size: int = 16
    degradation: str | dict[str, Any] = "bicubic"
    val_degradation: str = "bicubic"
    val_limit: int | None = 16
    val_max_size: int | None = 256
    num_workers: int = 1
    in_memory: bool = True
    augment: dict[str, Any] = field(default_factory=dict)
    #: more validation sets: ``{name: folder}`` (data.val_degradation) or
    #: ``{name: {path: folder, degradation: preset}}``
    extra_val: dict[str, str | dict[str, str]] = field(default_factory=dict)
    #: training items per image per epoch (for folders of few images)
    repeat: int = 1
    #: frames per training window: 1 trains on stills; an odd number > 1 trains a multi-frame
    #: model on synthetic clips (``irsrgan.clips``; must equal ``model.kwargs.frames``)
    frames: int = 1
    #: camera motion of the synthetic clips (:class:`irsrgan.clips.MotionConfig` keys)
    motion: dict[str, Any] = field(default_factory=dict)
    #: LR pixels around each training clip crop that its optical flow sees (0: the crop only)
    flow_context: int = 0


@dataclass
class ScheduleConfig:
    kind: Literal["constant", "step", "cosine"] = "constant"
    warmup_steps: int = 0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.5
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema_decay: float = 0.999
    grad_clip: float | None = None
    amp: bool = True
    val_every: int = 500
    log_every: int = 20
    checkpoint_every: int = 500
    pretrained: str | None = None
    max_minutes: float | None = None
    threads: int | None = None


@dataclass
class PixelLossConfig:
    kind: Literal["l1", "charbonnier", "l2"] = "l1"
    weight: float = 1.0


@dataclass
class PerceptualLossConfig:
    weight: float = 0.0
    layers: dict[str, float] = field(default_factory=lambda: {"conv5_4": 1.0})
    weights: str | None = None
    pretrained: bool = True


@dataclass
class GanLossConfig:
    kind: Literal["ragan", "vanilla", "hinge"] = "ragan"
    weight: float = 0.0


@dataclass
class LossConfig:
    pixel: PixelLossConfig = field(default_factory=PixelLossConfig)
    perceptual: PerceptualLossConfig = field(default_factory=PerceptualLossConfig)
    feature_matching: float = 0.0
    gradient: float = 0.0
    gan: GanLossConfig = field(default_factory=GanLossConfig)


@dataclass
class DiscriminatorConfig:
    arch: Literal["unet", "vgg"] = "unet"
    kwargs: dict[str, Any] = field(default_factory=dict)
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])


@dataclass
class Config:
    name: str = "run"
    stage: Literal["psnr", "gan"] = "psnr"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --------------------------------------------------------------------------- validation
def _check(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _check(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{key}: expected {_name(tp)}, got {_describe(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {_describe(value)}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{key}: expected one of {list(args)}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {_describe(value)}")
        return _build(tp, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {_describe(value)}")
        return [_check(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {_describe(value)}")
        return {k: _check(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected float, got {_describe(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected int, got {_describe(value)}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {_describe(value)}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{where}: unknown key (allowed: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else key
        kwargs[key] = _check(value, hints[key], where)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a plain mapping into a :class:`Config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a mapping, got {_describe(data)}")
    return _build(Config, data, "")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` strings (value parsed as YAML) to a nested mapping."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        path, raw = item.split("=", 1)
        try:
            value = _yaml_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {path}: cannot parse {raw!r}: {exc}") from None
        node = data
        parts = path.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {path}: {part} is not a mapping")
        node[parts[-1]] = value
    return data


def load_config(
    source: str | os.PathLike, overrides: list[str] | None = None
) -> Config:
    """Read a recipe: a YAML path or the name of a recipe in the repository's ``configs/``.

    A recipe may name another with ``base: other.yaml`` (relative to itself); its keys are
    merged over the base's.
    """
    path = _find_config(source)
    data = _read_with_base(path, set())
    return config_from_dict(apply_overrides(data, list(overrides or [])))


def _find_config(source: str | os.PathLike) -> Path:
    path = Path(source)
    if path.is_file():
        return path
    for folder in (Path.cwd() / "configs", Path(__file__).resolve().parents[2] / "configs"):
        candidate = folder / f"{source}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"config {str(source)!r}: no such file (nor configs/{source}.yaml)")


def _read_with_base(path: Path, seen: set[Path]) -> dict[str, Any]:
    if path.resolve() in seen:
        raise ConfigError(f"{path}: circular 'base'")
    seen.add(path.resolve())
    try:
        data = _yaml_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping")
    base = data.pop("base", None)
    if base is None:
        return data
    return _merge(_read_with_base(path.parent / base, seen), data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in (
            "kwargs", "degradation", "layers"
        ):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
