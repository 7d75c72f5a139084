"""Pick a slim student's size by measurement, before training any.

    python benchmarks/slim_candidates.py [--runs 5] [--candidates 32x5,24x4,16x5,16x3,16x2]

Each (width, blocks) candidate of rtstyle.models.johnson.TransformerNet is
exported with random weights (speed does not depend on the values) and timed
with the onnxruntime engine at 640x480 and 320x240, next to its conv GFLOP per
frame. 32x5 is the teacher (the shipped full network's shape). Writes
benchmarks/results/slim_candidates.{md,json}; the load average before and
after is recorded because the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.fps import conv_gflop  # noqa: E402
from export.onnx_export import export_onnx  # noqa: E402
from rtstyle.engines import EngineOptions, create_engine  # noqa: E402
from rtstyle.models.johnson import TransformerNet  # noqa: E402

SIZES = ((640, 480), (320, 240))
RESULTS = ROOT / "benchmarks/results"


def latency_ms(model: Path, width: int, height: int, runs: int) -> float:
    """Median of ``runs`` onnxruntime calls after one warm-up (the engine's own session options)."""
    import time

    engine = create_engine("onnxruntime", model, EngineOptions())
    batch = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    engine.run(batch)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.run(batch)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def parse_candidates(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in c.split("x")) for c in text.split(",")]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--candidates", default="32x5,24x4,24x3,16x5,16x3,16x2")
    a = p.parse_args(argv)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width, blocks in parse_candidates(a.candidates):
            torch.manual_seed(0)
            path = export_onnx(TransformerNet(width, blocks), Path(tmp) / f"w{width}b{blocks}.onnx", fp16_weights=True)
            row = {"width": width, "blocks": blocks}
            for w, h in SIZES:
                row[f"gflop_{w}x{h}"] = round(conv_gflop(path, w, h), 2)
                row[f"ms_{w}x{h}"] = round(latency_ms(path, w, h, a.runs), 1)
            rows.append(row)
            print(row, flush=True)
    teacher = rows[0]
    for r in rows:
        for w, h in SIZES:
            r[f"speedup_{w}x{h}"] = round(teacher[f"ms_{w}x{h}"] / r[f"ms_{w}x{h}"], 2)
            r[f"flop_ratio_{w}x{h}"] = round(teacher[f"gflop_{w}x{h}"] / r[f"gflop_{w}x{h}"], 2)
    result = {"load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count(), "runs": a.runs,
              "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "slim_candidates.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Slim student candidates (random weights, onnxruntime, median of {a.runs})", "",
             f"`python benchmarks/slim_candidates.py`; load average before {load_before[0]:.2f}, "
             f"after {result['load_after'][0]:.2f} on {os.cpu_count()} cores. First row is the teacher's shape.", "",
             "| width x blocks | GFLOP 640x480 | ms 640x480 | speed-up | GFLOP 320x240 | ms 320x240 | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['width']}x{r['blocks']} | {r['gflop_640x480']} | {r['ms_640x480']} | "
                     f"{r['speedup_640x480']}x | {r['gflop_320x240']} | {r['ms_320x240']} | {r['speedup_320x240']}x |")
    (RESULTS / "slim_candidates.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
