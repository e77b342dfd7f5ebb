"""Datasets: crops, augmentation, reproducibility across workers, pairing, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from irsrgan.data import (
    HRCropDataset,
    PairedFolderDataset,
    ValidationDataset,
    file_generator,
    item_generator,
)
from irsrgan.degradations import degrade, downsample_bicubic
from irsrgan.errors import ConfigError, ImageError
from irsrgan.image import read_image

from .conftest import SHARED_DATA
from .conftest import write_test_image as _write

DATA = SHARED_DATA


pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Five tiny 8-bit frames with values 10..250 (never 0: a black border would show)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "hr"
    for i in range(5):
        px = rng.integers(10, 251, size=(40 + 4 * i, 48), dtype=np.uint8)
        _write(root / f"f{i}.png", px)
    return root


def _batches(ds, workers: int, epoch: int = 0):
    ds.set_epoch(epoch)
    loader = DataLoader(ds, batch_size=3, shuffle=False, num_workers=workers)
    return [(b["lr"].clone(), b["hr"].clone(), list(b["name"])) for b in loader]


def test_item_layout_and_8bit_values(folder):
    ds = HRCropDataset(folder, scale=2, patch_size=16, preset="thermal", seed=1)
    item = ds[0]
    assert set(item) == {"lr", "hr", "name"}
    assert item["hr"].shape == (1, 16, 16) and item["hr"].dtype == torch.float32
    assert item["lr"].shape == (1, 8, 8) and item["lr"].dtype == torch.float32
    assert item["name"] == "f0.png"
    levels = item["hr"] * 255
    torch.testing.assert_close(levels, levels.round(), atol=1e-4, rtol=0)  # pixel / 255
    assert ds.frames[0].pixels.dtype == np.uint8  # kept compact in memory


def test_crops_come_from_the_image_without_borders(folder):
    ds = HRCropDataset(folder, scale=2, patch_size=32, preset="bicubic", seed=0, repeat=8)
    src = ds.frames[0].pixels[0].astype(np.float32) / 255
    for i in range(0, len(ds), len(ds.paths)):  # all items of image 0
        hr = ds[i]["hr"][0].numpy()
        assert hr.min() >= 10 / 255 - 1e-6  # no black border from a rotation
        found = False
        for k in range(4):
            for flip in (False, True):
                cand = np.rot90(hr, -k)
                cand = cand[:, ::-1] if flip else cand
                h, w = src.shape
                for y in range(h - 31):
                    row = src[y]
                    xs = np.nonzero(np.abs(row - cand[0, 0]) < 1e-6)[0]
                    for x in xs[xs <= w - 32]:
                        if np.allclose(src[y:y + 32, x:x + 32], cand, atol=1e-6):
                            found = True
        assert found, f"item {i} is not a flipped/rotated crop of its image"


def test_lr_is_the_preset_applied_to_the_crop(folder):
    ds = HRCropDataset(folder, scale=4, patch_size=16, preset="bicubic", seed=0)
    item = ds[2]
    torch.testing.assert_close(item["lr"], downsample_bicubic(item["hr"][None], 4)[0])


def test_same_seed_same_items_other_seed_or_epoch_differs(folder):
    a = HRCropDataset(folder, scale=2, patch_size=16, preset="thermal", seed=3)
    b = HRCropDataset(folder, scale=2, patch_size=16, preset="thermal", seed=3)
    c = HRCropDataset(folder, scale=2, patch_size=16, preset="thermal", seed=4)
    for i in range(len(a)):
        assert torch.equal(a[i]["lr"], b[i]["lr"]) and torch.equal(a[i]["hr"], b[i]["hr"])
    assert any(not torch.equal(a[i]["lr"], c[i]["lr"]) for i in range(len(a)))
    first = [a[i]["hr"] for i in range(len(a))]
    a.set_epoch(1)
    assert any(not torch.equal(first[i], a[i]["hr"]) for i in range(len(a)))


def test_dataloader_two_workers_reproducible(folder):
    ds = HRCropDataset(folder, scale=2, patch_size=16, preset="thermal", seed=7, repeat=2)
    run1 = _batches(ds, workers=2, epoch=1)
    run2 = _batches(ds, workers=2, epoch=1)
    single = _batches(ds, workers=0, epoch=1)
    assert len(run1) == 4
    for (l1, h1, n1), (l2, h2, n2), (l0, h0, n0) in zip(run1, run2, single, strict=True):
        assert torch.equal(l1, l2) and torch.equal(h1, h2) and n1 == n2
        assert torch.equal(l1, l0) and torch.equal(h1, h0) and n1 == n0
    other = _batches(ds, workers=2, epoch=2)
    assert not torch.equal(run1[0][1], other[0][1])


def test_in_memory_and_from_disk_agree(folder):
    mem = HRCropDataset(folder, scale=2, patch_size=16, preset="irsrgan", seed=5)
    disk = HRCropDataset(folder, scale=2, patch_size=16, preset="irsrgan", seed=5,
                         in_memory=False)
    assert not disk.frames
    for i in range(len(mem)):
        assert torch.equal(mem[i]["lr"], disk[i]["lr"])


def test_colour_becomes_luma(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    _write(tmp_path / "c.png", rgb)
    ds = HRCropDataset(tmp_path, scale=2, patch_size=16, preset="bicubic", augment=False)
    expected = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255
    torch.testing.assert_close(ds[0]["hr"], torch.full((1, 16, 16), expected))
    ds3 = HRCropDataset(tmp_path, scale=2, patch_size=16, preset="bicubic", channels=3)
    assert ds3[0]["hr"].shape == (3, 16, 16)


def test_16bit_uses_the_per_image_stretch(tmp_path):
    px = np.linspace(14000, 15000, 32 * 32).reshape(32, 32).astype(np.uint16)
    _write(tmp_path / "raw.png", px)
    ds = HRCropDataset(tmp_path, scale=2, patch_size=32, preset="bicubic", augment=False)
    hr = ds[0]["hr"][0].numpy()
    np.testing.assert_allclose(hr, (px.astype(np.float64) - 14000) / 1000, atol=1e-6)


def test_small_images_skipped_or_refused(tmp_path, folder, caplog):
    _write(folder / "tiny.png", np.full((8, 8), 50, np.uint8))
    ds = HRCropDataset(folder, scale=2, patch_size=32, preset="bicubic")
    assert "tiny.png" not in ds.names and len(ds.names) == 5
    assert "smaller than patch_size" in caplog.text
    only_small = tmp_path / "small"
    _write(only_small / "a.png", np.full((8, 8), 50, np.uint8))
    with pytest.raises(ConfigError, match="at least 32x32"):
        HRCropDataset(only_small, scale=2, patch_size=32, preset="bicubic")


@pytest.mark.parametrize("kwargs,match", [
    (dict(scale=3, patch_size=16), "multiple of scale"),
    (dict(scale=2, patch_size=16, channels=2), "channels must be 1 or 3"),
    (dict(scale=0, patch_size=16), "scale must be an integer"),
    (dict(scale=2, patch_size=16, preset="nope"), "unknown preset"),
])
def test_crop_dataset_errors(folder, kwargs, match):
    kwargs.setdefault("preset", "bicubic")
    with pytest.raises(ConfigError, match=match):
        HRCropDataset(folder, **kwargs)


def test_empty_folder(tmp_path):
    with pytest.raises(ConfigError, match="holds no"):
        HRCropDataset(tmp_path, scale=2, patch_size=16, preset="bicubic")


def test_item_generator_mixes_its_inputs():
    draws = {
        torch.rand(1, generator=item_generator(s, e, i)).item()
        for s in (0, 1) for e in (0, 1) for i in (0, 1)
    }
    assert len(draws) == 8


def test_paired_folder(tmp_path, folder):
    lr_root = tmp_path / "lr"
    for i in range(5):
        hr = read_image(folder / f"f{i}.png").pixels
        h, w = hr.shape
        _write(lr_root / f"f{i}.png", hr[: h // 2 * 2: 2, : w // 2 * 2: 2].copy())
    ds = PairedFolderDataset(lr_root, folder, scale=2)
    item = ds[1]
    assert item["lr"].shape == (1, 22, 24) and item["hr"].shape == (1, 44, 48)
    torch.testing.assert_close(item["lr"], item["hr"][:, ::2, ::2])
    crops = PairedFolderDataset(lr_root, folder, scale=2, patch_size=8, seed=1, augment=True)
    c = crops[0]
    assert c["lr"].shape == (1, 4, 4) and c["hr"].shape == (1, 8, 8)
    torch.testing.assert_close(c["lr"], c["hr"][:, ::2, ::2])  # crops stay aligned


def test_paired_folder_errors(tmp_path, folder):
    lr_root = tmp_path / "lr"
    _write(lr_root / "f0.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(ImageError, match="expected 10x10"):
        PairedFolderDataset(lr_root, folder, scale=2)[0]
    _write(lr_root / "other.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(ConfigError, match="no HR file"):
        PairedFolderDataset(lr_root, folder, scale=2)


def test_paired_16bit_shares_the_hr_map(tmp_path):
    hr = np.linspace(14000, 15000, 16 * 16).reshape(16, 16).astype(np.uint16)
    lr = hr[::2, ::2].copy()
    lr[0, 0] = 14500
    _write(tmp_path / "hr" / "a.png", hr)
    _write(tmp_path / "lr" / "a.png", lr)
    item = PairedFolderDataset(tmp_path / "lr", tmp_path / "hr", scale=2)[0]
    np.testing.assert_allclose(item["lr"][0].numpy(), (lr - 14000.0) / 1000, atol=1e-6)


def test_validation_is_deterministic_and_cropped(folder):
    a = ValidationDataset(folder, scale=3, preset="thermal", seed=2)
    b = ValidationDataset(folder, scale=3, preset="thermal", seed=2)
    assert len(a) == 5
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x["hr"].shape[-2] % 3 == 0 and x["hr"].shape[-1] % 3 == 0
        assert x["lr"].shape[-2:] == (x["hr"].shape[-2] // 3, x["hr"].shape[-1] // 3)
        assert torch.equal(x["lr"], y["lr"]) and torch.equal(x["lr"], a[i]["lr"])
    a.set_epoch(5)
    assert torch.equal(a[0]["lr"], b[0]["lr"])
    # top-left anchored multiple of the scale: 40x48 -> 39x48
    assert a[0]["hr"].shape == (1, 39, 48)
    src = a.frames[0].unit()
    torch.testing.assert_close(a[0]["hr"], src[:, :39, :48])
    # seeded by (seed, name), as `irsrgan degrade` and `irsrgan evaluate` seed
    lr = degrade(a[0]["hr"][None], 3, "thermal", file_generator(2, a[0]["name"]))[0]
    torch.testing.assert_close(a[0]["lr"], lr)


def test_validation_max_size_and_limit(folder):
    v = ValidationDataset(folder, scale=4, max_size=18, limit=2)
    assert len(v) == 2
    item = v[1]  # 44x48 -> 44x48 multiple of 4 -> centre 16x16
    assert item["hr"].shape == (1, 16, 16) and item["lr"].shape == (1, 4, 4)
    full = v.frames[1].unit()
    torch.testing.assert_close(item["hr"], full[:, 12:28, 16:32])


@pytest.mark.skipif(not (DATA / "hit-uav" / "val").is_dir(), reason="../shared/data is absent")
def test_real_hit_uav_in_memory():
    ds = HRCropDataset(DATA / "hit-uav" / "val", scale=4, patch_size=128, preset="thermal")
    assert len(ds) == 85
    assert all(f.pixels.dtype == np.uint8 and f.pixels.shape == (1, 512, 640)
               for f in ds.frames)
    item = ds[3]
    assert item["lr"].shape == (1, 32, 32) and item["hr"].shape == (1, 128, 128)


@pytest.mark.skipif(not (DATA / "flir-radiometric" / "raw16").is_dir(),
                    reason="../shared/data is absent")
def test_real_16bit_validation():
    v = ValidationDataset(DATA / "flir-radiometric" / "raw16", scale=2, limit=3)
    item = v[0]
    assert item["hr"].min().item() == 0.0 and item["hr"].max().item() == 1.0
    vm = v.value_maps[0]
    assert vm.scale > 255  # raw counts, stretched per image
