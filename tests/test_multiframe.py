"""The multi-frame model (issue 13): synthetic clips, alignment, the network, sliding windows,
training on clips, clip evaluation and the sequence default of `irsrgan upscale`."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from irsrgan.align import align_window
from irsrgan.clip_data import ClipCropDataset, ClipValidationDataset
from irsrgan.clip_eval import bicubic_method, evaluate_set, model_method
from irsrgan.clips import MotionConfig, degrade_clip, make_clip, random_motion, warp_window
from irsrgan.errors import ConfigError, ImageError
from irsrgan.image import Image
from irsrgan.inference import Upscaler
from irsrgan.models import CompactNet, MultiFrameNet, create_model
from irsrgan.train import train
from irsrgan.windows import sliding_windows

from .conftest import TOL
from .test_train import hr_folder, tiny_config  # noqa: F401  (the fixture is used by name)


def scene(h: int = 96, w: int = 112, seed: int = 0) -> torch.Tensor:
    """A smooth ``(1, h, w)`` thermal-like scene with some edges, in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w))
    for _ in range(10):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, 12)
        img += rng.uniform(0.2, 0.8) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)
    img = (img - img.min()) / np.ptp(img)
    return torch.from_numpy(img.astype(np.float32))[None]


def tiny_multiframe(frames: int = 5, seed: int = 0) -> MultiFrameNet:
    torch.manual_seed(seed)
    return create_model("multiframe", frames=frames, scale=2, num_features=8, num_convs=2)


# ------------------------------------------------------------------------- motion and warp
def test_motion_is_seeded_zero_at_the_reference_and_still_when_asked():
    a = random_motion(7, 3, torch.Generator().manual_seed(5))
    b = random_motion(7, 3, torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[3], 0.0)
    assert np.abs(a[:, :2]).max() > 0
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    still = random_motion(7, 3, g1, MotionConfig(still_prob=1.0))
    random_motion(7, 3, g2, MotionConfig(still_prob=0.0))
    np.testing.assert_array_equal(still, 0.0)
    # a still clip draws as many numbers as a moving one: what follows is the same
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


def test_warp_without_motion_is_the_window_and_a_shift_moves_it():
    src = scene()
    window = (20, 24, 48, 56)
    same = warp_window(src, window, np.zeros((1, 4)), 2)
    assert torch.equal(same[0], src[:, 20:68, 24:80])
    # camera 1.5 LR px right and 1 LR px down at x2: the frame shows the scene 3, 2 HR px on
    shifted = warp_window(src, window, np.array([[1.5, 1.0, 0.0, 0.0]]), 2)
    assert torch.allclose(shifted[0, :, :, :], src[:, 22:70, 27:83], atol=1e-5)


def test_motion_config_rejects_unknown_and_negative_values():
    with pytest.raises(ConfigError, match="unknown key"):
        MotionConfig.from_config({"speed": 1})
    with pytest.raises(ConfigError, match="still_prob"):
        MotionConfig.from_config({"still_prob": 2})
    assert MotionConfig.from_config({"max_speed": 2}).max_speed == 2.0


# ------------------------------------------------------------------------- the sensor
SENSOR = {"name": "s", "steps": [
    {"op": "resize", "to": "target", "modes": {"area": 1}},
    {"op": "stripe", "column_sigma": {"log_uniform": [0.01, 0.05]}},
    {"op": "noise", "sigma": {"log_uniform": [0.005, 0.05]}},
]}


