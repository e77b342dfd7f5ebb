"""The degradation detector behind ``--denoise auto``: windows, weights, training, and what
the bundled detector says about real frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irsrgan.checkpoint import save_model
from irsrgan.degradations import get_preset
from irsrgan.detector import (
    MAX_WINDOWS,
    WINDOW,
    DegradationDetector,
    DetectorTraining,
    bundled_detector,
    clean_lr,
    degraded_probability,
    load_detector,
    save_detector,
    train_detector,
    windows,
)
from irsrgan.errors import CheckpointError, ImageError
from irsrgan.evaluate import find_pairs, load_item
from irsrgan.models import create_model

from .conftest import require_shared_data, write_test_image

pytestmark = pytest.mark.usefixtures("one_thread")


def test_windows_cover_the_frame_on_a_grid_and_are_bounded():
    x = np.arange(300 * 500, dtype=np.float32).reshape(300, 500)
    w = windows(x)
    assert w.shape[1:] == (WINDOW, WINDOW) and 1 < len(w) <= MAX_WINDOWS
    assert w[0, 0, 0] == x[0, 0] and w[-1, -1, -1] == x[-1, -1]  # corners reached
    big = windows(np.zeros((4000, 4000), np.float32))
    assert len(big) == MAX_WINDOWS
    small = windows(np.ones((20, 40), np.float32))
    assert small.shape == (1, 20, 40)


def test_windows_refuse_tiny_and_non_2d_input():
    with pytest.raises(ImageError, match="too small"):
        windows(np.zeros((5, 40)))
    with pytest.raises(ImageError, match=r"\(H, W\)"):
        windows(np.zeros((3, 20, 20)))


def test_detector_shapes_and_input_check():
    det = DegradationDetector(8)
    assert det(torch.rand(3, 1, 32, 48)).shape == (3,)
    with pytest.raises(ImageError, match="detector input"):
        det(torch.rand(1, 3, 32, 32))
    # the window mean is removed: a constant offset does not change the verdict
    x = torch.rand(2, 1, 24, 24)
    assert torch.allclose(det(x), det(x + 0.3), atol=1e-5)


def test_save_load_roundtrip_and_refusals(tmp_path):
    torch.manual_seed(0)
    det = DegradationDetector(8).eval()
    path = tmp_path / "d.safetensors"
    save_detector(det, path, {"trained_on": "test"})
    back = load_detector(path)
    x = torch.rand(1, 1, 40, 40)
    assert torch.equal(det(x), back(x))
    gen = tmp_path / "g.safetensors"
    save_model(create_model("compact", scale=2, num_features=4, num_convs=1), gen)
    with pytest.raises(CheckpointError, match="not an irsrgan degradation detector"):
        load_detector(gen)
    from safetensors.torch import save_file

    wide = tmp_path / "wide.safetensors"
    save_file({"x": torch.zeros(1)}, str(wide), {"format": "irsrgan-detector",
                                                  "features": "1000000"})
    with pytest.raises(CheckpointError, match="width"):
        load_detector(wide)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(CheckpointError, match="not a readable detector"):
        load_detector(junk)


def test_training_is_seeded(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        write_test_image(tmp_path / f"f{i}.png", (rng.random((160, 160)) * 255).astype(np.uint8))
    cfg = DetectorTraining(steps=2, batch_size=4, scale=2)
    a = train_detector(tmp_path, cfg, features=4)
    b = train_detector(tmp_path, cfg, features=4)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka
    torch.manual_seed(cfg.seed)
    untrained = DegradationDetector(4)
    assert not torch.equal(untrained.head.weight, a.head.weight)  # it did train


def test_bundled_detector_tells_clean_resamples_from_sensor_frames():
    """On held-out hit-uav/val frames (never trained on), LR made as ``irsrgan evaluate``
    makes them (seed 0, centre 256 px), the bundled detector calls nearly every antialiased
    bicubic LR clean and most thermal-sensor LR degraded (docs/RESULTS.md section 9: 100 %
    and 91 % over all 85 frames; weak sensor draws look clean, which is their right call)."""
    root = require_shared_data("hit-uav/val")
    pairs = find_pairs(root, None, None)[::4]
    det = bundled_detector()
    right = {}
    for protocol in ("bicubic", "thermal"):
        preset = get_preset(protocol)
        calls = [degraded_probability(load_item(i, path, root, scale=4, preset=preset, seed=0,
                                                max_size=256).lr[0, 0].numpy(), det) > 0.5
                 for i, (path, _) in enumerate(pairs)]
        right[protocol] = np.mean([c == (protocol == "thermal") for c in calls])
    assert right["bicubic"] >= 0.95 and right["thermal"] >= 0.75, right


def test_camera_gain_scales_the_clean_branch_flaws():
    """``hr_camera_gain``: the camera's flaws (what the sensor model adds at the HR's own
    scale) are multiplied by a gain before the clean resample, so the clean class also holds
    the noisier frames of low-contrast scenes stretched to the full range."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    hr = (0.4 + 0.2 * xx * yy).expand(8, 1, 64, 64).contiguous()
    base = dict(hr_camera_prob=1.0, hr_blur_prob=0.0, quantize_prob=0.0)
    clean = clean_lr(hr, DetectorTraining(hr_camera_prob=0.0, hr_blur_prob=0.0,
                                          quantize_prob=0.0), torch.Generator().manual_seed(0))

    def flaws(gain: float) -> float:
        cfg = DetectorTraining(hr_camera_gain=(gain, gain), **base)
        lr = clean_lr(hr, cfg, torch.Generator().manual_seed(3))
        return float((lr - clean).abs().mean())

    assert flaws(1.0) > 0
    assert flaws(3.0) == pytest.approx(3 * flaws(1.0), rel=0.25)  # clipping aside, linear


