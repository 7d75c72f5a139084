"""Training throughput of the per-style trainer for a few settings on this machine.

    python benchmarks/train_speed.py [--steps 6] [--vgg PATH] [--data DIR]

Prints a Markdown table (steps/s and training pixels/s: crop^2 x batch x steps/s)
and writes it to benchmarks/results/train_speed.md.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from export.train import TrainConfig, Trainer  # noqa: E402

SHARED = ROOT.parent / "shared"


def measure(cfg: TrainConfig, steps: int) -> float:
    trainer = Trainer(cfg)
    for _ in range(2):  # warm-up: allocator, oneDNN primitive cache
        trainer.train_step()
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--vgg", default=os.environ.get("RTSTYLE_VGG16", str(SHARED / "weights/vgg16_features.pth")))
    p.add_argument("--data", default=str(SHARED / "data/content/train"))
    p.add_argument("--style-image", default=str(SHARED / "data/styles/starry.jpg"))
    a = p.parse_args()
    cores = torch.get_num_threads()  # read before the 1-thread setting changes it
    rows = []
    settings = [
        # crop, batch, bf16, channels_last, threads
        *[(c, 4, False, False, 0) for c in (128, 192, 256)],
        (192, 4, True, False, 0),
        (192, 4, False, True, 0),
        (192, 4, True, True, 0),
        (192, 8, True, True, 0),
        (192, 4, True, True, 1),
    ]
    with tempfile.TemporaryDirectory() as out:
        for crop, batch, bf16, cl, threads in settings:
            cfg = TrainConfig(a.style_image, "bench", a.data, vgg=a.vgg, out=out, crop=crop, batch=batch,
                              bf16=bf16, channels_last=cl, threads=threads or cores)
            sps = measure(cfg, a.steps)
            row = (crop, batch, "bf16" if bf16 else "fp32", "yes" if cl else "no", cfg.threads, sps,
                   sps * batch * crop * crop / 1e6)
            rows.append(row)
            print("crop %d batch %d %s channels_last %s threads %d: %.3f steps/s, %.2f Mpx/s" % row, flush=True)
    lines = ["| crop | batch | precision | channels_last | threads | steps/s | Mpx/s |", "|---|---|---|---|---|---|---|"]
    lines += ["| %d | %d | %s | %s | %d | %.3f | %.2f |" % r for r in rows]
    table = "\n".join(lines)
    print(table)
    out_md = ROOT / "benchmarks/results/train_speed.md"
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(f"# Training throughput (torch {torch.__version__}, {cores} cores, "
                      f"`python benchmarks/train_speed.py --steps {a.steps}`)\n\n" + table + "\n")


if __name__ == "__main__":
    main()
