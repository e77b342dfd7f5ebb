"""Regenerate the tables of docs/RESULTS.md (and README.md) from the evaluation reports.

Each table sits between ``<!-- table:REPORT -->`` and ``<!-- end -->`` markers and is rebuilt
from ``reports/REPORT/summary.json`` (written by scripts/run_evaluations.sh); a
``<!-- sets:REPORT -->`` table from ``reports/REPORT/sets.json`` (``irsrgan evaluate`` over
several sets and protocols, e.g. scripts/eval_sets.sh):

    python scripts/results_tables.py docs/RESULTS.md README.md
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (("psnr", "PSNR dB", "{:.2f}"), ("psnr_gain", "ΔPSNR vs bicubic", "{:+.2f}"),
           ("ssim", "SSIM", "{:.4f}"), ("ssim_gain", "ΔSSIM", "{:+.4f}"),
           ("beats_bicubic_psnr", "beats bicubic (PSNR)", "{:.0%}"),
           ("hf_ratio", "HF ratio SR/HR", "{:.3f}"), ("stripe", "stripe RMS", "{:.1e}"))


def table(report: str) -> str:
    summary = json.loads((ROOT / "reports" / report / "summary.json").read_text())
    s = summary["settings"]
    lines = [f"*{s['n_images']} images of `{Path(s['data']).name}`, x{s['scale']}, LR by "
             f"`{s['degradation']}` (seed {s['seed']}); `reports/{report}`*", "",
             "| method | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for method, means in summary["means"].items():
        cells = []
        for key, _, fmt in COLUMNS:
            v = means.get(key)
            cells.append(fmt.format(v) if isinstance(v, (int, float)) and math.isfinite(v)
                         else "–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sets_table(report: str) -> str:
    from irsrgan.evaluate import sets_table_markdown

    rows = json.loads((ROOT / "reports" / report / "sets.json").read_text())["rows"]
    scales = {json.loads(p.read_text())["settings"]["scale"]
              for p in (ROOT / "reports" / report).glob("*/summary.json")}
    scale = scales.pop() if len(scales) == 1 else 4  # each set's report says; x4 if none
    return (f"*x{scale}, frames centre-cropped to at most 256 px, gains over bicubic of the same "
            f"LR (seed 0); `reports/{report}/sets.md`*\n\n" + sets_table_markdown(rows))


def _rebuilt(m: re.Match, build, file: str) -> str:
    """The table between the markers rebuilt, or left as it is (with a note) when its report
    is not on this machine (reports/ is not in git)."""
    if not (ROOT / "reports" / m.group(2) / file).is_file():
        print(f"  kept: reports/{m.group(2)}/{file} not found", file=sys.stderr)
        return m.group(0)
    return m.group(1) + build(m.group(2)) + "\n" + m.group(3)


def main() -> None:
    for name in sys.argv[1:] or ["docs/RESULTS.md"]:
        path = Path(name)
        text = path.read_text()
        for kind, build, file in (("table", table, "summary.json"),
                                  ("sets", sets_table, "sets.json")):
            text = re.sub(rf"(<!-- {kind}:([\w.-]+) -->\n).*?(<!-- end -->)",
                          lambda m, build=build, file=file: _rebuilt(m, build, file),
                          text, flags=re.S)
        path.write_text(text)
        print(f"updated {path}")


if __name__ == "__main__":
    main()
