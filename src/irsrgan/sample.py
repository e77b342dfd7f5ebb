"""A generated thermal-like test scene, so the tool can be tried with no data at hand.

Not real data: a 14-bit radiometric-style frame (uint16 counts) with a cool sky gradient, warm
ground, a road, buildings with warm windows, people and vehicles as hot blobs, fine texture and
mild sensor noise with column stripes.
"""

from __future__ import annotations

import numpy as np


def thermal_sample(height: int = 120, width: int = 160, *, seed: int = 0) -> np.ndarray:
    """A ``(height, width)`` uint16 frame in 14-bit counts (values about 7000-12000)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    horizon = 0.35 * height
    scene = np.where(yy < horizon, 0.15 + 0.1 * yy / horizon, 0.45 + 0.1 * (yy / height))
    # a road with lane texture
    road = np.abs((xx - width * 0.55) - (yy - horizon) * 0.6) < (yy - horizon) * 0.35 + 3
    scene = np.where(road & (yy > horizon), 0.38 + 0.02 * np.sin(yy * 0.9), scene)
    # buildings with windows
    for bx in range(3):
        x0 = int(width * (0.05 + 0.12 * bx))
        x1, y0 = x0 + int(width * 0.1), int(horizon - height * (0.12 + 0.05 * bx))
        block = (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < horizon + 2)
        scene = np.where(block, 0.5, scene)
        win = block & ((xx - x0) % 5 < 2) & ((yy - y0) % 6 < 2)
        scene = np.where(win, 0.7, scene)
    # people and vehicles: warm ellipses
    for _ in range(6):
        cy = rng.uniform(horizon + 5, height - 5)
        cx = rng.uniform(5, width - 5)
        ry, rx = rng.uniform(2, 6), rng.uniform(1.5, 8)
        heat = rng.uniform(0.75, 0.95)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        scene = np.where(blob < 1, heat - 0.1 * blob, scene)
    # fine texture (vegetation), stripes and noise
    texture = rng.normal(0, 1, (height // 2 + 1, width // 2 + 1))
    texture = np.kron(texture, np.ones((2, 2)))[:height, :width]
    scene = scene + 0.015 * texture * (yy > horizon)
    scene = scene + rng.normal(0, 0.004, (1, width)) + rng.normal(0, 0.003, (height, width))
    counts = 7000 + 5000 * np.clip(scene, 0, 1)
    return np.round(counts).astype(np.uint16)
