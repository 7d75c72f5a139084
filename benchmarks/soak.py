"""Soak test of `rtstyle webcam`: memory and threads over a long headless run.

Serves a clip from ../shared as a loopback MJPEG camera, runs

    rtstyle webcam --camera http://127.0.0.1:PORT/ --size 640x480 --no-window --output soak.mp4 --duration N

in a subprocess, and samples its RSS and thread count (from /proc) every few
seconds. Halfway through, the stream is killed and brought back, so the
reconnect path is soaked too. Writes benchmarks/results/soak.json and soak.md.

    python benchmarks/soak.py                 # 10 minutes, default style, 640x480
    python benchmarks/soak.py --minutes 1     # a quick look
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTSTYLE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"

from rtstyle.loopback import LoopbackCamera, LoopbackConfig  # noqa: E402


def proc_status(pid: int) -> tuple[float, int] | None:
    """(RSS in MiB, thread count) of a live process, from /proc/PID/status."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--every", type=float, default=5.0, help="sampling period, seconds")
    p.add_argument("--size", default="640x480")
    p.add_argument("--style", default="starry")
    p.add_argument("--clip", type=Path, default=SHARED / "data/video/bunny.mp4")
    p.add_argument("--out", type=Path, default=RESULTS / "soak")
    a = p.parse_args()
    duration = a.minutes * 60
    w, h = (int(v) for v in a.size.split("x"))
    load_before = loadavg()
    camera = LoopbackCamera(a.clip, 0, LoopbackConfig(size=(w, h), duration_s=duration + 60)).start()
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "stats.json"
        # = `rtstyle webcam ...`, with this interpreter
        cmd = [sys.executable, "-m", "rtstyle.cli", "webcam", "--camera", camera.url, "--size", a.size,
               "--style", a.style, "--no-window", "--output", str(Path(tmp) / "soak.mp4"),
               "--duration", str(duration), "--reconnect-timeout", "30", "--stats-json", str(stats_path)]
        log = open(Path(tmp) / "stderr.log", "w+")
        proc = subprocess.Popen(cmd, stderr=log)
        start = time.monotonic()
        samples, dropped_stream = [], False
        while proc.poll() is None:
            t = time.monotonic() - start
            s = proc_status(proc.pid)
            if s:
                samples.append({"t_s": round(t, 1), "rss_mib": round(s[0], 1), "threads": s[1]})
                print(f"{t:6.0f} s  RSS {s[0]:7.1f} MiB  threads {s[1]}", flush=True)
            if not dropped_stream and t > duration / 2:
                camera.stop()  # the camera goes away for 3 s: the run must reconnect
                time.sleep(3)
                camera.start()
                dropped_stream = True
            time.sleep(a.every)
        log.seek(0)
        stderr = log.read()
        log.close()
        report = json.loads(stats_path.read_text()) if stats_path.exists() else None
    camera.stop()
    load_after = loadavg()
    if proc.returncode != 0 or report is None:
        print(stderr, file=sys.stderr)
        print(f"soak: rtstyle webcam exited with {proc.returncode}", file=sys.stderr)
        return 1
    warm = [s for s in samples if s["t_s"] >= 60] or samples  # after model load and allocator warm-up
    result = {
        "command": "rtstyle " + " ".join(cmd[3:]), "minutes": a.minutes, "size": a.size, "style": a.style,
        "loadavg_before": load_before, "loadavg_after": load_after,
        "rss_mib_first": samples[0]["rss_mib"], "rss_mib_at_60s": warm[0]["rss_mib"],
        "rss_mib_last": samples[-1]["rss_mib"], "rss_mib_max": max(s["rss_mib"] for s in samples),
        "rss_growth_after_60s_mib": round(samples[-1]["rss_mib"] - warm[0]["rss_mib"], 1),
        "threads_min_after_60s": min(s["threads"] for s in warm),
        "threads_max_after_60s": max(s["threads"] for s in warm),
        "reconnected": "reconnected" in stderr, "webcam_stats": report, "samples": samples,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {s['t_s']:.0f} | {s['rss_mib']:.1f} | {s['threads']} |" for s in samples[::max(1, len(samples) // 40)])
    a.out.with_suffix(".md").write_text(
        f"# rtstyle webcam soak\n\n`{result['command']}` (stream killed for 3 s at half time)\n\n"
        f"load average before {load_before}, after {load_after}\n\n"
        f"- RSS: {result['rss_mib_first']} MiB at the first sample, {result['rss_mib_at_60s']} MiB at 60 s, "
        f"{result['rss_mib_last']} MiB at the end (growth after 60 s: {result['rss_growth_after_60s_mib']} MiB), "
        f"max {result['rss_mib_max']} MiB\n"
        f"- threads after 60 s: {result['threads_min_after_60s']}..{result['threads_max_after_60s']}\n"
        f"- reconnected after the stream was killed: {result['reconnected']}\n"
        f"- {report['frames']} frames delivered, {report['fps']} fps, {report['dropped']} of {report['captured']} "
        f"captured frames dropped, capture->encode p50/p95 {report['stages']['total']['p50_ms']}/"
        f"{report['stages']['total']['p95_ms']} ms\n\n"
        f"| t (s) | RSS (MiB) | threads |\n|---|---|---|\n{rows}\n")
    print(a.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
