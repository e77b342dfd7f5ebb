"""The Upscaler: tiled equals untiled, channel handling, image round trips, OOM retry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irsrgan import tiling
from irsrgan.errors import ConfigError
from irsrgan.image import Image
from irsrgan.inference import Upscaler
from irsrgan.models import create_model

from .conftest import TOL


def _compact(scale=4, channels=1):
    torch.manual_seed(0)
    # 5 convs of 3x3: receptive radius 5 LR pixels, covered by overlap / 2 = 6
    return create_model("compact", scale=scale, num_features=8, num_convs=3,
                        in_channels=channels, out_channels=channels)


@pytest.mark.parametrize("tile", [56, 64, 72, 100])
@pytest.mark.parametrize("size", [(37, 53), (64, 64), (101, 59)])
def test_tiled_equals_untiled(tile, size):
    model = _compact()
    x = torch.rand(2, 1, *size, generator=torch.Generator().manual_seed(1))
    whole = Upscaler(model, tile=0, overlap=12, device="cpu").upscale(x)
    tiled = Upscaler(model, tile=tile, overlap=12, device="cpu", batch_size=3).upscale(x)
    assert tiled.shape == (2, 1, size[0] * 4, size[1] * 4)
    assert (tiled - whole).abs().max() < TOL["tiled"]


def test_tiled_equals_untiled_rrdb_with_pixel_unshuffle():
    torch.manual_seed(0)
    model = create_model("rrdbnet", scale=2, num_features=8, num_blocks=1, growth=4,
                         input_unshuffle=2)
    x = torch.rand(1, 1, 45, 61, generator=torch.Generator().manual_seed(2))
    whole = Upscaler(model, tile=0, overlap=24, device="cpu").upscale(x)
    tiled = Upscaler(model, tile=104, overlap=24, device="cpu").upscale(x)
    assert whole.shape == (1, 1, 90, 122)
    assert (tiled - whole).abs().max() < TOL["tiled"]


def test_self_ensemble_averages_the_eight_symmetries_and_tiles_cleanly():
    model = _compact()
    x = torch.rand(1, 1, 37, 53, generator=torch.Generator().manual_seed(4))
    ens = Upscaler(model, tile=0, overlap=12, device="cpu", ensemble=True).upscale(x)
    plain = Upscaler(model, tile=0, overlap=12, device="cpu")
    expected = torch.zeros_like(ens)
    for k in range(4):
        for flip in (False, True):
            t = torch.rot90(x, k, (2, 3))
            t = t.flip(3) if flip else t
            y = plain.upscale(t.contiguous())
            expected += torch.rot90(y.flip(3) if flip else y, -k, (2, 3)) / 8
    assert (ens - expected).abs().max() < TOL["network"]
    assert (ens - plain.upscale(x)).abs().max() > 1e-3  # a random net is not symmetric
    tiled = Upscaler(model, tile=56, overlap=12, device="cpu", ensemble=True).upscale(x)
    assert (tiled - ens).abs().max() < TOL["tiled"]


def test_untiled_is_the_plain_forward_away_from_borders():
    model = _compact()
    x = torch.rand(1, 1, 40, 40, generator=torch.Generator().manual_seed(3))
    up = Upscaler(model, tile=0, overlap=12, device="cpu", channels_last=False).upscale(x)
    with torch.no_grad():
        plain = model(x)
    inner = slice(6 * 4, -6 * 4)  # beyond the receptive radius, border handling does not matter
    assert torch.allclose(up[..., inner, inner], plain[..., inner, inner],
                          atol=TOL["network"])


def test_small_tile_with_large_overlap_is_refused():
    with pytest.raises(ValueError, match="too small"):
        Upscaler(_compact(), tile=20, overlap=12, device="cpu").upscale(torch.rand(1, 1, 64, 64))


def test_gray_model_on_colour_runs_per_channel():
    model = _compact()
    x = torch.rand(1, 3, 20, 24)
    up = Upscaler(model, tile=0, device="cpu")
    out = up.upscale(x)
    for c in range(3):
        assert torch.allclose(out[:, c:c + 1], up.upscale(x[:, c:c + 1]),
                              atol=TOL["reordered"])


def test_colour_model_on_gray_averages():
    model = _compact(channels=3)
    x = torch.rand(1, 1, 20, 24)
    up = Upscaler(model, tile=0, device="cpu")
    out = up.upscale(x)
    assert out.shape == (1, 1, 80, 96)
    assert torch.allclose(out, up.upscale(x.expand(-1, 3, -1, -1)).mean(1, keepdim=True))


def test_radiometric_flat_region_keeps_its_counts():
    # a 16-bit frame: flat 14000 on the left, a warm object on the right
    px = np.full((48, 64), 14000, np.uint16)
    px[10:30, 40:60] = 15500
    model = create_model("compact", scale=2, num_features=8, num_convs=2)
    torch.nn.init.zeros_(model.body[-1].weight)  # identity-like: nearest upsampling only
    torch.nn.init.zeros_(model.body[-1].bias)
    out = Upscaler(model, tile=0, device="cpu").upscale_image(Image(px, "png", "gray"))
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (96, 128)
    assert np.all(out.pixels[:, :60] == 14000)
    assert out.pixels.max() == 15500


def test_progress_callback_counts_tiles():
    calls = []
    Upscaler(_compact(), tile=56, overlap=12, device="cpu", batch_size=2).upscale(
        torch.rand(1, 1, 64, 64), progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] == 4


def test_auto_tile_is_bounded_and_aligned():
    up = Upscaler(_compact(), device="cpu")
    tile = up.auto_tile()
    assert up.minimum_tile() <= tile <= 1024 and tile % 8 == 0


def test_cuda_oom_retries_with_smaller_tiles(monkeypatch):
    up = Upscaler(_compact(), tile=128, overlap=4, device="cpu")
    seen = []
    real = tiling.upscale

    def flaky(lr, forward, layout, *, tile, **kwargs):
        seen.append(tile)
        if tile > 40:
            raise torch.cuda.OutOfMemoryError("fake")
        return real(lr, forward, layout, tile=tile, **kwargs)

    monkeypatch.setattr(tiling, "upscale", flaky)
    out = up.upscale(torch.rand(1, 1, 50, 50))
    assert seen == [128, 64, 32] and out.shape == (1, 1, 200, 200)


def test_bad_input_shape_is_named():
    with pytest.raises(ValueError, match=r"must be \(B, C, H, W\), got \(1, 8, 8\)"):
        Upscaler(_compact(), device="cpu").upscale(torch.rand(1, 8, 8))


def test_onnxruntime_backend_matches_torch():
    pytest.importorskip("onnxruntime")
    model = _compact()
    x = torch.rand(1, 1, 50, 70, generator=torch.Generator().manual_seed(4))
    torch_up = Upscaler(model, tile=0, device="cpu", backend="torch")
    ort_up = Upscaler(model, tile=0, device="cpu", backend="onnxruntime")
    assert (torch_up.backend, ort_up.backend) == ("torch", "onnxruntime")
    assert (torch_up.upscale(x) - ort_up.upscale(x)).abs().max() < TOL["tiled"]


def test_backend_name_is_checked():
    with pytest.raises(ValueError, match="backend must be"):
        Upscaler(_compact(), device="cpu", backend="tensorrt")


def test_precision_is_checked_and_float32_on_cpu(caplog):
    with pytest.raises(ConfigError, match="precision must be 'fp32', 'fp16' or 'bf16'"):
        Upscaler(_compact(), device="cpu", precision="int4")
    up = Upscaler(_compact(), device="cpu", precision="bf16", compile=True, tile=0)
    assert up.precision == "fp32" and up.dtype == torch.float32 and up._compiled is None
    assert "bf16 is only used on GPU" in caplog.text
    x = torch.rand(1, 1, 20, 24, generator=torch.Generator().manual_seed(0))
    assert torch.equal(up.upscale(x), Upscaler(_compact(), device="cpu", tile=0).upscale(x))


def test_a_half_read_band_stream_leaves_autograd_on():
    """Reading some of upscale_image_rows' bands and dropping the rest must not leave the
    caller in inference mode (a generator suspended inside `with inference_mode()` would)."""
    torch.manual_seed(0)
    up = Upscaler(create_model("compact", scale=2, num_features=4, num_convs=1), device="cpu",
                  tile=16, overlap=2)
    image = Image((np.arange(40 * 24) % 251).astype(np.uint8).reshape(40, 24))
    rows = up.upscale_image_rows(image)
    bands = iter(rows.bands)
    next(bands)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    assert sum(b.shape[0] for b in bands) > 0  # the rest still comes (and the mode is off)
    assert torch.is_grad_enabled()
