"""The models a server offers and the upscalers built from them.

:func:`build_catalog` reads each model's metadata (weights not loaded) and finds PSNR/GAN and
faithful/robust pairs; :class:`ModelCache` builds one :class:`~irsrgan.inference.Upscaler` per
``(model, alpha)`` (interpolating a pair's weights) and keeps the recently used ones.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from torch import nn

from ..checkpoint import (
    DEFAULT_MODEL,
    bundled_models,
    model_info,
    resolve_model_path,
)
from ..errors import CheckpointError, ConfigError
from ..inference import Upscaler
from ..interpolate import interpolate_models
from .settings import ServerConfig

log = logging.getLogger(__name__)

ALPHA_STEP = 0.01  # interpolation weights are rounded to this (one cache entry per step)
_PAIR_NAME = re.compile(r"^(?P<base>.+)-psnr-(?P<scale>x\d+)$")


@dataclass(frozen=True)
class ModelInfo:
    """One model the server offers, read from its file's metadata (weights not loaded)."""

    id: str
    path: Path
    source: Literal["bundled", "file"]
    arch: str
    config: dict
    scale: int
    in_channels: int
    out_channels: int
    stage: str | None = None
    summary: str = ""
    psnr_model: str | None = None  # declared PSNR partner (provenance "psnr_model")
    pair: tuple[str, str] | None = None  # (psnr id, gan id) for network interpolation
    robust_model: str | None = None  # declared robust partner (provenance "denoise_partner")
    denoise_pair: tuple[str, str] | None = None  # (faithful id, robust id) for --denoise

    def to_json(self) -> dict[str, Any]:
        pair = None
        if self.pair is not None:
            pair = {"psnr": self.pair[0], "gan": self.pair[1],
                    "role": "psnr" if self.id == self.pair[0] else "gan"}
        denoise = None
        if self.denoise_pair is not None:
            denoise = {"faithful": self.denoise_pair[0], "robust": self.denoise_pair[1],
                       "role": "faithful" if self.id == self.denoise_pair[0] else "robust"}
        return {
            "id": self.id, "scale": self.scale, "arch": self.arch,
            "in_channels": self.in_channels, "out_channels": self.out_channels,
            "stage": self.stage, "summary": self.summary, "source": self.source, "pair": pair,
            "denoise": denoise,
        }


def _info_from_file(model_id: str, path: Path, source: Literal["bundled", "file"]) -> ModelInfo:
    """The catalogue entry of a weights file, from :func:`~irsrgan.checkpoint.model_info`
    (checked: its tensors fit its architecture; weights not loaded for our files)."""
    info = model_info(path)
    return ModelInfo(
        id=model_id, path=path, source=source, arch=info.arch, config=info.config,
        scale=info.scale, in_channels=info.in_channels, out_channels=info.out_channels,
        stage=info.stage, summary=info.summary, psnr_model=info.psnr_model,
        robust_model=info.denoise_partner,
    )


def build_catalog(config: ServerConfig) -> tuple[dict[str, ModelInfo], str]:
    """The models to offer, with PSNR/GAN pairs found, and the default model's id.

    Pairs (for the fidelity-perception slider) are found from data, not a fixed list: a GAN
    model whose provenance names ``psnr_model``, or the naming rule ``NAME-psnr-xN`` <->
    ``NAME-xN``; both must have the same architecture and hyperparameters.

    Raises:
        ConfigError: no model at all, or ``default_model`` is not offered.
        CheckpointError: a given model file cannot be read.
    """
    catalog: dict[str, ModelInfo] = {}
    if config.include_bundled:
        for name, path in bundled_models().items():
            try:
                catalog[name] = _info_from_file(name, path, "bundled")
            except (CheckpointError, OSError) as exc:
                log.warning("bundled model %s cannot be read, not offered: %s", name, exc)
    given: list[str] = []
    bundled = bundled_models()
    for source in config.models:
        source = str(source)
        if not Path(source).exists() and source in bundled:  # a bundled model's name
            if source not in catalog:
                catalog[source] = _info_from_file(source, bundled[source], "bundled")
            given.append(source)
            continue
        path = resolve_model_path(source)  # raises CheckpointError naming the source
        if not path.is_file():
            raise CheckpointError(f"model {source}: not a file")
        base = path.name.split(".")[0] or "model"
        model_id, n = base, 2
        while model_id in catalog and catalog[model_id].path.resolve() != path.resolve():
            model_id, n = f"{base}-{n}", n + 1
        if model_id not in catalog:  # a broken file stops the server here, not every request
            catalog[model_id] = _info_from_file(model_id, path, "file")
        given.append(model_id)
    if not catalog:
        raise ConfigError(
            "no models to serve: no bundled weights are installed and no --model was given "
            "(give a weights file with --model PATH)"
        )
    catalog = _with_pairs(catalog)
    default = config.default_model or (given[0] if given else None)
    if default is None:
        default = DEFAULT_MODEL if DEFAULT_MODEL in catalog else next(iter(catalog))
    if default not in catalog:
        raise ConfigError(
            f"default_model {default!r} is not offered (models: {', '.join(catalog)})"
        )
    return catalog, default