def test_the_bundled_detector_is_the_one_for_the_scale_or_else_x4(tmp_path, monkeypatch):
    from irsrgan import detection
    from irsrgan import detector as det

    folder = tmp_path / "weights" / "detector"
    torch.manual_seed(0)
    save_detector(DegradationDetector(8), folder / "degradation-x4.safetensors")
    monkeypatch.setattr(detection.resources, "files", lambda package: tmp_path)
    assert det.bundled_path(2) == det.bundled_path(4) == folder / "degradation-x4.safetensors"
    torch.manual_seed(1)
    save_detector(DegradationDetector(8), folder / "degradation-x2.safetensors")
    assert det.bundled_path(2) == folder / "degradation-x2.safetensors"
    x = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    at_x2 = degraded_probability(x, scale=2)
    assert at_x2 == degraded_probability(x, load_detector(folder / "degradation-x2.safetensors"))
    assert at_x2 != degraded_probability(x, scale=4)
    assert detection.probability(x, scale=2) == pytest.approx(at_x2, abs=1e-6)  # NumPy too


def test_the_numpy_detector_equals_the_torch_one_without_importing_torch(tmp_path):
    """The ONNX route's NumPy forward pass gives the bundled detector's probabilities (on
    frames it calls clean, undecided and degraded), and never imports PyTorch."""
    import subprocess
    import sys
    import textwrap

    import cv2

    from irsrgan.detection import NumpyDetector, bundled_path, probability

    frames = []
    for blur in (2.0, 4.0):  # smooth fields, area-downsampled: clean, then undecided
        f = cv2.GaussianBlur(np.random.default_rng(0).random((256, 320)).astype(np.float32),
                             (0, 0), blur)
        frames.append(cv2.resize((f - f.min()) / (f.max() - f.min()), (80, 64),
                                 interpolation=cv2.INTER_AREA))
    frames.append(np.random.default_rng(1).random((64, 80)))  # white noise: degraded
    got = [probability(x) for x in frames]
    want = [degraded_probability(x) for x in frames]
    assert got[0] < 0.25 and 0.25 < got[1] < 0.75 and got[2] > 0.75  # the three verdicts
    np.testing.assert_allclose(got, want, atol=1e-6)
    torch.manual_seed(2)  # any width, any weights
    save_detector(DegradationDetector(5), tmp_path / "d.safetensors")
    x = frames[1][:37, :61]
    assert probability(x, detector=NumpyDetector.from_file(tmp_path / "d.safetensors")) == \
        pytest.approx(degraded_probability(x, load_detector(tmp_path / "d.safetensors")),
                      abs=1e-6)
    np.save(tmp_path / "x.npy", frames[1])
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from irsrgan.detection import probability
        print(probability(np.load({str(tmp_path / "x.npy")!r})))
        assert "torch" not in sys.modules
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert float(run.stdout) == pytest.approx(want[1], abs=1e-6)
    assert bundled_path(4).name == "degradation-x4.safetensors"