def test_fixed_pattern_is_held_and_noise_is_drawn_per_frame():
    hr = torch.full((6, 1, 64, 64), 0.5)  # a static, flat scene
    lr = degrade_clip(hr, 2, SENSOR, torch.Generator().manual_seed(1))
    again = degrade_clip(hr, 2, SENSOR, torch.Generator().manual_seed(1))
    assert torch.equal(lr, again)  # seeded
    # column means over many rows: the stripes (the same every frame) + a little noise
    cols = lr.mean(dim=-2)[:, 0]  # (T, W)
    stripes = cols - cols.mean(dim=-1, keepdim=True)
    spread = (stripes - stripes.mean(0)).std() / stripes.mean(0).std()
    assert spread < 0.35  # the same pattern in every frame
    # the noise: each frame has its own realisation at one level
    resid = lr - lr.mean(0, keepdim=True) - 0.0
    per_frame = resid.flatten(1).std(1)
    assert per_frame.min() > 0.5 * per_frame.max()
    assert not torch.equal(lr[0], lr[1])
    # another clip: another camera (another noise level)
    other = degrade_clip(hr, 2, SENSOR, torch.Generator().manual_seed(2))
    other_noise = (other - other.mean(0, keepdim=True)).std()
    assert abs(float(other_noise) - float(resid.std())) > 1e-4


def test_without_noise_a_still_clip_repeats_one_frame_exactly():
    hr = scene(64, 64)[None].expand(4, -1, -1, -1)
    steps = {"name": "n", "steps": SENSOR["steps"][:2] + [{"op": "dead_hot", "fraction": 0.01}]}
    lr = degrade_clip(hr, 2, steps, torch.Generator().manual_seed(3))
    for t in range(1, 4):
        assert torch.equal(lr[t], lr[0])


def test_make_clip_hr_reference_is_the_window():
    src = scene()
    clip = make_clip(src, (16, 16, 64, 64), frames=5, scale=2, preset="bicubic",
                     gen=torch.Generator().manual_seed(4), motion=MotionConfig(still_prob=0))
    assert clip.lr.shape == (5, 1, 32, 32) and clip.hr.shape == (5, 1, 64, 64)
    assert clip.ref == 2 and torch.equal(clip.hr[2], src[:, 16:80, 16:80])
    assert not torch.equal(clip.hr[0], clip.hr[2])


# ------------------------------------------------------------------------- alignment
def test_alignment_brings_neighbours_onto_the_reference():
    src = scene(160, 160, seed=2)
    motion = np.array([[-2.0, 1.2, 0, 0], [-1.0, 0.5, 0, 0], [0, 0, 0, 0], [1.1, -0.4, 0, 0],
                       [2.2, -1.1, 0, 0]])
    hr = warp_window(src, (32, 32, 96, 96), motion, 2)
    lr = torch.nn.functional.avg_pool2d(hr, 2)[:, 0].numpy()
    aligned = align_window(lr, 2)
    assert np.array_equal(aligned[2], lr[2])
    inner = (slice(None), slice(6, -6), slice(6, -6))
    raw = np.abs(lr - lr[2])[inner].mean()
    err = np.abs(aligned - lr[2])[inner].mean()
    assert err < raw / 3
    np.testing.assert_array_equal(align_window(lr, 2, "none"), lr)
    tiny = lr[:, :8, :8]
    np.testing.assert_array_equal(align_window(tiny, 2), tiny)  # too small for DIS
    with pytest.raises(ConfigError, match="alignment"):
        align_window(lr, 2, "farneback")


# ------------------------------------------------------------------------- the network
def test_from_single_equals_the_single_frame_net_on_repeated_frames():
    torch.manual_seed(0)
    single = CompactNet(scale=2, num_features=8, num_convs=2).eval()
    multi = MultiFrameNet.from_single(single, frames=5).eval()
    x = torch.rand(2, 1, 12, 14)
    with torch.no_grad():
        assert torch.allclose(multi(x.expand(-1, 5, -1, -1)), single(x), atol=TOL["network"])
    assert multi(torch.rand(1, 5, 12, 14)).shape == (1, 1, 24, 28)


def test_network_checks_its_arguments_and_input():
    with pytest.raises(ConfigError, match="odd"):
        MultiFrameNet(frames=4)
    with pytest.raises(ConfigError, match="single-channel"):
        MultiFrameNet(in_channels=3)
    with pytest.raises(ImageError, match=r"\(B, 5, h, w\)"):
        tiny_multiframe()(torch.rand(1, 3, 8, 8))


