"""Pipeline steps (blur, resize, noise, ...) and the engine that runs a list of them.

Each :class:`Step` is a frozen dataclass read from a preset's mapping (``{op: blur, ...}``, see
:func:`parse_steps`); it draws its parameters per sample from the generator and applies an
operation of :mod:`.ops`. A step with ``prob < 1`` applies to a random subset of the batch; a
step that changes size per sample (a random resize, a shuffle, a choice) splits the batch into
groups that run the remaining steps separately and are put back together at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import torch

from ..config import _check as check_type
from ..errors import ConfigError
from .distributions import (
    Const,
    Dist,
    Uniform,
    _categorical,
    _check_weights,
    _parse_number,
    _parse_weights,
    _unit_uniform,
    parse_dist,
)
from .ops import (
    KERNEL_KINDS,
    RESIZE_MODES,
    _kernel_grid,
    _normalise,
    _quadratic_form,
    add_gaussian_noise,
    add_poisson_noise,
    agc_8bit,
    dead_hot_pixels,
    filter2d,
    jpeg,
    nonuniformity,
    quantize,
    resize,
    sinc_kernel,
    stripe_noise,
    vignetting,
)

log = logging.getLogger(__name__)

NOISE_KINDS: tuple[str, ...] = ("gaussian", "poisson", "both")

@dataclass(frozen=True)
class _Ctx:
    """What a step knows besides its input: the HR size, the target LR size and the scale."""

    hr_size: tuple[int, int]
    target: tuple[int, int]
    scale: float
    done: float = 0.0  # fraction of the geometric downscale done by ``to: fraction`` steps


@dataclass
class _Split:
    """Samples that go on with different remaining steps or different sizes."""

    groups: list[tuple[torch.Tensor, torch.Tensor, _Ctx, list[Step]]]  # idx, x, ctx, prefix


class Step:
    """One pipeline step. ``prob``: the chance (per sample) that it applies.

    A step is a frozen dataclass; :meth:`from_config` reads it from a preset's mapping by its
    fields' types, and :meth:`check` holds the constraints that a type cannot say.
    """

    prob: float = 1.0
    #: whether the step keeps the image size (then samples that skip it stay in the batch)
    size_preserving: ClassVar[bool] = True

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], where: str) -> Step:
        """Build from a preset's mapping (without its ``op``); ``where`` names it in errors.

        Each key is a field, read by the field's type: a :class:`Dist` by :func:`parse_dist`
        (``Dist | None`` also takes ``auto``, meaning None), a float by
        :func:`~.distributions._parse_number` (so ``"pi/3"``, ``"1/255"``), a weighted choice
        of names (a field with ``metadata={"names": ...}``) by ``_parse_weights``, anything else
        (``int``, ``bool``, ``Literal``) by the recipe validator of :mod:`irsrgan.config`.
        Missing keys keep the field's default; unknown keys are an error that lists the allowed
        ones.
        """
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {cfg!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = [str(k) for k in cfg if k not in fields]
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                              f"(allowed: {', '.join(fields)})")
        hints = typing.get_type_hints(cls)
        kwargs = {name: _read_field(fields[name], hints[name], value, f"{where}.{name}")
                  for name, value in cfg.items()}
        step = cls(**kwargs)
        step.check(where)
        return step

    def check(self, where: str) -> None:
        """Constraints beyond the fields' types; raises :class:`ConfigError` naming the key."""
        _check_prob(self.prob, f"{where}.prob")

    def apply(self, x: torch.Tensor, ctx: _Ctx, gen: torch.Generator):
        raise NotImplementedError

    def run(self, x: torch.Tensor, ctx: _Ctx, gen: torch.Generator):
        if self.prob >= 1.0:
            return self.apply(x, ctx, gen)
        n = x.shape[0]
        on = torch.rand(n, generator=gen, device=gen.device).cpu() < self.prob
        if bool(on.all()):
            return self.apply(x, ctx, gen)
        if not bool(on.any()):
            return x, ctx
        idx_on, idx_off = on.nonzero()[:, 0], (~on).nonzero()[:, 0]
        if self.size_preserving:
            y, _ = self.apply(x[idx_on.to(x.device)], ctx, gen)
            out = x.clone()
            out[idx_on.to(x.device)] = y
            return out, ctx
        always = replace(self, prob=1.0)
        return _Split([
            (idx_on, x[idx_on.to(x.device)], ctx, [always]),
            (idx_off, x[idx_off.to(x.device)], ctx, []),
        ])


