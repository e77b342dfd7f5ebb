"""Our FLIR raw -> degC conversion against flyr's, file by file (flyr: the test extra).

    python scripts/compare_flyr.py [../shared/data/flir-radiometric/rjpeg]

Prints, for every R-JPEG, the largest |ours - flyr| in degC over its pixels (or why flyr cannot
read it) and the largest over all files; docs and README quote it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from irsrgan.flir import read_flir
from irsrgan.radiometry import raw_to_units

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import flyr

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        ROOT.parent / "shared" / "data" / "flir-radiometric" / "rjpeg")
    worst = 0.0
    for path in sorted(folder.glob("*.jpg")):
        raw, camera = read_flir(path.read_bytes(), path.name)
        ours = raw_to_units(raw, camera, "celsius").astype(np.float64)
        try:
            theirs = flyr.unpack(str(path)).celsius
        except ValueError as exc:
            print(f"{path.name}: flyr cannot read it ({str(exc)[:60]}); ours: "
                  f"{np.nanmin(ours):.2f} .. {np.nanmax(ours):.2f} degC")
            continue
        diff = float(np.nanmax(np.abs(ours - theirs)))
        worst = max(worst, diff)
        print(f"{path.name}: max |ours - flyr| = {diff:.5f} degC")
    print(f"largest difference: {worst:.5f} degC")


if __name__ == "__main__":
    main()
