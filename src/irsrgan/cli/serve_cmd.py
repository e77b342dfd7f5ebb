"""``irsrgan serve``: the local web app and HTTP API (needs ``pip install 'irsrgan[web]'``)."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from ..bundled import DEFAULT_MODEL

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="run the web app and HTTP API",
        description="Serve a page for upscaling thermal images and an HTTP API (/api, "
        "OpenAPI at /docs). Bound to localhost by default; there is no authentication.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", action="append", default=[], metavar="NAME_OR_PATH",
                   help="a weights file or bundled model name to offer (repeatable; the first "
                   f"is the default; bundled models are always offered, default {DEFAULT_MODEL})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", type=int, default=None,
                   help="LR tile size when a request gives none (default: from free memory)")
    p.add_argument("--overlap", type=int, default=16, help="LR tile overlap (default 16)")
    p.add_argument("--workers", type=int, default=2,
                   help="jobs upscaled at the same time (default 2); others wait in a queue")
    p.add_argument("--max-upload-mb", type=float, default=64.0,
                   help="largest upload in MiB (default 64)")
    p.add_argument("--max-pixels", type=int, default=4096 * 1024,
                   help="largest input image in pixels, checked before decoding "
                   "(default 4194304 = 2048x2048)")
    p.add_argument("--max-clip-mb", type=float, default=256.0,
                   help="largest clip upload in MiB (default 256)")
    p.add_argument("--max-clip-frames", type=int, default=600,
                   help="most frames in a clip (default 600), checked from the container's "
                   "header, else while reading")
    p.add_argument("--max-clip-seconds", type=float, default=60.0,
                   help="longest clip in seconds (default 60), checked as --max-clip-frames")
    p.add_argument("--max-clip-pixels", type=int, default=1280 * 1024,
                   help="largest clip frame in pixels, checked before decoding (default "
                   "1310720 = 1280x1024)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """True for addresses and names that only this computer can reach."""
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..server import ServerConfig, create_app
    except ImportError as exc:
        print(f"irsrgan serve: needs the web extras ({exc.name} is missing): "
              "pip install 'irsrgan[web]'", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"irsrgan serve: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    local = is_loopback(args.host)
    config = ServerConfig(
        models=tuple(args.model), device=args.device, tile=args.tile, overlap=args.overlap,
        workers=args.workers, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=args.max_pixels, max_clip_bytes=int(args.max_clip_mb * 1024 * 1024),
        max_clip_frames=args.max_clip_frames, max_clip_seconds=args.max_clip_seconds,
        max_clip_pixels=args.max_clip_pixels,
        allowed_hosts=(*LOCAL_NAMES, args.host) if local else None,
    )
    app = create_app(config)  # IrsrganError (no models, bad device) -> exit status 2 in main
    shown = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
    url = f"http://{shown}:{args.port}/"
    if not local:
        print(f"irsrgan serve: warning: listening on {args.host}, reachable from other "
              "computers; the server has no authentication", file=sys.stderr)
    catalog = app.state.catalog
    print(f"irsrgan serve: {url} (API docs {url}docs), models: {', '.join(catalog)}; "
          "Ctrl+C stops", file=sys.stderr)
    if args.open:
        import threading
        import webbrowser

        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=args.host.strip("[]"), port=args.port, log_level="warning")
    return 0