def _run(steps: Sequence[Step], x: torch.Tensor, ctx: _Ctx, gen: torch.Generator) -> torch.Tensor:
    for i, step in enumerate(steps):
        out = step.run(x, ctx, gen)
        if isinstance(out, _Split):
            rest = list(steps[i + 1:])
            pieces = []
            for idx, xs, c, prefix in out.groups:
                if idx.numel():
                    pieces.append((idx, _run(list(prefix) + rest, xs, c, gen)))
            first = pieces[0][1]
            result = first.new_empty((x.shape[0], *first.shape[1:]))
            for idx, y in pieces:
                result[idx.to(result.device)] = y
            return result
        x, ctx = out
    if tuple(x.shape[-2:]) != ctx.target:
        log.debug("pipeline ended at %s, resizing to %s", tuple(x.shape[-2:]), ctx.target)
        x = resize(x, ctx.target, "bicubic_aa")
    return x


def _group_by(keys: list[tuple]) -> dict[tuple, torch.Tensor]:
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return {k: torch.tensor(v, dtype=torch.long) for k, v in groups.items()}


def _read_field(f: dataclasses.Field, tp: Any, value: Any, where: str) -> Any:
    """One preset value for the field ``f`` of type ``tp`` (see :meth:`Step.from_config`)."""
    if "names" in f.metadata:
        return _parse_weights(value, f.metadata["names"], where)
    if tp is Dist:
        return parse_dist(value, where)
    if tp == Dist | None:
        return None if value == "auto" else parse_dist(value, where)
    if tp is float:
        return _parse_number(value, where)
    return check_type(value, tp, where)


def _check_prob(p: float, where: str) -> None:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{where} must be in [0, 1], got {p}")


def _no_extra(cfg: dict, where: str) -> None:
    if cfg:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, cfg)))}")


def _prob(cfg: dict, where: str) -> float:
    """Pop and check ``prob`` (for the composite steps, read by :func:`parse_steps`)."""
    p = _parse_number(cfg.pop("prob", 1.0), f"{where}.prob")
    _check_prob(p, f"{where}.prob")
    return p


