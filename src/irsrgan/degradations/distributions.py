"""Distributions of one scalar parameter, as presets write them.

A step's parameter is a constant (``0.5``, ``"1/255"``, ``"pi/3"``), a range (``[lo, hi]``,
uniform), ``{log_uniform: [lo, hi]}``, ``{choice: [...], weights: [...]}`` or
``{mixture: [[weight, <param>], ...]}``; :func:`parse_dist` reads one into a :class:`Dist`
whose ``sample(n, gen)`` draws ``n`` values from an explicit generator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _parse_number(value: Any, where: str) -> float:
    """A number, or a string ``"pi"``, ``"pi/3"``, ``"30/255"``, ``"2*pi"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        s = value.replace(" ", "").lower()

        def atom(t: str) -> float:
            if t == "pi":
                return math.pi
            if re.fullmatch(_NUM, t):
                return float(t)
            raise ConfigError(f"{where}: cannot read {value!r} as a number")

        m = re.fullmatch(r"([^*/]+)(?:\*([^*/]+))?(?:/([^*/]+))?", s)
        if m:
            v = atom(m.group(1))
            if m.group(2):
                v *= atom(m.group(2))
            if m.group(3):
                v /= atom(m.group(3))
            return v
    raise ConfigError(f"{where}: expected a number, got {value!r}")


class Dist:
    """A distribution of one scalar parameter; ``sample(n, gen)`` gives ``(n,)`` float64."""

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample_int(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.sample(n, gen).round().long()


@dataclass(frozen=True)
class Const(Dist):
    value: float

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.full((n,), self.value, dtype=torch.float64)


@dataclass(frozen=True)
class Uniform(Dist):
    """Uniform on [low, high]; as integers, each integer in [low, high] equally likely."""

    low: float
    high: float

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.low + (self.high - self.low) * _unit_uniform(n, gen)

    def sample_int(self, n: int, gen: torch.Generator) -> torch.Tensor:
        lo, hi = math.ceil(self.low - 1e-9), math.floor(self.high + 1e-9)
        return torch.randint(lo, hi + 1, (n,), generator=gen, device=gen.device).cpu()


@dataclass(frozen=True)
class LogUniform(Dist):
    """``log x`` uniform on [log low, log high]: as many draws per decade at both ends."""

    low: float
    high: float

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.exp(Uniform(math.log(self.low), math.log(self.high)).sample(n, gen))


@dataclass(frozen=True)
class Choice(Dist):
    values: tuple[float, ...]
    weights: tuple[float, ...]

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = _categorical(self.weights, n, gen)
        return torch.tensor(self.values, dtype=torch.float64)[idx]


@dataclass(frozen=True)
class Mixture(Dist):
    parts: tuple[Dist, ...]
    weights: tuple[float, ...]

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self._by_part(n, gen, torch.float64, lambda part, k: part.sample(k, gen))

    def sample_int(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self._by_part(n, gen, torch.long, lambda part, k: part.sample_int(k, gen))

    def _by_part(self, n: int, gen: torch.Generator, dtype: torch.dtype,
                 draw: Callable[[Dist, int], torch.Tensor]) -> torch.Tensor:
        """``n`` values, each from a part chosen by weight: ``draw(part, k)`` gives the ``k``
        values of the samples that chose ``part``."""
        idx = _categorical(self.weights, n, gen)
        out = torch.zeros(n, dtype=dtype)
        for j, part in enumerate(self.parts):
            sel = (idx == j).nonzero()[:, 0]
            if sel.numel():
                out[sel] = draw(part, sel.numel())
        return out


def _categorical(weights: Sequence[float], n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` indices drawn with the given (unnormalised) weights, on the CPU."""
    w = torch.tensor(weights, dtype=torch.float64)
    cdf = torch.cumsum(w / w.sum(), 0)
    return torch.searchsorted(cdf, _unit_uniform(n, gen), right=True).clamp_max(len(weights) - 1)


def _unit_uniform(n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` draws uniform on [0, 1) from ``gen`` (on its device), as float64 on the CPU."""
    return torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).cpu()


def parse_dist(value: Any, where: str) -> Dist:
    """Read a parameter: ``0.5`` | ``"1/255"`` | ``[lo, hi]`` (uniform) |
    ``{log_uniform: [lo, hi]}`` | ``{choice: [...], weights: [...]}`` |
    ``{mixture: [[weight, <param>], ...]}`` | ``{const: v}`` | ``{uniform: [lo, hi]}``."""
    if isinstance(value, Dist):
        return value
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return Const(_parse_number(value, where))
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f"{where}: a range must be [low, high], got {value!r}")
        lo, hi = (_parse_number(v, where) for v in value)
        if lo > hi:
            raise ConfigError(f"{where}: range low must be <= high, got {value!r}")
        return Uniform(lo, hi)
    if isinstance(value, Mapping) and len(value) >= 1:
        keys = set(value)
        if keys == {"const"}:
            return Const(_parse_number(value["const"], where))
        if keys == {"uniform"}:
            return parse_dist(list(value["uniform"]), where)
        if keys == {"log_uniform"}:
            rng = value["log_uniform"]
            if not isinstance(rng, (list, tuple)) or len(rng) != 2:
                raise ConfigError(f"{where}: log_uniform must be [low, high], got {rng!r}")
            lo, hi = (_parse_number(v, where) for v in rng)
            if not 0 < lo <= hi:
                raise ConfigError(f"{where}: log_uniform needs 0 < low <= high, got {rng!r}")
            return LogUniform(lo, hi)
        if keys <= {"choice", "weights"} and "choice" in keys:
            vals = tuple(_parse_number(v, where) for v in value["choice"])
            if not vals:
                raise ConfigError(f"{where}: choice must list at least one value")
            weights = tuple(value.get("weights") or [1.0] * len(vals))
            _check_weights(weights, len(vals), where)
            return Choice(vals, tuple(float(w) for w in weights))
        if keys == {"mixture"}:
            parts, weights = [], []
            for item in value["mixture"]:
                if not isinstance(item, (list, tuple)) or len(item) != 2:
                    raise ConfigError(f"{where}: mixture items must be [weight, param], "
                                      f"got {item!r}")
                weights.append(_parse_number(item[0], where))
                parts.append(parse_dist(item[1], where))
            _check_weights(weights, len(parts), where)
            return Mixture(tuple(parts), tuple(weights))
    raise ConfigError(f"{where}: cannot read parameter {value!r}")


def _check_weights(weights: Sequence[Any], n: int, where: str) -> None:
    if len(weights) != n or n == 0:
        raise ConfigError(f"{where}: expected {n} weights, got {list(weights)!r}")
    if any(not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0 for w in weights):
        raise ConfigError(f"{where}: weights must be numbers >= 0, got {list(weights)!r}")
    if sum(weights) <= 0:
        raise ConfigError(f"{where}: weights must not all be 0")


def _parse_weights(value: Any, allowed: Sequence[str], where: str) -> dict[str, float]:
    if isinstance(value, str):
        value = {value: 1.0}
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}: expected a mapping of name -> weight, got {value!r}")
    out = {}
    for k, v in value.items():
        if k not in allowed:
            raise ConfigError(f"{where}: unknown name {k!r} (expected {', '.join(allowed)})")
        out[str(k)] = _parse_number(v, f"{where}.{k}")
    _check_weights(list(out.values()), len(out), where)
    return out


__all__ = ["Choice", "Const", "Dist", "LogUniform", "Mixture", "Uniform", "parse_dist"]
