"""The ``rtstyle`` command.

Each subcommand parses its arguments here and hands a config to its stage
modules; user errors surface as one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .engines import ENGINE_CHOICES, EngineUnavailable
from .presets import QUALITIES

EXIT_ERROR, EXIT_INTERRUPTED = 1, 130
# What a user can cause (bad paths, bad files, missing packages): reported in one line.
USER_ERRORS = (OSError, ValueError, EngineUnavailable)
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--style", help="built-in style name (see `rtstyle styles`; default: starry)")
    g.add_argument("--model", type=Path, help="an ONNX style model file")
    g.add_argument("--style-image", type=Path,
                   help="any painting as the style (distilled StyTr², the style is encoded once)")
    p.add_argument("--engine", default="auto", choices=ENGINE_CHOICES, help="inference backend (default: auto)")
    p.add_argument("--threads", type=int, default=0,
                   help="inference threads (default: all cores; webcam: all but one, left to capture and output)")
    p.add_argument("--max-size", type=int, default=None,
                   help="stylize with the long side at most N pixels, then scale back (default: full size)")
    p.add_argument("--quality", choices=QUALITIES, default=None,
                   help="speed/quality preset: network (full or slim student) and internal size, see README "
                        "(default: none, the full network at full size)")
    p.add_argument("--ort", action="append", default=[], metavar="NAME=VALUE",
                   help="ONNX Runtime session setting, repeatable: spinning=on|off, optimization=disable|basic|"
                        "extended|layout|all, memory_pattern=on|off, cpu_arena=on|off, parallel_execution=on|off")


def add_temporal_args(p: argparse.ArgumentParser, default: bool = True, flow_scale: float = 1.0) -> None:
    """Video and camera streams: reuse work and smooth across frames (rtstyle.temporal)."""
    from .flow import PRESETS
    from .temporal import DEFAULT_MECHANISMS, DEFAULT_PRESET, MECHANISMS

    p.add_argument("--temporal", action=argparse.BooleanOptionalAction, default=default,
                   help=f"feature reuse across frames and flicker reduction (default: {'on' if default else 'off'}; "
                        "--no-temporal stylizes every frame independently)")
    p.add_argument("--keyframe-interval", type=int, default=None, metavar="N",
                   help="run the full network at least every N frames (default: the style's own, else 6)")
    p.add_argument("--fade-frames", type=int, default=None, metavar="N",
                   help="a key frame's new strokes fade in over N frames, at most the key-frame interval "
                        "(default: the style's own, else the interval)")
    p.add_argument("--temporal-mechanisms", default=None, metavar="LIST",
                   help=f"which of {','.join(MECHANISMS)} to use (default: the style's own: "
                        f"{','.join(DEFAULT_MECHANISMS)} unless its card drops stabilize or adds contrast or keep)")
    p.add_argument("--flow-scale", type=float, default=flow_scale, metavar="S",
                   help=f"compute optical flow on frames scaled by S: smaller is faster, larger follows the "
                        f"strokes more closely (default: {flow_scale})")
    p.add_argument("--blend", type=float, default=None, metavar="W",
                   help="stabilize: weight of the previous picture, in [0, 1): higher is steadier, lower keeps "
                        "more texture (default: the style's own, the lightest that keeps flicker within 5x "
                        "the source video's)")
    p.add_argument("--flow-preset", default=None, choices=list(PRESETS),
                   help="DIS optical-flow preset the pictures are carried along: 'refined' follows the motion "
                        "more closely (steadier strokes) at ~3.5x the flow time (default: the style's own, "
                        f"else {DEFAULT_PRESET})")


def temporal_config(a: argparse.Namespace):
    """The TemporalConfig the temporal flags ask for; None for commands without them or --no-temporal."""
    if not getattr(a, "temporal", False):
        return None
    from .temporal import TemporalConfig

    extra = {"flow_scale": a.flow_scale, "flow_preset": a.flow_preset, "blend": a.blend,
             "keyframe_interval": a.keyframe_interval, "fade_frames": a.fade_frames}
    if a.temporal_mechanisms is None:  # the network's own choices (its card's "temporal")
        return TemporalConfig(**extra)
    return TemporalConfig.only([m.strip() for m in a.temporal_mechanisms.split(",") if m.strip()], **extra)


def engine_options(a: argparse.Namespace):
    """The EngineOptions --ort asks for (threads stay with --threads)."""
    from .engines import EngineOptions
    from .engines.options import with_settings

    return with_settings(EngineOptions(), getattr(a, "ort", []))


def make_stylizer(a: argparse.Namespace):
    from .stylizer import Stylizer

    return Stylizer(a.style, model=a.model, engine=a.engine, threads=a.threads, max_size=a.max_size,
                    style_image=getattr(a, "style_image", None), temporal=temporal_config(a),
                    quality=getattr(a, "quality", None), engine_options=engine_options(a))


def add_workers_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="stylize N frames at once, one inference thread each, output kept in order: throughput "
                        "when one frame cannot use every core (not with a temporal stage: --no-temporal for the "
                        "per-style networks; --threads then defaults to cores/N; default: without a temporal stage on "
                        "2+ cores, 2 for the small networks of --quality fast and --style-image, else 1)")


def make_stylizers(a: argparse.Namespace) -> list:
    """One Stylizer per worker (each with its own engine), the cores split between them: --workers, or
    else as many as the network pays for (``Stylizer.parallel_frames``, known once one is built)."""
    if a.workers is not None and a.workers < 1:
        raise ValueError("--workers must be at least 1")
    if a.workers is None:
        first = make_stylizer(a)
        a.workers = first.parallel_frames
        if a.workers == 1:
            return [first]
    if a.workers > 1 and not a.threads:
        a.threads = max(1, (os.cpu_count() or 1) // a.workers)  # N workers x all cores would oversubscribe
    first = make_stylizer(a)
    if a.workers > 1 and first.temporal is not None:  # a stage's frames depend on each other
        raise ValueError("--workers N stylizes frames independently: add --no-temporal")
    return [first] + [make_stylizer(a) for _ in range(a.workers - 1)]


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
    stylizer = make_stylizer(a)
    for note in stylizer.notes:
        print(f"rtstyle: {note}", file=sys.stderr)
    out = stylizer.stylize(rgb)
    write_image(a.output, out, alpha)
    # The engine is named so that what --engine auto picked is visible (`video` says it in its summary).
    print(f"wrote {a.output} ({out.shape[1]}x{out.shape[0]}, {stylizer.engine.describe()})", file=sys.stderr)
    return 0


def cmd_video(a: argparse.Namespace) -> int:
    from .pipeline import run
    from .sinks import EncoderConfig, VideoSink, check_output
    from .sources import VideoSource
    from .stats import Progress, run_report, summary_line

    def say(msg: str) -> None:
        print(f"rtstyle: {msg}", file=sys.stderr)

    if a.stats_json and not a.stats_json.parent.is_dir():
        raise FileNotFoundError(f"--stats-json folder does not exist: {a.stats_json.parent}")
    with VideoSource(a.input) as source:
        check_output(a.input, a.output, a.overwrite)
        stylizers = make_stylizers(a)
        stylizer = stylizers[0]
        with VideoSink(a.output, source.info, EncoderConfig(crf=a.crf, preset=a.preset)) as sink:
            if not a.quiet:
                for note in sink.notes + stylizer.notes:
                    say(note)
            progress = Progress(source.info.frames, enabled=not a.quiet and sys.stderr.isatty())
            stop = threading.Event()
            with _ctrl_c_sets(stop, lambda msg: progress.message(f"rtstyle: {msg}")):
                result = run(source, stylizers, sink, stop=stop, on_progress=progress.update)
            progress.close(result.frames)
    report = run_report(result.frames, result.wall_s, stylizer.engine.name, stylizer.style.name, result.stats,
                        workers=len(stylizers))
    if stylizer.temporal is not None:  # frames the whole network painted: what --keyframe-interval trades
        report["keyframes"] = stylizer.temporal.keyframes
    if a.stats_json:
        a.stats_json.write_text(json.dumps(report, indent=2) + "\n")
    if not a.quiet:
        say(summary_line(report))
    if result.interrupted:
        total = f" of {source.info.frames}" if source.info.frames else ""
        say(f"interrupted: wrote {a.output} with the first {result.frames}{total} frames (partial)"
            if result.frames else "interrupted before any frame was stylized: nothing written")
        return EXIT_INTERRUPTED
    if not a.quiet:
        say(f"wrote {a.output} ({result.frames} frames, {source.info.width}x{source.info.height})")
    return 0


@contextmanager
def _ctrl_c_sets(stop: threading.Event, say: Callable[[str], None]) -> Iterator[None]:
    """Ctrl-C asks the pipeline to stop instead of raising mid-write: the output is then
    flushed and closed so it plays. Further presses are ignored until that is done."""
    pressed = threading.Event()

    def on_sigint(signum, frame) -> None:
        pressed.set()
        if stop.is_set():
            say("finishing the output file, please wait")
        else:
            say("stopping: finishing the output file")
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        # After a press the command is only closing its output and exiting: a second press landing
        # now (a run can stop within milliseconds) must not surface as a traceback at shutdown.
        signal.signal(signal.SIGINT, signal.SIG_IGN if pressed.is_set() else previous)


def crf_value(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError("must be 0..51")
    return value


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

    s = sub.add_parser("video", help="stylize a video file (keeps every frame, timing, size and audio)")
    s.add_argument("input", type=Path)
    s.add_argument("output", type=Path, help="output video (H.264; the container follows the extension, e.g. .mp4)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_model_args(s)
    s.add_argument("--crf", type=crf_value, default=18, help="x264 quality, 0..51, lower is better (default: 18)")
    s.add_argument("--preset", default="veryfast", choices=X264_PRESETS,
                   help="x264 speed/size trade-off (default: veryfast, cheap next to the network)")
    s.add_argument("--stats-json", type=Path, help="write frames, fps and per-stage latency percentiles here")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar, notes or summary on stderr")
    add_temporal_args(s)
    add_workers_arg(s)
    s.set_defaults(func=cmd_video)

    from .webcam import add_webcam_parser

    add_webcam_parser(sub, add_model_args, add_temporal_args, add_workers_arg)

    s = sub.add_parser("train", help="train a per-style network (needs torch); see `rtstyle train -h`",
                       add_help=False)
    s.add_argument("train_args", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_train)

    from .export_cmd import add_parser as add_export_parser

    add_export_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from .memory import keep_freed_memory

    keep_freed_memory()  # frame-sized buffers are reused instead of page-faulted in per frame
    parser = build_parser()
    # `train` hands its whole argument list (its own -h included) to the trainer's parser.
    args, rest = parser.parse_known_args(argv)
    if args.command == "train":
        args.train_args = rest + args.train_args
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
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