@dataclass(frozen=True)
class BlurStep(Step):
    """Random blur kernel per sample (Real-ESRGAN's kernel family).

    ``units: lr`` multiplies sigmas by the scale (a PSF given in LR detector pixels).
    ``kernel_size: auto`` uses ``2 * ceil(3 * sigma) + 1`` (in HR pixels) per sample.
    ``sinc_cutoff: auto``: uniform [pi/3, pi] for kernels under 13 px, else [pi/5, pi].
    """

    kinds: dict[str, float] = field(default_factory=lambda: {"iso": 1.0},
                                    metadata={"names": KERNEL_KINDS})
    sigma: Dist = Const(1.0)
    kernel_size: Dist | None = None  # None: auto
    beta_gaussian: Dist = Const(1.0)
    beta_plateau: Dist = Const(1.0)
    sinc_cutoff: Dist | None = None  # None: auto
    units: Literal["hr", "lr"] = "hr"
    prob: float = 1.0

    def kernels(self, n: int, scale: float, gen: torch.Generator,
                device: torch.device) -> torch.Tensor:
        """Draw ``n`` kernels, ``(n, K, K)`` (zero-padded to the largest size drawn)."""
        names = list(self.kinds)
        kind = [names[i] for i in _categorical(list(self.kinds.values()), n, gen).tolist()]
        unit = scale if self.units == "lr" else 1.0
        sx = self.sigma.sample(n, gen) * unit
        sy = self.sigma.sample(n, gen) * unit
        theta = (_unit_uniform(n, gen) * 2 - 1) * math.pi
        iso = torch.tensor([not k.endswith("aniso") for k in kind])
        sy = torch.where(iso, sx, sy)
        theta = torch.where(iso, torch.zeros_like(theta), theta)
        sx, sy = sx.clamp_min(1e-3), sy.clamp_min(1e-3)
        if self.kernel_size is None:
            size = 2 * torch.ceil(3 * torch.maximum(sx, sy)).long() + 1
            size = torch.where(torch.tensor([k == "sinc" for k in kind]),
                               torch.full_like(size, 21), size)
        else:
            size = self.kernel_size.sample_int(n, gen)
            size = size + (size % 2 == 0).long()  # odd
        size = size.clamp(1, 129)
        big = int(size.max())
        bg = self.beta_gaussian.sample(n, gen)
        bp = self.beta_plateau.sample(n, gen)
        if self.sinc_cutoff is None:
            lo = torch.where(size < 13, torch.full((n,), math.pi / 3, dtype=torch.float64),
                             torch.full((n,), math.pi / 5, dtype=torch.float64))
            wc = lo + (math.pi - lo) * _unit_uniform(n, gen)
        else:
            wc = self.sinc_cutoff.sample(n, gen)
        q = _quadratic_form(big, sx.float(), sy.float(), theta.float(), device)
        kind_t = torch.tensor([KERNEL_KINDS.index(k) for k in kind], device=device).view(n, 1, 1)
        qc = q.clamp_min(0)
        out = torch.exp(-0.5 * q)
        bgp = bg.float().to(device).view(n, 1, 1)
        bpp = bp.float().to(device).view(n, 1, 1)
        gen_mask = (kind_t == 2) | (kind_t == 3)
        plat_mask = (kind_t == 4) | (kind_t == 5)
        if bool(gen_mask.any()):
            out = torch.where(gen_mask, torch.exp(-0.5 * qc.pow(bgp)), out)
        if bool(plat_mask.any()):
            out = torch.where(plat_mask, 1.0 / (1.0 + qc.pow(bpp)), out)
        if bool((kind_t == 6).any()):
            out = torch.where(kind_t == 6, sinc_kernel(big, wc.float(), device=device), out)
        xx, yy = _kernel_grid(big, device)
        half = ((size.to(device).float() - 1) / 2).view(n, 1, 1)
        inside = (xx.abs()[None] <= half) & (yy.abs()[None] <= half)
        return _normalise(out * inside)

    def apply(self, x, ctx, gen):
        k = self.kernels(x.shape[0], ctx.scale, gen, x.device)
        return filter2d(x, k).clamp(0.0, 1.0), ctx


