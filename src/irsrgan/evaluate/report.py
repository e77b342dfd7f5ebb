"""The report folder: per-image CSV, summary JSON, box plots, the interpolation plot,
comparison grids and ``index.html``.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import metrics
from ..image import atomic_write_bytes
from .items import EvalItem
from .methods import BICUBIC
from .scores import METRIC_KEYS, _finite, _lpips_distance, _lpips_i_defined, _lpips_min_size

#: Zoomed crop of the comparison grids: a quarter of the shorter side, within these bounds.
GRID_CROP_MIN, GRID_CROP_MAX = 24, 96
#: HTML / printed table of means: (key, header, format).
TABLE_COLUMNS = (
    ("psnr", "PSNR dB", "{:.3f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("psnr_gain", "ΔPSNR dB", "{:+.3f}"),
    ("ssim_gain", "ΔSSIM", "{:+.4f}"),
    ("beats_bicubic_psnr", "beats bicubic", "{:.0%}"),
    ("hf_ratio", "HF ratio", "{:.3f}"),
    ("stripe", "stripe RMS", "{:.1e}"),
    ("lpips", "LPIPS", "{:.4f}"),
    ("lpips_i", "LPIPS-I", "{:.3f}"),
    ("lpips_i_ref", "LPIPS-I-ref", "{:.3f}"),
    ("mae", "MAE", "{:.4g}"),
    ("rmse", "RMSE", "{:.4g}"),
    ("flicker", "flicker", "{:.2e}"),
    ("flicker_ratio", "flicker ×bicubic", "{:.3f}"),
    ("strength", "denoise", "{:.2f}"),
    ("seconds_per_image", "s / image", "{:.3f}"),
)


def detail_crop(hr: torch.Tensor, size: int, border: int) -> tuple[int, int]:
    """Top-left ``(y, x)`` of the ``size`` x ``size`` window of highest local Laplacian energy
    of ``hr`` (``(1, 1, H, W)``), kept ``border`` pixels away from the edges."""
    inner = metrics.crop(hr, border) if border else hr
    energy = metrics.laplacian(inner.double()).pow(2)
    h, w = inner.shape[-2:]
    size = min(size, h, w)
    # window sums from an integral image: O(H W) whatever the window size
    integral = F.pad(energy[0, 0].cumsum(0).cumsum(1), (1, 0, 1, 0))
    box = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
           + integral[:-size, :-size])
    idx = int(torch.argmax(box.flatten()))
    y, x = divmod(idx, box.shape[-1])
    return y + border, x + border


def _grid_crop_size(h: int, w: int, border: int) -> int:
    size = min(GRID_CROP_MAX, max(GRID_CROP_MIN, min(h, w) // 4))
    return max(1, min(size, h - 2 * border, w - 2 * border))


def format_value(v: float | None, fmt: str) -> str:
    """A table cell: ``fmt`` applied to ``v``; ``-`` for a missing value, ``nan``/``inf``/``-inf``
    for a non-finite one."""
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return fmt.format(v)


@torch.no_grad()
def draw_grid(
    item: EvalItem, srs: dict[str, torch.Tensor], scores: dict[str, dict[str, float]],
    path: Path, *, border: int, lpips_fn=None, title: str = "",
) -> dict:
    """HR and each method side by side (whole image, then the zoomed crop of highest HR
    detail), labelled with PSNR and LPIPS-I (HF ratio without LPIPS) on the crop and on the
    whole image. Returns the crop and the crop's values."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    h, w = item.hr.shape[-2:]
    size = _grid_crop_size(h, w, border)
    y0, x0 = detail_crop(item.hr, size, border)
    sl = (..., slice(y0, y0 + size), slice(x0, x0 + size))
    hr_crop = item.hr[sl]
    use_lpips = (lpips_fn is not None and _lpips_i_defined(lpips_fn)
                 and size >= _lpips_min_size(lpips_fn) and all("lpips_i" in v
                                                              for v in scores.values()))
    second = "LPIPS-I" if use_lpips else "HF"
    crop_values: dict[str, dict] = {}
    for label, sr in srs.items():
        c = sr[sl]
        vals = {"psnr": float(metrics.psnr(item.to_metric(c), item.to_metric(hr_crop))[0])}
        if use_lpips:
            d = _lpips_distance(lpips_fn, c, hr_crop)
            vals["lpips_i"] = float(metrics.lpips_i(c, hr_crop, d)[0])
        else:
            vals["hf_ratio"] = float(metrics.hf_energy_ratio(c, hr_crop)[0])
        crop_values[label] = vals

    cols = [("HR (reference)", item.hr)] + list(srs.items())
    ncol = len(cols)
    # layout in inches: suptitle, column titles, whole images, gap, crops, labels
    col_w, pad, head, titles, gap, foot = 2.6, 0.1, 0.55, 0.3, 0.12, 0.5
    full_h = col_w * h / w
    fig_w = ncol * col_w + (ncol + 1) * pad
    fig_h = head + titles + full_h + gap + col_w + foot
    fig = Figure(figsize=(fig_w, fig_h), dpi=110)
    key2 = "lpips_i" if use_lpips else "hf_ratio"
    fmt2 = "{:.2f}" if use_lpips else "{:.3f}"
    for j, (label, img) in enumerate(cols):
        left = (pad + j * (col_w + pad)) / fig_w
        top = fig.add_axes((left, (foot + col_w + gap) / fig_h, col_w / fig_w, full_h / fig_h))
        top.imshow(img[0, 0].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
        top.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), size, size, fill=False, edgecolor="#ff3b30",
                                linewidth=1.2))
        top.set_title(label, fontsize=9)
        top.set_xticks([])
        top.set_yticks([])
        bottom = fig.add_axes((left, foot / fig_h, col_w / fig_w, col_w / fig_h))
        bottom.imshow(img[0, 0][y0:y0 + size, x0:x0 + size].numpy(), cmap="gray", vmin=0.0,
                      vmax=1.0, interpolation="nearest")
        bottom.set_xticks([])
        bottom.set_yticks([])
        if label in crop_values:
            cv, whole = crop_values[label], scores[label]
            text = (f"crop:  PSNR {format_value(cv['psnr'], '{:.2f}')}  {second} "
                    f"{format_value(cv[key2], fmt2)}\n"
                    f"whole: PSNR {format_value(whole['psnr'], '{:.2f}')}  {second} "
                    f"{format_value(whole.get(key2), fmt2)}")
        else:
            text = f"crop {size}x{size} at ({x0}, {y0})\n(zoomed, nearest)"
        bottom.set_xlabel(text, fontsize=7.5, family="monospace")
    fig.suptitle(
        (title + "\n" if title else "")
        + f"PSNR in dB; 'crop' = on the zoomed crop shown, 'whole' = on the whole image "
        f"({border} px border removed)",
        fontsize=9, y=1 - 0.08 / fig_h, va="top",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return {"crop": {"x": x0, "y": y0, "size": size}, "values": crop_values}


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def plot_boxes(rows: list[dict], labels: list[str], key: str, path: Path, unit: str) -> None:
    """Per-image values of ``key`` per method (left) and their gain over bicubic (right)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.2 * len(labels) + 3.0), 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    for ax, k, lab, names in (
        (axes[0], key, f"{key.upper()}{unit}", labels),
        (axes[1], f"{key}_gain", f"gain over bicubic{unit}", [x for x in labels if x != BICUBIC]),
    ):
        data = [[r[k] for r in rows if r["method"] == m and _finite(r.get(k))] for m in names]
        keep = [(m, d) for m, d in zip(names, data, strict=True) if d]
        if keep:
            ax.boxplot([d for _, d in keep], showmeans=True)
            ax.set_xticks(range(1, len(keep) + 1))
            ax.set_xticklabels([m for m, _ in keep], rotation=30, ha="right", fontsize=8)
        if k.endswith("_gain"):
            ax.axhline(0.0, color="#888", linewidth=0.8, linestyle="--")
        ax.set_ylabel(lab)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{key.upper()} per image (box: quartiles, line: median, triangle: mean)",
                 fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_perception_distortion(
    sweep_points: list[dict], means: dict, path: Path, *, ends: tuple[str, str] = ("A", "B")
) -> None:
    """PSNR against HF energy ratio (and against LPIPS-I when there) along the sweep."""
    from matplotlib.figure import Figure

    xs_keys = [("hf_ratio", "HF energy ratio SR/HR (1 = as sharp as HR)")]
    if all(_finite(means[p["method"]].get("lpips_i")) for p in sweep_points):
        xs_keys.append(("lpips_i", "LPIPS-I (seed's, higher = 'better')"))
    fig = Figure(figsize=(5.2 * len(xs_keys), 4.4), dpi=110)
    axes = np.atleast_1d(fig.subplots(1, len(xs_keys)))
    for ax, (xk, xlabel) in zip(axes, xs_keys, strict=True):
        pts = [(p["alpha"], means[p["method"]].get(xk), means[p["method"]].get("psnr"))
               for p in sweep_points]
        pts = [(a, x, y) for a, x, y in pts if _finite(x) and _finite(y)]
        if pts:
            ax.plot([x for _, x, _ in pts], [y for _, _, y in pts], "o-", color="#1f77b4",
                    label="interpolated models")
            for i, (a, x, y) in enumerate(pts):  # alternate sides: neighbours can be close
                ax.annotate(f"α={a:g}", (x, y), textcoords="offset points",
                            xytext=(6, 4) if i % 2 else (-6, -12),
                            ha="left" if i % 2 else "right", fontsize=8)
        bic = means.get(BICUBIC, {})
        if _finite(bic.get(xk)) and _finite(bic.get("psnr")):
            ax.plot([bic[xk]], [bic["psnr"]], "s", color="#d62728", label="bicubic")
        if xk == "hf_ratio":
            ax.axvline(1.0, color="#888", linestyle="--", linewidth=0.8, label="HR sharpness")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PSNR dB (mean)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Perception-distortion: network interpolation α\n"
                 f"(0 = {ends[0]}, 1 = {ends[1]})", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _json_safe(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return _json_safe(v.item())
    if isinstance(v, Path):
        return str(v)
    return v


def write_csv(rows: list[dict], path: Path) -> list[str]:
    """``per_image.csv``: full-precision floats (``repr``), empty cells where not computed."""
    keys = [k for k in METRIC_KEYS if any(k in r for r in rows)]
    columns = ["image", "method", *keys]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([repr(r[c]) if isinstance(r.get(c), float) else r.get(c, "")
                         for c in columns])
    atomic_write_bytes(path, buf.getvalue().encode())
    return columns


def _table(headers: list[str], body: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1400px;
padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:0.3em 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:0.4em 0.8em;margin:0.4em 0}
code{background:#f4f4f4;padding:0 3px}
.good{color:#0a7d2c}.bad{color:#b00020}
"""


def write_html(summary: dict, rows: list[dict], path: Path) -> None:
    """``index.html``: settings, notes, table of means, plots, grids, provenance, links."""
    esc = html.escape
    s = summary["settings"]
    files = summary["files"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>irsrgan evaluate: "
             f"{esc(str(s['data']))}</title><style>{_CSS}</style></head><body>",
             f"<h1>irsrgan evaluate — x{s['scale']}, "
             f"{esc(str(s['degradation'] or 'paired LR'))}</h1>"]
    kv = [
        ("data", s["data"]), ("images", s["n_images"]), ("scale", s["scale"]),
        ("LR", f"paired LR folder {s['paired_lr']}" if s["paired_lr"]
         else f"degradation preset {s['degradation']}, seed {s['seed']}"),
        ("max size", f"{s['max_size']} px a side" if s["max_size"] else "whole frames"),
        ("limit", s["limit"] if s["limit"] else "none: every image"),
        ("border cropped", f"{s['crop_border']} px"), ("device", s["device"]),
        ("tile", f"{s['tile']} px" if s["tile"] else
         "none: whole images" if s["tile"] == 0 else "chosen from free memory"),
        ("backend", s["backend"] or "none: bicubic only"),
        ("self-ensemble", "8 flips/rotations" if s.get("ensemble") else "off"),
        ("metrics", s["convention"]),
        ("elapsed", f"{summary['elapsed_s']:.1f} s"),
    ]
    parts.append("<h2>Settings</h2>" + _table(
        ["setting", "value"], [[esc(k), esc(str(v))] for k, v in kv], "kv"))
    if summary["notes"]:
        parts.append("<h2>Notes</h2>" + "".join(
            f"<div class='note'>{esc(n)}</div>" for n in summary["notes"]))

    means = summary["means"]
    cols = [(k, h, f) for k, h, f in TABLE_COLUMNS
            if any(means[m].get(k) is not None for m in means)]
    body = []
    for label, entry in means.items():
        row = [esc(label)]
        for k, _, f in cols:
            v = entry.get(k)
            cell = format_value(v, f) if v is not None else "-"
            if k in ("psnr_gain", "ssim_gain") and v is not None and label != BICUBIC:
                cell = f"<span class='{'good' if v > 0 else 'bad'}'>{cell}</span>"
            row.append(cell)
        body.append(row)
    parts.append(
        f"<h2>Means over {s['n_images']} images</h2>"
        "<p>Gains are over bicubic upscaling of the same LR (per image, then averaged); "
        "<i>beats bicubic</i> is the share of images where the PSNR gain is positive.</p>"
        + _table(["method"] + [h for _, h, _ in cols], body)
    )
    parts.append("<h2>Distributions</h2>")
    for key in ("psnr_box", "ssim_box"):
        if key in files:
            parts.append(f"<img src='{esc(files[key])}' alt='{key}'>")
    if "perception_distortion" in files:
        sw = summary["sweep"]
        parts.append(
            f"<h2>Network interpolation sweep</h2><p>α = 0: {esc(sw['a'])}, α = 1: "
            f"{esc(sw['b'])}.</p><img src='{esc(files['perception_distortion'])}' "
            "alt='perception-distortion'>"
        )
        sweep_rows = []
        for p in sw["points"]:
            e = means[p["method"]]
            sweep_rows.append([format_value(p["alpha"], "{:g}"), esc(p["method"]),
                               format_value(e.get("psnr"), "{:.3f}"),
                               format_value(e.get("ssim"), "{:.4f}"),
                               format_value(e.get("hf_ratio"), "{:.3f}"),
                               format_value(e.get("lpips_i"), "{:.3f}")])
        parts.append(_table(["α", "method", "PSNR dB", "SSIM", "HF ratio", "LPIPS-I"],
                            sweep_rows))
    if files.get("grids"):
        parts.append(
            "<h2>Comparison grids</h2><p>Top: whole images (red box: the crop). Bottom: the "
            "region of highest HR detail (maximum local Laplacian energy), zoomed with nearest "
            "neighbour. Labels: <b>crop</b> = computed on the crop shown, <b>whole</b> = on the "
            "whole image.</p>")
        for g in files["grids"]:
            parts.append(f"<h3>{esc(g['image'])}</h3><img src='{esc(g['file'])}' "
                         f"alt='grid {esc(g['image'])}'>")
    prov_rows = []
    for label, info in summary["methods"].items():
        prov = {k: v for k, v in info.items() if k not in ("kind", "alpha")}
        prov_rows.append([esc(label), esc(info["kind"]), _describe_html(prov)])
    parts.append("<h2>Methods and provenance</h2>" + _table(
        ["method", "kind", "provenance"], prov_rows, "kv"))
    labels = list(means)
    images = list(dict.fromkeys(r["image"] for r in rows))
    by = {(r["image"], r["method"]): r for r in rows}
    pivot = [[esc(im)] + [format_value(by.get((im, m), {}).get("psnr"), "{:.2f}") for m in labels]
             for im in images]
    parts.append("<details><summary>PSNR per image (dB)</summary>"
                 + _table(["image"] + labels, pivot) + "</details>")
    parts.append(f"<p>Data: <a href='{esc(files['per_image'])}'>per-image values (CSV)</a>, "
                 f"<a href='{esc(files['summary'])}'>summary (JSON)</a>.</p></body></html>")
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))


