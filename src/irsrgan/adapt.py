"""Fine-tune a model to one camera from that camera's own frames (no ground truth needed).

A camera's native frames are valid HR targets for a model that upscales frames made to look
like them. :func:`adapt`:

1. splits the frames (natural order) into a training part and a held-out tail
   (``held_out``, default a quarter; the tail, not every k-th frame, because neighbouring
   frames of a sequence overlap and would leak);
2. calibrates the degradation on the training part (:mod:`irsrgan.calibrate`) unless a
   preset is given;
3. fine-tunes the base model (:func:`irsrgan.train.train`, the ordinary training loop) on
   crops of the training frames, LR made half by the calibrated preset and half by the clean
   antialiased bicubic, for a time budget; resumable (the work folder keeps the run);
4. scores base and adapted model on the held-out frames under both degradations at every
   validation (logged side by side), and at the end keeps the candidate (the clean-best and
   the last checkpoint) with the best mean gain **that is worse than the base under neither**;
   when none is, the output is the base model, said so on the card and in the result.

The output is a safetensors file with its model card (``.md``) beside it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from .bundled import DEFAULT_BASE  # the base model for each scale (defined without PyTorch)
from .checkpoint import load_model, resolve_model_path, save_model
from .config import Config, DataConfig, ModelConfig, ScheduleConfig, TrainConfig
from .errors import ConfigError, ImageError
from .image import atomic_write_bytes, collect_images, decode_image

#: share of LR made by the calibrated preset (the rest: clean antialiased bicubic)
CAMERA_WEIGHT = 0.5
PLAN_FILE = "plan.json"


def split_frames(paths: Sequence[Path], held_out: float) -> tuple[list[Path], list[Path]]:
    """``(train, held)``: the last ``ceil(n * held_out)`` frames (at least one) are held out."""
    if not 0 < held_out < 1:
        raise ConfigError(f"--held-out must be between 0 and 1, got {held_out}")
    n = len(paths)
    if n < 2:
        raise ConfigError(f"adapt needs at least 2 frames (1 to train on, 1 to check), got {n}")
    k = min(n - 1, max(1, math.ceil(n * held_out)))
    return list(paths[: n - k]), list(paths[n - k:])


def _link(paths: Sequence[Path], folder: Path) -> None:
    """``folder`` holds exactly ``paths`` (symlinks; copies where links are not allowed)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i, p in enumerate(paths):
        dst = folder / f"{i:04d}_{p.name}"
        try:
            dst.symlink_to(p)
        except OSError:
            shutil.copy2(p, dst)


def readable_frames(paths: Sequence[Path]) -> tuple[list[Path], list[int], list[str]]:
    """The frames that decode, their smaller sides, and one line per frame that does not."""
    ok, sides, skipped = [], [], []
    for p in paths:
        try:
            image = decode_image(p.read_bytes(), str(p))
        except (ImageError, OSError) as exc:
            skipped.append(f"{p}: {exc}")
            continue
        ok.append(p)
        sides.append(min(image.height, image.width))
    return ok, sides, skipped


