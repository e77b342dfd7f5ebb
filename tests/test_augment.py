"""HR augmentations: each op's values, seeding, shapes, and the dataset wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from irsrgan.augment import HRAugment, downscale, equalize, texture
from irsrgan.data import HRCropDataset, item_generator
from irsrgan.errors import ConfigError

from .conftest import write_test_image

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "hr"
    for i in range(3):
        write_test_image(root / f"f{i}.png", rng.integers(10, 251, (96, 112), dtype=np.uint8))
    return root


def test_equalize_maps_ranks_onto_unit_range():
    x = torch.tensor([[[0.5, 0.1], [0.9, 0.3]]])
    torch.testing.assert_close(equalize(x), torch.tensor([[[2 / 3, 0.0], [1.0, 1 / 3]]]))


def test_downscale_keeps_a_constant_and_the_mean():
    flat = torch.full((1, 48, 48), 0.37)
    torch.testing.assert_close(downscale(flat, 16), torch.full((1, 16, 16), 0.37))
    ramp = torch.linspace(0, 1, 64).expand(1, 64, 64).contiguous()
    small = downscale(ramp, 32)
    assert small.shape == (1, 32, 32)
    assert abs(float(small.mean()) - float(ramp.mean())) < 1e-3
    assert downscale(ramp, 64) is ramp  # same size: untouched


def test_off_by_default_draws_nothing():
    aug = HRAugment()
    assert not aug.active
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(1, 8, 8)
    assert aug.crop_factor(gen, 100, 100, 16) == 1.0
    assert torch.equal(aug.photometric(x, gen), x)
    # the generator was not advanced
    assert torch.equal(torch.rand(4, generator=gen), torch.rand(4, generator=torch.Generator()
                                                                 .manual_seed(3)))


def test_contrast_and_invert_values():
    x = torch.linspace(0, 1, 16).reshape(1, 4, 4)
    inv = HRAugment(invert_prob=1.0).photometric(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(inv, 1 - x)
    for seed in range(20):
        y = HRAugment(contrast_prob=1.0, contrast_min=0.2).photometric(
            x, torch.Generator().manual_seed(seed))
        width = float(y.max() - y.min())
        assert 0.2 - 1e-6 <= width <= 1.0 + 1e-6
        assert float(y.min()) >= -1e-6 and float(y.max()) <= 1 + 1e-6
        # linear: the ramp stays a ramp
        d = (y.flatten()[1:] - y.flatten()[:-1])
        torch.testing.assert_close(d, d[:1].expand_as(d))


def test_gamma_range_is_respected():
    x = torch.full((1, 2, 2), 0.5)
    aug = HRAugment(gamma_prob=1.0, gamma_range=(0.5, 2.0))
    for seed in range(20):
        v = float(aug.photometric(x, torch.Generator().manual_seed(seed))[0, 0, 0])
        assert 0.25 - 1e-6 <= v <= 0.5 ** 0.5 + 1e-6


def test_texture_is_a_seeded_zero_mean_pattern_over_a_rectangle():
    kinds = set()
    for seed in range(12):
        t = texture(60, 80, torch.Generator().manual_seed(seed))
        again = texture(60, 80, torch.Generator().manual_seed(seed))
        assert t.shape == (60, 80) and torch.equal(t, again)
        assert float(t.abs().max()) == pytest.approx(1.0)
        rows, cols = (t != 0).any(dim=1), (t != 0).any(dim=0)
        assert 0.3 * 60 - 1 <= int(rows.sum()) <= 60 and 0.3 * 80 - 1 <= int(cols.sum()) <= 80
        inside = t[rows][:, cols]
        assert abs(float(inside.mean())) < 1e-5  # zero mean where it is laid
        kinds.add("bricks" if len(torch.unique(inside)) == 2 else "grating")
    assert kinds == {"bricks", "grating"}


def test_texture_augmentation_adds_at_most_its_amplitude():
    x = torch.full((1, 64, 64), 0.5)
    aug = HRAugment(texture_prob=1.0, texture_amp=(0.01, 0.02))
    for seed in range(10):
        d = aug.photometric(x, torch.Generator().manual_seed(seed)) - x
        assert 0.01 - 1e-6 <= float(d.abs().max()) <= 0.02 + 1e-6
    assert torch.equal(HRAugment(texture_prob=0.0).photometric(
        x, torch.Generator().manual_seed(0)), x)


def test_crop_factor_range_and_room():
    aug = HRAugment(scale_prob=1.0, scale_max=3.0)
    fs = [aug.crop_factor(torch.Generator().manual_seed(s), 512, 640, 128) for s in range(50)]
    assert min(fs) >= 1.0 and max(fs) <= 3.0 and max(fs) > 2.0
    # no room: the frame is only as large as the patch
    assert aug.crop_factor(torch.Generator().manual_seed(0), 128, 300, 128) == 1.0


@pytest.mark.parametrize("cfg, match", [
    ({"scale_prob": 2}, "scale_prob"), ({"bogus": 1}, "bogus"), ({"scale_max": 0.5}, "scale_max"),
    ({"contrast_min": 0}, "contrast_min"), ({"gamma_range": [2]}, "gamma_range"),
    ({"invert_prob": "yes"}, "invert_prob"), ({"texture_amp": [0.1]}, "texture_amp"),
    ({"texture_amp": [0.05, 0.01]}, "texture_amp"),
])
def test_config_errors_name_the_key(cfg, match):
    with pytest.raises(ConfigError, match=match):
        HRAugment.from_config(cfg)


def test_dataset_without_augment_is_unchanged(folder):
    """An empty augment config gives exactly the items of a dataset built without one."""
    a = HRCropDataset(folder, scale=4, patch_size=32, preset="thermal", seed=5)
    b = HRCropDataset(folder, scale=4, patch_size=32, preset="thermal", seed=5, hr_augment={})
    for i in range(len(a)):
        assert torch.equal(a[i]["hr"], b[i]["hr"]) and torch.equal(a[i]["lr"], b[i]["lr"])


def test_dataset_augmented_items_are_seeded_and_shape_exact(folder):
    cfg = {"scale_prob": 1.0, "scale_max": 3.0, "gamma_prob": 0.5, "equalize_prob": 0.2,
           "invert_prob": 0.5, "contrast_prob": 0.8, "contrast_min": 0.1}
    a = HRCropDataset(folder, scale=4, patch_size=32, preset="bicubic", seed=5, hr_augment=cfg)
    b = HRCropDataset(folder, scale=4, patch_size=32, preset="bicubic", seed=5, hr_augment=cfg)
    plain = HRCropDataset(folder, scale=4, patch_size=32, preset="bicubic", seed=5)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x["hr"].shape == (1, 32, 32) and x["lr"].shape == (1, 8, 8)
        assert torch.equal(x["hr"], y["hr"]) and torch.equal(x["lr"], y["lr"])
        assert not torch.equal(x["hr"], plain[i]["hr"])
        assert float(x["hr"].min()) >= -1e-6 and float(x["hr"].max()) <= 1 + 1e-6
    a.set_epoch(1)
    assert not torch.equal(a[0]["hr"], b[0]["hr"])


def test_scale_augmented_crop_is_the_downscaled_region(folder):
    """With only scale augmentation, the HR is the antialiased downscale of a larger crop."""
    aug = HRAugment(scale_prob=1.0, scale_max=2.5)
    ds = HRCropDataset(folder, scale=4, patch_size=32, preset="bicubic", seed=2,
                       hr_augment=aug, augment=False)
    frame = ds.frames[0]
    gen = item_generator(2, 0, 0)
    side = min(int(round(32 * aug.crop_factor(gen, *frame.size, 32))), *frame.size)
    y0 = int(torch.randint(0, frame.size[0] - side + 1, (1,), generator=gen))
    x0 = int(torch.randint(0, frame.size[1] - side + 1, (1,), generator=gen))
    assert side > 32
    expected = downscale(frame.unit(y0, x0, side, side), 32)
    torch.testing.assert_close(ds[0]["hr"], expected)
