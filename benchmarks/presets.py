"""What each ``--quality`` preset costs and gives, on this machine.

    python benchmarks/presets.py [--style starry] [--frames 24] [--quality-size 640] [--no-quality] [--no-video]

Per preset (rtstyle.presets.PRESETS):

* Stylizer: ``stylize_timed`` on the first --frames frames of bunny.mp4 resized
  to 640x480, after one warm-up frame; median ms per stage and in total;
* pipeline: ``rtstyle video bunny.mp4`` (640x360, 240 frames, decode ->
  stylize -> encode, --no-temporal so every frame runs the network) and its
  --stats-json fps; the `best` row is the frame-by-frame full-size FP32 baseline;
* quality: benchmarks/quality.py's style and content distances on the 18 eval
  photos at --quality-size (long side), no Gatys; and a side-by-side sheet.

Writes benchmarks/results/presets.{json,md} and presets_sheet.jpg. The load
average is recorded before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from rtstyle import Stylizer  # noqa: E402
from rtstyle.presets import QUALITIES  # noqa: E402

SHARED = ROOT.parent / "shared"
BUNNY = SHARED / "data" / "video" / "bunny.mp4"
OUT = ROOT / "benchmarks" / "results"


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def bunny_frames(n: int, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(BUNNY))
    frames = []
    while len(frames) < n + 1:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_AREA))
    cap.release()
    return frames


def stylizer_speed(style: str, quality: str, frames: list[np.ndarray]) -> dict:
    s = Stylizer(style, quality=quality)
    s.stylize_timed(frames[0])  # warm-up: session allocations
    stages: dict[str, list[float]] = {}
    totals = []
    for f in frames[1:]:
        t = time.perf_counter()
        _, timings = s.stylize_timed(f)
        totals.append(time.perf_counter() - t)
        for k, v in timings.items():
            stages.setdefault(k, []).append(v)
    return {"model": s.style.path.name, "ms": round(1000 * statistics.median(totals), 1),
            "stages_ms": {k: round(1000 * statistics.median(v), 1) for k, v in stages.items()}}


def pipeline_fps(style: str, quality: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "s.json"
        cmd = [sys.executable, "-c", "import sys; from rtstyle.cli import main; sys.exit(main())", "video",
               str(BUNNY), str(Path(tmp) / "o.mp4"), "--style", style, "--quality", quality, "--no-temporal",
               "--stats-json", str(stats), "-q"]
        subprocess.run(cmd, check=True)
        report = json.loads(stats.read_text())
    return {"fps": report.get("fps"), "frames": report.get("frames"), "workers": report.get("workers", 1)}


def quality_distances(style: str, size: int) -> tuple[dict, dict]:
    import quality as q  # benchmarks/quality.py: torch + VGG, only for this part

    cfg = q.parse_args(["--styles", style, "--size", str(size), "--no-gatys"])
    stylizers = {k: Stylizer(style, quality=k) for k in QUALITIES}
    out, images = {}, {}
    for k in QUALITIES:
        report, imgs = q.evaluate(cfg, lambda photo, st, k=k: stylizers[k].stylize(photo), log=lambda m: None)
        summary = report["styles"][style]["summary"]["all"]
        out[k] = {"style": round(summary["net"]["style"], 4), "content": round(summary["net"]["content"], 4)}
        out["photo"] = {"style": round(summary["photo"]["style"], 4), "content": round(summary["photo"]["content"], 4)}
        images[k] = imgs.outputs[style]
        images["photo"] = imgs.photos
    return out, images


def sheet(images: dict, picks: tuple[int, ...] = (0, 6, 12), cell: int = 320) -> np.ndarray:
    cols = ["photo", *QUALITIES]
    rows = []
    for i in picks:
        row = []
        for c in cols:
            img = images[c][i]
            s = cell / max(img.shape[:2])
            img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
            canvas = np.full((cell, cell, 3), 255, np.uint8)
            canvas[:img.shape[0], :img.shape[1]] = img
            cv2.putText(canvas, c, (6, cell - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 3)
            cv2.putText(canvas, c, (6, cell - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 1)
            row.append(canvas)
        rows.append(np.hstack(row))
    return np.vstack(rows)


def vs_best(qd: dict, best: dict) -> str:
    if not qd or not best:
        return ""
    return ", ".join(f"{qd[m] / best[m] - 1:+.1%}" for m in ("style", "content"))


def markdown(r: dict) -> str:
    lines = [f"# Quality presets ({r['style']}, load {r['load_before']} -> {r['load_after']}, {os.cpu_count()} cores)",
             "", "`python benchmarks/presets.py`", "",
             "| preset | network | Stylizer 640x480 ms (stages) | bunny 640x360 pipeline fps | d_style | d_content "
             "| vs best (style, content; issue 7's bar: within 15%) |",
             "|---|---|---|---|---|---|---|"]
    best = r.get("quality", {}).get("best", {})
    for k in QUALITIES:
        sp = r["speed"][k]
        stages = ", ".join(f"{s} {v}" for s, v in sp["stages_ms"].items())
        pipe = r.get("pipeline", {}).get(k, {})
        fps = "-" if pipe.get("fps") is None else f"{pipe['fps']:.1f}"
        if pipe.get("workers", 1) > 1:
            fps += f" ({pipe['workers']} workers)"
        qd = r.get("quality", {}).get(k, {})
        lines.append(f"| {k} | {sp['model']} | {sp['ms']} ({stages}) | {fps} | "
                     f"{qd.get('style')} | {qd.get('content')} | {vs_best(qd, best)} |")
    if "quality" in r:
        ph = r["quality"]["photo"]
        lines += ["", f"Unstylized photo: d_style {ph['style']}, d_content {ph['content']} "
                      f"(eval photos at long side {r['quality_size']})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--style", default="starry")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--quality-size", type=int, default=640)
    p.add_argument("--no-quality", action="store_true")
    p.add_argument("--no-video", action="store_true")
    a = p.parse_args(argv)
    r: dict = {"style": a.style, "load_before": loadavg(), "quality_size": a.quality_size}
    frames = bunny_frames(a.frames)
    r["speed"] = {k: stylizer_speed(a.style, k, frames) for k in QUALITIES}
    print(json.dumps(r["speed"], indent=1), flush=True)
    if not a.no_video:
        r["pipeline"] = {k: pipeline_fps(a.style, k) for k in QUALITIES}
        print(json.dumps(r["pipeline"]), flush=True)
    if not a.no_quality:
        r["quality"], images = quality_distances(a.style, a.quality_size)
        cv2.imwrite(str(OUT / "presets_sheet.jpg"), cv2.cvtColor(sheet(images), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(json.dumps(r["quality"]), flush=True)
    r["load_after"] = loadavg()
    (OUT / "presets.json").write_text(json.dumps(r, indent=2) + "\n")
    (OUT / "presets.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
