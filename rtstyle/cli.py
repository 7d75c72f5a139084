"""The ``rtstyle`` command.

Each subcommand parses its arguments here and hands a config to its stage
modules; user errors surface as one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from .engines import ENGINE_CHOICES, EngineUnavailable

EXIT_ERROR, EXIT_INTERRUPTED = 1, 130
# What a user can cause (bad paths, bad files, missing packages): reported in one line.
USER_ERRORS = (OSError, ValueError, EngineUnavailable)


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--style", help="built-in style name (see `rtstyle styles`; default: starry)")
    g.add_argument("--model", type=Path, help="an ONNX style model file")
    p.add_argument("--engine", default="auto", choices=ENGINE_CHOICES, help="inference backend (default: auto)")
    p.add_argument("--threads", type=int, default=0, help="inference threads (default: all cores)")
    p.add_argument("--max-size", type=int, default=None,
                   help="stylize with the long side at most N pixels, then scale back (default: full size)")


def make_stylizer(a: argparse.Namespace):
    from .stylizer import Stylizer

    return Stylizer(a.style, model=a.model, engine=a.engine, threads=a.threads, max_size=a.max_size)


def cmd_styles(a: argparse.Namespace) -> int:
    from .registry import builtin_styles

    styles = builtin_styles()
    if not styles:
        print("no built-in styles installed")
    for name, s in styles.items():
        print(f"{name:14s} {s.title}")
    return 0


def cmd_image(a: argparse.Namespace) -> int:
    from .sinks import check_output, write_image
    from .sources import read_image
    from .frames import as_rgb8

    rgb, alpha = as_rgb8(read_image(a.input))
    check_output(a.input, a.output, a.overwrite)
    out = make_stylizer(a).stylize(rgb)
    write_image(a.output, out, alpha)
    print(f"wrote {a.output} ({out.shape[1]}x{out.shape[0]})", file=sys.stderr)
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    if importlib.util.find_spec("torch") is None:
        raise EngineUnavailable("training needs PyTorch: pip install 'rtstyle[train]'")
    from rtstyle_export.train import main as train_main

    return train_main(a.train_args)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="rtstyle", description="Real-time neural style transfer for video and cameras.")
    p.add_argument("--version", action="version", version=f"rtstyle {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("styles", help="list the built-in styles")
    s.set_defaults(func=cmd_styles)

    s = sub.add_parser("image", help="stylize one image")
    s.add_argument("input", type=Path)
    s.add_argument("output", type=Path)
    s.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_model_args(s)
    s.set_defaults(func=cmd_image)

    s = sub.add_parser("train", help="train a per-style network (needs torch); see `rtstyle train -h`",
                       add_help=False)
    s.add_argument("train_args", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("rtstyle: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as e:
        print(f"rtstyle: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
