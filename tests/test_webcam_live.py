"""`rtstyle webcam` end to end against a loopback MJPEG camera serving a real clip (no camera needed).

Every run records; the recording's frames are read back and their stamped
frame indices checked against what the camera served.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import pytest

from rtstyle.cli import main
from rtstyle.display import gui_available
from rtstyle.loopback import STAMP_MODULO, LoopbackCamera, LoopbackConfig, read_stamp

ROOT = Path(__file__).resolve().parents[1]
SIZE = (160, 120)
STYLE = ["--style", "wave", "--threads", "2"]


@pytest.fixture
def camera(bunny):
    cam = LoopbackCamera(bunny, 0, LoopbackConfig(size=SIZE, stamp=True, duration_s=120)).start()
    yield cam
    cam.stop()


def recorded(path: Path) -> tuple[list[int | None], list[int]]:
    """Stamped indices and pts (ms) of every frame in a recording."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return [read_stamp(f.to_ndarray(format="rgb24")) for f in frames], [f.pts for f in frames]


def webcam(args: list[str], capsys) -> tuple[int, str]:
    code = main(["webcam", *args])
    return code, capsys.readouterr().err


def once_recording(out: Path, action) -> threading.Thread:
    """Run ``action`` in a thread once the recording has started (the first frame went through)."""
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")

    def wait_then_act():
        deadline = time.monotonic() + 60
        while not partial.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        action()

    t = threading.Thread(target=wait_then_act, daemon=True)
    t.start()
    return t


def check_indices(indices: list[int | None], cam: LoopbackCamera) -> list[int]:
    """Decoded indices are frames the camera really served, in order; returns them."""
    read = [i for i in indices if i is not None]
    assert len(read) >= 0.9 * len(indices), f"stamps unreadable: {indices}"
    served = sorted(cam.served)
    assert all(i in {s % STAMP_MODULO for s in served} for i in read)
    assert read == sorted(read) and len(set(read)) == len(read), f"frames out of order or repeated: {read}"
    return read


def test_headless_recording_and_stats(camera, tmp_path, capsys):
    out, stats = tmp_path / "live.mp4", tmp_path / "stats.json"
    code, err = webcam(["--camera", camera.url, "--no-window", "--output", str(out), "--duration", "3",
                        "--stats-json", str(stats), *STYLE], capsys)
    assert code == 0, err
    indices, pts = recorded(out)
    assert len(indices) >= 3 and pts == sorted(pts)
    read = check_indices(indices, camera)
    report = json.loads(stats.read_text())
    assert report["frames"] == len(indices) and report["fps"] > 0 and report["model"] == "wave"
    assert report["captured"] >= report["frames"] and report["dropped"] == report["captured"] - report["frames"]
    # Roughly 24 fps were captured over 3 s, and the newest was always taken: the recorded
    # indices span the run, not just its first frames.
    assert 40 <= report["captured"] <= 90
    assert read[-1] - read[0] >= 0.5 * report["captured"]
    total = report["stages"]["total"]
    assert 0 < total["p50_ms"] <= total["p95_ms"] < 3000
    assert "wrote" in err and str(out) in err


def test_stream_lost_and_back_reconnects(camera, tmp_path, capsys):
    out, stats = tmp_path / "rec.mp4", tmp_path / "s.json"
    times = {}

    def drop():
        times["lost"] = time.monotonic()
        camera.stop()
        time.sleep(1.5)
        camera.start()
        times["back"] = time.monotonic()

    killer = once_recording(out, drop)
    code, err = webcam(["--camera", camera.url, "--no-window", "--output", str(out), "--duration", "7",
                        "--reconnect-timeout", "20", "--stats-json", str(stats), *STYLE], capsys)
    killer.join()
    assert code == 0, err
    assert "reconnect" in err and "reconnected" in err
    assert json.loads(stats.read_text())["reconnects"] == 1
    read = check_indices(recorded(out)[0], camera)
    served_at = {i % STAMP_MODULO: t for i, t in camera.served.items()}
    assert any(served_at[i] < times["lost"] for i in read), "frames from before the loss"
    assert any(served_at[i] > times["back"] for i in read), "frames from after the reconnection"


def test_gives_up_and_keeps_the_recording(camera, tmp_path, capsys):
    out = tmp_path / "kept.mp4"
    once_recording(out, camera.stop)
    start = time.monotonic()
    code, err = webcam(["--camera", camera.url, "--no-window", "--output", str(out),
                        "--reconnect-timeout", "1.5", *STYLE], capsys)
    assert code == 1
    assert time.monotonic() - start < 30
    last = err.strip().splitlines()[-1]
    assert last.startswith("rtstyle: error:") and "could not reconnect within 1.5 s" in last and "kept" in last
    assert "reconnect attempt" in err
    assert len(check_indices(recorded(out)[0], camera)) >= 1  # playable, with the frames seen


def test_realtime_file_is_paced_and_drops(bunny, tmp_path, capsys):
    stats = tmp_path / "s.json"
    code, err = webcam(["--camera", str(bunny), "--realtime", "--size", "160x90", "--fps", "4", "--no-window",
                        "--duration", "2", "--stats-json", str(stats), *STYLE], capsys)
    assert code == 0, err
    r = json.loads(stats.read_text())
    assert 30 <= r["captured"] <= 60, "read at the clip's 24 fps, not as fast as it decodes"
    assert 2 <= r["frames"] <= 2 * 4 + 1, "--fps 4 caps what is delivered"
    assert r["dropped"] == r["captured"] - r["frames"]


