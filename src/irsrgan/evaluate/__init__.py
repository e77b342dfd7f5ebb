"""Evaluation: bicubic and every model on the same LR, scored per image, written as a report.

:func:`evaluate` reads each HR image of a folder (gray: colour is converted with BT.601 luma;
cropped to a multiple of the scale at the bottom/right; optionally centre-cropped to
``max_size``), makes its LR once (a seeded degradation preset, or a file of a paired LR folder),
upscales it with bicubic and with every model through one :class:`~irsrgan.inference.Upscaler`
each, scores every result, and writes a report folder:

* ``per_image.csv``: one row per image and method (long format);
* ``summary.json``: settings, model provenance, means per method, gains over bicubic;
* ``psnr_box.png``, ``ssim_box.png``: per-image distributions (absolute and gain);
* ``grids/*.png``: HR, bicubic and each model side by side with a zoomed crop of the region of
  highest HR detail, labelled with values on the crop *and* on the whole image;
* ``perception_distortion.png`` for a network-interpolation sweep;
* ``index.html``: one page that shows all of it (relative links only).

Conventions (the data README's "protocol for quality numbers"):

* **LR**: each image is degraded with the generator :func:`irsrgan.data.file_generator`
  ``(seed, name)``, ``name`` being its path relative to the folder (its file name when one
  file is given), the one :class:`~irsrgan.data.ValidationDataset` and ``irsrgan degrade``
  use: every method sees the same LR, every run with the same seed makes the same LR, the LR
  equals training validation's for the same seed, folder and window, and equals the file
  ``irsrgan degrade --seed`` writes (before its rounding to the file's bit depth).
* **Model space**: pixels enter models in the unit range of :func:`irsrgan.image.to_tensor`
  (8-bit: ``/255``; 16-bit and float: the HR file's min..max). Every SR, bicubic included, is
  clamped to [0, 1] there, as the model's output range.
* **PSNR / SSIM**: gray, ``data_range`` 1 on the scale of the HR's bit depth (uint8 /255,
  uint16 /65535, int16 its range; float: the HR's min..max), SSIM gaussian 11x11 sigma 1.5,
  ``crop_border = scale``: exactly :func:`irsrgan.metrics.unit_pair`'s convention, so the
  numbers equal ``irsrgan metrics`` on the same arrays. The PSNR *gain* over bicubic does not
  depend on the data range.
* **HF ratio, LPIPS, LPIPS-I**: in model space (LPIPS needs images that use the unit range),
  after the same border crop. LPIPS is LPIPS-vgg v0.1; without its weights (nothing is
  downloaded) the columns are left out and the report says why.
* **Radiometric error** (16-bit and float HR only): MAE / RMSE / bias of the SR mapped back to
  native units (raw counts, degrees) against the HR's native values, same border crop.

The package, one concern a module:

- :mod:`.methods`: the methods compared (:func:`build_methods`, :class:`Method`);
- :mod:`.items`: the images and their LR (:class:`EvalItem`, :func:`load_item`,
  :func:`degraded_item`, :func:`find_pairs`);
- :mod:`.scores`: the metrics of one image (:func:`score_image`) and their means
  (:func:`summarise`);
- :mod:`.report`: the files of the report (CSV, JSON, plots, grids, HTML);
- :mod:`.run`: :func:`evaluate` and :func:`evaluate_sets`, which tie them together.
"""

from .items import LUMA, EvalItem, degraded_item, find_pairs, gray_native, load_item
from .methods import BICUBIC, BackendName, Method, ModelSpec, build_methods, parse_alpha_list
from .report import (
    GRID_CROP_MAX,
    GRID_CROP_MIN,
    TABLE_COLUMNS,
    detail_crop,
    draw_grid,
    plot_boxes,
    plot_perception_distortion,
    sets_table_markdown,
    write_csv,
    write_html,
    write_report,
)
from .run import HR_FLICKER, evaluate, evaluate_sets
from .scores import METRIC_KEYS, LpipsOption, score_image, summarise

__all__ = [
    "EvalItem", "Method", "build_methods", "detail_crop", "draw_grid", "evaluate",
    "evaluate_sets", "find_pairs", "sets_table_markdown",
    "load_item", "parse_alpha_list", "plot_boxes", "plot_perception_distortion", "score_image",
    "summarise", "write_csv", "write_html", "write_report",
    # the pieces of the modules above, importable from here as before the split
    "BICUBIC", "GRID_CROP_MAX", "GRID_CROP_MIN", "HR_FLICKER", "LUMA", "METRIC_KEYS",
    "TABLE_COLUMNS", "BackendName", "LpipsOption", "ModelSpec", "degraded_item", "gray_native",
]
