"""Stylization speed per engine and resolution on this machine.

    python benchmarks/fps.py [--quick] [--video PATH] [--frames 24] [--runs 5]
                             [--engines onnxruntime,torch] [--precisions fp32,fp16,int8]
                             [--sizes 256x256,640x360]

For each engine x precision it runs (ENGINE_PRECISIONS) x resolution, with the
built-in ``starry`` network; engines that cannot run here (no package, no GPU)
are listed as skipped with the reason, and onnx-fp16/onnx-int8 files missing
from engines/ are exported first:

* model only: ``engine.run`` on one 1x3xHxW batch, one warm-up call, then the
  median of ``--runs`` calls (fewer at 1280x720 and above: ~seconds each here);
* pipeline: the first ``--frames`` frames of a real clip through the same
  ``rtstyle.pipeline.run`` as ``rtstyle video`` (decode -> Stylizer -> H.264
  encode to a temporary file, audio left out), resized to the resolution in the
  source stage, so "decode" includes that resize; per-stage p50/p95 and
  end-to-end fps;
* GFLOP per frame: multiply-adds of every Conv, from the ONNX graph with shapes
  inferred at that input size (ONNX Runtime's symbolic shape inference: plain
  ONNX inference cannot see through the exported reflection pads), times 2.
  Norms, activations, pads and resizes are not counted (a few % of the work);
* achieved GFLOP/s (model only) next to the machine's float32 peak, measured
  as the best of a few 2048x2048 matmuls in numpy and in ONNX Runtime.

Prints a table and writes ``benchmarks/results/fps.json`` (all numbers, not
committed) and ``fps.md`` (the table, committed). The machine is shared, so
the load average at the start is recorded with the results.

    python benchmarks/fps.py --presets [--preset-size 640x480] [--frames 24] [--threads N] [--ort NAME=VALUE]

instead reports each ``--quality`` preset (fast, balanced, best) on the
built-in style: ``Stylizer.stylize_timed`` on the clip's first --frames frames
at --preset-size (one warm-up frame first), p50/p95 ms per stage
(preprocess, inference, upsample, postprocess) and of the whole call, then the
same Stylizer in the file pipeline (decode -> stylize -> encode) for its fps.
Writes ``fps_presets.json`` and ``fps_presets.md``, with the load average
before and after.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rtstyle.engines import BACKENDS, EngineUnavailable, available, unavailable_reason  # noqa: E402
from rtstyle.engines.cache import engine_dir  # noqa: E402
from rtstyle.frames import to_batch  # noqa: E402
from rtstyle.pipeline import Frame, run  # noqa: E402
from rtstyle.registry import builtin_styles  # noqa: E402
from rtstyle.sinks import VideoSink  # noqa: E402
from rtstyle.sources import VideoSource  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402

SIZES = ((256, 256), (640, 360), (640, 480), (1280, 720))
QUICK_SIZES = ((256, 256), (640, 360))
DEFAULT_VIDEO = ROOT.parent / "shared/data/video/bunny.mp4"
STYLE = "starry"
# Which model precisions each engine runs. fp32 is the shipped style file (FP16-stored weights,
# float32 arithmetic); onnx-fp16 / onnx-int8 exports are ONNX Runtime's; the TensorRT engines
# take the shipped file and build FP16 themselves.
ENGINE_PRECISIONS = {"onnxruntime": ("fp32", "fp16", "int8"), "torch": ("fp32",), "cuda": ("fp32", "fp16"),
                     "ort-tensorrt": ("fp16",), "tensorrt": ("fp16",), "torch-tensorrt": ("fp16",)}
EXPORT_FORMAT = {"fp16": "onnx-fp16", "int8": "onnx-int8"}
PRECISIONS = ("fp32", "fp16", "int8")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    video: Path = DEFAULT_VIDEO
    frames: int = 24
    runs: int = 5
    engines: tuple[str, ...] = tuple(BACKENDS)
    precisions: tuple[str, ...] = PRECISIONS
    sizes: tuple[tuple[int, int], ...] = SIZES


class ResizedClip:
    """The first ``frames`` frames of a video at ``width x height``: the pipeline source at any size."""

    def __init__(self, source: VideoSource, width: int, height: int, frames: int):
        self.source, self.size, self.frames = source, (width, height), frames
        self.info = dataclasses.replace(source.info, width=width, height=height, frames=frames,
                                        passthrough=(), display_matrix=None)

    def __iter__(self):
        n = 0
        for item in self.source:
            if not isinstance(item, Frame):
                continue  # audio packets: the benchmark measures the picture path
            if n == self.frames:
                return
            if item.image.shape[1::-1] != self.size:
                item.image = cv2.resize(item.image, self.size, interpolation=cv2.INTER_AREA)
            yield item
            n += 1


def conv_gflop(model_path: Path, width: int, height: int) -> float:
    """2 x multiply-adds of all Conv nodes at a 1x3xHxW input."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(model_path))
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 3, height, width)):
        dim.ClearField("dim_param")
        dim.dim_value = value
    model = SymbolicShapeInference.infer_shapes(model)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in (*model.graph.value_info, *model.graph.input, *model.graph.output)}
    shapes.update({init.name: list(init.dims) for init in model.graph.initializer})
    macs = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            cout, cin_per_group, kh, kw = shapes[node.input[1]]
            n, _, ho, wo = shapes[node.output[0]]
            if not all((cout, cin_per_group, kh, kw, ho, wo)):
                raise RuntimeError(f"shape inference left {node.name} incomplete")
            macs += n * cout * ho * wo * cin_per_group * kh * kw
    return 2 * macs / 1e9


