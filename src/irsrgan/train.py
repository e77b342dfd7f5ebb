"""The training loop: PSNR stage and GAN stage, EMA, exact resume, DDP. Plain PyTorch.

``train(config, out_dir)`` runs one stage. Every ``checkpoint_every`` steps it writes
``last.pt`` (the whole training state; a stopped run resumed with ``resume=True`` ends with the
same weights as one that ran through); every ``val_every`` steps it validates the EMA generator
on the held-out folder (PSNR, SSIM) and keeps ``best.pt`` by PSNR. At the end it exports the EMA
generator as ``model.safetensors`` (and ``best.safetensors``). Logs go to ``log.csv`` (and
TensorBoard when installed).

Distributed: launched by ``torchrun``, each rank takes its share of every global batch
(``data.batch_size`` is the global batch), gradients are averaged by DDP, rank 0 writes.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Sampler

from .checkpoint import load_model, save_model
from .config import Config, ScheduleConfig
from .errors import CheckpointError, ConfigError
from .inference import Upscaler, pick_device
from .models import CompactNet, Generator, MultiFrameNet, create_model
from .scaleout import Part, join

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- small pure pieces
def lr_at(step: int, base_lr: float, cfg: ScheduleConfig, total_steps: int,
          time_fraction: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based): linear warmup, then constant, step or cosine.

    ``time_fraction`` (elapsed / time budget, for runs with ``train.max_minutes``) moves the
    cosine forward when the time budget, not the step count, will end the run, so the rate
    has decayed when the time is up.
    """
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return base_lr * (step + 1) / cfg.warmup_steps
    if cfg.kind == "constant":
        return base_lr
    if cfg.kind == "step":
        return base_lr * cfg.gamma ** sum(step >= m for m in cfg.milestones)
    progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, max(0.0, progress, time_fraction))
    return cfg.min_lr + 0.5 * (base_lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def schedule_warning(cfg: Config) -> str | None:
    """A warning when the warm-up does not end within the run (the run would end before its
    learning rate reaches ``train.lr``), else ``None``."""
    warmup, steps = cfg.train.schedule.warmup_steps, cfg.train.steps
    if warmup <= steps:
        return None
    final = lr_at(steps - 1, cfg.train.lr, cfg.train.schedule, steps)
    return (f"train.schedule.warmup_steps {warmup} is longer than the run (train.steps "
            f"{steps}): the learning rate only climbs to {final:.2g} of train.lr "
            f"{cfg.train.lr:.2g}; shorten the warm-up or train longer")


class EMA:
    """Exponential moving average of a model's weights: ``ema = d * ema + (1 - d) * param``.

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the first updates, so a short
    run is not dominated by the random initialisation. Buffers are copied.
    """

    def __init__(self, model: Generator, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = create_model(model.arch, **model.config)
        self.model.load_state_dict(model.state_dict())
        self.model.eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        ema_params = list(self.model.parameters())
        params = [p.detach().to(e.dtype) for p, e in zip(model.parameters(), ema_params,
                                                          strict=True)]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for eb, b in zip(self.model.buffers(), model.buffers(), strict=True):
            eb.copy_(b)
        self.updates += 1


@contextlib.contextmanager
def frozen_batchnorm_stats(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in training mode without changing its BatchNorm running statistics
    (the generator step must not update the discriminator's statistics)."""
    saved = {
        name: buf.clone() for name, buf in module.named_buffers()
        if name.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
    try:
        yield
    finally:
        with torch.no_grad():
            buffers = dict(module.named_buffers())
            for name, value in saved.items():
                buffers[name].copy_(value)


class GlobalBatchSampler(Sampler[int]):
    """Yields this rank's share of each global batch of a seeded per-epoch permutation,
    starting at ``start_batch``, so one process and N processes see the same global batches
    and a resumed run continues where it stopped."""

    def __init__(self, n: int, batch_size: int, *, seed: int, epoch: int, start_batch: int = 0,
                 rank: int = 0, world: int = 1) -> None:
        if batch_size % world:
            raise ConfigError(
                f"data.batch_size {batch_size} must be divisible by the number of processes "
                f"({world})"
            )
        if n < batch_size:
            raise ConfigError(f"data: {n} images is fewer than data.batch_size {batch_size}")
        self.n, self.batch, self.seed, self.epoch = n, batch_size, seed, epoch
        self.start, self.rank, self.world = start_batch, rank, world

    def batches_per_epoch(self) -> int:
        return self.n // self.batch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        for b in range(self.start, self.batches_per_epoch()):
            yield from perm[b * self.batch:(b + 1) * self.batch][self.rank::self.world]

    def __len__(self) -> int:
        return (self.batches_per_epoch() - self.start) * (self.batch // self.world)


# --------------------------------------------------------------------------- setup
def init_distributed(device: torch.device) -> Part:
    """This process's rank and world (one process outside ``torchrun``); the process group
    uses NCCL for CUDA training and gloo otherwise."""
    return join(backend="nccl" if device.type == "cuda" else "gloo")


def build_generator(cfg: Config) -> Generator:
    m = cfg.model
    kwargs = dict(m.kwargs)
    kwargs.update(scale=m.scale, in_channels=m.in_channels, out_channels=m.out_channels)
    return create_model(m.arch, **kwargs)


def build_discriminator(cfg: Config) -> nn.Module:
    from .models.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator

    cls = {"unet": UNetDiscriminatorSN, "vgg": VGGStyleDiscriminator}[cfg.discriminator.arch]
    torch.manual_seed(cfg.seed + 1)
    return cls(in_channels=cfg.model.out_channels, **cfg.discriminator.kwargs)


def _datasets(cfg: Config):
    from .data import HRCropDataset, ValidationDataset
    from .degradations import get_preset

    crops, vals, clip = HRCropDataset, ValidationDataset, {}
    if cfg.data.frames > 1:  # a multi-frame model: synthetic clips (irsrgan.clips)
        from .clip_data import ClipCropDataset, ClipValidationDataset

        if cfg.model.kwargs.get("frames") != cfg.data.frames:
            raise ConfigError(f"data.frames is {cfg.data.frames} but model.kwargs.frames is "
                              f"{cfg.model.kwargs.get('frames')!r}: they must agree")
        crops, vals = ClipCropDataset, ClipValidationDataset
        clip = dict(frames=cfg.data.frames, motion=cfg.data.motion,
                    align=cfg.model.kwargs.get("align", "dis"))
    context = {"flow_context": cfg.data.flow_context} if clip else {}
    train_set = crops(
        cfg.data.train, scale=cfg.model.scale, patch_size=cfg.data.patch_size,
        preset=get_preset(cfg.data.degradation), seed=cfg.seed,
        in_memory=cfg.data.in_memory, channels=cfg.model.in_channels,
        hr_augment=cfg.data.augment, repeat=cfg.data.repeat, **clip, **context,
    )

    def val_dataset(root: str, preset: str) -> ValidationDataset:
        return vals(
            root, scale=cfg.model.scale, preset=preset,
            seed=cfg.seed, channels=cfg.model.in_channels, max_size=cfg.data.val_max_size,
            limit=cfg.data.val_limit, **clip,
        )

    val_set = val_dataset(cfg.data.val, cfg.data.val_degradation) if cfg.data.val else None
    # out-of-domain sets, logged beside the main one (which alone picks best.pt)
    extra_val = {}
    for name, spec in cfg.data.extra_val.items():
        if isinstance(spec, str):
            spec = {"path": spec}
        unknown = set(spec) - {"path", "degradation"}
        if "path" not in spec or unknown:
            raise ConfigError(f"data.extra_val.{name}: expected a folder or {{path, degradation}}"
                              f", got {spec!r}")
        extra_val[name] = val_dataset(spec["path"],
                                      spec.get("degradation", cfg.data.val_degradation))
    return train_set, val_set, extra_val


# --------------------------------------------------------------------------- state I/O
TRAIN_STATE_FILE = "last.pt"


def _save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_state(path: Path) -> dict[str, Any]:
    """A training state written by :func:`_save_state`; one-line errors for anything else."""
    from .checkpoint import load_torch_file

    try:
        state = load_torch_file(path)
    except CheckpointError as exc:
        raise ConfigError(f"--resume: {exc}") from None
    if not isinstance(state, dict) or not state.get("irsrgan_train_state"):
        raise ConfigError(f"--resume: {path} is not an irsrgan training state")
    return state


def _resume_into(path: Path, st: dict[str, Any], parts: dict[str, Any]) -> None:
    """Load each ``name -> module or optimizer`` of ``parts`` from the state ``st``, refusing
    (one line) a state written for another architecture or recipe."""
    for key, target in parts.items():
        if key not in st:
            raise ConfigError(f"--resume: {path} has no {key!r}; it was written by another "
                              "stage or version")
        try:
            target.load_state_dict(st[key])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"--resume: {path} does not fit the current config ({key}: {first}); it was "
                f"written for {st.get('arch')} {st.get('model_config')} - resume with the "
                "config it was trained with, or start a new --out folder"
            ) from None


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@dataclass
class TrainState:
    """Everything a run updates, saved as ``last.pt`` (and ``best.pt``) and resumed from it.

    The modules and optimizers are saved by their ``state_dict`` under fixed keys (the
    discriminator's three only in the GAN stage, None in the PSNR stage); the counters beside
    them. :meth:`save` and :meth:`load` are each other's inverse, so a resumed run continues
    exactly where the saved one stopped.
    """

    generator: nn.Module
    ema: EMA
    optimizer_g: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    discriminator: nn.Module | None = None
    optimizer_d: torch.optim.Optimizer | None = None
    scaler_d: torch.amp.GradScaler | None = None
    step: int = 0
    best_psnr: float = -math.inf
    #: training seconds up to the state loaded (0 for a new run)
    elapsed_s: float = 0.0

    def parts(self) -> dict[str, Any]:
        """The saved objects by their key in the file (the networks unwrapped from DDP)."""
        parts = {"generator": _unwrap(self.generator), "generator_ema": self.ema.model,
                 "optimizer_g": self.optimizer_g, "scaler_g": self.scaler_g}
        if self.discriminator is not None:
            parts.update(discriminator=_unwrap(self.discriminator),
                         optimizer_d=self.optimizer_d, scaler_d=self.scaler_d)
        return parts

    def to_dict(self, cfg: Config, elapsed_s: float) -> dict[str, Any]:
        """The file's content: a plain dict (``irsrgan_train_state``, the generator's
        ``arch``/``model_config``, the recipe as YAML, the parts, the counters)."""
        g = _unwrap(self.generator)
        st = {"irsrgan_train_state": True, "arch": g.arch, "model_config": dict(g.config),
              "config": cfg.to_yaml()}
        st.update({key: part.state_dict() for key, part in self.parts().items()})
        st.update(ema_updates=self.ema.updates, step=self.step, best_psnr=self.best_psnr,
                  elapsed_s=elapsed_s)
        return st

    def save(self, path: Path, cfg: Config, elapsed_s: float) -> None:
        """Write the state atomically; ``elapsed_s``: training seconds so far."""
        _save_state(path, self.to_dict(cfg, elapsed_s))

    def load(self, path: Path) -> None:
        """Load a saved state into these parts and counters; a state written for another
        architecture, recipe or stage is a one-line :class:`ConfigError`."""
        st = _load_state(path)
        _resume_into(path, st, self.parts())
        self.ema.updates = int(st.get("ema_updates", 0))
        self.step = int(st.get("step", 0))
        self.best_psnr = float(st.get("best_psnr", -math.inf))
        self.elapsed_s = float(st.get("elapsed_s", 0.0))


# --------------------------------------------------------------------------- the loop
def train(cfg: Config, out_dir: str | os.PathLike, *, resume: bool = False,
          progress: bool = True,
          on_validate: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run one stage of ``cfg`` into ``out_dir``. Returns the final summary (steps, best PSNR,
    time, and this process's ``rank``: 0 alone, or the torchrun rank). ``on_validate(row)``
    is called on rank 0 with each validation's logged row."""
    from tqdm import tqdm

    from .losses import build_generator_loss, gan_loss_d

    out = Path(out_dir)
    warning = schedule_warning(cfg)
    if warning:
        log.warning(warning)
    d = init_distributed(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    device = pick_device("auto", local_rank=d.local_rank if d.world > 1 else None)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if d.main:
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.yaml").write_text(cfg.to_yaml())
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot write there: {exc.strerror or exc}") from None

    torch.manual_seed(cfg.seed)
    gen = build_generator(cfg)
    if cfg.train.pretrained:
        src = load_model(cfg.train.pretrained)
        if isinstance(gen, MultiFrameNet) and isinstance(src, CompactNet):
            # a multi-frame net starts as the single-frame net it extends
            src = MultiFrameNet.from_single(src, frames=gen.frames, align=gen.align)
        if src.arch != gen.arch or src.config != gen.config:
            raise ConfigError(
                f"train.pretrained {cfg.train.pretrained}: {src.arch} {src.config} does not "
                f"match model {gen.arch} {gen.config}"
            )
        gen.load_state_dict(src.state_dict())
    gen.to(device)
    ema = EMA(gen, cfg.train.ema_decay)
    ema.model.to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas),
                             weight_decay=cfg.train.weight_decay)
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler_g = torch.amp.GradScaler("cuda", enabled=use_amp)

    gan = cfg.stage == "gan"
    disc = opt_d = scaler_d = None
    if gan:
        disc = build_discriminator(cfg).to(device)
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.discriminator.lr,
                                 betas=tuple(cfg.discriminator.betas))
        scaler_d = torch.amp.GradScaler("cuda", enabled=use_amp)
    gen_loss = build_generator_loss(cfg.loss).to(device)

    state = TrainState(gen, ema, opt_g, scaler_g, disc, opt_d, scaler_d)
    state_path = out / TRAIN_STATE_FILE
    if resume:
        if not state_path.is_file():
            raise ConfigError(f"--resume: no {state_path} to resume from")
        state.load(state_path)
    history_time = state.elapsed_s

    if d.world > 1:
        ddp_kw = {"device_ids": [device.index]} if device.type == "cuda" else {}
        gen = nn.parallel.DistributedDataParallel(gen, **ddp_kw)
        if gan:
            disc = nn.parallel.DistributedDataParallel(disc, **ddp_kw)

    train_set, val_set, extra_val = _datasets(cfg)
    per_epoch = len(train_set) // cfg.data.batch_size
    if per_epoch == 0:
        raise ConfigError(
            f"data.train {cfg.data.train}: {len(train_set)} images is fewer than "
            f"data.batch_size {cfg.data.batch_size}"
        )
    local_batch = cfg.data.batch_size // d.world

    def batches() -> Iterator[dict[str, torch.Tensor]]:
        epoch, start = divmod(state.step, per_epoch)
        while True:
            train_set.set_epoch(epoch)
            sampler = GlobalBatchSampler(len(train_set), cfg.data.batch_size, seed=cfg.seed,
                                         epoch=epoch, start_batch=start, rank=d.rank,
                                         world=d.world)
            loader = DataLoader(train_set, batch_size=local_batch, sampler=sampler,
                                num_workers=cfg.data.num_workers, drop_last=True,
                                persistent_workers=False,
                                pin_memory=device.type == "cuda")
            yield from loader
            epoch, start = epoch + 1, 0

    logger = _Logger(out, enabled=d.main, resume=resume, resume_step=state.step)
    budget_s = cfg.train.max_minutes * 60 if cfg.train.max_minutes else None
    if budget_s:  # the time budget ends the run: the bar counts seconds and shows the ETA
        bar = tqdm(total=round(budget_s), unit="s", disable=not (progress and d.main),
                   desc=f"{cfg.name} [{cfg.stage}]", dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{remaining} left{postfix}]")
    else:
        bar = tqdm(total=cfg.train.steps, initial=state.step, disable=not (progress and d.main),
                   desc=f"{cfg.name} [{cfg.stage}]", dynamic_ncols=True)
    t_start = time.perf_counter()
    wait_time = compute_time = 0.0
    it = batches()
    t_prev = time.perf_counter()
    time_fraction = 0.0
    summary: dict[str, Any] = {}
    stop_reason = "steps"
    while state.step < cfg.train.steps:
        batch = next(it)
        t_data = time.perf_counter()
        lr_img = batch["lr"].to(device, non_blocking=True)
        hr_img = batch["hr"].to(device, non_blocking=True)
        lr_now = lr_at(state.step, cfg.train.lr, cfg.train.schedule, cfg.train.steps,
                       time_fraction)
        for group in opt_g.param_groups:
            group["lr"] = lr_now

        # ---- generator step
        gen.train()
        with torch.autocast(device.type, enabled=use_amp):
            sr = gen(lr_img)
            if gan:
                with frozen_batchnorm_stats(_unwrap(disc)):
                    for p in disc.parameters():
                        p.requires_grad_(False)
                    losses = gen_loss(sr, hr_img, disc=_unwrap(disc))
                    for p in disc.parameters():
                        p.requires_grad_(True)
            else:
                losses = gen_loss(sr, hr_img)
        opt_g.zero_grad(set_to_none=True)
        scaler_g.scale(losses["total"]).backward()
        if cfg.train.grad_clip:
            scaler_g.unscale_(opt_g)
            nn.utils.clip_grad_norm_(gen.parameters(), cfg.train.grad_clip)
        scaler_g.step(opt_g)
        scaler_g.update()
        ema.update(_unwrap(gen))

        # ---- discriminator step
        if gan:
            with torch.autocast(device.type, enabled=use_amp):
                d_loss = gan_loss_d(cfg.loss.gan.kind, disc(hr_img), disc(sr.detach()))
            opt_d.zero_grad(set_to_none=True)
            scaler_d.scale(d_loss).backward()
            scaler_d.step(opt_d)
            scaler_d.update()
            losses["d"] = d_loss.detach()
        state.step += 1
        t_end = time.perf_counter()
        wait_time += t_data - t_prev
        compute_time += t_end - t_data
        t_prev = t_end

        if state.step % cfg.train.log_every == 0 or state.step == cfg.train.steps:
            values = {k: float(v.detach()) for k, v in losses.items()}
            elapsed = history_time + time.perf_counter() - t_start
            row = {"step": state.step, "lr": lr_now, **values, "elapsed_s": round(elapsed, 2),
                   "data_wait_share": round(wait_time / max(1e-9, wait_time + compute_time), 4)}
            logger.log(row)
            bar.set_postfix(loss=f"{values['total']:.4f}", step=state.step, refresh=False)
        if budget_s:
            bar.update(min(time.perf_counter() - t_start, budget_s) - bar.n)
        else:
            bar.update(1)

        last = state.step == cfg.train.steps
        if cfg.train.max_minutes:
            # rank 0's clock decides, so every rank uses the same learning rate and stops
            # at the same step
            time_fraction = (time.perf_counter() - t_start) / (cfg.train.max_minutes * 60)
            if d.world > 1:
                flag = torch.tensor([time_fraction], dtype=torch.float64)
                dist.broadcast(flag, 0)
                time_fraction = float(flag.item())
        over_time = time_fraction >= 1.0
        if over_time:
            stop_reason = "max_minutes"
            last = True
        if val_set is not None and (state.step % cfg.train.val_every == 0 or last):
            if d.main:
                metrics = validate(ema.model, val_set, device)
                row = {"step": state.step, **{f"val_{k}": v for k, v in metrics.items()}}
                for name, extra in extra_val.items():
                    row.update({f"val_{name}_{k}": v
                                for k, v in validate(ema.model, extra, device).items()})
                logger.log(row)
                if on_validate is not None:
                    on_validate(row)
                if metrics["psnr"] > state.best_psnr:
                    state.best_psnr = metrics["psnr"]
                    state.save(out / "best.pt", cfg, history_time + t_end - t_start)
                    save_model(ema.model, out / "best.safetensors",
                               provenance=_provenance(cfg, state.step, metrics))
                summary["val"] = metrics
            if d.world > 1:
                dist.barrier()
        if state.step % cfg.train.checkpoint_every == 0 or last:
            if d.main:
                state.save(state_path, cfg, history_time + time.perf_counter() - t_start)
            if d.world > 1:
                dist.barrier()
        if over_time:
            break
    bar.close()
    elapsed = history_time + time.perf_counter() - t_start
    if d.main:
        save_model(ema.model, out / "model.safetensors",
                   provenance=_provenance(cfg, state.step, summary.get("val", {}), elapsed))
    logger.close()
    summary.update(steps=state.step, best_psnr=state.best_psnr, elapsed_s=elapsed,
                   stop=stop_reason,
                   data_wait_share=wait_time / max(1e-9, wait_time + compute_time),
                   rank=d.rank)
    return summary


def _provenance(cfg: Config, step: int, metrics: dict, elapsed: float | None = None) -> dict:
    prov = {"recipe": cfg.name, "stage": cfg.stage, "steps": step, "train_data": cfg.data.train,
            "degradation": cfg.data.degradation, "val_data": cfg.data.val}
    if metrics:
        prov["val"] = {k: round(float(v), 4) for k, v in metrics.items()}
    if elapsed is not None:
        prov["train_seconds"] = round(elapsed, 1)
    return prov


@torch.no_grad()
def validate(model: Generator, val_set, device: torch.device) -> dict[str, float]:
    """Mean PSNR/SSIM (border = scale) of ``model`` and of bicubic on the validation set,
    scored by :func:`irsrgan.metrics.score` on each image's bit-depth scale, as ``irsrgan
    evaluate`` and ``irsrgan metrics`` score (for 16-bit frames the model space is a
    per-image stretch; the scores are not)."""
    from torch.nn import functional as F

    from .metrics import score

    was_training = model.training
    upscaler = Upscaler(model, device=device, tile=0, overlap=8, channels_last=False)
    s = model.scale
    sums = {"psnr": 0.0, "ssim": 0.0, "bicubic_psnr": 0.0}
    for i in range(len(val_set)):
        item = val_set[i]
        lr, hr = item["lr"][None], item["hr"][None]
        sr = upscaler.upscale(lr).clamp(0, 1)
        ref = item.get("lr_ref", item["lr"])[None]  # a clip's middle frame
        bic = F.interpolate(ref, scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1)
        maps = dict(value_map=val_set.value_maps[i], scale_map=val_set.scale_maps[i])
        scores = score(sr, hr, crop_border=s, **maps)
        sums["psnr"] += float(scores["psnr"].mean())
        sums["ssim"] += float(scores["ssim"].mean())
        sums["bicubic_psnr"] += float(score(bic, hr, crop_border=s, **maps)["psnr"].mean())
    model.train(was_training)
    n = max(1, len(val_set))
    return {k: v / n for k, v in sums.items()}


class _Logger:
    """CSV log (one row per event, columns grow as needed) plus TensorBoard when installed."""

    def __init__(self, out: Path, *, enabled: bool, resume: bool, resume_step: int = 0) -> None:
        self.enabled = enabled
        self.path = out / "log.csv"
        self.rows: list[dict] = []
        self.tb = None
        if not enabled:
            return
        if resume and self.path.is_file():
            with open(self.path, newline="") as fh:
                rows = list(csv.DictReader(fh))
            # rows logged after the checkpoint we resume from are logged again as the steps
            # are redone: drop them (a run killed after a checkpoint would repeat them)
            self.rows = [r for r in rows if _step_of(r) <= resume_step]
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except Exception:  # tensorboard is optional
            self.tb = None

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.rows.append(row)
        fields: list[str] = []
        for r in self.rows:
            fields += [k for k in r if k not in fields]
        tmp = self.path.with_name(".log.csv.tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, int(row["step"]))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _step_of(row: dict[str, Any]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return math.inf  # a damaged row: dropped on resume
