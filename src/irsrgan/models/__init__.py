"""Generators and discriminators, created by name from a literal registry.

>>> from irsrgan.models import create_model
>>> net = create_model("compact", scale=2, num_features=8, num_convs=2)
>>> (net.scale, net.in_channels, net.out_channels)
(2, 1, 1)
>>> net.config
{'in_channels': 1, 'out_channels': 1, 'scale': 2, 'num_features': 8, 'num_convs': 2}

Every generator derives from :class:`~irsrgan.models.base.Generator`, the contract the rest of
the package relies on (recorded constructor arguments, scale, channels, size multiple, CPU
engine, source, checked input).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Generator, require_generator
from .compact import CompactNet
from .crdbnet import CRDBNet
from .multiframe import MultiFrameNet
from .rrdbnet import RRDBNet
from .seed import SeedCRDBNet
from .span import SPANNet

GENERATORS: dict[str, type[Generator]] = {
    "rrdbnet": RRDBNet,
    "crdbnet": CRDBNet,
    "compact": CompactNet,
    "seed-crdbnet": SeedCRDBNet,
    "span": SPANNet,
    "multiframe": MultiFrameNet,
}


def create_model(arch: str, **kwargs: Any) -> Generator:
    """Build a generator by architecture name with keyword hyperparameters."""
    try:
        cls = GENERATORS[arch]
    except KeyError:
        raise ConfigError(
            f"unknown architecture {arch!r}; known: {', '.join(sorted(GENERATORS))}"
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad hyperparameters for {arch!r}: {exc}") from None


def model_config(model: Generator) -> dict[str, Any]:
    """The constructor arguments that rebuild ``model`` (stored in checkpoints): a copy of
    what :class:`~irsrgan.models.base.Generator` recorded when it was built."""
    return dict(require_generator(model).config)


__all__ = [
    "GENERATORS", "CompactNet", "CRDBNet", "Generator", "MultiFrameNet", "RRDBNet",
    "SeedCRDBNet", "SPANNet", "create_model", "model_config", "require_generator",
]
