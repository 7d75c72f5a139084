"""The shipped StyTr² student: FLOPs, latency per frame, and quality next to the per-style nets.

    python benchmarks/arbitrary.py [--frames 40] [--threads 1,2] [--no-quality] [--out DIR]

1. FLOPs at 640x360 and 640x480 of the full StyTr² (export/flops.py) and of the
   student's frame path and style encoder (counted by torch, 2 per MAC).
2. Latency per frame through the real runtime (Stylizer(style_image=...),
   ONNX Runtime on the CPU, frame graph only: the style is encoded once), for
   each --threads value, next to the per-style Johnson net (starry) at the same
   size. Prints and records the load average before and after.
3. Quality with benchmarks/quality.py's own measurement (imported, not copied),
   on the eval photos, for four training paintings that also have a per-style
   net and the two held-out paintings (kiss, sunrise); no Gatys (it takes
   minutes per image). Writes OUT/arbitrary/quality.md, quality.json and the
   contact sheet (photos x styles) there, and OUT/arbitrary.md + .json with
   everything side by side with benchmarks/results/quality.json (the Johnson nets).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import quality  # noqa: E402  (benchmarks/quality.py, beside this file)
from export.flops import student_flops, teacher_flops  # noqa: E402
from rtstyle import Stylizer  # noqa: E402
from rtstyle.sources import read_image  # noqa: E402

SHARED = ROOT.parent / "shared"
SIZES = ((360, 640), (480, 640))
QUALITY_STYLES = ("starry", "wave", "scream", "composition", "kiss", "sunrise")


class StudentNetworks:
    """quality.StylizeFn for the student: one Stylizer (one encoded painting) per style."""

    description = "distilled StyTr² student (rtstyle/arbitrary_style/, ONNX Runtime), the painting as --style-image"

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self._stylizers: dict[str, Stylizer] = {}

    def __call__(self, photo: np.ndarray, style: quality.Style) -> np.ndarray:
        if style.name not in self._stylizers:
            self._stylizers[style.name] = Stylizer(style_image=style.painting, threads=self.threads)
        return self._stylizers[style.name].stylize(photo)


def loadavg() -> str:
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "?"


def flops_table() -> dict:
    out = {}
    for h, w in SIZES:
        t, s = teacher_flops(h, w), student_flops(h, w)
        out[f"{w}x{h}"] = {"teacher_total_gflops": t["total"] / 1e9, "teacher_frame_gflops": t["frame"] / 1e9,
                           "teacher_style_gflops": t["style"] / 1e9, "student_frame_gflops": s["frame"] / 1e9,
                           "student_style_gflops": s["style"] / 1e9, "ratio_frame": t["frame"] / s["frame"],
                           "ratio_total": t["total"] / s["frame"]}
    return out


def time_stylizer(stylizer: Stylizer, frame: np.ndarray, frames: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        stylizer.stylize_timed(frame)
    total, infer = [], []
    for _ in range(frames):
        t = time.perf_counter()
        _, stages = stylizer.stylize_timed(frame)
        total.append(time.perf_counter() - t)
        infer.append(stages["inference"])
    ms = lambda v, q: round(float(np.percentile(v, q)) * 1000, 1)  # noqa: E731
    return {"p50_ms": ms(total, 50), "p90_ms": ms(total, 90), "inference_p50_ms": ms(infer, 50),
            "fps_p50": round(1000 / ms(total, 50), 1)}


def latency(frames: int, threads: list[int], painting: Path, photo: Path) -> dict:
    image = read_image(photo)
    out = {"load_before": loadavg(), "runs": []}
    for t in threads:
        student = Stylizer(style_image=painting, threads=t)
        johnson = Stylizer(style="starry", threads=t)
        for h, w in SIZES:
            frame = np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))
            row = {"threads": t, "size": f"{w}x{h}", "student": time_stylizer(student, frame, frames),
                   "johnson_starry": time_stylizer(johnson, frame, frames),
                   "style_encode_ms": round(student.engine.encode_seconds * 1000, 1)}
            print(f"threads {t} {w}x{h}: student p50 {row['student']['p50_ms']} ms "
                  f"({row['student']['fps_p50']} fps), johnson {row['johnson_starry']['p50_ms']} ms; "
                  f"style encoded once in {row['style_encode_ms']} ms", flush=True)
            out["runs"].append(row)
    out["load_after"] = loadavg()
    return out


def side_by_side(student_report: dict, johnson_report: dict, held_out: tuple[str, ...]) -> list[dict]:
    rows = []
    for name, s in student_report["styles"].items():
        j = johnson_report.get("styles", {}).get(name)
        rows.append({"style": name, "held_out": name in held_out,
                     "d_style_photo": s["summary"]["all"]["photo"]["style"],
                     "d_style_student": s["summary"]["all"]["net"]["style"],
                     "d_content_student": s["summary"]["all"]["net"]["content"],
                     "d_style_johnson": j["summary"]["all"]["net"]["style"] if j else None,
                     "d_content_johnson": j["summary"]["all"]["net"]["content"] if j else None})
    return rows


def markdown(report: dict, command: str) -> str:
    f = quality.fmt
    lines = ["# Distilled StyTr² (arbitrary styles)", ""]
    card = report.get("card", {})
    if card:
        lines += [f"Shipped student: {card.get('steps', '?')} training steps, {card.get('training_seconds', '?')} s of "
                  f"one CPU thread; held out: {', '.join(card.get('training', {}).get('holdout', []))}.", ""]
    lines += ["## FLOPs (torch FlopCounterMode, 2 per MAC; painting 512x512 for the teacher)", "",
              "| frame | StyTr² total | StyTr² per frame (style branch cached) | student per frame | "
              "student style encoder (once) | per-frame ratio |", "|---|---|---|---|---|---|"]
    for size, r in report["flops"].items():
        lines.append(f"| {size} | {r['teacher_total_gflops']:.0f} G | {r['teacher_frame_gflops']:.0f} G | "
                     f"{r['student_frame_gflops']:.2f} G | {r['student_style_gflops']:.2f} G | "
                     f"{r['ratio_frame']:.0f}x |")
    if report.get("latency"):
        lat = report["latency"]
        lines += ["", "## Latency per frame (Stylizer.stylize_timed: preprocess + ONNX Runtime + postprocess)", "",
                  f"Load average before {lat['load_before']}, after {lat['load_after']}.", "",
                  "| threads | frame | student p50 / p90 ms | student fps (p50) | Johnson starry p50 ms | "
                  "style encoding (once) ms |", "|---|---|---|---|---|---|"]
        for r in lat["runs"]:
            s = r["student"]
            lines.append(f"| {r['threads']} | {r['size']} | {s['p50_ms']} / {s['p90_ms']} | {s['fps_p50']} | "
                         f"{r['johnson_starry']['p50_ms']} | {r['style_encode_ms']} |")
    if report.get("quality"):
        lines += ["", "## Quality (benchmarks/quality.py's distances, eval photos at 320 px; lower is better)", "",
                  "| painting | seen in training | d_style photo | d_style student | d_content student | "
                  "d_style Johnson | d_content Johnson |", "|---|---|---|---|---|---|---|"]
        for r in report["quality"]:
            lines.append(f"| {r['style']} | {'no (held out)' if r['held_out'] else 'yes'} | {f(r['d_style_photo'])} | "
                         f"{f(r['d_style_student'])} | {f(r['d_content_student'])} | {f(r['d_style_johnson'])} | "
                         f"{f(r['d_content_johnson'])} |")
        lines += ["", "Johnson columns: benchmarks/results/quality.json (one network per painting; none exists for "
                  "the held-out paintings). Per-photo numbers and the contact sheet: `arbitrary/`."]
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=40, help="timed frames per size (default: %(default)s)")
    p.add_argument("--threads", default="1,2", help="comma list of inference thread counts (default: %(default)s)")
    p.add_argument("--painting", type=Path, default=SHARED / "data/styles/kiss.jpg")
    p.add_argument("--photo", type=Path, default=SHARED / "data/content/eval/bsds500_test_108004.jpg")
    p.add_argument("--no-latency", action="store_true")
    p.add_argument("--no-quality", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    a = p.parse_args(argv)
    from rtstyle.arbitrary import CARD, model_dir

    card = json.loads((model_dir() / CARD).read_text())
    report: dict = {"card": card, "flops": flops_table(), "cpu_count": os.cpu_count()}
    for size, r in report["flops"].items():
        print(f"{size}: StyTr² {r['teacher_total_gflops']:.0f} GFLOPs ({r['teacher_frame_gflops']:.0f} per frame with "
              f"the style cached), student {r['student_frame_gflops']:.2f} per frame: {r['ratio_frame']:.0f}x fewer")
    if not a.no_latency:
        report["latency"] = latency(a.frames, [int(t) for t in a.threads.split(",")], a.painting, a.photo)
    if not a.no_quality:
        qdir = a.out / "arbitrary"
        quality.main(["--styles", ",".join(QUALITY_STYLES), "--no-gatys", "--out", str(qdir), "--threads", "1"],
                     stylize=StudentNetworks(threads=1), description=StudentNetworks.description)
        johnson = json.loads((ROOT / "benchmarks/results/quality.json").read_text())
        report["quality"] = side_by_side(json.loads((qdir / "quality.json").read_text()), johnson,
                                         tuple(card.get("training", {}).get("holdout", ())))
    command = " ".join(["python benchmarks/arbitrary.py", *argv])
    md = markdown(report, command)
    print(md)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "arbitrary.md").write_text(md)
    (a.out / "arbitrary.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
