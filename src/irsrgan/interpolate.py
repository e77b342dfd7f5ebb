"""Network interpolation: ``theta = (1 - alpha) * theta_A + alpha * theta_B``.

Interpolates the weights inference loads (EMA weights of training states). Both models must
have the same architecture and hyperparameters; anything else is refused with a clear error.
"""

from __future__ import annotations

import os

import torch

from .checkpoint import load_model
from .errors import CheckpointError, ConfigError
from .models import Generator, require_generator


def check_interpolable(a: Generator, b: Generator) -> None:
    """Raise CheckpointError unless ``a`` and ``b`` share architecture and hyperparameters
    (a ConfigError if either is not a generator)."""
    require_generator(a, "the first model")
    require_generator(b, "the second model")
    if a.arch != b.arch or a.config != b.config:
        raise CheckpointError(
            f"cannot interpolate different architectures: {a.arch} {a.config} vs "
            f"{b.arch} {b.config}"
        )


def interpolate_models(a: Generator, b: Generator, alpha: float) -> Generator:
    """A new model with weights ``(1 - alpha) * a + alpha * b``; alpha 0 is ``a`` exactly and
    alpha 1 is ``b`` exactly."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
    check_interpolable(a, b)
    sa, sb = a.state_dict(), b.state_dict()
    mixed = {}
    for key, va in sa.items():
        vb = sb[key]
        if alpha == 0.0 or not va.is_floating_point():
            mixed[key] = va.clone()
        elif alpha == 1.0:
            mixed[key] = vb.clone()
        else:
            mixed[key] = torch.lerp(va.float(), vb.float(), alpha).to(va.dtype)
    out = type(a)(**a.config)
    out.load_state_dict(mixed)
    return out.eval()


def interpolate_files(
    path_a: str | os.PathLike, path_b: str | os.PathLike, alpha: float
) -> Generator:
    """Load two generator files (any supported format or bundled names) and interpolate."""
    return interpolate_models(load_model(path_a), load_model(path_b), alpha)
