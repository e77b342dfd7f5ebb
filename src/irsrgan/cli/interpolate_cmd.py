"""``irsrgan interpolate A B --alpha L -o C.safetensors``: network interpolation."""

from __future__ import annotations

import argparse

from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate", help="blend two models' weights (0 = A, 1 = B)",
        description="theta = (1 - alpha) * theta_A + alpha * theta_B, on the weights inference "
        "loads (EMA for training states). Architectures must match.",
    )
    p.add_argument("a", help="model A (e.g. the PSNR model)")
    p.add_argument("b", help="model B (e.g. the GAN model)")
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("-o", "--output", required=True, help="output .safetensors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import save_model
    from ..interpolate import interpolate_files

    model = interpolate_files(args.a, args.b, args.alpha)
    try:
        save_model(model, args.output, provenance={
            "interpolated_from": [str(args.a), str(args.b)], "alpha": args.alpha,
        })
    except OSError as exc:
        raise ConfigError(f"-o {args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {args.output} (alpha {args.alpha})")
    return 0
