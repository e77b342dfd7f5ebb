"""Training losses: pixel, perceptual (VGG19 or weights-free), adversarial.

Everything takes ``(B, C, H, W)`` float tensors (``sr`` = network output, ``hr`` = target) and
returns a scalar tensor (mean reduction). Pure functions; :class:`PerceptualLoss` is a module
only because it holds the VGG19.

Perceptual options:

- :class:`PerceptualLoss` -- L1 (or L2) between VGG19 features of SR and HR (the seed: conv5_4
  before ReLU; Real-ESRGAN: five layers). Needs ImageNet weights, which are never downloaded:
  they come from torchvision's cache or an explicit file.
- :func:`feature_matching_loss` -- needs no ImageNet weights: L1 between the discriminator's
  intermediate features (``D.features(x)``) of SR and HR. The discriminator learns, during the
  GAN stage itself, which features tell real from generated thermal images; matching them
  pushes the generator towards HR statistics at every depth (pix2pixHD's feature matching).
  It stabilises the adversarial game as well, but it is only meaningful once D has trained a
  little and it changes as D changes.
- :func:`laplacian_pyramid_loss` -- a fixed, weights-free multi-scale loss: L1 between the
  Laplacian-pyramid bands of SR and HR. Every band counts the same whatever its energy, so
  the fine (edge/texture) bands, which a plain L1 barely sees, get as much weight as the
  coarse ones; it penalises blur at several scales without any learned feature space.

GAN losses (:func:`gan_loss_d`, :func:`gan_loss_g`) take raw logits of any shape (``(B, 1)``
from the VGG-style D, ``(B, 1, H, W)`` per pixel from the U-Net D).

>>> import torch
>>> hr = torch.rand(2, 1, 32, 32)
>>> float(l1_loss(hr, hr))
0.0
>>> round(float(gan_loss_d("hinge", torch.ones(2, 1), -torch.ones(2, 1))), 4)
0.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from .backbones import load_backbone_features, to_imagenet_input
from .errors import ConfigError, ImageError, WeightsMissingError

PixelLossKind = Literal["l1", "charbonnier", "l2"]
GANKind = Literal["ragan", "vanilla", "hinge"]
Criterion = Literal["l1", "l2"]
PerceptualPreset = Literal["seed", "realesrgan"]

GAN_KINDS: tuple[str, ...] = ("ragan", "vanilla", "hinge")


def _check_pair(sr: torch.Tensor, hr: torch.Tensor) -> None:
    if sr.ndim != 4:
        raise ImageError(f"sr must be (B, C, H, W), got {tuple(sr.shape)}")
    if sr.shape != hr.shape:
        raise ImageError(
            f"sr and hr must have the same shape, got sr {tuple(sr.shape)} and "
            f"hr {tuple(hr.shape)}"
        )


# --------------------------------------------------------------------------------------------
# Pixel losses


def l1_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean absolute error ``mean(|sr - hr|)``."""
    _check_pair(sr, hr)
    return F.l1_loss(sr, hr)


def charbonnier_loss(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier (smooth L1): ``mean(sqrt((sr - hr)**2 + eps**2))``.

    Differentiable at 0 and close to L1 for ``|sr - hr| >> eps``; its minimum is ``eps``
    (identical inputs), not 0.
    """
    _check_pair(sr, hr)
    if not eps > 0:
        raise ConfigError(f"eps must be > 0, got {eps}")
    return torch.sqrt((sr - hr) ** 2 + eps * eps).mean()


def pixel_loss(kind: PixelLossKind, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """``"l1"``, ``"charbonnier"`` (eps 1e-3) or ``"l2"`` (mean squared error) by name."""
    if kind == "l1":
        return l1_loss(sr, hr)
    if kind == "charbonnier":
        return charbonnier_loss(sr, hr)
    if kind == "l2":
        _check_pair(sr, hr)
        return F.mse_loss(sr, hr)
    raise ConfigError(f"pixel loss must be one of l1, charbonnier, l2; got {kind!r}")


# --------------------------------------------------------------------------------------------
# VGG19 perceptual loss


def _vgg19_layer_indices() -> dict[str, int]:
    """``convB_C`` / ``reluB_C`` / ``poolB`` -> index in torchvision's ``vgg19().features``."""
    names: dict[str, int] = {}
    idx = 0
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for c in range(1, convs + 1):
            names[f"conv{block}_{c}"] = idx
            names[f"relu{block}_{c}"] = idx + 1
            idx += 2
        names[f"pool{block}"] = idx
        idx += 1
    return names


VGG19_LAYERS: dict[str, int] = _vgg19_layer_indices()
"""Layer name -> index in ``torchvision.models.vgg19().features`` (conv5_4 -> 34)."""

PERCEPTUAL_PRESETS: dict[str, dict[str, float]] = {
    # The seed: features[:35], i.e. conv5_4 before its ReLU.
    "seed": {"conv5_4": 1.0},
    # Real-ESRGAN (BasicSR's PerceptualLoss layer weights), before ReLU.
    "realesrgan": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0},
}


