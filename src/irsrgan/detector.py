"""Is an LR a clean resample or a sensor's frame? The evidence ``--denoise auto`` decides on.

The faithful end of the denoise pair is right for an LR that is a clean (antialiased) resample
of a sharper image, its own noise included; the robust end is right for what a thermal sensor
delivers: optics blur, detector integration, stripes, white noise, 8-bit export, JPEG. Hand
features (pixel noise, stripes, blockiness, spectral blur: :mod:`irsrgan.estimate`) overlap
between the two on real frames (``docs/RESULTS.md`` section 9), because a sensor frame is
often blurred more than it is noisy. The difference is in how neighbouring pixels relate
(white noise against noise smoothed by the resampling filter, a PSF fall-off against a
resampling kernel's), which a small CNN learns from examples.

:class:`DegradationDetector` is that CNN: four 3x3 convolutions (two strided), a global mean,
one logit ("sensor-degraded"). It is trained by :func:`train_detector` on HIT-UAV *training*
crops with the HR augmentations of the shipped models, each crop made into an LR either by
the ``bicubic`` preset (label 0) or by the ``thermal`` sensor model (label 1). A clean LR is
still a resample of some camera's frame, with that camera's blur, noise and stripes: so clean
crops first get, at random, a soft-lens blur and the whole sensor model at the HR's own scale
(no downsample), and only then the clean resample; half of them are rounded to 8 bits. What
tells the two labels apart is then *where* the sensor's effects happened: before the resample
(smoothed by it: clean) or at the LR's own pixels (degraded).
:func:`degraded_probability` scores an LR on at most :data:`MAX_WINDOWS` windows of
:data:`WINDOW` px (memory and time bounded by the window, not the image) and averages their
logits. The bundled weights are ``weights/detector/degradation-x4.safetensors``, trained by
``python scripts/train_detector.py``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .detection import (  # noqa: F401 (re-exported)
    BUNDLED,
    GAIN,
    MAX_WINDOWS,
    WINDOW,
    bundled_path,
    read_detector_file,
    require_bundled,
    windows,
)
from .errors import CheckpointError, ImageError


class DegradationDetector(nn.Module):
    """Logit that a single-channel LR in the unit range is sensor-degraded (not a clean
    resample). ``(B, 1, H, W)`` -> ``(B,)``; any size of at least 8 px."""

    def __init__(self, features: int = 32) -> None:
        super().__init__()
        f = int(features)
        self.features = f
        self.body = nn.Sequential(
            nn.Conv2d(1, f, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(f, f, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(f, 2 * f, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(2 * f, 2 * f, 3, padding=1), nn.LeakyReLU(0.1),
        )
        self.head = nn.Linear(2 * f, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or min(x.shape[-2:]) < 8:
            raise ImageError(f"detector input must be (B, 1, H >= 8, W >= 8), got "
                             f"{tuple(x.shape)}")
        x = (x - x.mean(dim=(2, 3), keepdim=True)) * GAIN
        return self.head(self.body(x).mean(dim=(2, 3)))[:, 0]


def degraded_probability(lr_unit: np.ndarray, detector: DegradationDetector | None = None,
                         *, scale: int = 4) -> float:
    """Probability that ``lr_unit`` (``(H, W)``, the unit range the SR model sees) is
    sensor-degraded rather than a clean resample: the mean logit over :func:`windows`.
    ``detector`` defaults to the bundled one for ``scale`` (:func:`bundled_detector`)."""
    detector = detector if detector is not None else bundled_detector(scale)
    x = np.nan_to_num(np.asarray(lr_unit, dtype=np.float32), nan=0.5)
    batch = torch.from_numpy(windows(x))[:, None]
    with torch.inference_mode():
        logit = float(detector(batch).mean())
    return 1.0 / (1.0 + math.exp(-logit))


# ------------------------------------------------------------------------------ weights
def save_detector(detector: DegradationDetector, path: str | os.PathLike,
                  provenance: dict[str, str] | None = None) -> None:
    """Weights and width as safetensors (written atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "irsrgan-detector", "features": str(detector.features)}
    meta.update({k: str(v) for k, v in (provenance or {}).items()})
    tmp = path.with_name(path.name + ".part")
    save_file({k: v.contiguous() for k, v in detector.state_dict().items()}, str(tmp), meta)
    os.replace(tmp, path)


def load_detector(path: str | os.PathLike) -> DegradationDetector:
    """A detector saved by :func:`save_detector` (safetensors only: nothing is unpickled)."""
    features, state = read_detector_file(path)
    detector = DegradationDetector(features)
    try:
        detector.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{path}: detector weights do not fit ({e})") from None
    return detector.eval()


