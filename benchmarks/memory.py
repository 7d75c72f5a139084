"""What keeping freed memory (rtstyle.memory) is worth per frame, with and without it.

    python benchmarks/memory.py [--frames 40]

For each of the two malloc settings and each of these, in a fresh process
(the setting is per process, and glibc's own threshold moves with what the
process freed before): the first --frames frames of bunny.mp4 at 640x480 through

* the guided upsampler alone (320x240 stylized stand-in -> 640x480), and
* the `fast` and `balanced` presets' Stylizer (``stylize_timed``, 2 threads),

with page faults per frame (getrusage minor faults) and median ms per stage.
Writes benchmarks/results/memory.{json,md}, with the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTSTYLE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"

# Runs in a child process: argv = clip, frames, "keep" | "default", what.
PROBE = r"""
import json, resource, statistics, sys, time
import cv2
clip, n, mode, what = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if mode == "keep":
    from rtstyle.memory import keep_freed_memory
    assert keep_freed_memory()
from rtstyle import Stylizer
from rtstyle.upsample import downscale, guided_upsample

cap = cv2.VideoCapture(clip)
frames = []
while len(frames) < n + 1:
    ok, bgr = cap.read()
    if not ok:
        break
    frames.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (640, 480), interpolation=cv2.INTER_AREA))

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def measure(step):
    step(frames[0])  # warm-up
    stages, before = {}, faults()
    for f in frames[1:]:
        for k, v in step(f).items():
            stages.setdefault(k, []).append(v)
    out = {k: round(1e3 * statistics.median(v), 2) for k, v in stages.items()}
    out["faults_per_frame"] = round((faults() - before) / (len(frames) - 1))
    return out

def upsample(f):
    small = downscale(f, 0.5)
    t = time.perf_counter()
    guided_upsample(small, f)
    return {"upsample": time.perf_counter() - t}

if what == "upsample only":
    print(json.dumps(measure(upsample)))
else:
    s = Stylizer("starry", quality=what)
    print(json.dumps(measure(lambda f: s.stylize_timed(f)[1])))
"""


WHATS = ("upsample only", "fast", "balanced")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--clip", type=Path, default=SHARED / "data/video/bunny.mp4")
    a = p.parse_args(argv)
    res = {"load_before": loadavg(), "frames": a.frames, "runs": {"default": [{}, {}], "keep": [{}, {}]}}
    for what in WHATS:
        for i, mode in enumerate(("default", "keep", "default", "keep")):  # interleaved: same background load
            out = subprocess.run([sys.executable, "-c", PROBE, str(a.clip), str(a.frames), mode, what],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            res["runs"][mode][i // 2][what] = json.loads(out.stdout)
            print(what, mode, out.stdout.strip(), flush=True)
    res["load_after"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["# Freed memory kept vs glibc's default (`python benchmarks/memory.py`)", "",
             f"{os.cpu_count()} cores, load average {res['load_before']} before, {res['load_after']} after; "
             f"{a.frames} bunny frames at 640x480, each mode run twice in fresh processes, interleaved. "
             "ms are medians per frame; faults are minor page faults per frame.", "",
             "| what | stage | glibc default: ms (runs) | kept: ms (runs) | faults/frame default | faults/frame kept |",
             "|---|---|---|---|---|---|"]
    for what in res["runs"]["keep"][0]:
        for stage in res["runs"]["keep"][0][what]:
            if stage == "faults_per_frame":
                continue
            d = ", ".join(str(r[what][stage]) for r in res["runs"]["default"])
            k = ", ".join(str(r[what][stage]) for r in res["runs"]["keep"])
            fd = ", ".join(str(r[what]["faults_per_frame"]) for r in res["runs"]["default"])
            fk = ", ".join(str(r[what]["faults_per_frame"]) for r in res["runs"]["keep"])
            lines.append(f"| {what} | {stage} | {d} | {k} | {fd} | {fk} |")
    md = "\n".join(lines) + "\n"
    (RESULTS / "memory.md").write_text(md)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
