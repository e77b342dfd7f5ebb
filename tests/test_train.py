"""Training: configs, EMA, loss goes down, resume equals continuous, DDP equals one process."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from irsrgan.config import config_from_dict, load_config
from irsrgan.errors import ConfigError
from irsrgan.image import Image, write_image
from irsrgan.models import create_model
from irsrgan.train import EMA, GlobalBatchSampler, frozen_batchnorm_stats, lr_at, train

from .conftest import TOL

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory):
    """Eight smooth synthetic 8-bit frames (thermal-like blobs)."""
    root = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:80]
    for i in range(8):
        img = np.zeros((72, 80))
        for _ in range(6):
            cy, cx, r = rng.uniform(0, 72), rng.uniform(0, 80), rng.uniform(4, 14)
            img += rng.uniform(0.2, 0.8) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)
        img = 255 * (img - img.min()) / (np.ptp(img) + 1e-9)
        write_image(root / f"f{i}.png", Image(img.astype(np.uint8)))
    return root


def tiny_config(hr_folder, **over):
    data = {
        "name": "t", "stage": "psnr", "seed": 1,
        "model": {"arch": "compact", "scale": 2, "kwargs": {"num_features": 8, "num_convs": 2}},
        "data": {"train": str(hr_folder), "val": None, "patch_size": 32, "batch_size": 4,
                 "degradation": "bicubic", "num_workers": 0, "in_memory": True},
        "train": {"steps": 6, "lr": 1e-3, "log_every": 1, "checkpoint_every": 3,
                  "val_every": 100, "schedule": {"kind": "cosine", "warmup_steps": 2},
                  "ema_decay": 0.9, "threads": 1},
    }
    for key, value in over.items():
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config_from_dict(data)


# ----------------------------------------------------------------------- configs
def test_config_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(ConfigError, match=r"train\.lrate: unknown key"):
        config_from_dict({"train": {"lrate": 1}})
    with pytest.raises(ConfigError, match=r"train\.lr: expected float, got str 'fast'"):
        config_from_dict({"train": {"lr": "fast"}})
    with pytest.raises(ConfigError, match=r"stage: expected one of \['psnr', 'gan'\]"):
        config_from_dict({"stage": "esrgan"})
    # every pixel loss the loss module knows is one a config can name
    assert config_from_dict({"loss": {"pixel": {"kind": "l2"}}}).loss.pixel.kind == "l2"
    with pytest.raises(ConfigError, match=r"loss\.pixel\.kind: expected one of "
                                          r"\['l1', 'charbonnier', 'l2'\]"):
        config_from_dict({"loss": {"pixel": {"kind": "l3"}}})


def test_shipped_recipes_load_and_overrides_apply():
    for name in ("smoke", "irsrgan-psnr", "irsrgan-gan", "cpu-psnr-x4"):
        cfg = load_config(os.path.join(REPO, "configs", f"{name}.yaml"))
        assert cfg.name == name
    cfg = load_config(os.path.join(REPO, "configs", "irsrgan-gan.yaml"),
                      ["train.lr=1e-4", "model.kwargs.num_blocks=2"])
    assert cfg.train.lr == 1e-4 and cfg.model.kwargs["num_blocks"] == 2
    assert cfg.loss.pixel.weight == 0.01 and cfg.loss.gan.weight == 0.005  # the seed's weights
    assert cfg.model.arch == "crdbnet"  # inherited from the PSNR recipe
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(os.path.join(REPO, "configs", "smoke.yaml"), ["train.lr"])


# ----------------------------------------------------------------------- pieces
def test_ema_update_matches_hand_computation():
    torch.manual_seed(0)
    model = create_model("compact", scale=2, num_features=4, num_convs=1)
    ema = EMA(model, decay=0.999)
    before = {k: v.clone() for k, v in ema.model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)  # first update: decay min(0.999, 1/10) = 0.1
    for (name, p), ep in zip(model.named_parameters(), ema.model.parameters(), strict=True):
        expected = 0.1 * before[name] + 0.9 * p.detach()
        torch.testing.assert_close(ep, expected)
    ema.updates = 2000
    assert ema.current_decay() == pytest.approx(2001 / 2010)  # still warming up
    ema.updates = 10_000
    assert ema.current_decay() == 0.999


def test_lr_schedule():
    from irsrgan.config import ScheduleConfig

    cos = ScheduleConfig(kind="cosine", warmup_steps=10, min_lr=0.0)
    assert lr_at(0, 1.0, cos, 110) == pytest.approx(0.1)
    assert lr_at(10, 1.0, cos, 110) == pytest.approx(1.0)
    assert lr_at(60, 1.0, cos, 110) == pytest.approx(0.5)
    assert lr_at(60, 1.0, cos, 110, time_fraction=1.0) == pytest.approx(0.0)
    step = ScheduleConfig(kind="step", milestones=[5, 8], gamma=0.5)
    assert [lr_at(s, 1.0, step, 10) for s in (4, 5, 8)] == [1.0, 0.5, 0.25]


def test_global_batch_sampler_shards_the_same_batches():
    one = list(GlobalBatchSampler(10, 4, seed=3, epoch=1))
    r0 = list(GlobalBatchSampler(10, 4, seed=3, epoch=1, rank=0, world=2))
    r1 = list(GlobalBatchSampler(10, 4, seed=3, epoch=1, rank=1, world=2))
    assert len(one) == 8
    for b in range(2):
        assert sorted(one[4 * b:4 * b + 4]) == sorted(r0[2 * b:2 * b + 2] + r1[2 * b:2 * b + 2])
    assert list(GlobalBatchSampler(10, 4, seed=3, epoch=1, start_batch=1)) == one[4:]
    with pytest.raises(ConfigError, match="divisible"):
        GlobalBatchSampler(10, 3, seed=0, epoch=0, world=2)


def test_batchnorm_stats_frozen_during_generator_step():
    bn = torch.nn.BatchNorm2d(3)
    bn.train()
    before = bn.running_mean.clone()
    with frozen_batchnorm_stats(bn):
        bn(torch.randn(4, 3, 5, 5) + 5)
    assert torch.equal(bn.running_mean, before)
    bn(torch.randn(4, 3, 5, 5) + 5)
    assert not torch.equal(bn.running_mean, before)


# ----------------------------------------------------------------------- loops
def test_psnr_stage_lowers_the_loss(tmp_path, hr_folder):
    cfg = tiny_config(hr_folder, **{"train.steps": 40, "train.checkpoint_every": 40,
                                    "train.log_every": 40, "data.batch_size": 8})
    before = _fixed_batch_loss(cfg, None)
    train(cfg, tmp_path / "run", progress=False)
    after = _fixed_batch_loss(cfg, tmp_path / "run" / "model.safetensors")
    assert after < 0.7 * before


def _fixed_batch_loss(cfg, weights):
    from irsrgan.checkpoint import load_model
    from irsrgan.data import HRCropDataset
    from irsrgan.degradations import get_preset
    from irsrgan.train import build_generator

    ds = HRCropDataset(cfg.data.train, scale=2, patch_size=32, preset=get_preset("bicubic"),
                       seed=99)
    batch = torch.stack([ds[i]["lr"] for i in range(8)]), torch.stack([ds[i]["hr"] for i in
                                                                       range(8)])
    if weights is None:
        torch.manual_seed(cfg.seed)
        model = build_generator(cfg)
    else:
        model = load_model(weights)
    with torch.no_grad():
        return float((model(batch[0]) - batch[1]).abs().mean())


def test_gan_stage_runs_and_moves_both_networks(tmp_path, hr_folder):
    cfg = tiny_config(hr_folder, **{"train.steps": 3})
    train(cfg, tmp_path / "psnr", progress=False)
    gan = tiny_config(hr_folder, **{
        "stage": "gan", "train.steps": 4, "train.pretrained":
        str(tmp_path / "psnr" / "model.safetensors"),
        "loss": {"pixel": {"kind": "l1", "weight": 1.0}, "feature_matching": 1.0,
                 "gradient": 0.5, "gan": {"kind": "ragan", "weight": 0.1}},
        "discriminator": {"arch": "unet", "kwargs": {"num_features": 8}},
    })
    summary = train(gan, tmp_path / "gan", progress=False)
    assert summary["steps"] == 4
    assert summary["rank"] == 0  # train_cmd prints the summary of rank 0 only
    state = torch.load(tmp_path / "gan" / "last.pt", weights_only=True)
    assert {"discriminator", "optimizer_d", "scaler_d"} <= set(state)
    log = (tmp_path / "gan" / "log.csv").read_text()
    assert "gan" in log.splitlines()[0] and "feature_matching" in log.splitlines()[0]
    psnr_w = load_file(tmp_path / "psnr" / "model.safetensors")
    gan_w = load_file(tmp_path / "gan" / "model.safetensors")
    assert any(not torch.equal(psnr_w[k], gan_w[k]) for k in psnr_w)


def test_resume_equals_continuous(tmp_path, hr_folder, monkeypatch):
    import irsrgan.train as train_mod

    cfg = tiny_config(hr_folder)
    train(cfg, tmp_path / "continuous", progress=False)

    real_save = train_mod._save_state

    def crash_after_first_checkpoint(path, state):
        real_save(path, state)
        if path.name == "last.pt":
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(train_mod, "_save_state", crash_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "stopped", progress=False)
    monkeypatch.setattr(train_mod, "_save_state", real_save)
    assert torch.load(tmp_path / "stopped" / "last.pt", weights_only=True)["step"] == 3
    train(cfg, tmp_path / "stopped", resume=True, progress=False)

    a = load_file(tmp_path / "continuous" / "model.safetensors")
    b = load_file(tmp_path / "stopped" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=TOL["resume"])
    sa = torch.load(tmp_path / "continuous" / "last.pt", weights_only=True)["generator"]
    sb = torch.load(tmp_path / "stopped" / "last.pt", weights_only=True)["generator"]
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=TOL["resume"])


def test_train_state_saves_and_loads_the_same_file_format(tmp_path, hr_folder):
    """TrainState writes last.pt's keys (those of every earlier run, so their last.pt still
    resume) and load() is save()'s inverse."""
    from irsrgan.train import TrainState, build_discriminator, build_generator

    def fresh(cfg, seed):
        torch.manual_seed(seed)
        gen = build_generator(cfg)
        disc = build_discriminator(cfg) if cfg.stage == "gan" else None
        no_scaler = torch.amp.GradScaler("cuda", enabled=False)
        return TrainState(gen, EMA(gen, 0.9), torch.optim.Adam(gen.parameters()), no_scaler,
                          disc, disc and torch.optim.Adam(disc.parameters()),
                          disc and torch.amp.GradScaler("cuda", enabled=False))

    psnr_keys = {"irsrgan_train_state", "arch", "model_config", "config", "generator",
                 "generator_ema", "ema_updates", "optimizer_g", "scaler_g", "step",
                 "best_psnr", "elapsed_s"}
    for stage, keys in [("psnr", psnr_keys),
                        ("gan", psnr_keys | {"discriminator", "optimizer_d", "scaler_d"})]:
        cfg = tiny_config(hr_folder, stage=stage)
        a = fresh(cfg, 0)
        a.step, a.best_psnr, a.ema.updates = 7, 21.5, 5
        a.save(tmp_path / f"{stage}.pt", cfg, elapsed_s=12.0)
        saved = torch.load(tmp_path / f"{stage}.pt", weights_only=True)
        assert set(saved) == keys and saved["step"] == 7 and saved["elapsed_s"] == 12.0
        b = fresh(cfg, 1)
        b.load(tmp_path / f"{stage}.pt")
        assert (b.step, b.best_psnr, b.elapsed_s, b.ema.updates) == (7, 21.5, 12.0, 5)
        for key, part in a.parts().items():
            want, got = part.state_dict(), b.parts()[key].state_dict()
            if isinstance(part, torch.nn.Module):
                assert all(torch.equal(want[k], got[k]) for k in want), key


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, hr_folder):
    with pytest.raises(ConfigError, match="no .*last.pt to resume from"):
        train(tiny_config(hr_folder), tmp_path / "none", resume=True, progress=False)