def _with_pairs(catalog: dict[str, ModelInfo]) -> dict[str, ModelInfo]:
    pairs: dict[str, tuple[str, str]] = {}
    declared = [(i.psnr_model, i.id) for i in catalog.values() if i.psnr_model]
    named = [
        (i.id, f"{m['base']}-{m['scale']}")
        for i in catalog.values() if (m := _PAIR_NAME.match(i.id))
    ]
    for psnr_id, gan_id in declared + named:
        if psnr_id not in catalog or gan_id not in catalog or psnr_id == gan_id:
            continue
        if psnr_id in pairs or gan_id in pairs:
            continue  # first declaration wins (provenance before naming)
        a, b = catalog[psnr_id], catalog[gan_id]
        if (a.arch, a.config) != (b.arch, b.config):
            log.warning(
                "models %s and %s look like a PSNR/GAN pair but differ (%s %s vs %s %s): "
                "no interpolation offered", psnr_id, gan_id, a.arch, a.config, b.arch, b.config,
            )
            continue
        pairs[psnr_id] = pairs[gan_id] = (psnr_id, gan_id)
    denoise: dict[str, tuple[str, str]] = {}
    for info in catalog.values():
        robust = catalog.get(info.robust_model or "")
        if robust is None or robust.id == info.id:
            continue
        if (info.arch, info.config) != (robust.arch, robust.config):
            log.warning("model %s names %s as its robust partner, but they differ: no denoise "
                        "strength offered", info.id, robust.id)
            continue
        denoise[info.id] = (info.id, robust.id)
        denoise.setdefault(robust.id, (info.id, robust.id))
    return {
        model_id: replace(info, pair=pairs.get(model_id), denoise_pair=denoise.get(model_id))
        for model_id, info in catalog.items()
    }


def round_alpha(alpha: float) -> float:
    return round(round(float(alpha) / ALPHA_STEP) * ALPHA_STEP, 6)


ModelLoader = Callable[[Path], nn.Module]
CacheKey = tuple[str, float | None]


class _Slot:
    def __init__(self) -> None:
        self.ready = threading.Event()
        self.value: Upscaler | None = None
        self.error: BaseException | None = None


class ModelCache:
    """Upscalers keyed by ``(model id, alpha)``, built once and shared by all jobs (LRU).

    ``alpha`` is rounded to :data:`ALPHA_STEP`; 0 and 1 map to the PSNR and GAN models
    themselves. Thread-safe: concurrent requests for one key wait for a single load.
    """

    def __init__(
        self, catalog: dict[str, ModelInfo], config: ServerConfig, loader: ModelLoader
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.loader = loader
        self._slots: OrderedDict[CacheKey, _Slot] = OrderedDict()
        self._lock = threading.Lock()
        self._mixes: dict[str, tuple[str, str]] = {}  # interpolated key name -> (psnr, gan)

    def key(self, model_id: str, alpha: float | None, *, denoise: bool = False) -> CacheKey:
        """The cache key of a request; raises ConfigError for an unknown model or bad alpha.

        ``alpha`` weighs the model's PSNR/GAN pair, or with ``denoise`` its faithful/robust
        pair (the denoise strength)."""
        info = self.catalog.get(model_id)
        if info is None:
            raise ConfigError(
                f"model must be one of {', '.join(self.catalog)}; got {model_id!r}"
            )
        if alpha is None:
            return (model_id, None)
        what = "denoise strength" if denoise else "alpha"
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0 <= alpha <= 1):
            raise ConfigError(f"{what} must be a number in [0, 1], got {alpha!r}")
        pair = info.denoise_pair if denoise else info.pair
        if pair is None:
            raise ConfigError(
                f"denoise needs a faithful/robust model pair; model {model_id!r} has none "
                "(leave denoise out)" if denoise else
                f"alpha needs a PSNR/GAN model pair; model {model_id!r} has none "
                "(leave alpha out)"
            )
        a = round_alpha(alpha)
        psnr_id, gan_id = pair
        if a == 0.0:
            return (psnr_id, None)
        if a == 1.0:
            return (gan_id, None)
        name = f"{psnr_id}+{gan_id}"
        with self._lock:
            self._mixes[name] = (psnr_id, gan_id)
        return (name, a)

    def get(self, key: CacheKey) -> Upscaler:
        with self._lock:
            slot = self._slots.get(key)
            owner = slot is None
            if owner:
                slot = self._slots[key] = _Slot()
            self._slots.move_to_end(key)
        if owner:
            try:
                slot.value = self._build(key)
            except BaseException as exc:
                slot.error = exc
                with self._lock:
                    if self._slots.get(key) is slot:
                        del self._slots[key]
            finally:
                slot.ready.set()
            self._evict()
        else:
            slot.ready.wait()
        if slot.error is not None:
            raise slot.error
        assert slot.value is not None  # set by the owner when no error
        return slot.value

    def _build(self, key: CacheKey) -> Upscaler:
        name, alpha = key
        if alpha is None:
            model = self.loader(self.catalog[name].path)
        else:
            with self._lock:
                psnr_id, gan_id = self._mixes[name]
            model = interpolate_models(
                self.loader(self.catalog[psnr_id].path), self.loader(self.catalog[gan_id].path),
                alpha,
            )
        upscaler = Upscaler(
            model, device=self.config.device, tile=self.config.tile,
            overlap=self.config.overlap, batch_size=self.config.batch_size,
            backend=self.config.backend,
        )
        log.info("loaded model %s (alpha %s) on %s, %s backend", name, alpha,
                 upscaler.device, upscaler.backend)
        return upscaler

    def _evict(self) -> None:
        with self._lock:
            ready = [k for k, s in self._slots.items() if s.ready.is_set()]
            while len(self._slots) > self.config.cache_size and ready:
                del self._slots[ready.pop(0)]

    def keys(self) -> list[CacheKey]:
        with self._lock:
            return [k for k, s in self._slots.items() if s.ready.is_set() and s.error is None]

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()