@pytest.mark.parametrize("args, message", [
    (["--camera", "7", "--no-window", "--stats-json", "{tmp}/s.json"], "no camera at index 7; cameras found:"),
    (["--camera", "/dev/video63", "--no-window", "--stats-json", "{tmp}/s.json"],
     "no camera at /dev/video63; cameras found:"),
    (["--camera", "0", "--no-window", "--output", "{bunny}"], "output exists"),
    (["--camera", "{tmp}/missing.mp4", "--realtime", "--no-window", "--stats-json", "{tmp}/s.json"],
     "no such camera, URL or file"),
    (["--camera", "{bunny}", "--no-window", "--stats-json", "{tmp}/s.json"], "add --realtime"),
    (["--camera", "0", "--no-window"], "--no-window needs somewhere to send the stream"),
    (["--camera", "0", "--virtual-cam", "--no-window"], "pip install 'rtstyle[virtualcam]'"),
    (["--camera", "0"], "--no-window"),
])
def test_bad_setups_are_one_line(args, message, tmp_path, bunny, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # as if the extra were not installed
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    args = [a.format(tmp=tmp_path, bunny=bunny) for a in args]
    code, err = webcam(args, capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("rtstyle: error:") and message in err, err


def test_ctrl_c_finalises_the_recording(camera, tmp_path):
    out = tmp_path / "cc.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "rtstyle.cli", "webcam", "--camera", camera.url,
                             "--no-window", "--output", str(out), *STYLE],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    partial = tmp_path / ".cc.partial.mp4"
    deadline = time.monotonic() + 30
    while not partial.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and not partial.exists()
    assert len(check_indices(recorded(out)[0], camera)) >= 2


def test_virtual_camera_without_a_device_is_one_line(camera, tmp_path, capsys):
    pytest.importorskip("pyvirtualcam")
    if any(Path("/dev").glob("video*")):
        pytest.skip("a video device exists here: a virtual camera may really open")
    code, err = webcam(["--camera", camera.url, "--no-window", "--virtual-cam", "--duration", "5", *STYLE], capsys)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("rtstyle: error: cannot open a virtual camera")


needs_window = pytest.mark.skipif(not gui_available() or not (os.environ.get("DISPLAY") or shutil.which("Xvfb")),
                                  reason="needs a GUI build of OpenCV (opencv-python) and a display or Xvfb")


@pytest.fixture
def x_env():
    """An environment with a display: the current one, or a private Xvfb."""
    env = dict(os.environ)
    xvfb = None
    if not env.get("DISPLAY"):
        display = f":{90 + os.getpid() % 100}"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24"], stderr=subprocess.DEVNULL)
        env["DISPLAY"] = display
        time.sleep(1.0)
    yield env
    if xvfb is not None:
        xvfb.terminate()
        xvfb.wait()


def start_window(camera, tmp_path, env, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rtstyle.cli", "webcam", "--camera", camera.url,
                             "--save-dir", str(tmp_path), *STYLE, *extra],
                            env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT)


@needs_window
def test_real_window(camera, tmp_path, x_env):
    """A real window: frames are shown and timed on screen; with xdotool, s saves a screenshot and r records."""
    stats = tmp_path / "w.json"
    proc = start_window(camera, tmp_path, x_env, "--duration", "8", "--stats-json", str(stats))
    keys = shutil.which("xdotool")
    if keys:
        wid = subprocess.run([keys, "search", "--sync", "--name", "rtstyle"], env=x_env, capture_output=True,
                             text=True, timeout=30).stdout.split()[0]
        time.sleep(3)  # frames on screen
        for key, pause in (("s", 0.5), ("r", 1.5), ("r", 0)):
            subprocess.run([keys, "key", "--window", wid, key], env=x_env, timeout=10)
            time.sleep(pause)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "QFontDatabase" not in err
    report = json.loads(stats.read_text())
    assert report["frames"] >= 3 and report["stages"]["total"]["p50_ms"] > 0
    if keys:
        [shot] = tmp_path.glob("rtstyle-*.png")
        assert read_stamp(cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)) is not None
        [video] = tmp_path.glob("rtstyle-*.mp4")
        assert len(recorded(video)[0]) >= 1


@needs_window
@pytest.mark.skipif(not (shutil.which("openbox") and shutil.which("wmctrl")),
                    reason="closing a window the way a user does needs a window manager (openbox) and wmctrl")
def test_closing_the_window_ends_the_run(camera, tmp_path, x_env):
    wm = subprocess.Popen(["openbox"], env=x_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = tmp_path / "closed.mp4"
        proc = start_window(camera, tmp_path, x_env, "--output", str(out))
        partial = tmp_path / ".closed.partial.mp4"
        deadline = time.monotonic() + 60
        while not partial.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        subprocess.run(["wmctrl", "-c", "rtstyle"], env=x_env, timeout=10)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert len(check_indices(recorded(out)[0], camera)) >= 1
    finally:
        wm.terminate()
        wm.wait()
