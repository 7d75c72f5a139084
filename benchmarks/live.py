"""Issue 7's live goal in one command: `rtstyle webcam` on a 640x480, 30 fps loopback camera.

    python benchmarks/live.py                                   # --quality fast, 30 fps, 30 s
    python benchmarks/live.py --seconds 20 --variant "1 worker=" --variant "2 workers=--workers 2"
    python benchmarks/live.py --variant "no spin=--ort spinning=off" --rounds 2 --out benchmarks/results/live_spin
    python benchmarks/live.py --matrix --rounds 2 --seconds 15    # the ONNX Runtime settings -> results/ort_options

For each variant (a label and extra `rtstyle webcam` arguments; default: one
with none) this starts the loopback MJPEG camera (``python -m rtstyle.loopback``,
a separate process JPEG-encoding every frame on the same cores, like a USB
camera's driver would not: a pessimistic stand-in), then runs

    rtstyle webcam --camera http://127.0.0.1:PORT/ --no-window --quality fast \\
        --stats-json S --duration SECONDS [variant arguments]

as its own process and reads that run's --stats-json: stylized fps, frames
dropped of those captured, and ``total`` (capture -> handed to the outputs)
p50/p95. The load average is read before and after each run. With --rounds N
the variants are run N times, interleaved (A B A B), so that they share
whatever else the machine was doing; each row is one run. With --busy N, N
busy-looping processes (a stand-in for the other programs on a user's laptop)
run beside the camera and rtstyle for the length of each run.

The goal (issue 7): fps >= 30 with total p95 <= 80 ms. Writes OUT.json and
OUT.md (default benchmarks/results/live).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from webcam_latency import free_port, loadavg  # the same loopback-camera helpers (this folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTSTYLE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
GOAL_FPS, GOAL_P95_MS = 30.0, 80.0
# --matrix: one variant per ONNX Runtime setting, each given explicitly so that defaults changing later
# do not change what a row means (EngineOptions, rtstyle/engines/base.py).
MATRIX = (
    ("2 threads, spinning (ORT default)", "--threads 2 --ort spinning=on"),
    ("2 threads, no spinning", "--threads 2 --ort spinning=off"),
    ("1 thread, no spinning", "--threads 1 --ort spinning=off"),
    ("2 workers x 1 thread, no spinning", "--workers 2 --ort spinning=off"),
    ("optimization basic", "--threads 2 --ort spinning=off --ort optimization=basic"),
    ("optimization layout (NCHWc)", "--threads 2 --ort spinning=off --ort optimization=layout"),
    ("no memory pattern, no arena", "--threads 2 --ort spinning=off --ort memory_pattern=off --ort cpu_arena=off"),
    ("parallel execution", "--threads 2 --ort spinning=off --ort parallel_execution=on"),
)


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the loopback camera did not start on port {port}")


def parse_variant(text: str) -> tuple[str, list[str]]:
    label, sep, args = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LABEL=ARGS, got {text!r}")
    return label.strip(), shlex.split(args)


def run_once(a: argparse.Namespace, label: str, extra: list[str], folder: Path) -> dict:
    """One loopback camera + one `rtstyle webcam` process; the run's own stats, and the load around it."""
    port = free_port()
    stats = folder / f"stats_{port}.json"
    server = subprocess.Popen([sys.executable, "-m", "rtstyle.loopback", str(a.clip), "--port", str(port),
                               "--size", a.size, "--fps", str(a.fps), "--duration", str(a.seconds + 60)],
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        time.sleep(1.0)  # the camera settles into its frame rate
        cmd = [sys.executable, "-m", "rtstyle.cli", "webcam", "--camera", f"http://127.0.0.1:{port}/",
               "--no-window", *([] if a.quality == "none" else ["--quality", a.quality]),
               *([] if {"--model", "--style-image"} & set(extra) else ["--style", a.style]), "--stats-json", str(stats),
               "--duration", str(a.seconds), "-q", *extra]
        before = loadavg()
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        finally:
            for b in busy:
                b.kill()
                b.wait()
        after = loadavg()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    if done.returncode != 0:
        raise RuntimeError(f"{label}: rtstyle webcam exited {done.returncode}: {done.stderr.strip()}")
    report = json.loads(stats.read_text())
    st = report["stages"]

    def q(stage: str, p: str) -> float | None:
        return st.get(stage, {}).get(f"{p}_ms")

    return {"label": label, "args": extra, "load_before": before, "load_after": after,
            "fps": report["fps"], "frames": report["frames"], "captured": report["captured"],
            "dropped": report["dropped"], "total_p50_ms": q("total", "p50"), "total_p95_ms": q("total", "p95"),
            "inference_p50_ms": q("inference", "p50"), "upsample_p50_ms": q("upsample", "p50"),
            "decode_p50_ms": q("decode", "p50"),
            "goal_met": report["fps"] >= GOAL_FPS and (q("total", "p95") or 1e9) <= GOAL_P95_MS,
            "report": report}


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def markdown(a: argparse.Namespace, rows: list[dict], argv: list[str]) -> str:
    preset = "(no --quality)" if a.quality == "none" else f"--quality {a.quality}"
    lines = [f"# Live: `rtstyle webcam {preset}` on a {a.size} @ {a.fps:g} fps loopback camera",
             "", f"`python benchmarks/live.py {shlex.join(argv)}`", "",
             f"{os.cpu_count()} cores; {a.seconds:g} s per run, style {a.style}, clip {a.clip.name}; the loopback "
             "camera (JPEG encoding) runs on the same cores"
             + (f", and so do {a.busy} busy-looping processes (--busy)" if a.busy else "")
             + ". Goal (issue 7): fps >= 30 and total p95 <= 80 ms. "
             "total = capture -> handed to the outputs, from the run's own --stats-json.", "",
             "| variant | extra arguments | load before -> after | stylized fps | dropped / captured "
             "| total p50 / p95 ms | inference p50 | upsample p50 | decode p50 | goal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | `{' '.join(r['args']) or '-'}` | {r['load_before']} -> {r['load_after']} "
                     f"| {r['fps']:.2f} | {r['dropped']} / {r['captured']} | {ms(r['total_p50_ms'])} / "
                     f"{ms(r['total_p95_ms'])} | {ms(r['inference_p50_ms'])} | {ms(r['upsample_p50_ms'])} "
                     f"| {ms(r['decode_p50_ms'])} | {'yes' if r['goal_met'] else 'no'} |")
    labels = list(dict.fromkeys(r["label"] for r in rows))
    if len(rows) > len(labels):  # several rounds: one line per variant, medians over its runs
        lines += ["", "Median over the rounds:", "", "| variant | runs | stylized fps | total p50 / p95 ms | inference p50 |",
                  "|---|---|---|---|---|"]
        for label in labels:
            runs = [r for r in rows if r["label"] == label]

            def med(key: str) -> float | None:
                values = [r[key] for r in runs if r[key] is not None]
                return statistics.median(values) if values else None

            lines.append(f"| {label} | {len(runs)} | {med('fps'):.2f} | {ms(med('total_p50_ms'))} / "
                         f"{ms(med('total_p95_ms'))} | {ms(med('inference_p50_ms'))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quality", default="fast", choices=("fast", "balanced", "best", "none"),
                   help="preset (default: fast); none: no --quality, e.g. for a --model at full size")
    p.add_argument("--fps", type=float, default=30.0, help="camera frame rate (default: 30)")
    p.add_argument("--size", default="640x480")
    p.add_argument("--seconds", type=float, default=30.0, help="per run (default: 30)")
    p.add_argument("--style", default="starry")
    p.add_argument("--clip", type=Path, default=SHARED / "data/video/bunny.mp4")
    p.add_argument("--variant", type=parse_variant, action="append", metavar="LABEL=ARGS",
                   help="extra rtstyle webcam arguments under a label; repeatable (default: one, no extra)")
    p.add_argument("--rounds", type=int, default=1, help="run every variant this many times, interleaved")
    p.add_argument("--matrix", action="store_true",
                   help="add the ONNX Runtime settings matrix (MATRIX) to the variants; --out defaults to "
                        "results/ort_options")
    p.add_argument("--busy", type=int, default=0, metavar="N",
                   help="run N busy-looping processes beside each run (other programs competing for the cores)")
    p.add_argument("--model", type=Path, help="an ONNX style model for every run (e.g. with --quality none)")
    p.add_argument("--out", type=Path, help="OUT.json and OUT.md (default: benchmarks/results/live)")
    a = p.parse_args(argv)
    if not a.clip.is_file():
        p.error(f"clip not found: {a.clip}")
    a.out = a.out or RESULTS / ("ort_options" if a.matrix else "live")
    variants = (a.variant or []) + ([parse_variant(f"{k}={v}") for k, v in MATRIX] if a.matrix else [])
    variants = variants or [("default", [])]
    if a.model:
        variants = [(label, ["--model", str(a.model), *extra]) for label, extra in variants]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.rounds):
            for label, extra in variants:
                r = run_once(a, label, extra, Path(tmp))
                rows.append(r)
                print(f"{label}: {r['fps']:.2f} fps, dropped {r['dropped']}/{r['captured']}, total p50/p95 "
                      f"{ms(r['total_p50_ms'])}/{ms(r['total_p95_ms'])} ms, load {r['load_before']} -> "
                      f"{r['load_after']}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(
        {"quality": a.quality, "fps": a.fps, "size": a.size, "seconds": a.seconds, "style": a.style,
         "cores": os.cpu_count(), "busy": a.busy, "argv": argv, "runs": rows}, indent=2) + "\n")
    md = markdown(a, rows, argv)
    a.out.with_suffix(".md").write_text(md)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