@dataclass(frozen=True)
class ResizeStep(Step):
    """Resize, with a random mode per sample.

    ``to: target``: to the final LR size. ``to: fraction`` with ``fraction: f``: a geometric
    share ``f`` of the total downscale (two steps of 0.5 make x4 out of x2 and x2, in any
    order; the step completing the total lands exactly on the target). ``to: relative`` with
    ``factor`` (a parameter) and ``relative_to`` (``current``, ``target`` or ``hr``): a random
    up/down scale, per sample.
    """

    modes: dict[str, float] = field(default_factory=lambda: {"bicubic_aa": 1.0},
                                    metadata={"names": RESIZE_MODES})
    to: Literal["target", "fraction", "relative"] = "target"
    fraction: float = 1.0
    factor: Dist = Const(1.0)
    relative_to: Literal["current", "target", "hr"] = "current"
    prob: float = 1.0
    size_preserving: ClassVar[bool] = False

    def check(self, where: str) -> None:
        super().check(where)
        if self.to == "fraction" and not 0 < self.fraction <= 1:
            raise ConfigError(f"{where}.fraction must be in (0, 1], got {self.fraction}")

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        h, w = x.shape[-2:]
        names = list(self.modes)
        mode_idx = _categorical(list(self.modes.values()), n, gen)
        new_ctx = ctx
        if self.to == "target":
            sizes = [ctx.target] * n
        elif self.to == "fraction":
            done = ctx.done + self.fraction
            if done >= 1.0 - 1e-6:
                size = ctx.target
            else:
                f = ctx.scale**done
                size = (max(1, round(ctx.hr_size[0] / f)), max(1, round(ctx.hr_size[1] / f)))
            sizes = [size] * n
            new_ctx = replace(ctx, done=min(done, 1.0))
        else:
            ref = {"current": (h, w), "target": ctx.target, "hr": ctx.hr_size}[self.relative_to]
            fac = self.factor.sample(n, gen).tolist()
            sizes = [(max(1, int(ref[0] * f)), max(1, int(ref[1] * f))) for f in fac]
        keys = [(sizes[i], int(mode_idx[i])) for i in range(n)]
        by_size: dict[tuple[int, int], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for (size, m), idx in _group_by(keys).items():
            y = resize(x[idx.to(x.device)], size, names[m])  # type: ignore[arg-type]
            by_size.setdefault(size, []).append((idx, y))
        if len(by_size) == 1:
            (size, parts), = by_size.items()
            out = x.new_empty((n, x.shape[1], *size))
            for idx, y in parts:
                out[idx.to(x.device)] = y
            return out, new_ctx
        groups = []
        for parts in by_size.values():
            idx = torch.cat([p[0] for p in parts])
            groups.append((idx, torch.cat([p[1] for p in parts]), new_ctx, []))
        return _Split(groups)


@dataclass(frozen=True)
class NoiseStep(Step):
    """Gaussian (``sigma``, unit range) and/or Poisson (``poisson_scale``) noise per sample."""

    kinds: dict[str, float] = field(default_factory=lambda: {"gaussian": 1.0},
                                    metadata={"names": NOISE_KINDS})
    sigma: Dist = Const(0.01)
    poisson_scale: Dist = Const(1.0)
    gray_prob: float = 1.0
    prob: float = 1.0

    def apply(self, x, ctx, gen):
        return self.add(x, self.draw(x.shape[0], gen), gen), ctx

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The per-sample noise parameters: which kinds, sigma, Poisson scale, gray."""
        names = list(self.kinds)
        kind = _categorical(list(self.kinds.values()), n, gen)
        sigma = self.sigma.sample(n, gen).float()
        pscale = self.poisson_scale.sample(n, gen).float()
        gray = torch.rand(n, generator=gen, device=gen.device).cpu() < self.gray_prob
        use_g = torch.tensor([names[k] in ("gaussian", "both") for k in kind.tolist()])
        use_p = torch.tensor([names[k] in ("poisson", "both") for k in kind.tolist()])
        return use_g, use_p, sigma, pscale, gray

    def add(self, x: torch.Tensor, params: tuple[torch.Tensor, ...],
            gen: torch.Generator) -> torch.Tensor:
        """``x`` plus one noise realisation (from ``gen``) with parameters from :meth:`draw`."""
        use_g, use_p, sigma, pscale, gray = params
        y = x
        if bool(use_g.any()):
            y = add_gaussian_noise(y, torch.where(use_g, sigma, 0.0), gen, gray=gray)
        if bool(use_p.any()):
            y = add_poisson_noise(y, torch.where(use_p, pscale, 0.0), gen, gray=gray)
        return y


@dataclass(frozen=True)
class JpegStep(Step):
    """JPEG compression at a quality drawn per sample (integers, 1..100)."""

    quality: Dist = Uniform(30.0, 95.0)
    prob: float = 1.0

    def apply(self, x, ctx, gen):
        return jpeg(x, self.quality.sample_int(x.shape[0], gen).float()), ctx


@dataclass(frozen=True)
class StripeStep(Step):
    """Column and row fixed-pattern stripes (:func:`~.ops.stripe_noise`), sigmas per sample."""

    column_sigma: Dist = Const(0.0)
    row_sigma: Dist = Const(0.0)
    prob: float = 1.0

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        cs, rs = self.column_sigma.sample(n, gen).float(), self.row_sigma.sample(n, gen).float()
        return stripe_noise(x, gen, column_sigma=cs, row_sigma=rs), ctx


@dataclass(frozen=True)
class NonUniformityStep(Step):
    """Residual non-uniformity after a NUC (:func:`~.ops.nonuniformity`): per-pixel gain and
    offset, and ``lowfreq_cells``-cell smooth shading."""

    gain_sigma: Dist = Const(0.0)
    offset_sigma: Dist = Const(0.0)
    lowfreq_sigma: Dist = Const(0.0)
    lowfreq_cells: int = 4
    prob: float = 1.0

    def check(self, where: str) -> None:
        super().check(where)
        if self.lowfreq_cells < 1:
            raise ConfigError(f"{where}.lowfreq_cells must be an integer >= 1, "
                              f"got {self.lowfreq_cells!r}")

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        return nonuniformity(
            x, gen, gain_sigma=self.gain_sigma.sample(n, gen).float(),
            offset_sigma=self.offset_sigma.sample(n, gen).float(),
            lowfreq_sigma=self.lowfreq_sigma.sample(n, gen).float(),
            lowfreq_cells=self.lowfreq_cells,
        ), ctx


@dataclass(frozen=True)
class VignettingStep(Step):
    """Radial fall-off (:func:`~.ops.vignetting`), its centre jittered by up to
    ``center_jitter`` half-sizes."""

    strength: Dist = Const(0.0)
    center_jitter: float = 0.0
    mode: Literal["multiplicative", "additive"] = "multiplicative"
    prob: float = 1.0

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        s = self.strength.sample(n, gen).float()
        c = (torch.rand(2, n, generator=gen, device=gen.device).cpu() * 2 - 1) * self.center_jitter
        return vignetting(x, s, center=(c[0], c[1]), mode=self.mode), ctx


@dataclass(frozen=True)
class DeadHotStep(Step):
    """A ``fraction`` of dead (0) or hot (1, with ``hot_ratio``) pixels per sample."""

    fraction: Dist = Const(1e-4)
    hot_ratio: float = 0.5
    prob: float = 1.0

    def apply(self, x, ctx, gen):
        f = self.fraction.sample(x.shape[0], gen).float()
        return dead_hot_pixels(x, f, gen, hot_ratio=self.hot_ratio), ctx


@dataclass(frozen=True)
class QuantizeStep(Step):
    """Rounding to ``2 ** bits`` levels (an ADC or a file's bit depth), bits drawn as integers."""

    bits: Dist = Const(14.0)
    prob: float = 1.0

    def apply(self, x, ctx, gen):
        return quantize(x, self.bits.sample_int(x.shape[0], gen).float()), ctx


@dataclass(frozen=True)
class AgcStep(Step):
    """8-bit export by linear AGC between two percentiles (:func:`~.ops.agc_8bit`)."""

    low_percentile: Dist = Const(0.0)
    high_percentile: Dist = Const(100.0)
    restore: bool = True
    prob: float = 1.0

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        lo = self.low_percentile.sample(n, gen).float()
        hi = self.high_percentile.sample(n, gen).float()
        return agc_8bit(x, low_percentile=lo, high_percentile=hi, restore=self.restore), ctx


@dataclass(frozen=True)
class ShuffleStep(Step):
    """Run ``steps`` in a random order per sample."""

    steps: tuple[Step, ...] = ()
    prob: float = 1.0
    size_preserving: ClassVar[bool] = False

    def apply(self, x, ctx, gen):
        n, k = x.shape[0], len(self.steps)
        perms = torch.argsort(torch.rand(n, k, generator=gen, device=gen.device).cpu(), dim=1)
        groups = []
        for perm, idx in _group_by([tuple(p) for p in perms.tolist()]).items():
            groups.append((idx, x[idx.to(x.device)], ctx, [self.steps[j] for j in perm]))
        return _Split(groups)


@dataclass(frozen=True)
class ChoiceStep(Step):
    """Run one of ``branches`` per sample, chosen with ``weights``."""

    branches: tuple[tuple[Step, ...], ...] = ()
    weights: tuple[float, ...] = ()
    prob: float = 1.0
    size_preserving: ClassVar[bool] = False

    def apply(self, x, ctx, gen):
        which = _categorical(self.weights, x.shape[0], gen)
        groups = []
        for (b,), idx in _group_by([(int(v),) for v in which.tolist()]).items():
            groups.append((idx, x[idx.to(x.device)], ctx, list(self.branches[b])))
        return _Split(groups)


@dataclass(frozen=True)
class ClampStep(Step):
    """Clip to [0, 1]."""

    prob: float = 1.0

    def apply(self, x, ctx, gen):
        return x.clamp(0.0, 1.0), ctx


_LEAF_STEPS: dict[str, type] = {
    "blur": BlurStep, "resize": ResizeStep, "noise": NoiseStep, "jpeg": JpegStep,
    "stripe": StripeStep, "nonuniformity": NonUniformityStep, "vignetting": VignettingStep,
    "dead_hot": DeadHotStep, "quantize": QuantizeStep, "agc": AgcStep, "clamp": ClampStep,
}
STEP_OPS: tuple[str, ...] = (*_LEAF_STEPS, "shuffle", "choice")


def parse_steps(items: Any, where: str, *, _depth: int = 0) -> tuple[Step, ...]:
    """Read a list of step mappings (``{op: blur, ...}``) into :class:`Step` objects."""
    if _depth > 16:
        raise ConfigError(f"{where}: steps nested too deeply")
    if items is None:
        return ()
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where} must be a list of steps, got {type(items).__name__}")
    steps: list[Step] = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if not isinstance(item, Mapping) or "op" not in item:
            raise ConfigError(f"{w} must be a mapping with an 'op' key, got {item!r}")
        cfg = dict(item)
        op = cfg.pop("op")
        w = f"{w} ({op})"
        if op in _LEAF_STEPS:
            steps.append(_LEAF_STEPS[op].from_config(cfg, w))
        elif op == "shuffle":
            prob = _prob(cfg, w)
            sub = parse_steps(cfg.pop("steps", None), f"{w}.steps", _depth=_depth + 1)
            _no_extra(cfg, w)
            steps.append(ShuffleStep(steps=sub, prob=prob))
        elif op == "choice":
            prob = _prob(cfg, w)
            branches = cfg.pop("branches", None)
            if not isinstance(branches, (list, tuple)) or not branches:
                raise ConfigError(f"{w}.branches must be a non-empty list")
            subs, weights = [], []
            for j, br in enumerate(branches):
                if not isinstance(br, Mapping):
                    raise ConfigError(f"{w}.branches[{j}] must be a mapping {{weight, steps}}")
                br = dict(br)
                weights.append(_parse_number(br.pop("weight", 1.0), f"{w}.branches[{j}].weight"))
                subs.append(parse_steps(br.pop("steps", None), f"{w}.branches[{j}].steps",
                                        _depth=_depth + 1))
                _no_extra(br, f"{w}.branches[{j}]")
            _check_weights(weights, len(subs), f"{w}.branches")
            _no_extra(cfg, w)
            steps.append(ChoiceStep(branches=tuple(subs), weights=tuple(weights), prob=prob))
        else:
            raise ConfigError(f"{w}: unknown op {op!r} (expected one of {', '.join(STEP_OPS)})")
    return tuple(steps)


__all__ = [
    "NOISE_KINDS", "STEP_OPS", "AgcStep", "BlurStep", "ChoiceStep", "ClampStep", "DeadHotStep",
    "JpegStep", "NoiseStep", "NonUniformityStep", "QuantizeStep", "ResizeStep", "ShuffleStep",
    "Step", "StripeStep", "VignettingStep", "parse_steps",
]