def vgg19_layer_index(name: str, *, before_relu: bool = True) -> int:
    """Index in ``vgg19().features`` whose *output* is layer ``name`` (``conv1_1``..``conv5_4``).

    ``before_relu=True`` gives the conv itself, ``False`` the ReLU after it; ``features[:i + 1]``
    computes it (conv5_4 before ReLU -> 34, i.e. the seed's ``features[:35]``).
    """
    if not name.startswith("conv") or name not in VGG19_LAYERS:
        known = ", ".join(k for k in VGG19_LAYERS if k.startswith("conv"))
        raise ConfigError(f"VGG19 layer must be one of {known}; got {name!r}")
    return VGG19_LAYERS[name] + (0 if before_relu else 1)


class PerceptualLoss(nn.Module):
    """Weighted distance between VGG19 features of SR and HR.

    ``loss = sum_k w_k * criterion(phi_k(sr), phi_k(hr))`` where ``phi_k`` is the output of
    layer ``k``; single-channel inputs are repeated to 3 channels and ImageNet-normalised
    (:func:`irsrgan.backbones.to_imagenet_input`). The VGG only runs up to the deepest
    requested layer; HR features are computed without gradient. The VGG is frozen and stays in
    eval mode.

    Args:
        layer_weights: ``{"conv5_4": 1.0}`` style mapping, or a preset name (``"seed"``:
            conv5_4; ``"realesrgan"``: conv1_2 0.1, conv2_2 0.1, conv3_4/4_4/5_4 1.0).
            Default: the seed's.
        before_relu: take each conv's output before its ReLU (the seed and Real-ESRGAN do).
        criterion: ``"l1"`` (mean absolute) or ``"l2"`` (mean squared) feature distance.
        weights: explicit path to torchvision's VGG19 state dict (``vgg19-dcbb9e9d.pth``);
            default is torchvision's cache under ``TORCH_HOME``. Nothing is downloaded.
        pretrained: ``False`` builds a randomly initialised VGG19 (tests, smoke runs).

    Raises:
        WeightsMissingError: ``pretrained`` and the weights are in neither place.

    Shape:
        ``sr``, ``hr``: ``(B, 1 or 3, H, W)`` in [0, 1] -> scalar.
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float] | PerceptualPreset | None = None,
        *,
        before_relu: bool = True,
        criterion: Criterion = "l1",
        weights: str | os.PathLike | None = None,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        if layer_weights is None:
            layer_weights = PERCEPTUAL_PRESETS["seed"]
        elif isinstance(layer_weights, str):
            if layer_weights not in PERCEPTUAL_PRESETS:
                raise ConfigError(
                    f"perceptual preset must be one of {', '.join(PERCEPTUAL_PRESETS)}; "
                    f"got {layer_weights!r}"
                )
            layer_weights = PERCEPTUAL_PRESETS[layer_weights]
        if not layer_weights:
            raise ConfigError("layer_weights must name at least one VGG19 layer, got none")
        if criterion not in ("l1", "l2"):
            raise ConfigError(f"criterion must be 'l1' or 'l2', got {criterion!r}")
        self.layer_weights = {str(k): float(v) for k, v in layer_weights.items()}
        self.before_relu = before_relu
        self.criterion = criterion
        # index in features -> layer name
        self.indices = {
            vgg19_layer_index(name, before_relu=before_relu): name for name in self.layer_weights
        }
        try:
            features = load_backbone_features("vgg19", weights, pretrained=pretrained)
        except WeightsMissingError as exc:
            raise WeightsMissingError(
                f"{exc} PerceptualLoss: pass weights='/path/to/vgg19-dcbb9e9d.pth', or use the "
                "offline perceptual options (discriminator feature matching, Laplacian "
                "pyramid), which need no ImageNet weights."
            ) from None
        deepest = max(self.indices)
        self.vgg = features[: deepest + 1]
        for module in self.vgg.modules():
            if isinstance(module, nn.ReLU):
                module.inplace = False  # keep pre-ReLU outputs intact
        self.vgg.eval()
        for p in self.vgg.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_preset(cls, name: PerceptualPreset, **kwargs: Any) -> PerceptualLoss:
        """``PerceptualLoss(PERCEPTUAL_PRESETS[name], before_relu=True, **kwargs)``."""
        return cls(name, **kwargs)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.vgg.eval()
        return self

    def extract(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of ``x`` at every requested layer, ``{name: (B, C_k, H_k, W_k)}``."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ImageError(f"perceptual input must be (B, 1 or 3, H, W), got {tuple(x.shape)}")
        out: dict[str, torch.Tensor] = {}
        h = to_imagenet_input(x)
        for i, layer in enumerate(self.vgg):
            h = layer(h)
            if i in self.indices:
                out[self.indices[i]] = h
        return out

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        _check_pair(sr, hr)
        fs = self.extract(sr)
        with torch.no_grad():
            fh = self.extract(hr)
        dist = F.l1_loss if self.criterion == "l1" else F.mse_loss
        total = sr.new_zeros(())
        for name, w in self.layer_weights.items():
            total = total + w * dist(fs[name], fh[name])
        return total


# --------------------------------------------------------------------------------------------
# Weights-free perceptual options


def feature_matching_loss(
    fake_features: Sequence[torch.Tensor],
    real_features: Sequence[torch.Tensor],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """L1 between a discriminator's intermediate features of SR and HR.

    ``loss = sum_i w_i * mean(|fake_i - real_i|)`` with ``w_i = 1 / n`` by default (the mean
    over layers). ``real_features`` are detached (they are the target). Use
    ``D.features(sr)`` / ``D.features(hr)`` (or ``D.logits_and_features``) with D's BatchNorm
    frozen (``D.eval()``) during the generator step.

    Args:
        fake_features: features of SR, one tensor per layer.
        real_features: features of HR, same layers and shapes.
        weights: one weight per layer.
    """
    n = len(fake_features)
    if n == 0 or len(real_features) != n:
        raise ImageError(
            "fake_features and real_features must be non-empty lists of the same length, got "
            f"{n} and {len(real_features)}"
        )
    if weights is None:
        weights = [1.0 / n] * n
    elif len(weights) != n:
        raise ConfigError(f"weights must have one entry per layer ({n}), got {len(weights)}")
    total = fake_features[0].new_zeros(())
    for i, (f, r, w) in enumerate(zip(fake_features, real_features, weights, strict=True)):
        if f.shape != r.shape:
            raise ImageError(
                f"feature {i}: fake and real shapes differ, {tuple(f.shape)} vs {tuple(r.shape)}"
            )
        total = total + w * F.l1_loss(f, r.detach())
    return total


def _binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap binomial blur ``[1, 4, 6, 4, 1] / 16``, replicate padding, per channel."""
    c = x.shape[1]
    k = x.new_tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def laplacian_pyramid(x: torch.Tensor, levels: int = 4) -> list[torch.Tensor]:
    """Laplacian pyramid: ``levels - 1`` band-pass images (finest first) and the low-pass rest.

    Level ``i``: ``band_i = g_i - up(g_{i+1})`` with ``g_{i+1} = blur(g_i)[..., ::2, ::2]`` and
    ``up`` bilinear to ``g_i``'s size; the last entry is ``g_{levels-1}``. Exact inverse:
    :func:`collapse_laplacian_pyramid`.

    Shape:
        ``(B, C, H, W)`` with ``H, W >= 2**(levels - 1)`` -> list of ``(B, C, ~H/2**i, ~W/2**i)``.
    """
    if not isinstance(levels, int) or levels < 1:
        raise ConfigError(f"levels must be an integer >= 1, got {levels!r}")
    if x.ndim != 4:
        raise ImageError(f"image must be (B, C, H, W), got {tuple(x.shape)}")
    if min(x.shape[-2:]) < 2 ** (levels - 1):
        raise ImageError(
            f"image must be at least {2 ** (levels - 1)} px for {levels} pyramid levels, got "
            f"{x.shape[-2]}x{x.shape[-1]}"
        )
    pyramid = []
    g = x
    for _ in range(levels - 1):
        down = _binomial_blur(g)[..., ::2, ::2]
        up = F.interpolate(down, size=g.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(g - up)
        g = down
    pyramid.append(g)
    return pyramid


def collapse_laplacian_pyramid(pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
    """Rebuild the image from :func:`laplacian_pyramid` (exact up to float rounding)."""
    x = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        x = band + F.interpolate(x, size=band.shape[-2:], mode="bilinear", align_corners=False)
    return x


def laplacian_pyramid_loss(
    sr: torch.Tensor, hr: torch.Tensor, levels: int = 4, *, include_lowpass: bool = True
) -> torch.Tensor:
    """Sum over pyramid levels of ``mean(|band_i(sr) - band_i(hr)|)``; weights-free.

    Each band weighs the same, so fine detail (the first bands) matters as much as coarse
    structure, unlike plain L1, which is dominated by low frequencies. ``levels=1`` is plain L1.
    ``include_lowpass=False`` drops the low-pass rest: the loss then ignores the mean level and
    smooth shading (e.g. a global offset, which pixel L1 already covers).
    """
    _check_pair(sr, hr)
    ps, ph = laplacian_pyramid(sr, levels), laplacian_pyramid(hr, levels)
    if not include_lowpass:
        ps, ph = ps[:-1], ph[:-1]
    total = sr.new_zeros(())
    for s, h in zip(ps, ph, strict=True):
        total = total + F.l1_loss(s, h)
    return total


# --------------------------------------------------------------------------------------------
# Adversarial losses


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _check_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise ConfigError(f"GAN loss must be one of {', '.join(GAN_KINDS)}; got {kind!r}")


def gan_loss_d(kind: GANKind, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from D's logits on HR (``real``) and on detached SR (``fake``).

    With ``bce(z, y)`` = mean binary cross-entropy with logits, and means over all elements
    (batch and, for a per-pixel D, pixels):

    - ``"ragan"`` (ESRGAN, the seed): ``(bce(real - mean(fake), 1) + bce(fake - mean(real), 0))
      / 2``: real should look more realistic than the average fake, fakes less than the
      average real.
    - ``"vanilla"``: ``bce(real, 1) + bce(fake, 0)``.
    - ``"hinge"``: ``mean(relu(1 - real)) + mean(relu(1 + fake))``.

    Logits may have any shape (``(B, 1)``, ``(B, 1, H, W)``); real and fake may differ in
    batch size. Nothing is detached here: pass ``D(sr.detach())`` as ``fake_logits``.
    RaGAN only sees logit differences, so D's final bias gets no gradient under it (harmless).
    """
    _check_kind(kind)
    if kind == "ragan":
        real_term = _bce(real_logits - fake_logits.mean(), 1.0)
        fake_term = _bce(fake_logits - real_logits.mean(), 0.0)
        return 0.5 * (real_term + fake_term)
    if kind == "vanilla":
        return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def gan_loss_g(
    kind: GANKind, real_logits: torch.Tensor | None, fake_logits: torch.Tensor
) -> torch.Tensor:
    """Generator loss from D's logits on HR (``real``, detached here) and on SR (``fake``).

    - ``"ragan"``: the symmetric form, ``(bce(real - mean(fake), 0) + bce(fake - mean(real), 1))
      / 2``; needs ``real_logits``.
    - ``"vanilla"``: non-saturating ``bce(fake, 1)``; ``real_logits`` unused (may be ``None``).
    - ``"hinge"``: ``-mean(fake)``; ``real_logits`` unused.

    Freeze D's parameters (and BatchNorm statistics) during the generator step.
    """
    _check_kind(kind)
    if kind == "ragan":
        if real_logits is None:
            raise ConfigError("real_logits must be given for the 'ragan' generator loss, got None")
        real = real_logits.detach()
        return 0.5 * (_bce(real - fake_logits.mean(), 0.0) + _bce(fake_logits - real.mean(), 1.0))
    if kind == "vanilla":
        return _bce(fake_logits, 1.0)
    return -fake_logits.mean()


# --------------------------------------------------------------------------------------------
# The generator's total loss, composed from a recipe


class GeneratorLoss(nn.Module):
    """Weighted sum of the generator's losses, built from ``config.LossConfig``.

    ``forward(sr, hr, disc=None)`` returns a dict with ``"total"`` and each non-zero term
    (``pixel``, ``perceptual``, ``gradient``, ``feature_matching``, ``gan``). The adversarial
    and feature-matching terms need ``disc`` (unwrapped from DDP; its parameters frozen and its
    BatchNorm statistics protected by the caller).
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg
        p = cfg.perceptual
        self.perceptual = (
            PerceptualLoss(dict(p.layers), weights=p.weights, pretrained=p.pretrained)
            if p.weight > 0 else None
        )

    def needs_discriminator(self) -> bool:
        return self.cfg.gan.weight > 0 or self.cfg.feature_matching > 0

    def forward(
        self, sr: torch.Tensor, hr: torch.Tensor, disc: nn.Module | None = None
    ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        terms: dict[str, torch.Tensor] = {}
        if cfg.pixel.weight > 0:
            terms["pixel"] = cfg.pixel.weight * pixel_loss(cfg.pixel.kind, sr, hr)
        if self.perceptual is not None:
            terms["perceptual"] = cfg.perceptual.weight * self.perceptual(sr, hr)
        if cfg.gradient > 0:
            terms["gradient"] = cfg.gradient * laplacian_pyramid_loss(sr, hr)
        if self.needs_discriminator():
            if disc is None:
                raise ConfigError("loss.gan / loss.feature_matching need a discriminator")
            with torch.no_grad():
                real_logits, real_feats = disc.logits_and_features(hr)
            fake_logits, fake_feats = disc.logits_and_features(sr)
            if cfg.feature_matching > 0:
                terms["feature_matching"] = cfg.feature_matching * feature_matching_loss(
                    fake_feats, real_feats
                )
            if cfg.gan.weight > 0:
                terms["gan"] = cfg.gan.weight * gan_loss_g(cfg.gan.kind, real_logits,
                                                           fake_logits)
        if not terms:
            raise ConfigError("loss: every weight is zero; nothing to train")
        total = sum(terms.values())
        out = {"total": total}
        out.update({k: v.detach() for k, v in terms.items()})
        return out


def build_generator_loss(cfg: Any) -> GeneratorLoss:
    """The generator loss of a recipe's ``loss`` section."""
    return GeneratorLoss(cfg)


__all__ = [
    "GAN_KINDS", "PERCEPTUAL_PRESETS", "GeneratorLoss", "build_generator_loss", "VGG19_LAYERS",
    "PerceptualLoss", "charbonnier_loss",
    "collapse_laplacian_pyramid", "feature_matching_loss", "gan_loss_d", "gan_loss_g",
    "l1_loss", "laplacian_pyramid", "laplacian_pyramid_loss", "pixel_loss", "vgg19_layer_index",
]
