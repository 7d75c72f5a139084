"""Capture -> display latency of `rtstyle webcam`, measured from the pictures themselves.

A loopback MJPEG camera (a separate process) serves a clip from ../shared with
each frame's index stamped in its top-left corner and logs when each index went
on the wire (time.monotonic(), a system-wide clock). `rtstyle webcam` runs here
with its real window (under Xvfb when there is no display; headless with
--no-window) and, where each stylized frame is shown, its stamp is read back
from the displayed picture: latency = shown - served, per frame, including the
network hop, decoding, waiting for the network and drawing.

    python benchmarks/webcam_latency.py                       # 640x480, starry, 60 s, window
    python benchmarks/webcam_latency.py --no-window --seconds 30
    python benchmarks/webcam_latency.py --screenshot docs/webcam_window.png
    python benchmarks/webcam_latency.py --no-window --temporal  # as `rtstyle webcam --temporal`

Writes benchmarks/results/webcam_latency.json and .md (or --out).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTSTYLE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"

from rtstyle import Stylizer  # noqa: E402
from rtstyle.capture import CaptureConfig  # noqa: E402
from rtstyle.display import gui_available  # noqa: E402
from rtstyle.effects import ControlState, LiveStylizer  # noqa: E402
from rtstyle.loopback import STAMP_MODULO, read_stamp  # noqa: E402
from rtstyle.temporal import TemporalConfig  # noqa: E402
from rtstyle.webcam import WebcamConfig, run_webcam, webcam_report  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_xvfb() -> tuple[subprocess.Popen, str]:
    display = f":{77 + os.getpid() % 100}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1400x800x24"], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return proc, display


def grab_window(path: Path, display: str) -> None:
    """Screenshot of the X display, cropped to what is drawn (the window)."""
    from PIL import ImageGrab  # only this option needs Pillow

    img = np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))
    ys, xs = np.nonzero(img.max(axis=2) > 0)
    img = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else img
    from rtstyle.sinks import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.ascontiguousarray(img))


def press(display: str, key: str) -> None:
    if shutil.which("xdotool"):
        env = dict(os.environ, DISPLAY=display)
        wid = subprocess.run(["xdotool", "search", "--name", "rtstyle"], env=env, capture_output=True,
                             text=True).stdout.split()
        if wid:
            subprocess.run(["xdotool", "key", "--window", wid[0], key], env=env, capture_output=True)


def percentiles(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"p50_ms": None, "p95_ms": None, "n": 0}
    p50, p95 = np.percentile(values_ms, [50, 95])
    return {"p50_ms": round(float(p50), 1), "p95_ms": round(float(p95), 1), "n": len(values_ms)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--size", default="640x480")
    p.add_argument("--style", default="starry")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--max-size", type=int)
    p.add_argument("--clip", type=Path, default=SHARED / "data/video/bunny.mp4")
    p.add_argument("--no-window", action="store_true", help="headless: read stamps where frames leave the pipeline")
    p.add_argument("--no-stamp", action="store_true",
                   help="serve clean frames (for screenshots); latency then comes from the pipeline clock only")
    p.add_argument("--screenshot", type=Path,
                   help="save a screenshot of the window, then one side by side (key v); needs Pillow with XCB")
    p.add_argument("--temporal", action="store_true", help="with the temporal stage, as `rtstyle webcam --temporal`")
    p.add_argument("--flow-preset", help="with --temporal: the stage's DIS preset (default: the network's own)")
    p.add_argument("--out", type=Path, default=RESULTS / "webcam_latency")
    a = p.parse_args()

    window = not a.no_window
    xvfb, display = None, os.environ.get("DISPLAY")
    if window:
        if not gui_available():
            sys.exit("this OpenCV has no GUI: pip install opencv-python (or use --no-window)")
        if not display:
            if not shutil.which("Xvfb"):
                sys.exit("no DISPLAY and no Xvfb (apt-get install xvfb), or use --no-window")
            xvfb, display = start_xvfb()
            os.environ["DISPLAY"] = display

    load_before = loadavg()
    port = free_port()
    tmp = Path(tempfile.mkdtemp())
    served_log = tmp / "served.csv"
    server = subprocess.Popen([sys.executable, "-m", "rtstyle.loopback", str(a.clip), "--port", str(port),
                               "--size", a.size, "--duration", str(a.seconds + 120), "--log", str(served_log),
                               *([] if a.no_stamp else ["--stamp"])], stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # decoding the clip into memory

    # As `rtstyle webcam --temporal` builds it: flow at half size, the rest the network's own unless given.
    temporal = TemporalConfig(flow_scale=0.5, flow_preset=a.flow_preset) if a.temporal else None
    stylizer = Stylizer(a.style, threads=a.threads, max_size=a.max_size, temporal=temporal)
    live = LiveStylizer([a.style], lambda name: stylizer, ControlState(), stylizer)
    shown: list[tuple[int | None, float]] = []

    def on_delivered(image: np.ndarray, frame) -> None:
        shown.append((read_stamp(image), time.monotonic()))

    config = WebcamConfig(CaptureConfig(f"http://127.0.0.1:{port}/", reconnect_timeout_s=5.0), window=window,
                          duration_s=a.seconds)
    if a.screenshot and window:
        def shoot():
            time.sleep(min(a.seconds * 0.6, 25))
            grab_window(a.screenshot, display)
            press(display, "v")  # side by side: camera | stylized
            time.sleep(min(a.seconds * 0.2, 8))
            grab_window(a.screenshot.with_name(a.screenshot.stem + "_side_by_side.png"), display)
            press(display, "v")
        threading.Thread(target=shoot, daemon=True).start()
    try:
        result = run_webcam(config, live, on_delivered=on_delivered, say=lambda m: print(m, file=sys.stderr))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
    load_after = loadavg()

    served = {int(i): float(t) for i, t in (line.split(",") for line in served_log.read_text().splitlines())}
    by_residue: dict[int, list[tuple[int, float]]] = {}
    for i, t in sorted(served.items()):
        by_residue.setdefault(i % STAMP_MODULO, []).append((i, t))
    latencies, unreadable, impossible = [], 0, 0
    for index, t_shown in ([] if a.no_stamp else shown):
        if index is None:
            unreadable += 1
            continue
        # The full index: the latest frame with this stamp served before it was shown.
        candidates = [t for _, t in by_residue.get(index, []) if t <= t_shown]
        if not candidates:
            impossible += 1  # a misread stamp: shown before it was served
            continue
        latencies.append((t_shown - max(candidates)) * 1e3)

    report = webcam_report(result, stylizer.engine.name, stylizer.style.name, config.capture.source)
    out = {
        "mode": "window (Xvfb)" if xvfb else "window" if window else "headless",
        "size": a.size, "style": a.style, "threads": a.threads or os.cpu_count(), "max_size": a.max_size,
        "seconds": a.seconds, "temporal": a.temporal,
        "keyframes": stylizer.temporal.keyframes if stylizer.temporal else None, "loadavg_before": load_before, "loadavg_after": load_after,
        "served_frames": len(served),
        "stamped_latency_served_to_shown": percentiles(latencies),
        "stamps_unreadable": unreadable, "stamps_impossible": impossible,
        "fps": report["fps"], "dropped": report["dropped"], "captured": report["captured"],
        "pipeline_latency_capture_to_shown": report["stages"]["total"],
        "inference": report["stages"].get("inference"),
        # Every stage's own percentiles (decode, inference, flow, fade, ...): where a tail comes from.
        "stages": report["stages"],
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    s, q = out["stamped_latency_served_to_shown"], out["pipeline_latency_capture_to_shown"]
    where = "shown" if window else "handed to the outputs"
    stamps = ("(no stamps served: --no-stamp)" if a.no_stamp else
              f"{len(latencies)} read, {unreadable} unreadable, {impossible} inconsistent with the server's log")
    md = (f"# rtstyle webcam latency\n\n`python benchmarks/webcam_latency.py "
          f"{' '.join(sys.argv[1:])}` ({out['mode']}, {a.size}, {a.style}, {out['threads']} threads)\n\n"
          f"load average before {load_before}, after {load_after}\n\n"
          f"| measure | p50 ms | p95 ms | frames |\n|---|---|---|---|\n"
          f"| stamp read from the picture: served -> {where} | {s['p50_ms']} | {s['p95_ms']} | {s['n']} |\n"
          f"| pipeline clock: captured -> {where} | {q['p50_ms']} | {q['p95_ms']} | {report['frames']} |\n"
          + "".join(f"| stage: {name} | {v['p50_ms']} | {v['p95_ms']} | |\n"
                    for name, v in report["stages"].items() if name != "total")
          + "\n"
          + f"- {report['fps']} stylized frames {where} per second; {report['dropped']} of {report['captured']} "
          f"captured frames dropped (the camera runs at the clip's 24 fps)\n"
          f"- stamps: {stamps}\n"
          + (f"- temporal stage on: {stylizer.temporal.keyframes} key frames (trunk runs) in "
             f"{stylizer.temporal.frames} stylized frames\n" if stylizer.temporal else ""))
    a.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
