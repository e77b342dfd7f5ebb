"""ImageNet backbones (VGG19 for the perceptual loss, VGG16/AlexNet for LPIPS), loaded offline.

Nothing is downloaded: weights come from torchvision's cache (``$TORCH_HOME/hub/checkpoints``,
where ``torchvision.models.vgg19(weights="IMAGENET1K_V1")`` puts them) or from an explicit file,
and are read with ``weights_only=True``. When neither exists, :class:`WeightsMissingError` names
both places.

torchvision is imported only when a backbone is asked for: importing it added about 165 MB
of resident memory and 1.6 s of start-up to every ``irsrgan`` command (docs/PERFORMANCE.md),
and upscaling never needs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from .errors import ConfigError, WeightsMissingError

BackboneName = Literal["vgg19", "vgg16", "alexnet"]

# torchvision's weight enums, by name (resolved when needed, see the module docstring)
_WEIGHTS = {"vgg19": "VGG19_Weights", "vgg16": "VGG16_Weights", "alexnet": "AlexNet_Weights"}


def cached_weights_path(name: BackboneName) -> Path:
    """Where torchvision keeps the ImageNet weights of ``name`` once downloaded."""
    import torchvision

    url = getattr(torchvision.models, _WEIGHTS[name]).IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_backbone_features(
    name: BackboneName, weights: str | os.PathLike | None = None, *, pretrained: bool = True
) -> nn.Sequential:
    """The ``features`` part of a torchvision classifier, in eval mode, gradients off.

    Args:
        name: ``"vgg19"``, ``"vgg16"`` or ``"alexnet"``.
        weights: an explicit ``.pth`` state dict; default is torchvision's cache.
        pretrained: ``False`` gives random weights (tests, smoke runs); ``weights`` is ignored.

    Raises:
        WeightsMissingError: pretrained weights are in neither place.
    """
    if name not in _WEIGHTS:
        raise ConfigError(f"backbone must be one of {sorted(_WEIGHTS)}, got {name!r}")
    if pretrained:
        path = Path(weights) if weights is not None else cached_weights_path(name)
        if not path.is_file():
            raise WeightsMissingError(
                f"ImageNet weights for {name} not found: looked for {path}"
                + ("" if weights is not None else " (torchvision's cache, under TORCH_HOME)")
                + ".", "Nothing is downloaded at run time: copy the file there, pass an "
                "explicit path, or choose a loss/metric that needs no ImageNet weights."
            )
    features = _build_features(name)
    if pretrained:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        features.load_state_dict(state)
    features = features.eval()
    for p in features.parameters():
        p.requires_grad_(False)
    return features


def _build_features(name: BackboneName) -> nn.Sequential:
    """Only the convolutional part (building the classifier costs seconds for nothing)."""
    import torchvision

    if name == "alexnet":
        return torchvision.models.alexnet(weights=None).features
    vgg = torchvision.models.vgg
    return vgg.make_layers(vgg.cfgs["E" if name == "vgg19" else "D"], batch_norm=False)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_imagenet_input(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1 or 3, H, W)`` in [0, 1] -> 3 channels, ImageNet-normalised."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std
