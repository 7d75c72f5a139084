"""INT8 vs FP32 on the CPU: speed at 640x480, PSNR on real photos, a side-by-side sheet.

    python benchmarks/int8.py            # the shipped configuration, every built-in style
    python benchmarks/int8.py --sweep    # starry: the alternatives tried, and per-conv sensitivity

Speed, for the starry network (every style has the same architecture): median
of ``--runs`` ONNX Runtime calls on one 1x3x480x640 batch after a warm-up, as
wall-clock time with all cores (what a user sees; depends on the machine's
load) and as CPU time of a single-thread session (process_time: much less
sensitive to other processes on a shared machine). PSNR: each style's INT8
output against its FP32 output (8-bit RGB) on ``--photos`` eval photos at
640x480, not used in calibration (which takes ``data/content/train``).
Writes int8.{md,json} and int8_sheet.jpg (photo | FP32 | INT8 | |diff| x4),
or with --sweep int8_sweep.{md,json}, under benchmarks/results/.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from export.formats import load_net  # noqa: E402
from export.onnx_export import export_onnx  # noqa: E402
from export.quantize import Int8Config, quantize_int8  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

from rtstyle.engines import create_engine  # noqa: E402
from rtstyle.frames import as_rgb8, from_batch, to_batch  # noqa: E402
from rtstyle.registry import builtin_styles  # noqa: E402
from rtstyle.sources import read_image  # noqa: E402

SHARED = ROOT.parent / "shared"
SIZE = (640, 480)
SHIPPED = Int8Config()
SWEEP = {
    "shipped": SHIPPED,
    "first+last float (faster)": Int8Config(keep_float=("first", "last")),
    "every conv int8": Int8Config(keep_float=()),
    "MinMax calibration": Int8Config(calibrate_method="MinMax"),
    "Entropy calibration": Int8Config(calibrate_method="Entropy"),
    "Percentile 99.99": Int8Config(percentile=99.99),
    "QOperator": Int8Config(quant_format="QOperator"),
    "s8 activations": Int8Config(activation_type="QInt8"),
    "reduce_range": Int8Config(reduce_range=True),
    "per-tensor weights": Int8Config(per_channel=False),
    "Conv+Pad+Add+Resize+Relu int8": Int8Config(ops=("Conv", "Pad", "Add", "Resize", "Relu")),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def wall_ms(engine, batch: np.ndarray, runs: int) -> float:
    engine.run(batch)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.run(batch)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def cpu_ms_one_thread(path: Path, batch: np.ndarray, runs: int) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: batch}
    session.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.process_time()
        session.run(None, feed)
        times.append(time.process_time() - t)
    return statistics.median(times) * 1e3


def photos(count: int) -> list[np.ndarray]:
    paths = sorted((SHARED / "data/content/eval").glob("*.jpg"))[:count]
    return [cv2.resize(as_rgb8(read_image(p))[0], SIZE, interpolation=cv2.INTER_AREA) for p in paths]


def stylize(engine, frames: list[np.ndarray]) -> list[np.ndarray]:
    return [from_batch(engine.run(to_batch(f))) for f in frames]


class Bench:
    """One style's FP32 reference (outputs, speed) and INT8 variants measured against it."""

    def __init__(self, style: str, tmp: Path, frames: list[np.ndarray], runs: int, speed: bool):
        _, net, _ = load_net(style)
        self.style, self.tmp, self.frames, self.runs, self.speed = style, tmp, frames, runs, speed
        self.fp32 = export_onnx(net, tmp / f"{style}.onnx")
        self.batch = to_batch(frames[0])
        engine = create_engine("onnxruntime", self.fp32)
        self.ref = stylize(engine, frames)
        if speed:
            self.fp32_wall, self.fp32_cpu = wall_ms(engine, self.batch, runs), cpu_ms_one_thread(self.fp32, self.batch, runs)

    def calib_cache(self, cfg: Int8Config) -> Path:
        """Variants that calibrate alike share one calibration (made with every conv quantized: a superset)."""
        key = (cfg.calibrate_method, cfg.percentile, cfg.calib_frames, cfg.calib_size, cfg.ops)
        path = self.tmp / f"calib-{self.style}-{hashlib.sha1(repr(key).encode()).hexdigest()[:10]}.json"
        if not path.is_file():
            quantize_int8(self.fp32, self.tmp / "superset.onnx", SHARED / "data/content/train",
                          dataclasses.replace(cfg, keep_float=()), path)
        return path

    def measure(self, label: str, cfg: Int8Config) -> tuple[dict, list[np.ndarray]]:
        t = time.perf_counter()
        q = quantize_int8(self.fp32, self.tmp / f"{self.style}.int8.onnx", SHARED / "data/content/train", cfg,
                          self.calib_cache(cfg))
        out = stylize(create_engine("onnxruntime", q), self.frames)
        values = [round(psnr(x, y), 2) for x, y in zip(out, self.ref)]
        row = {"style": self.style, "variant": label, "config": cfg.label(), "quantize_s": round(time.perf_counter() - t, 1),
               "psnr_db": values, "psnr_mean_db": round(float(np.mean(values)), 2),
               "psnr_min_db": round(float(np.min(values)), 2)}
        if self.speed:
            wall, cpu = wall_ms(create_engine("onnxruntime", q), self.batch, self.runs), cpu_ms_one_thread(q, self.batch, self.runs)
            row.update(fp32_ms=round(self.fp32_wall, 1), int8_ms=round(wall, 1), speedup=round(self.fp32_wall / wall, 2),
                       fp32_cpu_ms=round(self.fp32_cpu, 1), int8_cpu_ms=round(cpu, 1),
                       cpu_speedup=round(self.fp32_cpu / cpu, 2))
        print(json.dumps(row), flush=True)
        return row, out