def _describe(value: Any) -> str:
    """A provenance value as short text: ``key = value`` pairs, nested ones in parentheses;
    what is not known (``None``) left out."""
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_describe(v)}" if not isinstance(v, dict) else
                         f"{k} ({_describe(v)})" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(_describe(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _describe_html(prov: dict) -> str:
    """One line per known provenance entry (``None`` left out), ``-`` when none is known."""
    lines = [f"<b>{html.escape(str(k))}</b>: {html.escape(_describe(v))}"
             for k, v in prov.items() if v is not None and v != {}]
    return "<br>".join(lines) or "-"


def write_report(summary: dict, rows: list[dict], out: Path) -> dict:
    """Write the CSV, the plots, ``summary.json`` and ``index.html`` under ``out``;
    ``summary["files"]`` gets their names relative to ``out``."""
    files = summary.setdefault("files", {})
    files["per_image"] = "per_image.csv"
    files["summary"] = "summary.json"
    write_csv(rows, out / files["per_image"])
    labels = list(summary["means"])
    files["psnr_box"] = "psnr_box.png"
    plot_boxes(rows, labels, "psnr", out / files["psnr_box"], " (dB)")
    files["ssim_box"] = "ssim_box.png"
    plot_boxes(rows, labels, "ssim", out / files["ssim_box"], "")
    if summary.get("sweep"):
        sw = summary["sweep"]
        points = ([{"alpha": 0.0, "method": sw["a"]}] if 0.0 not in
                  [p["alpha"] for p in sw["points"]] else [])
        points += sw["points"]
        if 1.0 not in [p["alpha"] for p in sw["points"]]:
            points.append({"alpha": 1.0, "method": sw["b"]})
        points.sort(key=lambda p: p["alpha"])
        sw["points"] = points
        files["perception_distortion"] = "perception_distortion.png"
        plot_perception_distortion(points, summary["means"], out / files["perception_distortion"],
                                   ends=(sw["a"], sw["b"]))
    safe = _json_safe(summary)
    atomic_write_bytes(out / files["summary"],
                       (json.dumps(safe, indent=2, allow_nan=False) + "\n").encode())
    write_html(safe, rows, out / "index.html")
    return safe


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "image"


def sets_table_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The per-set, per-protocol table as Markdown (gains over bicubic of the same LR)."""
    lines = ["| set | protocol | method | images | PSNR dB | ΔPSNR dB | ΔSSIM | beats bicubic |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["method"] == BICUBIC:
            continue
        lines.append(
            f"| {r['set']} | {r['protocol']} | {r['method']} | {r['n_images']} | "
            f"{format_value(r['psnr'], '{:.2f}')} | {format_value(r['psnr_gain'], '{:+.2f}')} | "
            f"{format_value(r['ssim_gain'], '{:+.4f}')} | "
            f"{format_value(r['beats_bicubic'], '{:.0%}')} |")
    return "\n".join(lines)
