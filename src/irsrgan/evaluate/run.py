""":func:`evaluate`: every method on the same LR of every item, scored, written as a report;
:func:`evaluate_sets`: several sets and protocols in one table.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import metrics
from ..degradations import Preset, get_preset
from ..denoise import Strength
from ..errors import ConfigError, ImageError, IrsrganError
from ..image import atomic_write_bytes
from .items import _rel_name, find_pairs, load_item
from .methods import BackendName, ModelSpec, _consistency_variants, _unique, build_methods
from .report import _json_safe, _safe_name, draw_grid, sets_table_markdown, write_report
from .scores import LpipsOption, _build_lpips, _finite, score_image, summarise

#: the HR frames' own flicker, measured beside the methods' for a clip
HR_FLICKER = "HR"


def _is_clip(data: Path) -> bool:
    """A video, TIFF stack or FLIR SEQ/CSQ file (frame folders are folders of images here)."""
    if not data.is_file():
        return False
    from ..sequences import sniff_sequence

    return sniff_sequence(data) not in (None, "folder")


def _grid_indices(n: int, k: int) -> list[int]:
    if k <= 0 or n == 0:
        return []
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _consistent(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """``sr`` (1, 1, H, W), model space, with every s x s block's mean equal to ``lr``."""
    from ..consistency import project_block_mean

    x = project_block_mean(sr[0, 0].double().numpy(), lr[0, 0].double().numpy(), scale,
                           low=0.0, high=1.0)
    return torch.from_numpy(x).float()[None, None]


