"""Our safetensors format round-trips; foreign ESRGAN-family files load from keys and shapes."""

from __future__ import annotations

import pickle
import re

import pytest
import torch

from irsrgan.checkpoint import detect_architecture, load_model, read_metadata, save_model
from irsrgan.errors import CheckpointError
from irsrgan.models import create_model

from .test_models import TINY


def _x(c: int, h: int = 9, w: int = 7) -> torch.Tensor:
    return torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(3))


def _same_output(a: torch.nn.Module, b: torch.nn.Module, c: int, h: int = 8, w: int = 6) -> None:
    x = _x(c, h, w)
    with torch.no_grad():
        assert torch.equal(a.eval()(x), b.eval()(x))


@pytest.mark.parametrize("arch", sorted(TINY))
@pytest.mark.parametrize("scale", [2, 4])
def test_save_load_round_trip(tmp_path, arch, scale):
    torch.manual_seed(0)
    net = create_model(arch, scale=scale, **TINY[arch])
    path = tmp_path / "m.safetensors"
    save_model(net, path, provenance={"data": "synthetic"})
    loaded = load_model(path)
    assert (loaded.arch, loaded.config) == (net.arch, net.config)
    _same_output(net, loaded, net.in_channels)
    meta = read_metadata(path)
    assert meta["format"] == "irsrgan" and meta["scale"] == str(scale)
    assert meta["provenance"] == {"data": "synthetic"}


def test_crdb_fuse_input_round_trips(tmp_path):
    net = create_model("crdbnet", num_features=8, num_blocks=1, growth=4, fuse_input=True)
    save_model(net, tmp_path / "c.safetensors")
    assert load_model(tmp_path / "c.safetensors").config["fuse_input"] is True


# ----------------------------------------------------------------------- foreign layouts
def _to_basicsr(state: dict) -> dict:
    return {k.removeprefix("head."): v for k, v in state.items()}


def _to_esrgan_old(state: dict, blocks: int, stages: int) -> dict:
    """Our RRDBNet names -> original ESRGAN's sequential ``model.K`` names."""
    out = {}
    idx = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}"}
    for i in range(stages):
        idx[f"head.conv_up{i + 1}"] = f"model.{3 * (i + 1)}"
    idx["head.conv_hr"] = f"model.{3 * stages + 2}"
    idx["head.conv_last"] = f"model.{3 * stages + 4}"
    for k, v in state.items():
        m = re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        else:
            prefix, leaf = k.rsplit(".", 1)
            out[f"{idx[prefix]}.{leaf}"] = v
    return out


def _to_esrgan_trunk(state: dict) -> dict:
    out = {}
    for k, v in _to_basicsr(state).items():
        k = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", k)
        k = k.replace("conv_body.", "trunk_conv.").replace("conv_hr.", "HRconv.")
        k = re.sub(r"^conv_up(\d)\.", r"upconv\1.", k)
        out[k] = v
    return out


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("scale", [2, 4, 8])
def test_basicsr_params_ema(tmp_path, channels, scale):
    torch.manual_seed(1)
    net = create_model("rrdbnet", scale=scale, in_channels=channels, out_channels=channels,
                       num_features=12, num_blocks=3, growth=6)
    path = tmp_path / "RealESRGAN_tiny.pth"
    torch.save({"params": {}, "params_ema": _to_basicsr(net.state_dict())}, path)
    loaded = load_model(path)
    assert loaded.config == net.config
    _same_output(net, loaded, channels)


def test_realesrgan_x2_pixel_unshuffle(tmp_path):
    torch.manual_seed(2)
    net = create_model("rrdbnet", scale=2, in_channels=3, out_channels=3, num_features=8,
                       num_blocks=1, growth=4, input_unshuffle=2)
    assert net.state_dict()["conv_first.weight"].shape[1] == 12
    torch.save({"params_ema": _to_basicsr(net.state_dict())}, tmp_path / "x2.pth")
    loaded = load_model(tmp_path / "x2.pth")
    assert (loaded.scale, loaded.config["input_unshuffle"]) == (2, 2)
    _same_output(net, loaded, 3)


@pytest.mark.parametrize("scale,stages", [(4, 2), (8, 3)])
def test_original_esrgan_layout(tmp_path, scale, stages):
    torch.manual_seed(3)
    net = create_model("rrdbnet", scale=scale, in_channels=3, out_channels=3, num_features=8,
                       num_blocks=2, growth=4)
    torch.save(_to_esrgan_old(net.state_dict(), 2, stages), tmp_path / "RRDB_ESRGAN_x4.pth")
    loaded = load_model(tmp_path / "RRDB_ESRGAN_x4.pth")
    assert loaded.config == net.config
    _same_output(net, loaded, 3)