def patch_size_for(sides: Sequence[int], scale: int, largest: int = 128) -> int:
    """The HR crop side for frames whose smaller sides are ``sides``: ``largest`` unless a
    quarter of them are smaller, then the largest multiple of ``4 * scale`` that three
    quarters allow (at least ``8 * scale``; smaller frames are skipped in training)."""
    ordered = sorted(sides)
    q = ordered[len(ordered) // 4]
    unit = 4 * scale
    size = min(largest, (q // unit) * unit)
    if size < 8 * scale:
        raise ConfigError(f"frames too small to adapt on at x{scale}: a quarter are under "
                          f"{8 * scale} px (smallest {ordered[0]} px)")
    return size


@dataclass
class Scores:
    """Held-out PSNR (dB) under the camera's degradation and the clean one."""

    camera: float
    clean: float
    camera_bicubic: float
    clean_bicubic: float

    def gain_over(self, other: Scores) -> tuple[float, float]:
        return self.camera - other.camera, self.clean - other.clean


@dataclass
class AdaptResult:
    output: Path
    adapted: bool
    base: str
    base_scores: Scores
    scores: Scores
    steps: int
    minutes: float
    chosen: str
    card: Path
    log: list[str] = field(default_factory=list)


def _config(base_model, *, work: Path, camera: str, patch: int, batch_size: int, seed: int,
            minutes: float, n_train: int, lr: float, threads: int | None,
            val_max_size: int | None, base_source: str, camera_weight: float) -> Config:
    cfg = dict(base_model.config)
    for key in ("scale", "in_channels", "out_channels"):
        cfg.pop(key, None)
    repeat = max(1, math.ceil(4 * batch_size / n_train))
    held = str(work / "held")
    return Config(
        name="adapt", stage="psnr", seed=seed,
        model=ModelConfig(arch=base_model.arch, scale=base_model.scale,
                          in_channels=base_model.in_channels,
                          out_channels=base_model.out_channels, kwargs=cfg),
        data=DataConfig(
            train=str(work / "train"), val=held, patch_size=patch,
            batch_size=min(batch_size, n_train * repeat),
            degradation={"mix": [{"preset": camera, "weight": camera_weight},
                                 {"preset": "bicubic", "weight": 1 - camera_weight}]},
            val_degradation="bicubic", val_limit=None, val_max_size=val_max_size,
            num_workers=0, in_memory=True, repeat=repeat,
            extra_val={"camera": {"path": held, "degradation": camera}},
        ),
        train=TrainConfig(
            steps=10**9, lr=lr, schedule=ScheduleConfig(kind="constant", warmup_steps=20),
            ema_decay=0.995, amp=False, val_every=100, log_every=20, checkpoint_every=100,
            pretrained=base_source, max_minutes=minutes, threads=threads,
        ),
    )


def _scores(model, cfg: Config) -> Scores:
    from .data import ValidationDataset
    from .train import validate

    def one(preset: str) -> dict[str, float]:
        ds = ValidationDataset(cfg.data.val, scale=cfg.model.scale, preset=preset,
                               seed=cfg.seed, channels=cfg.model.in_channels,
                               max_size=cfg.data.val_max_size, limit=cfg.data.val_limit)
        return validate(model, ds, torch.device("cpu"))

    cam = one(cfg.data.extra_val["camera"]["degradation"])
    clean = one(cfg.data.val_degradation)
    return Scores(camera=cam["psnr"], clean=clean["psnr"], camera_bicubic=cam["bicubic_psnr"],
                  clean_bicubic=clean["bicubic_psnr"])


def _elapsed_minutes(run: Path) -> float:
    """Training minutes already spent in ``run`` (its last checkpoint), 0 for a new run."""
    state = run / "last.pt"
    if not state.is_file():
        return 0.0
    from .checkpoint import load_torch_file

    return float(load_torch_file(state).get("elapsed_s", 0.0)) / 60.0


def adapt(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *,
          scale: int = 4, minutes: float = 15.0, base: str | None = None,
          preset: str | os.PathLike | None = None, held_out: float = 0.25,
          work: str | os.PathLike | None = None, seed: int = 0, batch_size: int = 8,
          lr: float = 1e-4, camera_weight: float = CAMERA_WEIGHT,
          threads: int | None = None, val_max_size: int | None = 256,
          progress: bool = True, say: Callable[[str], None] = print) -> AdaptResult:
    """Adapt ``base`` (default: :data:`DEFAULT_BASE` for ``scale``) to the camera of the
    frames under ``inputs`` for ``minutes``; write ``output`` and its card. Rerunning with the
    same frames and work folder resumes (the budget counts the minutes already spent)."""
    from .calibrate import calibrate
    from .train import train

    output = Path(output)
    if output.suffix != ".safetensors":
        raise ConfigError(f"-o {output}: the adapted model is a .safetensors file")
    if minutes <= 0:
        raise ConfigError(f"--minutes must be positive, got {minutes}")
    if not 0 < camera_weight < 1:
        raise ConfigError(f"--camera-weight must be between 0 and 1, got {camera_weight}")
    frames, sides, skipped = readable_frames(collect_images(inputs))
    for line in skipped:
        say(f"skipped {line}")
    if output.resolve() in frames:
        raise ConfigError(f"-o {output} is one of the input frames")
    train_frames, held_frames = split_frames(frames, held_out)
    patch = patch_size_for(sides[: len(train_frames)], scale)
    base_name = base or DEFAULT_BASE.get(scale)
    if base_name is None:
        raise ConfigError(f"no shipped model for x{scale}; name one with --from")
    base_path = resolve_model_path(base_name)
    base_model = load_model(base_path)
    if base_model.scale != scale:
        raise ConfigError(f"--from {base_name} is a x{base_model.scale} model, not x{scale}")

    if output.resolve() == base_path.resolve():
        raise ConfigError(f"-o {output} is the base model's own file; write elsewhere")
    work = Path(work) if work is not None else output.with_suffix(".adapt")
    if work.is_dir() and any(work.iterdir()) and not (work / PLAN_FILE).is_file():
        raise ConfigError(f"--work {work} is a non-empty folder that adapt did not make; "
                          "give an empty or new one")
    work.mkdir(parents=True, exist_ok=True)
    plan = {"frames": [str(p) for p in frames], "held_out": [str(p) for p in held_frames],
            "base": str(base_path), "scale": scale, "seed": seed,
            "preset": str(preset) if preset else None, "camera_weight": camera_weight}
    plan_path = work / PLAN_FILE
    run = work / "run"
    if plan_path.is_file() and (run / "last.pt").is_file():
        old = json.loads(plan_path.read_text())
        if old != plan:
            raise ConfigError(f"{work} holds a run for other frames or settings; pass another "
                              "--work folder or delete it")
    plan_path.write_text(json.dumps(plan, indent=2))
    _link(train_frames, work / "train")
    _link(held_frames, work / "held")

    if preset is None:
        cal = calibrate(train_frames)
        camera_path = work / "camera.yaml"
        camera_path.write_text(yaml.safe_dump(cal.preset(name="camera", scale=scale),
                                              sort_keys=False, default_flow_style=None))
        calibration = cal.summary()
        say(cal.report(scale=scale))
    else:
        from .degradations import get_preset

        camera_path = Path(preset)
        calibration = dict(get_preset(str(camera_path)).config.get("measured") or {})
    camera = str(camera_path)

    spent = _elapsed_minutes(run)
    left = minutes - spent
    cfg = _config(base_model, work=work, camera=camera, patch=patch, batch_size=batch_size,
                  seed=seed, minutes=max(left, 1e-3), n_train=len(train_frames), lr=lr,
                  threads=threads, val_max_size=val_max_size, base_source=str(base_path),
                  camera_weight=camera_weight)

    # scored afresh on every run (seconds): the candidates are scored by this same code
    base_scores = _scores(base_model, cfg)
    say(f"base {base_name} on {len(held_frames)} held-out frame(s): camera "
        f"{base_scores.camera:.2f} dB, clean {base_scores.clean:.2f} dB "
        f"(bicubic {base_scores.camera_bicubic:.2f} / {base_scores.clean_bicubic:.2f})")

    lines: list[str] = []

    def report(row: dict[str, Any]) -> None:
        cam, clean = row.get("val_camera_psnr"), row.get("val_psnr")
        if cam is None or clean is None:
            return
        line = (f"step {row['step']}: held-out camera {cam:.2f} dB "
                f"({cam - base_scores.camera:+.2f} vs base), clean {clean:.2f} dB "
                f"({clean - base_scores.clean:+.2f} vs base)")
        lines.append(line)
        from tqdm import tqdm

        tqdm.write(line)

    steps = 0
    if left > 0:
        resume = (run / "last.pt").is_file()
        summary = train(cfg, run, resume=resume, progress=progress, on_validate=report)
        steps = int(summary["steps"])
    else:
        say(f"the {minutes:g}-minute budget is spent ({spent:.1f} min): choosing a checkpoint")
        steps = _last_step(run)

    candidates = {"base": (base_model, base_scores)}
    for label, file in (("best-clean", run / "best.safetensors"),
                        ("last", run / "model.safetensors")):
        if file.is_file():
            model = load_model(file)
            candidates[label] = (model, _scores(model, cfg))
            g_cam, g_clean = candidates[label][1].gain_over(base_scores)
            say(f"candidate {label}: held-out {g_clean:+.2f} dB clean, {g_cam:+.2f} dB camera "
                "over the base")
    chosen, best_gain = "base", 0.0
    for label, (_, sc) in candidates.items():
        if label == "base":
            continue
        g_cam, g_clean = sc.gain_over(base_scores)
        if g_cam >= 0 and g_clean >= 0 and (g_cam + g_clean) / 2 > best_gain:
            chosen, best_gain = label, (g_cam + g_clean) / 2
    model, scores = candidates[chosen]
    adapted = chosen != "base"
    spent_total = _elapsed_minutes(run)
    provenance = {
        "recipe": "adapt", "adapted_from": base_name, "adapted": adapted, "chosen": chosen,
        "train_frames": len(train_frames), "held_out_frames": len(held_frames),
        "degradation": cfg.data.degradation, "calibration": calibration, "steps": steps,
        "train_minutes": round(spent_total, 2),
        "held_out": {"base": base_scores.__dict__, "adapted": scores.__dict__},
    }
    if not adapted:
        # the base itself, with its own provenance kept under "base_provenance"
        from .checkpoint import read_metadata

        with contextlib.suppress(Exception):  # a foreign weights file has no provenance
            provenance["base_provenance"] = read_metadata(base_path).get("provenance", {})
    output.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, output, provenance=provenance)
    card = output.with_suffix(".md")
    atomic_write_bytes(card, _card(output, base_name, len(train_frames), len(held_frames),
                                   calibration, base_scores, scores, adapted, chosen, steps,
                                   spent_total, camera, camera_weight).encode())
    if adapted:
        g_cam, g_clean = scores.gain_over(base_scores)
        say(f"adapted ({chosen} checkpoint): held-out {g_clean:+.2f} dB clean, "
            f"{g_cam:+.2f} dB camera over {base_name}; wrote {output}")
    else:
        say(f"adaptation did not beat {base_name} on the held-out frames under both "
            f"degradations: {output} is the base model unchanged (see {card})")
    return AdaptResult(output=output, adapted=adapted, base=base_name,
                       base_scores=base_scores, scores=scores, steps=steps,
                       minutes=spent_total, chosen=chosen, card=card, log=lines)


def _last_step(run: Path) -> int:
    import csv

    log = run / "log.csv"
    if not log.is_file():
        return 0
    with open(log, newline="") as fh:
        return max((int(float(r["step"])) for r in csv.DictReader(fh) if r.get("step")),
                   default=0)


def _card(output: Path, base: str, n_train: int, n_held: int, calibration: dict,
          base_scores: Scores, scores: Scores, adapted: bool, chosen: str, steps: int,
          minutes: float, camera: str, camera_weight: float) -> str:
    def row(name: str, s: Scores) -> str:
        return (f"| {name} | {s.clean:.2f} ({s.clean - s.clean_bicubic:+.2f}) | "
                f"{s.camera:.2f} ({s.camera - s.camera_bicubic:+.2f}) |")

    verdict = (f"Adapted: the `{chosen}` checkpoint, better than the base under both "
               "degradations on the held-out frames." if adapted else
               "**Not adapted**: no checkpoint beat the base under both degradations on the "
               "held-out frames, so this file is the base model unchanged.")
    measured = {k: calibration.get(k) for k in ("pixel_noise", "column_stripe", "row_stripe",
                                                "blur_sigma", "bits", "jpeg_qualities")
                if k in calibration}
    return "\n".join([
        f"# {output.stem}", "",
        f"A camera-adapted model made by `irsrgan adapt` from `{base}`.", "",
        f"- Frames: {n_train} trained on, {n_held} held out (the last ones in name order).",
        f"- Training: {steps} steps, {minutes:.1f} min; LR made {camera_weight:.0%} by the "
        f"calibrated preset (`{camera}`) and {1 - camera_weight:.0%} by clean antialiased "
        "bicubic.",
        f"- Calibration (10th / 50th / 90th percentile over frames): "
        f"`{json.dumps(measured)}`", "",
        "Held-out PSNR in dB (gain over bicubic in brackets):", "",
        "| model | clean | camera |", "|---|---|---|",
        row(f"base `{base}`", base_scores), row("this file", scores), "",
        verdict, "",
        "Data: the user's own frames (their licence applies to this file); the base model's "
        "card names its training data and licence.", "",
    ])


__all__ = ["AdaptResult", "DEFAULT_BASE", "Scores", "adapt", "patch_size_for", "readable_frames",
           "split_frames"]