def evaluate(
    models: Sequence[ModelSpec],
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    scale: int | None = None,
    degradation: str | os.PathLike | Preset = "bicubic",
    seed: int = 0,
    limit: int | None = None,
    max_size: int | None = None,
    paired_lr: str | os.PathLike | None = None,
    model_b: ModelSpec | None = None,
    sweep_alphas: Sequence[float] = (),
    lpips: LpipsOption = "auto",
    lpips_weights: str | os.PathLike | None = None,
    backbone_weights: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    tile: int | None = None,
    backend: BackendName = "auto",
    ensemble: bool = False,
    consistency: bool = False,
    denoise: Sequence[Strength] = (),
    robust: ModelSpec | None = None,
    anchor: bool = True,
    grid: int = 3,
    progress: bool = False,
    temporal: float = 0.0,
) -> dict:
    """Score bicubic and every model on a folder of HR images and write the report to ``out``.

    Args:
        models: model files (any format :func:`~irsrgan.checkpoint.load_model` reads), bundled
            names or generator modules; each is labelled by its file stem or name.
        data: folder of HR images (searched recursively) or one image.
        out: report folder (created; files in it are overwritten).
        scale: the SR factor; default the models' (all must agree).
        degradation: preset making the LR (name, YAML path or :class:`Preset`); not used with
            ``paired_lr``.
        seed: the LR of each image uses ``file_generator(seed, name)``
            (:func:`irsrgan.data.file_generator`).
        limit: only the first ``limit`` images (sorted by path).
        max_size: centre-crop HR to at most this many pixels a side (a multiple of ``scale``).
        paired_lr: folder of LR images matched to HR by relative name without suffix.
        model_b, sweep_alphas: also score ``interpolate_models(models[0], model_b, alpha)`` at
            each alpha (0 = ``models[0]``, 1 = ``model_b``), and ``model_b`` itself.
        lpips: ``"auto"`` (LPIPS-vgg when its weights are available offline, else left out
            with a note), ``"off"``, or an LPIPS module / ``(sr, hr) -> (B,)`` callable.
        lpips_weights, backbone_weights: explicit LPIPS linear / VGG16 weight files (then a
            missing file is an error).
        device, tile, backend, ensemble: passed to every
            :class:`~irsrgan.inference.Upscaler`.
        consistency: also score every method corrected for measurement consistency
            (:func:`~irsrgan.consistency.project_block_mean` in model space, clipped to
            [0, 1]), labelled ``METHOD+consistency``.
        denoise, robust: also score the first model's denoise pair at these strengths
            (``"auto"`` or numbers in [0, 1]; :class:`~irsrgan.denoise.DenoiseUpscaler`), the
            robust end being ``robust`` or the partner the first model's file names; the
            strength each image used is in ``per_image.csv``.
        grid: number of images with a comparison grid (spread evenly over the set).
        progress: show a tqdm progress bar over images.
        temporal: for a clip, every model's frames go through
            :class:`~irsrgan.sequences.temporal.TemporalBlend` of this strength (0: off).

    Returns:
        The summary written to ``summary.json`` (non-finite numbers as ``None``).

    Raises:
        ConfigError, ImageError, CheckpointError, WeightsMissingError: with what was wrong.
    """
    t_start = time.perf_counter()
    data, out = Path(data), Path(out)
    paired = Path(paired_lr) if paired_lr is not None else None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed (--seed) must be an integer, got {seed!r}")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                 or max_size < 1):
        raise ConfigError(f"max_size (--max-size) must be a positive integer, got {max_size!r}")
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 0:
        raise ConfigError(f"grid (--grid) must be an integer >= 0, got {grid!r}")
    clip = _is_clip(data)
    if clip and paired is not None:
        raise ConfigError("paired_lr (--paired-lr) is for folders of images, not for a clip")
    pairs = [] if clip else find_pairs(data, paired, limit)
    preset = None if paired is not None else get_preset(degradation)
    methods, scale, sweep = build_methods(
        models, scale=scale, model_b=model_b, sweep_alphas=sweep_alphas, device=device,
        tile=tile, backend=backend, ensemble=ensemble, denoise=denoise, robust=robust,
        anchor=anchor)
    methods = methods + (_consistency_variants(methods) if consistency else [])
    if max_size is not None and max_size < scale:
        raise ConfigError(f"max_size (--max-size) must be at least the scale {scale}, "
                          f"got {max_size}")
    notes: list[str] = []
    dev = methods[1].upscaler.device if len(methods) > 1 else torch.device("cpu")
    lpips_fn = _build_lpips(lpips, lpips_weights, backbone_weights, dev, notes)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IrsrganError(f"out (--out) {out}: cannot create the folder: {exc}") from None

    from tqdm.auto import tqdm

    blends: dict = {}
    if clip:
        from ..sequences.evaluate import clip_items

        names, items = clip_items(data, limit, scale=scale, preset=preset, seed=seed,
                                  max_size=max_size)
        sources = ((item, None) for item in items)
        meters = {m.label: metrics.FlickerMeter() for m in methods}
        meters[HR_FLICKER] = metrics.FlickerMeter()
        if temporal:
            from ..sequences.temporal import TemporalBlend

            blends = {m.label: TemporalBlend(temporal) for m in methods if m.upscaler}
    else:
        names = [_rel_name(p, data) for p, _ in pairs]
        sources = ((load_item(index, hr_path, data, scale=scale, preset=preset, seed=seed,
                              max_size=max_size, lr_path=lr_path), lr_path)
                   for index, (hr_path, lr_path) in enumerate(pairs))
        meters = {}
    if temporal and not clip:
        raise ConfigError("temporal (--temporal) needs a clip as data (--data)")
    grid_at = set(_grid_indices(len(names), grid))
    rows: list[dict] = []
    grids: list[dict] = []
    dtypes: set[str] = set()
    for index, (item, lr_path) in enumerate(
        tqdm(sources, total=len(names), desc="evaluate", unit="img", disable=not progress)
    ):
        notes.extend(item.notes)
        dtypes.add(str(item.dtype))
        srs: dict[str, torch.Tensor] = {}
        took: dict[str, float] = {}
        for m in methods:
            t0 = time.perf_counter()
            base = m.provenance.get("consistency_of")
            if base is not None:  # the method's output, made consistent: its time plus this
                srs[m.label] = _consistent(srs[base], item.lr, scale)
                m.seconds += time.perf_counter() - t0 + took[base]
                continue
            if m.upscaler is None:
                sr = F.interpolate(item.lr, size=tuple(item.hr.shape[-2:]), mode="bicubic",
                                   align_corners=False)
            else:
                sr = m.upscaler.upscale(item.lr)
                if m.label in blends:
                    sr = blends[m.label](item.lr, sr)
            srs[m.label] = sr.float().cpu().clamp(0.0, 1.0)
            took[m.label] = time.perf_counter() - t0
            m.seconds += took[m.label]
            if srs[m.label].shape != item.hr.shape:
                raise ImageError(
                    f"{m.label} gave {tuple(srs[m.label].shape)} for {item.name}, expected "
                    f"{tuple(item.hr.shape)}"
                )
        for label, meter in meters.items():
            meter.update((item.hr if label is HR_FLICKER else srs[label])[0], item.lr[0])
        scores = score_image(item, srs, border=scale, lpips_fn=lpips_fn)
        for m in methods:
            if m.kind == "denoise":
                scores[m.label]["strength"] = m.upscaler.last_strength
                if f"{m.label}+consistency" in scores:
                    scores[f"{m.label}+consistency"]["strength"] = m.upscaler.last_strength
        for label, values in scores.items():
            rows.append({"image": item.name, "method": label, **values})
        if index in grid_at:
            rel = f"grids/grid_{index:03d}_{_safe_name(Path(item.name).stem)}.png"
            info = draw_grid(item, srs, scores, out / rel, border=scale, lpips_fn=lpips_fn,
                             title=f"{item.name} — x{scale}, "
                             + (f"paired LR {lr_path.name}" if lr_path else
                                f"{preset.name} (seed {seed})"))
            grids.append({"image": item.name, "file": rel, **info})

    means, model_summary = summarise(rows, methods, len(names))
    hr_flicker = meters.pop(HR_FLICKER).result() if meters else None
    for label, meter in meters.items():
        fl = meter.result()
        means[label].update(flicker=fl.flicker, flicker_ratio=fl.ratio,
                            static_fraction=fl.static_fraction)
    if meters:
        notes.append(
            "flicker: RMS change between consecutive SR frames on pixels where the LR does "
            "not move (model space); flicker ×bicubic divides it by the same for bicubic "
            "(1 = as steady as bicubic; irsrgan.metrics.FlickerMeter). Each frame's LR is "
            "degraded with its own seed (the clip's name and frame index), as independent "
            "sensor noise. The HR "
            f"frames themselves score {hr_flicker.ratio:.3f} x bicubic on the same pixels.")
    if any(np.dtype(d) != np.uint8 for d in dtypes):
        notes.append(
            "MAE/RMSE/bias are in native units (raw counts or degrees) of the 16-bit/float "
            "images; PSNR/SSIM of 16-bit images use the full 16-bit range (the protocol), so "
            "they run high on data that spans a small part of it: compare gains, not levels."
        )
    if lpips_fn is not None and not any("lpips" in r for r in rows):
        notes.append("LPIPS left out: images are smaller than the backbone needs after the "
                     "border crop.")
    if any(not _finite(r.get("psnr")) for r in rows):
        notes.append("means leave out non-finite values (inf PSNR: identical images; nan: "
                     "undefined, e.g. LPIPS-I where Var(Laplacian(SR)) <= 1)")
    settings = {
        "data": str(data.resolve()),
        "scale": scale,
        "degradation": preset.name if preset is not None else None,
        "degradation_config": preset.config if preset is not None else None,
        "paired_lr": str(paired.resolve()) if paired is not None else None,
        "seed": seed,
        "n_images": len(names),
        "images": names,
        "limit": limit,
        "max_size": max_size,
        "crop_border": scale,
        "device": str(dev),
        "tile": tile,
        "ensemble": ensemble,
        "consistency": consistency,
        "temporal": temporal if clip else None,
        "backend": ", ".join(sorted({m.upscaler.backend for m in methods if m.upscaler}))
        or None,
        "lpips": (("LPIPS-vgg v0.1" if getattr(lpips_fn, "calibrated", True)
                   else "uncalibrated (lin=False)") if lpips_fn is not None else None),
        "convention": "gray; PSNR/SSIM data range 1 on the bit depth's scale (uint8 /255, "
        "uint16 /65535, float: HR min..max), SSIM gaussian 11x11 sigma 1.5, border = scale; "
        "SR clamped to [0, 1] in model space",
        "lr_seed_rule": "file_generator(seed, name)",
    }
    summary = {
        "settings": settings,
        "methods": {m.label: {"kind": m.kind, "alpha": m.alpha, **m.provenance}
                    for m in methods},
        "means": means,
        "models": model_summary,
        "sweep": sweep,
        "notes": list(dict.fromkeys(notes)),
        "files": {"grids": grids},
        "hr_flicker": hr_flicker._asdict() if hr_flicker is not None else None,
        "elapsed_s": time.perf_counter() - t_start,
    }
    return write_report(summary, rows, out)


