"""Per-image comparison of two methods in one evaluation report: on how many images A beats B.

    python scripts/paired_wins.py reports/exp1-bicubic exp1-rrdbnet exp1-crdbnet

Reads REPORT/per_image.csv (written by `irsrgan evaluate`) and prints, for the metric (PSNR by
default), the share of images where A is higher than B, the mean difference A - B and its range
over the images.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--metric", default="psnr")
    args = ap.parse_args()
    values: dict[str, dict[str, float]] = {args.a: {}, args.b: {}}
    with open(args.report / "per_image.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["method"] in values:
                values[row["method"]][row["image"]] = float(row[args.metric])
    for name, per_image in values.items():
        if not per_image:
            raise SystemExit(f"{args.report}/per_image.csv: no rows for method {name!r}")
    images = sorted(values[args.a].keys() & values[args.b].keys())
    diffs = [values[args.a][k] - values[args.b][k] for k in images]
    wins = sum(d > 0 for d in diffs) / len(diffs)
    print(f"{args.report.name}: {args.a} above {args.b} in {args.metric} on {wins:.0%} of "
          f"{len(diffs)} images, mean difference {sum(diffs) / len(diffs):+.3f} "
          f"({min(diffs):+.3f} to {max(diffs):+.3f})")


if __name__ == "__main__":
    main()
