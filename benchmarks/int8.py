"""INT8 vs FP32 on the CPU: speed at 640x480, PSNR on real photos, a side-by-side sheet.

    python benchmarks/int8.py            # the shipped configuration, every built-in style
    python benchmarks/int8.py --sweep    # also the alternatives tried (QOperator, u8/s8, ...)

Speed: median of ``--runs`` ONNX Runtime calls (all cores, ORT_ENABLE_ALL) on
one 1x3x480x640 batch after a warm-up, for the starry network (every style has
the same architecture, so the same speed). PSNR: each style's INT8 output
against its FP32 output on ``--photos`` eval photos at 640x480 (not used in
calibration, which takes ``data/content/train``). Writes int8.md, int8.json
and int8_sheet.jpg (photo | FP32 | INT8 | |difference| x4) under
benchmarks/results/.
"""
from __future__ import annotations

import argparse
import dataclasses
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
from rtstyle.engines import EngineOptions, create_engine  # noqa: E402
from rtstyle.frames import as_rgb8, from_batch, to_batch  # noqa: E402
from rtstyle.registry import builtin_styles  # noqa: E402
from rtstyle.sources import read_image  # noqa: E402

SHARED = ROOT.parent / "shared"
SIZE = (640, 480)
SWEEP = {
    "shipped (QDQ, Percentile, first+last conv float)": Int8Config(),
    "QDQ, MinMax calibration": Int8Config(calibrate_method="MinMax"),
    "QDQ, every conv int8": Int8Config(keep_float=()),
    "QOperator": Int8Config(quant_format="QOperator"),
    "QDQ, s8 activations": Int8Config(activation_type="QInt8"),
    "QDQ, reduce_range": Int8Config(reduce_range=True),
    "QDQ, per-tensor weights": Int8Config(per_channel=False),
    "QDQ, Conv+Pad+Add+Resize int8": Int8Config(ops=("Conv", "Pad", "Add", "Resize")),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def median_ms(engine, batch: np.ndarray, runs: int) -> float:
    engine.run(batch)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.run(batch)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def photos(count: int) -> list[np.ndarray]:
    paths = sorted((SHARED / "data/content/eval").glob("*.jpg"))[:count]
    return [cv2.resize(as_rgb8(read_image(p))[0], SIZE, interpolation=cv2.INTER_AREA) for p in paths]


def stylize(engine, frames: list[np.ndarray]) -> list[np.ndarray]:
    return [from_batch(engine.run(to_batch(f))) for f in frames]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sweep", action="store_true", help="also measure the alternative configurations")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--calib-frames", type=int, default=Int8Config.calib_frames)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    a = p.parse_args(argv)
    load_start = os.getloadavg()
    calib = SHARED / "data/content/train"
    frames = photos(a.photos)
    batch = to_batch(frames[0])
    opts = EngineOptions(threads=0)
    rows, sheet = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        variants = SWEEP if a.sweep else dict(list(SWEEP.items())[:1])
        for style in builtin_styles():
            _, net, _ = load_net(style)
            fp32 = export_onnx(net, tmp / f"{style}.onnx")
            ref_engine = create_engine("onnxruntime", fp32, opts)
            ref = stylize(ref_engine, frames)
            fp32_ms = median_ms(ref_engine, batch, a.runs) if style == "starry" else None
            for label, cfg in (variants.items() if style == "starry" else list(variants.items())[:1]):
                cfg = dataclasses.replace(cfg, calib_frames=a.calib_frames)
                t = time.perf_counter()
                q = quantize_int8(fp32, tmp / f"{style}.int8.onnx", calib, cfg)
                quant_s = time.perf_counter() - t
                engine = create_engine("onnxruntime", q, opts)
                out = stylize(engine, frames)
                row = {"style": style, "variant": label, "config": cfg.label(), "quantize_s": round(quant_s, 1),
                       "psnr_db": [round(psnr(x, y), 2) for x, y in zip(out, ref)]}
                row["psnr_mean_db"] = round(float(np.mean(row["psnr_db"])), 2)
                row["psnr_min_db"] = round(float(np.min(row["psnr_db"])), 2)
                if fp32_ms is not None:
                    ms = median_ms(engine, batch, a.runs)
                    row.update(fp32_ms=round(fp32_ms, 1), int8_ms=round(ms, 1), speedup=round(fp32_ms / ms, 2))
                if label == next(iter(SWEEP)):
                    sheet.append((style, frames[1], ref[1], out[1]))
                rows.append(row)
                print(json.dumps(row), flush=True)
    load_end = os.getloadavg()
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": SIZE, "runs": a.runs,
               "calib_frames": a.calib_frames, "cores": os.cpu_count(),
               "loadavg_start": [round(v, 2) for v in load_start], "loadavg_end": [round(v, 2) for v in load_end],
               "rows": rows}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "int8.json").write_text(json.dumps(results, indent=2) + "\n")
    (a.out / "int8.md").write_text(markdown(results))
    write_sheet(a.out / "int8_sheet.jpg", sheet)
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    lines = ["# INT8 vs FP32 on the CPU (`python benchmarks/int8.py" + (" --sweep" if len(r["rows"]) > 4 else "")
             + "`)", "",
             f"{r['date']}, {r['cores']} cores, load average {r['loadavg_start']} at the start and "
             f"{r['loadavg_end']} at the end (1/5/15 min). ONNX Runtime CPU, all cores. Speed: median of "
             f"{r['runs']} calls at {r['size'][0]}x{r['size'][1]}, starry network. PSNR: INT8 vs FP32 output "
             f"(8-bit RGB) on eval photos at that size; calibration: {r['calib_frames']} photos from "
             "data/content/train.", "",
             "| style | configuration | FP32 ms | INT8 ms | speed-up | PSNR mean / min (dB) |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        speed = (f"{row['fp32_ms']} | {row['int8_ms']} | {row['speedup']}x" if "speedup" in row else " | | ")
        lines.append(f"| {row['style']} | {row['variant']}: {row['config']} | {speed} "
                     f"| {row['psnr_mean_db']} / {row['psnr_min_db']} |")
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
