"""What the space-to-depth student costs next to the Johnson layouts, at 640x480 on this CPU.

    python benchmarks/fastnet_speed.py [--runs 20] [--threads 2,1]

Candidates are exported with random weights (speed does not depend on the
values; FP16-stored weights as shipped) and run in an ONNX Runtime session
with ``--threads`` intra-op threads (the engine's other session options left
at their defaults): median wall ms and median CPU ms (process time: on a
shared machine it moves less with the load than wall time) over ``--runs``
calls after three warm-ups, next to conv GFLOP per frame. Shipped students
(``rtstyle/styles/NAME.fast.onnx``) are timed too, and with ``--int8`` also
their static INT8 version (export/quantize.py, calibrated on 16 training
photos), with its PSNR against the FP32 student on 4 eval photos.

Writes benchmarks/results/fastnet_speed.{md,json}; the load average before
and after goes with them (issue 7's target: <= ~25 ms with 2 threads, idle).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.fps import conv_gflop  # noqa: E402
from export.onnx_export import export_onnx  # noqa: E402
from rtstyle.models.fastnet import FastNet  # noqa: E402
from rtstyle.models.johnson import TransformerNet  # noqa: E402
from rtstyle.registry import builtin_styles  # noqa: E402

RESULTS = ROOT / "benchmarks/results"
SHARED = ROOT.parent / "shared"
W, H = 640, 480
CANDIDATES = {
    "johnson 32x5 (full network)": lambda: TransformerNet(32, 5),
    "johnson 16x3 (NAME.slim.onnx)": lambda: TransformerNet(16, 3),
    "fastnet 64x3": lambda: FastNet(64, 3),
    "fastnet-smooth 64x3": lambda: FastNet(64, 3, smooth=True),
    "fastnet 96x3": lambda: FastNet(96, 3),
}


def timed(path: Path, threads: int, runs: int) -> dict[str, float]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, H, W), dtype=np.float32)
    for _ in range(3):
        session.run(None, {"image": x})
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        session.run(None, {"image": x})
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"wall_ms": round(float(np.median(wall)) * 1e3, 1), "cpu_ms": round(float(np.median(cpu)) * 1e3, 1)}


def int8_of(fp32_onnx: Path, out: Path) -> tuple[Path, float]:
    """Static INT8 of a shipped student (weights read back into FastNet) and its PSNR vs the FP32 student."""
    from export.quantize import Int8Config, quantize_int8
    from export.train import read_rgb, resize_long
    from rtstyle.engines.torch_eager import state_dict_from_onnx
    from rtstyle.frames import from_batch, to_batch
    from rtstyle.models.build import network_for

    state = state_dict_from_onnx(fp32_onnx)
    net = network_for(state)
    net.load_state_dict(state)
    fp32 = export_onnx(net, out.with_suffix(".fp32.onnx"))
    quantize_int8(fp32, out, SHARED / "data/content/train", Int8Config(calib_frames=16))
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, out)]
    psnr = []
    for photo in sorted((SHARED / "data/content/eval").glob("*.jpg"))[:4]:
        batch = to_batch(resize_long(read_rgb(photo), W))
        a, b = (from_batch(s.run(None, {"image": batch})[0]).astype(np.float64) for s in sessions)
        psnr.append(10 * np.log10(255**2 / max(np.mean((a - b) ** 2), 1e-10)))
    return out, round(float(np.mean(psnr)), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", default="2,1")
    p.add_argument("--int8", action="store_true", help="also the shipped students' INT8 versions")
    a = p.parse_args(argv)
    threads = [int(t) for t in a.threads.split(",")]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models: list[tuple[str, Path, dict]] = []
        for i, (name, make) in enumerate(CANDIDATES.items()):
            torch.manual_seed(0)
            models.append((name, export_onnx(make(), Path(tmp) / f"c{i}.onnx", fp16_weights=True), {}))
        for style, model in builtin_styles().items():
            if model.fast_path:
                models.append((f"shipped {model.fast_path.name}", model.fast_path, {}))
                if a.int8:
                    q, psnr = int8_of(model.fast_path, Path(tmp) / f"{style}.int8.onnx")
                    models.append((f"shipped {style}.fast INT8", q, {"psnr_vs_fp32_db": psnr}))
        for name, path, extra in models:
            row = {"model": name, "gflop_640x480": round(conv_gflop(path, W, H), 2), **extra}
            for t in threads:
                row[f"threads_{t}"] = timed(path, t, a.runs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count(), "runs": a.runs,
              "size": f"{W}x{H}", "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fastnet_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Space-to-depth student vs Johnson layouts ({W}x{H}, ONNX Runtime fp32, median of {a.runs})", "",
             f"`python benchmarks/fastnet_speed.py{' --int8' if a.int8 else ''}`; load average before "
             f"{load_before[0]:.2f}, after {result['load_after'][0]:.2f} on {os.cpu_count()} cores. "
             "Wall ms (CPU ms in brackets) per frame.", "",
             "| model | GFLOP | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads)
             + " | PSNR vs FP32 |", "|---|---|" + "---|" * len(threads) + "---|"]
    for r in rows:
        cells = " | ".join(f"{r[f'threads_{t}']['wall_ms']} ({r[f'threads_{t}']['cpu_ms']})" for t in threads)
        lines.append(f"| {r['model']} | {r['gflop_640x480']} | {cells} | {r.get('psnr_vs_fp32_db', '')} |")
    (RESULTS / "fastnet_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
