"""The server's memory under decompression bombs: RSS before and after N requests of each kind.

Sends each bomb of the fuzz corpus (tests/fuzz_corpus.py: 512 samples per pixel over 1024 x
1024 as in the review, 60000 x 60000 PNG / TIFF / BMP headers, a 65500 x 65500 JPEG frame,
multi-page and CMYK TIFFs) ``--repeat`` times to the HTTP API (in-process, FastAPI's
TestClient, the server's default limits) and prints a table: status code, RSS after the
requests and the growth over the idle RSS. The review's bar: within 200 MB of idle.

    python benchmarks/bomb_memory.py --repeat 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOMBS = ("spp512.tiff", "huge.tiff", "ihdr-huge.png", "sof-huge.jpg", "huge.bmp",
         "multipage.tiff", "cmyk.tiff")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    import torch
    from fastapi.testclient import TestClient

    from irsrgan.checkpoint import save_model
    from irsrgan.models import create_model
    from irsrgan.server import ServerConfig, create_app
    from tests.fuzz_corpus import image_corpus

    corpus = dict(image_corpus())
    model = ROOT / ".bomb-memory-model.safetensors"
    torch.manual_seed(0)
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), model)
    proc = psutil.Process()
    try:
        config = ServerConfig(models=(str(model),), include_bundled=False, device="cpu",
                              backend="torch", preload=False)
        with TestClient(create_app(config)) as client:
            ok = client.post("/api/upscale", files={"image": ("g.png", corpus["gray8.png"])})
            assert ok.status_code == 200, ok.text
            idle = proc.memory_info().rss
            print(f"idle RSS after one normal request: {idle / 2**20:.0f} MiB "
                  f"(max_pixels {config.max_pixels})")
            print(f"| bomb | status | RSS after {args.repeat} requests MiB | growth MiB |")
            print("|---|---|---|---|")
            worst = 0
            for name in BOMBS:
                codes = set()
                for _ in range(args.repeat):
                    r = client.post("/api/upscale", files={"image": (name, corpus[name])})
                    codes.add(r.status_code)
                rss = proc.memory_info().rss
                worst = max(worst, rss - idle)
                print(f"| {name} | {', '.join(map(str, sorted(codes)))} | {rss / 2**20:.0f} | "
                      f"{(rss - idle) / 2**20:+.0f} |")
            print(f"largest growth over idle: {worst / 2**20:.0f} MiB")
    finally:
        model.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