def _set_name(path: Path) -> str:
    """A validation set's short name: its folder (``hit-uav/val`` -> ``val``)."""
    return path.name if path.is_dir() else path.stem


def evaluate_sets(
    models: Sequence[ModelSpec],
    sets: Mapping[str, str | os.PathLike] | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    degradations: Sequence[str | os.PathLike] = ("bicubic",),
    **kwargs: Any,
) -> dict:
    """:func:`evaluate` on every set under every degradation (protocol), each into
    ``out/<set>-<protocol>/``, and one table of them all: ``out/sets.json`` and
    ``out/sets.md`` (per set, protocol and method: PSNR, gains over bicubic, share of images
    better than bicubic).

    Args:
        sets: ``{name: folder}``, or folders (named by :func:`_set_name`).
        degradations: preset names or YAML files, one protocol each.
        kwargs: the rest of :func:`evaluate`'s options, the same for every run.
    """
    out = Path(out)
    if not isinstance(sets, Mapping):
        named: dict[str, str | os.PathLike] = {}
        for p in sets:
            named[_unique(_set_name(Path(p)), set(named), str(p))] = p
        sets = named
    if not sets:
        raise ConfigError("evaluate_sets: give at least one data set")
    rows = []
    for set_name, folder in sets.items():
        for deg in degradations:
            protocol = get_preset(deg).name
            summary = evaluate(models, folder, out / _safe_name(f"{set_name}-{protocol}"),
                               degradation=deg, **kwargs)
            for label, entry in summary["means"].items():
                model = summary["models"].get(label, {})
                rows.append({
                    "set": set_name, "protocol": protocol, "method": label,
                    "n_images": summary["settings"]["n_images"], "psnr": entry.get("psnr"),
                    "psnr_gain": model.get("psnr_gain"), "ssim_gain": model.get("ssim_gain"),
                    "beats_bicubic": model.get("beats_bicubic_psnr"),
                    "strength": entry.get("strength"),
                })
    table = {"sets": {k: str(v) for k, v in sets.items()},
             "protocols": [get_preset(d).name for d in degradations], "rows": rows}
    atomic_write_bytes(out / "sets.json", json.dumps(_json_safe(table), indent=1).encode())
    atomic_write_bytes(out / "sets.md", (sets_table_markdown(rows) + "\n").encode())
    return table