def matmul_peak_gflops(n: int = 2048, tries: int = 5) -> dict[str, float]:
    """Best-of-``tries`` float32 n x n matmul, in numpy (BLAS) and ONNX Runtime."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    flop = 2 * n ** 3
    out = {}

    def best(fn) -> float:
        fn()  # warm-up: thread pools, packing buffers
        times = []
        for _ in range(tries):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return flop / min(times) / 1e9

    out["numpy"] = best(lambda: a @ b)
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("MatMul", ["A", "B"], ["Y"])], "matmul",
            [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "AB"],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, n])])
        # IR version pinned: a newer onnx package writes versions an older runtime refuses.
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        so = ort.SessionOptions()
        so.intra_op_num_threads = os.cpu_count() or 1
        session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        out["onnxruntime"] = best(lambda: session.run(None, {"A": a, "B": b}))
    except ImportError:
        pass
    return out


def model_latency_ms(stylizer: Stylizer, image: np.ndarray, runs: int) -> float:
    """Median engine.run time, called from a worker thread as in the pipeline: on this machine
    torch eager runs ~5x slower when called from the main thread (ONNX Runtime does not care)."""
    batch = to_batch(image)
    times: list[float] = []

    def measure() -> None:
        stylizer.engine.run(batch)  # warm-up: allocations, kernel selection
        for _ in range(runs):
            t = time.perf_counter()
            stylizer.engine.run(batch)
            times.append(time.perf_counter() - t)

    worker = threading.Thread(target=measure, name="bench-model")
    worker.start()
    worker.join()
    if len(times) != runs:
        raise RuntimeError("the model run failed (see the thread's traceback above)")
    return statistics.median(times) * 1e3


def pipeline_run(stylizer: Stylizer, video: Path, width: int, height: int, frames: int, folder: Path) -> dict:
    with VideoSource(video) as source:
        clip = ResizedClip(source, width, height, frames)
        with VideoSink(folder / f"bench_{width}x{height}.mp4", clip.info) as sink:
            result = run(clip, stylizer, sink)
    return {"frames": result.frames, "wall_s": result.wall_s, "fps": result.frames / result.wall_s,
            "stages": result.stats.summary()}


def first_frame(video: Path) -> np.ndarray:
    with VideoSource(video) as source:
        return next(item.image for item in source if isinstance(item, Frame))


def engine_skip_reason(name: str) -> str | None:
    if name not in BACKENDS:
        return f"unknown engine (known: {', '.join(BACKENDS)})"
    return unavailable_reason(name)


def model_for(engine: str, precision: str) -> Path:
    """The model file an (engine, precision) row runs; ONNX Runtime's fp16/int8 files are exported
    into engines/ on first use (int8 calibrates on data/content/train: minutes)."""
    shipped = builtin_styles()[STYLE].path
    if engine not in ("onnxruntime", "cuda") or precision == "fp32":
        return shipped
    fmt = EXPORT_FORMAT[precision]
    path = engine_dir() / f"{STYLE}{'.fp16' if precision == 'fp16' else '.int8'}.onnx"
    if not path.is_file():
        if not available("torch"):
            raise EngineUnavailable(f"{path} not found and exporting it needs torch: rtstyle export --style "
                                    f"{STYLE} --format {fmt}")
        from export.formats import ExportJob, export, load_net

        print(f"exporting {path} ({fmt}) ...", flush=True)
        name, net, source = load_net(STYLE)
        export(fmt, ExportJob(name, net, source, engine_dir(), calib_dir=ROOT.parent / "shared/data/content/train"),
               path)
    return path


def bench(cfg: BenchConfig) -> dict:
    started = time.strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores; measuring matmul peak ...", flush=True)
    peak = matmul_peak_gflops()
    print("  " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peak.items()), flush=True)
    frame = first_frame(cfg.video)
    rows, skipped = [], {}
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs_of = [(name, prec) for name in cfg.engines for prec in cfg.precisions
                   if prec in ENGINE_PRECISIONS.get(name, PRECISIONS)]
        for name, precision in runs_of:
            label = f"{name} {precision}"
            reason = engine_skip_reason(name)
            stylizer = None
            if reason is None:
                try:
                    stylizer = Stylizer(model=model_for(name, precision), engine=name)
                except EngineUnavailable as e:
                    reason = str(e)
            if reason:
                skipped[label] = reason
                print(f"skip {label}: {reason}", flush=True)
                continue
            for width, height in cfg.sizes:
                gflop = conv_gflop(model_for("torch", "fp32"), width, height)  # same network at every precision
                runs = cfg.runs if width * height < 1280 * 720 else max(1, min(cfg.runs, 3))
                image = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
                ms = model_latency_ms(stylizer, image, runs)
                pipe = pipeline_run(stylizer, cfg.video, width, height, cfg.frames, Path(tmp))
                row = {"engine": name, "precision": precision, "model": stylizer.style.path.name,
                       "engine_detail": stylizer.engine.describe(), "width": width,
                       "height": height, "gflop_per_frame": gflop, "model_ms": ms, "model_runs": runs,
                       "model_fps": 1e3 / ms, "gflops": gflop / ms * 1e3, "pipeline": pipe}
                rows.append(row)
                print(format_row(row, max(peak.values())), flush=True)
    return {
        "date": started,
        "machine": machine(),
        "load_average_at_start": round(load, 2),
        "video": str(cfg.video),
        "style": STYLE,
        "matmul_peak_gflops": peak,
        "skipped": skipped,
        "rows": rows,
    }


def machine() -> dict:
    import av
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
                "av": av.__version__, "opencv": cv2.__version__}
    if available("torch"):
        import torch

        versions["torch"] = torch.__version__
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions}


HEADER = ("| engine | precision | size | GFLOP/frame | model ms | model fps | GFLOP/s | % of peak | pipeline fps "
          "| decode p50/p95 | pre | inference | post | encode | total p50/p95 (ms) |")


def format_row(r: dict, peak: float) -> str:
    s = r["pipeline"]["stages"]

    def q(stage: str) -> str:
        return f"{s[stage]['p50_ms']:.0f}/{s[stage]['p95_ms']:.0f}"

    return (f"| {r['engine']} | {r.get('precision', 'fp32')} | {r['width']}x{r['height']} | {r['gflop_per_frame']:.1f} | {r['model_ms']:.0f} "
            f"| {r['model_fps']:.2f} | {r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}% "
            f"| {r['pipeline']['fps']:.2f} | {q('decode')} | {q('preprocess')} | {q('inference')} "
            f"| {q('postprocess')} | {q('encode')} | {q('total')} |")


def markdown(results: dict, cfg: BenchConfig) -> str:
    peak = results["matmul_peak_gflops"]
    m = results["machine"]
    load = results["load_average_at_start"]
    # The 1-minute load average lags by about a minute, so it flags, it does not prove, contention.
    busy = (f" **The 1-minute load average was {load} on {m['cores']} cores at the start: if other work was "
            "running, these numbers are pessimistic and % of peak (peak and model timed at different "
            "moments) can even exceed 100%.**") if load > 0.5 * m["cores"] else ""
    lines = [
        "# Stylization speed (`python benchmarks/fps.py`)",
        "",
        f"{results['date']}, {m['cpu']}, {m['cores']} cores, load average {load} at the start, "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "." + busy,
        "",
        f"Network: built-in `{results['style']}` (Johnson et al.); precision fp32 is the shipped file "
        "(float32 arithmetic), fp16/int8 the `rtstyle export` onnx-fp16/onnx-int8 files (ONNX Runtime's CPU provider "
        "computes the fp16 graph in float32: it has no x86 fp16 Conv). float32 matmul peak (2048x2048, best of 5): "
        + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peak.items()) + ".",
        "",
        f"Model: median of {cfg.runs} `engine.run` calls after one warm-up (at most 3 at 1280x720). GFLOP/frame: "
        "2 x Conv multiply-adds from ONNX shape inference at that size; GFLOP/s and % of peak are for the model "
        "alone. Pipeline: `rtstyle.pipeline.run` (decode -> Stylizer -> libx264 veryfast crf 18), "
        f"first {cfg.frames} frames of `{Path(results['video']).name}` resized to the size in the source stage "
        "(included in decode), stage latencies p50/p95 in ms; total is a frame's age from decode to encoded, "
        "queueing included (the file pipeline keeps up to 8 frames in each queue).",
        "",
        HEADER,
        "|" + "---|" * (HEADER.count("|") - 1),
    ]
    lines += [format_row(r, max(peak.values())) for r in results["rows"]]
    for name, reason in results["skipped"].items():
        lines.append(f"\nSkipped {name}: {reason}")
    return "\n".join(lines) + "\n"


PRESET_STAGES = ("preprocess", "inference", "upsample", "postprocess")


def clip_frames(video: Path, width: int, height: int, frames: int) -> list[np.ndarray]:
    with VideoSource(video) as source:
        return [f.image for f in ResizedClip(source, width, height, frames)]


def preset_row(quality: str, frames: list[np.ndarray], video: Path, threads: int, options, folder: Path) -> dict:
    """One --quality preset: Stylizer stage latencies on ``frames``, then its file-pipeline fps."""
    from rtstyle.stats import StageStats

    stylizer = Stylizer(STYLE, quality=quality, threads=threads, engine_options=options)
    stylizer.stylize_timed(frames[0])  # warm-up: session allocations, memory pattern
    stats = StageStats()
    for frame in frames[1:]:
        t = time.perf_counter()
        _, timings = stylizer.stylize_timed(frame)
        stats.add({**timings, "stylizer": time.perf_counter() - t})
    h, w = frames[0].shape[:2]
    pipe = pipeline_run(stylizer, video, w, h, len(frames), folder)
    summary = stats.summary()
    return {"quality": quality, "model": stylizer.style.path.name, "engine": stylizer.engine.describe(),
            "size": f"{w}x{h}", "frames": len(frames) - 1,
            "stages": {k: summary[k] for k in (*PRESET_STAGES, "stylizer") if k in summary and summary[k]["p50_ms"]},
            "pipeline_fps": round(pipe["fps"], 2), "pipeline_total": pipe["stages"]["total"]}


def bench_presets(video: Path, size: tuple[int, int], frames: int, threads: int, settings: list[str]) -> dict:
    from rtstyle.engines import EngineOptions
    from rtstyle.engines.options import with_settings
    from rtstyle.presets import QUALITIES

    options = with_settings(EngineOptions(), settings)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    images = clip_frames(video, *size, frames + 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for quality in QUALITIES:
            rows.append(preset_row(quality, images, video, threads, options, Path(tmp)))
            print(format_preset(rows[-1]), flush=True)
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "style": STYLE, "video": str(video),
            "threads": threads or os.cpu_count(), "ort": settings, "load_before": load_before,
            "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]), "rows": rows}


PRESET_HEADER = ("| preset | network | size | Stylizer p50/p95 ms | preprocess | inference | upsample | postprocess "
                 "| pipeline fps | pipeline total p50/p95 ms |")


def format_preset(r: dict) -> str:
    def q(stage: str, source: dict | None = None) -> str:
        v = (source or r["stages"]).get(stage)
        return "-" if not v else f"{v['p50_ms']:.1f}/{v['p95_ms']:.1f}"

    return (f"| {r['quality']} | {r['model']} | {r['size']} | {q('stylizer')} | {q('preprocess')} | {q('inference')} "
            f"| {q('upsample')} | {q('postprocess')} | {r['pipeline_fps']} | {q('total', {'total': r['pipeline_total']})} |")


def presets_markdown(res: dict, argv: list[str]) -> str:
    m = res["machine"]
    return "\n".join([
        "# Quality presets, per stage (`python benchmarks/fps.py --presets`)", "",
        f"`python benchmarks/fps.py {' '.join(argv)}`", "",
        f"{res['date']}, {m['cpu']}, {m['cores']} cores, load average {res['load_before']} before, "
        f"{res['load_after']} after; style `{res['style']}`, {res['threads']} inference threads"
        + (f", --ort {' '.join(res['ort'])}" if res["ort"] else "")
        + ("; freed memory kept (rtstyle.memory, as the rtstyle command does)" if res.get("freed_memory_kept")
           else "; glibc malloc left at its defaults") + ".", "",
        "Stylizer: `stylize_timed` per frame (first frames of the clip resized to the size), p50/p95 ms; upsample "
        "is the guided upsampler of the presets that run below full size. Pipeline: the same Stylizer in "
        "`rtstyle.pipeline.run` (decode -> stylize -> libx264), frames per second and a frame's total age.", "",
        PRESET_HEADER, "|" + "---|" * (PRESET_HEADER.count("|") - 1),
        *(format_preset(r) for r in res["rows"]), ""])


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(tuple(int(v) for v in s.lower().split("x")) for s in text.split(","))  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="clip for the pipeline runs")
    p.add_argument("--frames", type=int, default=24, help="frames per pipeline run (default: 24)")
    p.add_argument("--runs", type=int, default=5, help="timed model calls per size (default: 5)")
    p.add_argument("--engines", default=",".join(BACKENDS), help="comma-separated (default: all)")
    p.add_argument("--precisions", default=",".join(PRECISIONS),
                   help="comma-separated subset of fp32,fp16,int8 (default: all an engine runs)")
    p.add_argument("--sizes", type=parse_sizes, default=SIZES, help="e.g. 256x256,640x360")
    p.add_argument("--quick", action="store_true", help="256x256 and 640x360, 2 runs, 8 frames")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results", help="folder for fps.json/fps.md")
    p.add_argument("--presets", action="store_true", help="report each --quality preset per stage instead")
    p.add_argument("--preset-size", type=lambda t: parse_sizes(t)[0], default=(640, 480), help="default: 640x480")
    p.add_argument("--threads", type=int, default=0, help="--presets: inference threads (default: all cores)")
    p.add_argument("--ort", action="append", default=[], metavar="NAME=VALUE",
                   help="--presets: ONNX Runtime settings, as rtstyle's --ort")
    p.add_argument("--malloc-default", action="store_true",
                   help="leave glibc's malloc as it is (the rtstyle command keeps freed memory: rtstyle.memory); "
                        "results go to fps_presets_malloc_default.*")
    a = p.parse_args(argv)
    if a.presets:
        from rtstyle.memory import keep_freed_memory

        kept = not a.malloc_default and keep_freed_memory()
        res = bench_presets(a.video, a.preset_size, a.frames, a.threads, a.ort)
        res["freed_memory_kept"] = kept
        name = "fps_presets_malloc_default" if a.malloc_default else "fps_presets"
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
        md = presets_markdown(res, sys.argv[1:] if argv is None else argv)
        (a.out / f"{name}.md").write_text(md)
        print("\n" + md)
        return 0
    cfg = BenchConfig(a.video, a.frames, a.runs, tuple(a.engines.split(",")), tuple(a.precisions.split(",")),
                      a.sizes)
    if a.quick:
        cfg = dataclasses.replace(cfg, frames=min(cfg.frames, 8), runs=min(cfg.runs, 2), sizes=QUICK_SIZES)
    if not cfg.video.is_file():
        p.error(f"video not found: {cfg.video}")
    results = bench(cfg)
    results["config"] = {"frames": cfg.frames, "runs": cfg.runs, "quick": a.quick}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "fps.json").write_text(json.dumps(results, indent=2) + "\n")
    md = markdown(results, cfg)
    (a.out / "fps.md").write_text(md)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
