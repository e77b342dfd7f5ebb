"""Align the frames of a window onto its reference frame by dense optical flow (OpenCV DIS).

A multi-frame upscaler needs every neighbour where the reference frame sees the scene. DIS
(Kroeger et al., ECCV 2016, in OpenCV) is fast on a CPU (a few ms per pair at 160x120) and
robust to the noise and low contrast of thermal frames once the window is stretched to 8 bits
jointly. The flow is computed on the LR frames, reference to neighbour, and the neighbour is
resampled bilinearly onto the reference's grid; where the flow leaves the frame the edge
pixel is repeated (the network learns to trust the reference there).

Frames smaller than :data:`MIN_SIDE` pixels are not aligned (DIS needs a few patches).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .errors import ConfigError, ImageError

#: smallest frame side DIS is run on; smaller frames are passed through unaligned
MIN_SIDE = 16
#: how the window is stretched to 8 bits for the flow: these percentiles of all its frames
STRETCH_PERCENTILES = (0.5, 99.5)
ALIGN_METHODS = ("dis", "none")

_local = threading.local()


def _dis() -> cv2.DISOpticalFlow:
    dis = getattr(_local, "dis", None)
    if dis is None:  # one per thread: a DIS object keeps state between calls
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        _local.dis = dis
    return dis


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """``(N, h, w)`` float -> uint8, stretched jointly over the window (the same map for
    every frame, so that brightness constancy holds)."""
    lo, hi = np.percentile(frames, STRETCH_PERCENTILES)
    span = max(float(hi - lo), 1e-6)
    return np.clip((frames - lo) * (255.0 / span), 0, 255).round().astype(np.uint8)


def flow_to(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``(h, w, 2)`` float32 flow with ``ref(x) ~ other(x + flow(x))`` (uint8 frames)."""
    return _dis().calc(ref, other, None)


def warp_by_flow(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``frame`` ``(h, w)`` float32 resampled at ``x + flow(x)`` (bilinear, edge repeated)."""
    h, w = frame.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(frame, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def align_window(frames: np.ndarray, ref: int, method: str = "dis") -> np.ndarray:
    """``(N, h, w)`` float32 frames -> the same with every frame aligned onto frame ``ref``
    (which is returned unchanged). ``method``: ``dis`` or ``none``."""
    if method not in ALIGN_METHODS:
        raise ConfigError(f"alignment must be one of {', '.join(ALIGN_METHODS)}, got {method!r}")
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 3 or not 0 <= ref < len(frames):
        raise ImageError(f"a window must be (N, h, w) with 0 <= ref < N, got "
                         f"{frames.shape}, ref {ref}")
    out = frames.copy()
    if method == "none" or min(frames.shape[1:]) < MIN_SIDE:
        return out
    u8 = to_uint8(frames)
    cache: dict[bytes, np.ndarray] = {}
    for i in range(len(frames)):
        if i == ref or np.array_equal(frames[i], frames[ref]):
            continue
        key = frames[i].tobytes()
        if key not in cache:
            cache[key] = warp_by_flow(frames[i], flow_to(u8[ref], u8[i]))
        out[i] = cache[key]
    return out


__all__ = ["ALIGN_METHODS", "MIN_SIDE", "align_window", "flow_to", "to_uint8", "warp_by_flow"]