def sensitivity(bench: Bench, calib_frames: int) -> list[dict]:
    """PSNR with every conv int8 except one: which layers hurt quality when quantized."""
    convs = [n.name for n in onnx.load(str(bench.fp32)).graph.node if n.op_type == "Conv"]
    saved, bench.speed = bench.speed, False
    rows = []
    for name in ["(none)", *convs]:
        cfg = Int8Config(calib_frames=calib_frames, keep_float=() if name == "(none)" else (name,))
        row, _ = bench.measure(f"float: {name}", cfg)
        rows.append({"float_conv": name, "psnr_mean_db": row["psnr_mean_db"]})
    bench.speed = saved
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sweep", action="store_true", help="starry: alternative configurations and per-conv sensitivity")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--calib-frames", type=int, default=SHIPPED.calib_frames)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    a = p.parse_args(argv)
    load_start = os.getloadavg()
    frames = photos(a.photos)
    rows, sheet, sens = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        if a.sweep:
            bench = Bench("starry", Path(tmp), frames, a.runs, speed=True)
            for label, cfg in SWEEP.items():
                rows.append(bench.measure(label, dataclasses.replace(cfg, calib_frames=a.calib_frames))[0])
            sens = sensitivity(bench, a.calib_frames)
        else:
            for style in builtin_styles():
                bench = Bench(style, Path(tmp), frames, a.runs, speed=style == "starry")
                row, out = bench.measure("shipped", dataclasses.replace(SHIPPED, calib_frames=a.calib_frames))
                rows.append(row)
                sheet.append((style, frames[1], bench.ref[1], out[1]))
    load_end = os.getloadavg()
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": SIZE, "runs": a.runs,
               "calib_frames": a.calib_frames, "cores": os.cpu_count(), "sweep": a.sweep,
               "loadavg_start": [round(v, 2) for v in load_start], "loadavg_end": [round(v, 2) for v in load_end],
               "rows": rows, "sensitivity": sens}
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "int8_sweep" if a.sweep else "int8"
    (a.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (a.out / f"{stem}.md").write_text(markdown(results))
    if sheet:
        write_sheet(a.out / "int8_sheet.jpg", sheet)
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    lines = ["# INT8 vs FP32 on the CPU (`python benchmarks/int8.py" + (" --sweep" if r["sweep"] else "") + "`)", "",
             f"{r['date']}, {r['cores']} cores, load average {r['loadavg_start']} at the start and "
             f"{r['loadavg_end']} at the end (1/5/15 min). ONNX Runtime CPU. Speed (starry network, "
             f"{r['size'][0]}x{r['size'][1]}, median of {r['runs']} calls): wall-clock with all cores, and CPU "
             "time of a single-thread session (less sensitive to a busy machine). PSNR: INT8 vs FP32 output "
             f"(8-bit RGB) on eval photos at that size; calibration: {r['calib_frames']} photos from "
             "data/content/train.", "",
             "| style | configuration | FP32 ms | INT8 ms | speed-up | 1-thread CPU ms FP32 / INT8 | CPU speed-up "
             "| PSNR mean / min (dB) |", "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        speed = (f"{row['fp32_ms']} | {row['int8_ms']} | {row['speedup']}x | {row['fp32_cpu_ms']} / "
                 f"{row['int8_cpu_ms']} | {row['cpu_speedup']}x" if "speedup" in row else " | | | | ")
        lines.append(f"| {row['style']} | {row['variant']}: {row['config']} | {speed} "
                     f"| {row['psnr_mean_db']} / {row['psnr_min_db']} |")
    if r["sensitivity"]:
        lines += ["", "Per-conv sensitivity (starry): PSNR with every conv int8 except the one named.", "",
                  "| conv kept float | PSNR mean (dB) |", "|---|---|"]
        lines += [f"| {s['float_conv']} | {s['psnr_mean_db']} |" for s in r["sensitivity"]]
    return "\n".join(lines) + "\n"


def write_sheet(path: Path, rows: list) -> None:
    tiles = []
    for style, photo, ref, out in rows:
        diff = np.clip(np.abs(out.astype(int) - ref.astype(int)) * 4, 0, 255).astype(np.uint8)
        row = np.concatenate([photo, ref, out, diff], axis=1)
        cv2.putText(row, f"{style}: photo | FP32 | INT8 | |diff| x4", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                    (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(row)
    sheet = np.concatenate(tiles, axis=0)
    sheet = cv2.resize(sheet, (sheet.shape[1] // 2, sheet.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


if __name__ == "__main__":
    sys.exit(main())