def test_multiframe_checkpoint_round_trips(tmp_path):
    from irsrgan.checkpoint import load_model, save_model

    net = tiny_multiframe(3)
    save_model(net, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert isinstance(back, MultiFrameNet) and back.config == net.config
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        assert torch.equal(back.eval()(x), net.eval()(x))


# ------------------------------------------------------------------------- windows
def test_sliding_windows_are_centred_with_the_ends_repeated():
    assert list(sliding_windows("abcd", 3)) == [list("aab"), list("abc"), list("bcd"),
                                                list("cdd")]
    assert list(sliding_windows("a", 5)) == [list("aaaaa")]
    assert list(sliding_windows("", 3)) == []
    assert list(sliding_windows("ab", 1)) == [["a"], ["b"]]


def _frames(n: int, seed: int = 0) -> list[Image]:
    rng = np.random.default_rng(seed)
    return [Image((rng.random((20, 24)) * 255).astype(np.uint8)) for _ in range(n)]


def test_upscale_frames_reads_two_neighbours_each_side_and_no_more():
    """A window of 5 is not causal: output t depends on frames t-2..t+2 and on nothing else."""
    up = Upscaler(tiny_multiframe(5, seed=3), device="cpu", tile=0)
    frames = _frames(8)
    base = [f.pixels for f in up.upscale_frames(frames)]
    assert len(base) == 8 and base[0].shape == (40, 48)
    changed = list(frames)
    changed[6] = _frames(1, seed=9)[0]
    out = [f.pixels for f in up.upscale_frames(changed)]
    for t in range(8):
        same = np.array_equal(out[t], base[t])
        assert same == (abs(t - 6) > 2), t


def test_a_still_image_through_the_multiframe_model_is_the_single_frame_output():
    torch.manual_seed(1)
    single = CompactNet(scale=2, num_features=8, num_convs=2)
    multi = MultiFrameNet.from_single(single, frames=5)
    img = _frames(1)[0]
    a = Upscaler(single, device="cpu", tile=0).upscale_image(img).pixels
    b = Upscaler(multi, device="cpu", tile=0).upscale_image(img).pixels
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ------------------------------------------------------------------------- data and training
def test_clip_datasets_are_seeded_and_shaped(hr_folder):  # noqa: F811
    crops = ClipCropDataset(hr_folder, scale=2, patch_size=32, preset="thermal", seed=3,
                            frames=3)
    a, b = crops[1], crops[1]
    assert a["lr"].shape == (3, 16, 16) and a["hr"].shape == (1, 32, 32)
    assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
    vals = ClipValidationDataset(hr_folder, scale=2, preset="thermal", seed=3, frames=3,
                                 limit=2)
    item = vals[0]
    assert item["lr"].shape == (3, 36, 40) and item["hr"].shape == (1, 72, 80)
    assert torch.equal(item["lr"][1], item["lr_ref"][0])  # the middle frame is not moved
    with pytest.raises(ConfigError, match="odd"):
        ClipCropDataset(hr_folder, scale=2, patch_size=32, preset="bicubic", frames=2)


def test_training_on_clips_runs_and_checks_the_window(tmp_path, hr_folder):  # noqa: F811
    kw = {"model.arch": "multiframe", "model.kwargs": {"frames": 3, "num_features": 8,
                                                        "num_convs": 2},
          "data.frames": 3, "train.steps": 2, "data.val": str(hr_folder), "data.val_limit": 2,
          "train.val_every": 2}
    summary = train(tiny_config(hr_folder, **kw), tmp_path / "run")
    assert summary["steps"] == 2 and np.isfinite(summary["val"]["psnr"])
    with pytest.raises(ConfigError, match="must agree"):
        train(tiny_config(hr_folder, **{**kw, "data.frames": 5}), tmp_path / "bad")


# ------------------------------------------------------------------------- evaluation
def test_clip_evaluation_bicubic_is_its_own_baseline_and_still_clips_match(hr_folder):  # noqa: F811
    torch.manual_seed(2)
    single = CompactNet(scale=2, num_features=8, num_convs=2)
    multi = MultiFrameNet.from_single(single, frames=3)
    methods = {"bicubic": bicubic_method(2),
               "single": model_method(Upscaler(single, device="cpu", tile=0)),
               "multi": model_method(Upscaler(multi, device="cpu", tile=0))}
    res = evaluate_set(methods, hr_folder, scale=2, preset="thermal", frames=3, still=True,
                       limit=3)
    m = res["methods"]
    assert res["n_clips"] == 3 and m["bicubic"]["gain"] == 0.0
    assert abs(m["multi"]["psnr"] - m["single"]["psnr"]) < 1e-4
    moving = evaluate_set(methods, hr_folder, scale=2, preset="thermal", frames=3, limit=3)
    assert moving["methods"]["bicubic"]["flicker"] == pytest.approx(1.0)


# ------------------------------------------------------------------------- upscale default
def test_sequences_use_the_video_model_unless_told_otherwise(tmp_path, monkeypatch):
    from irsrgan.checkpoint import save_model
    from irsrgan.cli import upscale_cmd

    video = tmp_path / "irsrgan-video-x4.safetensors"
    save_model(tiny_multiframe(5), video)
    bundled = {"irsrgan-video-x4": video}
    monkeypatch.setattr(upscale_cmd, "bundled_models", lambda: bundled)

    def args(**over):
        base = dict(model="irsrgan-faithful-x4", model_b=None, alpha=None, denoise=None,
                    robust=None, frame_by_frame=False, device="cpu", tile=0, overlap=8,
                    half=False, backend="torch", ensemble=False)
        return argparse.Namespace(**{**base, **over})

    from irsrgan import checkpoint

    real_load = checkpoint.load_model  # what upscale_cmd imports when it loads a model
    monkeypatch.setattr(checkpoint, "load_model", lambda name: real_load(bundled.get(name, name)))
    a = args()
    assert isinstance(upscale_cmd.sequence_upscaler(a, model_chosen=False).model,
                      MultiFrameNet)
    assert a.model == "irsrgan-video-x4"
    for over, chosen in (({"frame_by_frame": True}, False), ({}, True),
                         ({"denoise": "0.5"}, False)):
        up = upscale_cmd.sequence_upscaler(args(**over), model_chosen=chosen)
        assert not isinstance(up.model, MultiFrameNet), over



def test_stripes_left_is_one_for_bicubic_and_zero_for_an_oracle_destriper():
    from irsrgan.clip_eval import stripe_projection

    src = scene(128, 128, seed=4) * 0.6 + 0.2  # clear of the clamp at 0 and 1
    sensor = {"name": "st", "steps": SENSOR["steps"][:2]}
    clip = make_clip(src, (16, 16, 96, 96), frames=3, scale=2, preset=sensor,
                     gen=torch.Generator().manual_seed(6), with_stripes=True)
    assert float(clip.stripes.abs().max()) > 0.005

    def up(x):
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic",
                                               align_corners=False)

    for t in range(3):
        lr, hr, p = clip.lr[t:t + 1], clip.hr[t:t + 1], clip.stripes[t:t + 1]
        num, den = stripe_projection(up(lr), hr, p)
        assert num / den == pytest.approx(1.0, abs=0.03)
        num, den = stripe_projection(up(lr - p), hr, p)
        assert abs(num / den) < 0.03


def test_flow_context_keeps_the_item_size_and_the_middle_frame_on_its_hr(hr_folder):  # noqa: F811
    """With context the flow sees more of the clip, the item is the same size, and its middle
    LR frame is still the middle HR seen through the sensor (here: clean area downsampling)."""
    sensor = {"name": "area", "steps": [{"op": "resize", "to": "target", "modes": {"area": 1}}]}
    crops = ClipCropDataset(hr_folder, scale=2, patch_size=32, preset=sensor, seed=3, frames=3,
                            flow_context=4, motion={"still_prob": 1.0})
    item = crops[0]
    assert item["lr"].shape == (3, 16, 16) and item["hr"].shape == (1, 32, 32)
    down = torch.nn.functional.avg_pool2d(item["hr"][None], 2)[0, 0]
    assert torch.allclose(item["lr"][1], down, atol=1e-6)