def test_esrgan_trunk_layout(tmp_path):
    torch.manual_seed(4)
    net = create_model("rrdbnet", scale=4, in_channels=3, out_channels=3, num_features=8,
                       num_blocks=2, growth=4)
    torch.save(_to_esrgan_trunk(net.state_dict()), tmp_path / "esrgan.pth")
    _same_output(net, load_model(tmp_path / "esrgan.pth"), 3)


def _seed_state(blocks: int = 2, nf: int = 8, gc: int = 4) -> dict:
    """The published seed layout, written out key by key as SPEC.md lists it."""
    g = torch.Generator().manual_seed(5)

    def conv(cout, cin, k=3):
        return {"weight": torch.randn(cout, cin, k, k, generator=g) * 0.05,
                "bias": torch.randn(cout, generator=g) * 0.01}

    state = {}

    def put(prefix, tensors):
        for leaf, t in tensors.items():
            state[f"{prefix}.{leaf}"] = t

    put("initial", conv(nf, 3))
    for n in range(blocks):
        for m in range(3):
            for k in range(5):
                put(f"residuals.{n}.rrdb.{m}.blocks.{k}.cnn",
                    conv(gc if k < 4 else nf, nf + k * gc))
        put(f"residuals.{n}.conv", conv(nf, 4 * nf, 1))
    put("conv", conv(nf, nf))
    for k in range(2):
        put(f"upsamples.{k}.conv", conv(nf, nf))
    put("final.0", conv(nf, nf))
    put("final.2", conv(3, nf))
    return state


def test_seed_pth_tar(tmp_path):
    state = _seed_state()
    path = tmp_path / "g_best.pth.tar"
    torch.save({"state_dict": state, "optimizer": {"lr": 1e-4}, "epoch": 3}, path)
    model = load_model(path)
    assert model.arch == "seed-crdbnet"
    assert model.config == dict(in_channels=3, out_channels=3, scale=4, num_features=8,
                                num_blocks=2, growth=4)
    assert model(_x(3)).shape == (1, 3, 36, 28)
    got = {k: v for k, v in model.state_dict().items()}
    assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)


def test_realesrgan_compact_layout(tmp_path):
    torch.manual_seed(6)
    net = create_model("compact", in_channels=3, out_channels=3, scale=4, num_features=8,
                       num_convs=3)
    torch.save({"params": net.state_dict()}, tmp_path / "realesr-general-x4v3.pth")
    loaded = load_model(tmp_path / "realesr-general-x4v3.pth")
    assert loaded.config == net.config
    _same_output(net, loaded, 3)


def test_ddp_prefix_is_stripped(tmp_path):
    torch.manual_seed(7)
    net = create_model("rrdbnet", scale=4, num_features=8, num_blocks=1, growth=4)
    state = {f"module.{k}": v for k, v in _to_basicsr(net.state_dict()).items()}
    torch.save({"params": state}, tmp_path / "ddp.pth")
    _same_output(net, load_model(tmp_path / "ddp.pth"), 1)


def test_unknown_layout_error_names_keys(tmp_path):
    torch.save({"encoder.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"match no known architecture.*encoder\.weight"):
        load_model(tmp_path / "other.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"params": _Evil()}, fh)
    with pytest.raises(CheckpointError, match="never runs code") as info:
        load_model(path)
    assert "weights_only" not in str(info.value)  # never the advice to unpickle


def test_missing_file_and_name(tmp_path):
    with pytest.raises(CheckpointError, match="neither a file nor a bundled model"):
        load_model(tmp_path / "nope.safetensors")


def test_detect_reports_shape_mismatch(tmp_path):
    torch.manual_seed(8)
    net = create_model("rrdbnet", scale=4, num_features=8, num_blocks=1, growth=4)
    state = _to_basicsr(net.state_dict())
    state["conv_body.weight"] = torch.zeros(8, 8, 1, 1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises((CheckpointError, RuntimeError)):
        load_model(tmp_path / "bad.pth")
    arch, config, _ = detect_architecture(_to_basicsr(net.state_dict()))
    assert (arch, config["num_blocks"], config["num_features"]) == ("rrdbnet", 1, 8)