@pytest.mark.slow
def test_ddp_two_processes_equal_one(tmp_path, hr_folder):
    if shutil.which("torchrun") is None and not os.path.exists(
            os.path.join(os.path.dirname(sys.executable), "torchrun")):
        pytest.skip("torchrun not found")
    cfg = tiny_config(hr_folder, **{"train.steps": 4, "train.checkpoint_every": 4})
    (tmp_path / "cfg.yaml").write_text(cfg.to_yaml())
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                "--rdzv-backend=c10d", "--rdzv-endpoint=localhost:0", "-m", "irsrgan", "train",
                str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "ddp"), "--quiet"]
    run = subprocess.run(torchrun, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count('"steps": 4') == 1  # one summary, rank 0's, not one per process
    train(cfg, tmp_path / "single", progress=False)
    a = load_file(tmp_path / "single" / "model.safetensors")
    b = load_file(tmp_path / "ddp" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=TOL["ddp"])


def test_resume_after_a_kill_does_not_repeat_log_rows(tmp_path, hr_folder, monkeypatch):
    """kill -9 after the step-3 checkpoint but after steps 4..6 were logged: the resumed run's
    log.csv holds each step once, like the continuous run's."""
    import irsrgan.train as train_mod

    cfg = tiny_config(hr_folder)
    train(cfg, tmp_path / "continuous", progress=False)
    real_save = train_mod._save_state
    kept = {}

    def keep_step_3(path, state):
        real_save(path, state)
        if path.name == "last.pt" and state["step"] == 3:
            kept["bytes"] = path.read_bytes()

    monkeypatch.setattr(train_mod, "_save_state", keep_step_3)
    train(cfg, tmp_path / "killed", progress=False)
    monkeypatch.setattr(train_mod, "_save_state", real_save)
    (tmp_path / "killed" / "last.pt").write_bytes(kept["bytes"])  # as if killed after step 6
    train(cfg, tmp_path / "killed", resume=True, progress=False)

    def steps(run):
        with open(tmp_path / run / "log.csv", newline="") as fh:
            return [int(r["step"]) for r in csv.DictReader(fh)]

    assert steps("killed") == steps("continuous") == [1, 2, 3, 4, 5, 6]


def test_an_output_folder_that_is_a_file_is_one_line(tmp_path, hr_folder):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        with pytest.raises(ConfigError, match=f"--out {out}: cannot write there: "):
            train(tiny_config(hr_folder), out, progress=False)


def test_resume_with_a_changed_architecture_or_truncated_state_is_one_line(tmp_path, hr_folder):
    cfg = tiny_config(hr_folder)
    train(cfg, tmp_path / "run", progress=False)
    wider = tiny_config(hr_folder, **{"model.kwargs": {"num_features": 12, "num_convs": 2}})
    with pytest.raises(ConfigError, match=r"does not fit the current config \(generator: .*"
                                          r"written for compact .*'num_features': 8"):
        train(wider, tmp_path / "run", resume=True, progress=False)
    state = tmp_path / "run" / "last.pt"
    state.write_bytes(state.read_bytes()[:1000])
    with pytest.raises(ConfigError, match="last.pt: not a safetensors file and not a readable "
                                          "torch weights file") as info:
        train(cfg, tmp_path / "run", resume=True, progress=False)
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


def test_a_warmup_longer_than_the_run_warns(tmp_path, hr_folder, caplog):
    from irsrgan.train import schedule_warning

    assert schedule_warning(tiny_config(hr_folder)) is None  # 2 warm-up steps of 6
    cfg = tiny_config(hr_folder, **{"train.schedule": {"kind": "cosine", "warmup_steps": 10},
                                    "train.checkpoint_every": 6})
    with caplog.at_level("WARNING", logger="irsrgan.train"):
        train(cfg, tmp_path / "run", progress=False)
    (record,) = [r for r in caplog.records if "warm" in r.getMessage()]
    # 6 steps of a 10-step warm-up: the rate ends at 6/10 of train.lr
    assert record.getMessage().startswith(
        "train.schedule.warmup_steps 10 is longer than the run (train.steps 6): the learning "
        "rate only climbs to 0.0006 of train.lr 0.001")


def test_a_missing_relative_data_folder_says_what_it_is_relative_to(tmp_path, monkeypatch,
                                                                     capsys):
    """`irsrgan train smoke` outside the repository: the recipe's ../shared/data path is
    relative to the working directory, and the error says so."""
    from irsrgan.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "smoke", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irsrgan train: error: training folder ../shared/data/hit-uav/val "
                          "does not exist (a relative path is taken from the working "
                          f"directory {tmp_path}, so this is {tmp_path}/../shared/data/")