def bundled_detector(scale: int = 4) -> DegradationDetector:
    """The detector shipped in the package for ``scale`` (:func:`bundled_path`; each file
    loaded once)."""
    return _bundled_file(bundled_path(scale))


@lru_cache(maxsize=4)
def _bundled_file(path: Path) -> DegradationDetector:
    return load_detector(require_bundled(path))


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class DetectorTraining:
    """What :func:`train_detector` draws and how long it trains."""

    steps: int = 4000
    batch_size: int = 32
    lr: float = 1e-3
    scale: int = 4
    #: clean branch: share of HR crops given the sensor model at their own scale first
    hr_camera_prob: float = 0.7
    #: clean branch: share of HR crops blurred first (a soft camera or lens), and the gaussian
    #: sigma range in HR px: a soft frame resampled cleanly is still clean
    hr_blur_prob: float = 0.5
    hr_blur_sigma: tuple[float, float] = (0.5, 3.0)
    #: clean branch: the camera's flaws (what the sensor model added at the HR's own scale)
    #: multiplied by a gain drawn log-uniformly from this range: a low-contrast scene
    #: stretched to the full range has its camera's noise stretched with it
    hr_camera_gain: tuple[float, float] = (1.0, 4.0)
    #: clean branch: share of LR rounded to 8 bits
    quantize_prob: float = 0.5
    seed: int = 0


def clean_lr(hr: torch.Tensor, cfg: DetectorTraining, gen: torch.Generator) -> torch.Tensor:
    """The clean branch: ``(B, 1, H, W)`` HR -> LR, a clean resample of a camera's frame
    (some HR blurred, some given the sensor model at their own scale, some LR rounded to
    8 bits, as :class:`DetectorTraining` says)."""
    from .degradations import degrade, gaussian_blur

    n = hr.shape[0]
    if cfg.hr_blur_prob > 0:
        lo, hi = (math.log(v) for v in cfg.hr_blur_sigma)
        sigmas = torch.exp(lo + (hi - lo) * torch.rand(n, generator=gen))
        blur = (torch.rand(n, generator=gen) < cfg.hr_blur_prob)[:, None, None, None]
        hr = torch.where(blur, gaussian_blur(hr, sigmas), hr)
    camera = (torch.rand(n, generator=gen) < cfg.hr_camera_prob)[:, None, None, None]
    flawed = degrade(hr, 1, "thermal", gen)
    if cfg.hr_camera_gain != (1.0, 1.0):
        lo, hi = (math.log(v) for v in cfg.hr_camera_gain)
        gain = torch.exp(lo + (hi - lo) * torch.rand(n, generator=gen))[:, None, None, None]
        flawed = hr + gain * (flawed - hr)
    hr = torch.where(camera, flawed, hr)
    lr = degrade(hr.clamp(0, 1), cfg.scale, "bicubic", gen)
    rounded = (lr.clamp(0, 1) * 255).round() / 255
    pick = (torch.rand(n, generator=gen) < cfg.quantize_prob)[:, None, None, None]
    return torch.where(pick, rounded, lr)


def train_detector(train_root: str | os.PathLike, cfg: DetectorTraining = DetectorTraining(),
                   *, hr_augment: dict | None = None, features: int = 32,
                   log=None) -> DegradationDetector:
    """Train a detector on HR crops of ``train_root`` (``WINDOW * scale`` px): half of each
    batch made clean (label 0), half by the ``thermal`` preset (label 1)."""
    from .data import HRCropDataset
    from .degradations import degrade, get_preset

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = HRCropDataset(train_root, scale=cfg.scale, patch_size=WINDOW * cfg.scale,
                         preset="bicubic", seed=cfg.seed, hr_augment=hr_augment)
    thermal = get_preset("thermal")
    detector = DegradationDetector(features)
    opt = torch.optim.Adam(detector.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr / 50)
    half = cfg.batch_size // 2
    loss_fn = nn.BCEWithLogitsLoss()
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, len(data), (2 * half,), generator=gen)
        data.set_epoch(step)
        hr = torch.stack([data[int(i)]["hr"] for i in idx])
        lr = torch.cat([clean_lr(hr[:half], cfg, gen),
                        degrade(hr[half:], cfg.scale, thermal, gen)])
        target = torch.cat([torch.zeros(half), torch.ones(half)])
        loss = loss_fn(detector(lr), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log is not None:
            log(step, float(loss.detach()))
    return detector.eval()


__all__ = ["DegradationDetector", "DetectorTraining", "bundled_detector", "clean_lr",
           "degraded_probability", "load_detector", "save_detector", "train_detector",
           "windows"]
