"""Slim students and guided upsampling against the full networks: speed and quality.

    python benchmarks/slim.py [--styles starry,wave] [--size 640] [--runs 5] [--threads 0] [--name slim]

For each built-in style that ships a slim student (``rtstyle/styles/NAME.slim.onnx``):

* speed, ONNX Runtime fp32 on this CPU (the onnxruntime engine's own session
  options): median of ``--runs`` calls after a warm-up, of the full network and
  the student at 640x480 and 320x240, and of the whole "half resolution" path:
  student at 320x240 + guided upsampling to 640x480 (with the downscale), next
  to each graph's conv GFLOP per frame (benchmarks/fps.py's conv_gflop);
* the upsampler alone at 640x480 (fast guided filter vs bilinear), per frame;
* quality on the eval photos (long side ``--size``), with benchmarks/quality.py's
  distances: style distance to the painting and content distance to the photo,
  for the full network, the student, and the student at half resolution
  upsampled by the guided filter and by bilinear; each relative to the full
  network's (issue 7's bar: within 15%). Also the edge strength at the photo's
  strongest edges (10% of pixels) relative to the student's own full-resolution
  output (1.0 = as crisp), and the mean absolute difference to that output;
* a side-by-side sheet per style: photo | full net | student | student at half
  resolution + guided filter | + bilinear (``benchmarks/results/slim_sheet_NAME.jpg``);
* where the style also ships a space-to-depth student (``NAME.fast.onnx``,
  rtstyle.models.fastnet, what ``--quality fast`` runs at full size): its
  speed and quality as variant ``fast_student`` and a last column in the sheet.

Writes benchmarks/results/NAME.json and NAME.md (--name, default slim: a
subset of styles can go to its own files); the load average before and
after goes with them because the machine may be shared.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.fps import conv_gflop  # noqa: E402
from benchmarks.quality import SHARED, Meter, fit_cell, put_label, resolve_styles, spread  # noqa: E402
from export.gatys import style_grams  # noqa: E402
from export.train import read_rgb, resize_long  # noqa: E402
from export.vgg import VGGFeatures  # noqa: E402
from rtstyle.engines import Engine, EngineOptions, create_engine  # noqa: E402
from rtstyle.frames import from_batch, to_batch  # noqa: E402
from rtstyle.registry import builtin_styles  # noqa: E402
from rtstyle.upsample import GuidedUpsample, bilinear_upsample, downscale  # noqa: E402

RESULTS = ROOT / "benchmarks/results"
FULL, HALF = (640, 480), (320, 240)
BAR = 0.15  # issue 7: the fast preset's distances within 15% of the full network's
VARIANTS = ("full", "student", "student_half_guided", "student_half_bilinear", "student_half_guided_classic")
FAST = "fast_student"  # NAME.fast.onnx at full size, when shipped


@dataclass(frozen=True)
class SlimBenchConfig:
    styles: tuple[str, ...] = ()  # empty: every built-in style with a slim student
    size: int = 640  # long side of the eval photos for the quality numbers
    runs: int = 5
    threads: int = 0  # ONNX Runtime intra-op threads; 0: all cores
    sheet_photos: int = 4
    max_photos: int = 0  # 0: every eval photo; else that many, spread over the sorted list
    upsample: GuidedUpsample = field(default_factory=GuidedUpsample)
    vgg: str = str(SHARED / "weights/vgg16_features.pth")
    photos: Path = SHARED / "data/content/eval"
    paintings: Path = SHARED / "data/styles"
    name: str = "slim"  # results file stem


def stylize(engine: Engine, image: np.ndarray) -> np.ndarray:
    return from_batch(engine.run(to_batch(image)))


def median_ms(fn, runs: int, clock=time.perf_counter) -> float:
    fn()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(runs):
        t = clock()
        fn()
        times.append(clock() - t)
    return round(float(np.median(times)) * 1e3, 2)


def edge_mask(photo: np.ndarray) -> np.ndarray:
    return gradient(photo) > np.percentile(gradient(photo), 90)


def gradient(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))


def speed(full: Engine, student: Engine, cfg: SlimBenchConfig, frame: np.ndarray, fast: Engine | None = None) -> dict:
    """Wall-clock ms with the configured threads, and single-thread CPU ms: on a shared machine the
    latter hardly moves with the load, so the ratios stay meaningful."""
    out: dict = {}
    one = EngineOptions(threads=1)
    for tag, engine in (("full", full), ("student", student), *(((FAST, fast),) if fast else ())):
        single = create_engine("onnxruntime", engine.model_path, one)
        for w, h in (FULL, HALF):
            img = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            out[f"{tag}_ms_{w}x{h}"] = median_ms(lambda: engine.run(to_batch(img)), cfg.runs)
            out[f"{tag}_cpu_ms_{w}x{h}"] = median_ms(lambda: single.run(to_batch(img)), cfg.runs, time.process_time)
            out[f"{tag}_gflop_{w}x{h}"] = round(conv_gflop(engine.model_path, w, h), 2)
    big = cv2.resize(frame, FULL, interpolation=cv2.INTER_AREA)
    out["student_half_guided_ms_640x480"] = median_ms(
        lambda: cfg.upsample(stylize(student, downscale(big, 0.5)), big), cfg.runs)
    out["student_half_guided_cpu_ms_640x480"] = median_ms(
        lambda: cfg.upsample(stylize(single, downscale(big, 0.5)), big), cfg.runs, time.process_time)
    out["speedup_student_640x480"] = round(out["full_ms_640x480"] / out["student_ms_640x480"], 2)
    out["cpu_speedup_student_640x480"] = round(out["full_cpu_ms_640x480"] / out["student_cpu_ms_640x480"], 2)
    out["cpu_speedup_student_half_guided_640x480"] = round(
        out["full_cpu_ms_640x480"] / out["student_half_guided_cpu_ms_640x480"], 2)
    out["speedup_student_half_guided_640x480"] = round(out["full_ms_640x480"] / out["student_half_guided_ms_640x480"], 2)
    if fast:
        out[f"cpu_speedup_{FAST}_640x480"] = round(out["full_cpu_ms_640x480"] / out[f"{FAST}_cpu_ms_640x480"], 2)
        out[f"speedup_{FAST}_640x480"] = round(out["full_ms_640x480"] / out[f"{FAST}_ms_640x480"], 2)
    return out


def upsampler_speed(frame: np.ndarray, cfg: SlimBenchConfig) -> dict:
    big = cv2.resize(frame, FULL, interpolation=cv2.INTER_AREA)
    small = downscale(big, 0.5)
    runs = max(cfg.runs, 20)  # tens of ms: more runs for a stable median
    return {"guided_ms_320x240_to_640x480": median_ms(lambda: cfg.upsample(small, big), runs),
            "guided_cpu_ms_320x240_to_640x480": median_ms(lambda: cfg.upsample(small, big), runs, time.process_time),
            "bilinear_ms_320x240_to_640x480": median_ms(lambda: bilinear_upsample(small, big), runs),
            "downscale_ms_640x480_to_320x240": median_ms(lambda: downscale(big, 0.5), runs)}


def quality(full: Engine, student: Engine, cfg: SlimBenchConfig, meter: Meter, grams, photos,
            fast: Engine | None = None) -> tuple[dict, dict]:
    variants = VARIANTS + ((FAST,) if fast else ())
    rows, images = [], {k: [] for k in variants}
    for photo in photos:
        small = downscale(photo, 0.5)
        student_small = stylize(student, small)
        out = {"full": stylize(full, photo), "student": stylize(student, photo),
               "student_half_guided": cfg.upsample(student_small, photo),
               "student_half_bilinear": bilinear_upsample(student_small, photo),
               "student_half_guided_classic": GuidedUpsample(cfg.upsample.radius, cfg.upsample.eps, "guided")(
                   student_small, photo)}
        if fast:
            out[FAST] = stylize(fast, photo)
        feats = meter.features(photo)
        edges = edge_mask(photo)
        ref_edge = float(gradient(out["student"])[edges].mean())
        row = {}
        for k, img in out.items():
            row[k] = {**meter.distances(img, feats, grams),
                      "edge_strength": round(float(gradient(img)[edges].mean()) / ref_edge, 4),
                      "mad_to_student": round(float(np.abs(img.astype(np.int16) - out["student"]).mean()), 3)}
            images[k].append(img)
        rows.append(row)
    summary = {k: {m: round(float(np.mean([r[k][m] for r in rows])), 5)
                   for m in ("style", "content", "edge_strength", "mad_to_student")} for k in variants}
    for k in variants:
        for m in ("style", "content"):
            summary[k][f"{m}_vs_full"] = round(summary[k][m] / summary["full"][m] - 1, 4)
        summary[k]["within_bar"] = all(abs(summary[k][f"{m}_vs_full"]) <= BAR for m in ("style", "content"))
    return {"summary": summary, "photos": rows}, images


def sheet(photos: list[np.ndarray], images: dict, n: int, cell: int = 240, gap: int = 4, band: int = 28) -> np.ndarray:
    columns = ["photo", "full net", "student", "half + guided", "half + bilinear"] + (["fast student"] if FAST in images else [])
    step = cell + gap
    canvas = np.full((band + n * step + gap, len(columns) * step + gap, 3), 32, np.uint8)
    for c, name in enumerate(columns):
        put_label(canvas, name, gap + c * step + 4, band - 8, 0.6)
    for r in range(n):
        row = [photos[r], *(images[k][r] for k in VARIANTS[:4]), *([images[FAST][r]] if FAST in images else [])]
        for c, img in enumerate(row):
            y, x = band + r * step, gap + c * step
            canvas[y : y + cell, x : x + cell] = fit_cell(img, cell, 32)
    return canvas


def run(cfg: SlimBenchConfig, log=print) -> dict:
    load_before = os.getloadavg()
    installed = builtin_styles()
    names = cfg.styles or tuple(n for n, s in installed.items() if s.slim_path)
    if not names:
        raise ValueError("no built-in style ships a slim student (rtstyle/styles/NAME.slim.onnx)")
    opts = EngineOptions(threads=cfg.threads)
    photo_paths = sorted(cfg.photos.glob("*.jpg"))
    if cfg.max_photos:
        photo_paths = [photo_paths[i] for i in spread(len(photo_paths), cfg.max_photos)]
    photos = [resize_long(read_rgb(p), cfg.size) for p in photo_paths]
    meter = Meter(VGGFeatures(cfg.vgg))
    report: dict = {"config": {**asdict(cfg), "vgg": Path(cfg.vgg).name, "photos": str(cfg.photos.name),
                               "paintings": cfg.paintings.name},
                    "machine": {"cpus": os.cpu_count(), "load_before": load_before},
                    "n_photos": len(photos), "upsampler": upsampler_speed(photos[0], cfg), "styles": {}}
    log(f"upsampler: {report['upsampler']}")
    for name, style in zip(names, resolve_styles(names, cfg.paintings)):
        model = installed[name]
        if model.slim_path is None:
            raise ValueError(f"style {name!r} ships no slim student")
        full, student = create_engine("onnxruntime", model.path, opts), create_engine("onnxruntime", model.slim_path, opts)
        fast = create_engine("onnxruntime", model.fast_path, opts) if model.fast_path else None
        grams = style_grams(meter.vgg, resize_long(read_rgb(style.painting), style.style_size))
        entry = {"speed": speed(full, student, cfg, photos[0], fast)}
        log(f"{name} speed: {entry['speed']}")
        q, images = quality(full, student, cfg, meter, grams, photos, fast)
        entry["quality"] = q
        log(f"{name} quality: {json.dumps(q['summary'])}")
        img = sheet(photos, images, min(cfg.sheet_photos, len(photos)))
        cv2.imwrite(str(RESULTS / f"slim_sheet_{name}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        report["styles"][name] = entry
    report["machine"]["load_after"] = os.getloadavg()
    return report


def cmd_args(cfg: dict) -> str:
    return (f" --styles {','.join(cfg['styles'])}" if cfg["styles"] else "") + (
        f" --name {cfg['name']}" if cfg["name"] != "slim" else "")


def markdown(report: dict) -> str:
    m, up = report["machine"], report["upsampler"]
    lines = ["# Slim students and guided upsampling vs the full networks", "",
             f"`python benchmarks/slim.py{cmd_args(report['config'])}` on {m['cpus']} cores, load average {m['load_before'][0]:.2f} before, "
             f"{m['load_after'][0]:.2f} after (shared machine: latencies scale with it). ONNX Runtime fp32, "
             f"median of {report['config']['runs']} runs. Quality on {report['n_photos']} {report['config']['photos']} photos at long "
             f"side {report['config']['size']}; distances as in benchmarks/quality.py; \"vs full\" is relative to "
             f"the full network's mean (bar: within {BAR:.0%}).", "",
             f"Upsampling 320x240 -> 640x480: guided filter {up['guided_ms_320x240_to_640x480']} ms "
             f"({up['guided_cpu_ms_320x240_to_640x480']} CPU ms), bilinear "
             f"{up['bilinear_ms_320x240_to_640x480']} ms (area downscale 640x480 -> 320x240: "
             f"{up['downscale_ms_640x480_to_320x240']} ms). Guided settings: {report['config']['upsample']}.", "",
             "## Speed", "",
             "Wall ms with all cores (what a user sees, inflated by the load), and in brackets the single-thread "
             "CPU ms (load-robust; the speed-ups use these).", "",
             "| style | GFLOP full / student (640x480) | full 640x480 | student 640x480 | full 320x240 "
             "| student 320x240 | student half + guided -> 640x480 | CPU speed-up: student, half + guided |",
             "|---|---|---|---|---|---|---|---|"]
    for name, e in report["styles"].items():
        s = e["speed"]

        def cell(tag: str, size: str) -> str:
            return f"{s[f'{tag}_ms_{size}']} ({s[f'{tag}_cpu_ms_{size}']})"

        lines.append(f"| {name} | {s['full_gflop_640x480']} / {s['student_gflop_640x480']} | "
                     f"{cell('full', '640x480')} | {cell('student', '640x480')} | {cell('full', '320x240')} | "
                     f"{cell('student', '320x240')} | {cell('student_half_guided', '640x480')} | "
                     f"{s['cpu_speedup_student_640x480']}x, {s['cpu_speedup_student_half_guided_640x480']}x |")
    fast = {n: e["speed"] for n, e in report["styles"].items() if f"{FAST}_ms_640x480" in e["speed"]}
    if fast:
        lines += ["", "Space-to-depth student (`NAME.fast.onnx`, what `--quality fast` runs at full size):", "",
                  "| style | GFLOP (640x480) | 640x480 | 320x240 | CPU speed-up vs full |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {s[f'{FAST}_gflop_640x480']} | {s[f'{FAST}_ms_640x480']} ({s[f'{FAST}_cpu_ms_640x480']}) | "
                  f"{s[f'{FAST}_ms_320x240']} ({s[f'{FAST}_cpu_ms_320x240']}) | {s[f'cpu_speedup_{FAST}_640x480']}x |"
                  for n, s in fast.items()]
    lines += ["", "## Quality", "",
              "| style | variant | style dist | vs full | content dist | vs full | edge strength | MAD to student "
              "| within 15% |", "|---|---|---|---|---|---|---|---|---|"]
    for name, e in report["styles"].items():
        for k, v in e["quality"]["summary"].items():
            lines.append(f"| {name} | {k} | {v['style']:.4f} | {v['style_vs_full']:+.1%} | {v['content']:.4f} | "
                         f"{v['content_vs_full']:+.1%} | {v['edge_strength']:.3f} | {v['mad_to_student']:.2f} | "
                         f"{'yes' if v['within_bar'] else 'no'} |")
    lines += ["", "Edge strength: mean gradient magnitude at the photo's strongest 10% edges, relative to the "
              "student's own full-resolution output. MAD: mean absolute difference (0-255) to that output. "
              "Sheets: " + ", ".join(f"`slim_sheet_{n}.jpg`" for n in report["styles"]) + "."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> SlimBenchConfig:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    d = SlimBenchConfig()
    p.add_argument("--styles", default="", help="comma-separated built-in styles (default: all with a student)")
    p.add_argument("--size", type=int, default=d.size)
    p.add_argument("--runs", type=int, default=d.runs)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--max-photos", type=int, default=d.max_photos, help="0: all eval photos")
    p.add_argument("--radius", type=int, default=d.upsample.radius)
    p.add_argument("--eps", type=float, default=d.upsample.eps)
    p.add_argument("--name", default=d.name, help="results file stem (default: %(default)s)")
    a = p.parse_args(argv)
    return SlimBenchConfig(tuple(s for s in a.styles.split(",") if s), a.size, a.runs, a.threads,
                           max_photos=a.max_photos, upsample=GuidedUpsample(a.radius, a.eps), name=a.name)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    torch.set_num_threads(1)  # VGG distances only; keep the cores for the timed ONNX Runtime runs
    report = run(cfg)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{cfg.name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    md = markdown(report)
    (RESULTS / f"{cfg.name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
