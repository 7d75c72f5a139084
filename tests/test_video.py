"""`rtstyle video` end to end on real clips: what must survive (frames, timing, size, rotation,
audio, colours), that the pictures are really stylized, the stats file, and Ctrl-C."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtstyle.cli import main
from rtstyle.pipeline import run
from rtstyle.sinks import VideoSink, partial_path
from rtstyle.sources import VideoSource
from rtstyle.stylizer import Stylizer

MAX_SIZE = "96"  # stylize small and scale back: keeps every test cheap on a CPU


def make_clip(path: Path, width: int = 64, height: int = 48, pts: list[int] | None = None,
              time_base: Fraction = Fraction(1, 1000), display_matrix: list[int] | None = None,
              pix_fmt: str | None = None, color: tuple[int, int] | None = None,
              audio_codec: str | None = None, bframes: bool = True) -> list[np.ndarray]:
    """Write a small H.264 clip of a moving smooth pattern; returns the RGB frames written."""
    pts = list(range(0, 400, 40)) if pts is None else pts
    frames = []
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"crf": "10", "bf": "3" if bframes else "0"})
        v.width, v.height = width, height
        v.pix_fmt = pix_fmt or ("yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p")
        v.time_base = v.codec_context.time_base = time_base
        if display_matrix:
            v.set_display_matrix(display_matrix)
        if color:
            v.codec_context.colorspace, v.codec_context.color_range = color
        a = out.add_stream(audio_codec, rate=8000, layout="mono") if audio_codec else None
        yy, xx = np.mgrid[0:height, 0:width]
        for i, t in enumerate(pts):
            # smooth gradients (cheap to encode, so codec loss stays small) that move every frame
            rgb = np.stack([xx * 255 / max(1, width - 1), yy * 255 / max(1, height - 1),
                            np.full(xx.shape, 40 + 17 * i % 180)], -1).astype(np.uint8)
            frames.append(rgb)
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if color:
                f = f.reformat(format=v.pix_fmt, dst_colorspace=color[0], dst_color_range=color[1])
            f.pts, f.time_base = t, time_base
            out.mux(v.encode(f))
        out.mux(v.encode())
        if a is not None:
            n = a.codec_context.frame_size or 400
            for start in range(0, 8000, n):
                samples = (np.random.default_rng(start).integers(0, 255, (1, n))).astype(np.uint8)
                af = av.AudioFrame.from_ndarray(samples, format="u8", layout="mono")
                af.sample_rate, af.pts = 8000, start
                out.mux(a.encode(af))
            out.mux(a.encode())
    return frames


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        decoded = list(c.decode(v))
        info = {
            "frames": len(decoded), "width": decoded[0].width, "height": decoded[0].height,
            "times": [f.time for f in decoded], "rate": v.average_rate, "rotation": decoded[0].rotation,
            "pix_fmt": decoded[0].format.name,
            "rgb": [f.to_ndarray(format="rgb24") for f in decoded],
            "color": (decoded[0].colorspace, decoded[0].color_range),
        }
        c.seek(0)
        audio = []
        for s in c.streams.audio:
            ctx = s.codec_context
            audio.append({"codec": ctx.name, "channels": ctx.channels, "rate": ctx.sample_rate,
                          "duration_s": float(s.duration * s.time_base) if s.duration else None})
        packets = {s.index: 0 for s in c.streams.audio}
        if packets:  # demux() without streams would read them all
            for packet in c.demux(*c.streams.audio):
                if packet.dts is not None:  # demux() ends with empty flush packets
                    packets[packet.stream_index] += 1
        for a, n in zip(audio, packets.values()):
            a["packets"] = n
        info["audio"] = audio
    return info


def stylize_cli(src: Path, dst: Path, *extra: str) -> int:
    return main(["video", str(src), str(dst), "--style", "starry", "--max-size", MAX_SIZE, *extra])


@pytest.fixture(scope="module")
def bunny_run(bunny, tmp_path_factory):
    out = tmp_path_factory.mktemp("bunny") / "out.mp4"
    stats = out.with_name("stats.json")
    # Per-frame stylization: these tests compare with Stylizer.stylize (tests/test_temporal*.py cover --temporal).
    assert stylize_cli(bunny, out, "--stats-json", str(stats), "--no-temporal") == 0
    return out, stats


def test_bunny_keeps_every_frame_rate_size_and_audio(bunny, bunny_run):
    out, _ = bunny_run
    src, dst = probe(bunny), probe(out)
    assert (dst["frames"], dst["width"], dst["height"]) == (240, 640, 360)
    assert dst["rate"] == 24
    assert np.allclose(dst["times"], src["times"], atol=1e-3)
    assert len(dst["audio"]) == 1
    assert dst["audio"] == src["audio"]  # aac, 2 channels, 44.1 kHz, 432 packets, 10 s: copied
    assert dst["audio"][0]["codec"] == "aac" and dst["audio"][0]["packets"] == 432
    assert not partial_path(out).exists()


def test_bunny_frames_are_the_stylized_input_frames(bunny, bunny_run):
    out, _ = bunny_run
    src, dst = probe(bunny), probe(out)
    stylizer = Stylizer("starry", max_size=int(MAX_SIZE))
    for i in (0, 120, 239):
        got = dst["rgb"][i].astype(np.int16)
        assert np.abs(got - src["rgb"][i]).mean() > 30, f"frame {i} looks unstylized"
        # Same picture the Stylizer makes of input frame i, up to H.264 loss: order and content kept.
        assert np.abs(got - stylizer.stylize(src["rgb"][i])).mean() < 4, f"frame {i} is not stylized frame {i}"


def test_stats_json_schema_and_numbers(bunny_run):
    _, stats = bunny_run
    report = json.loads(stats.read_text())
    assert set(report) == {"frames", "fps", "wall_s", "engine", "model", "workers", "stages"}
    assert report["frames"] == 240 and report["engine"] == "onnxruntime" and report["model"] == "starry"
    assert report["workers"] == 1  # no --quality preset: one frame at a time on every core
    assert report["fps"] == pytest.approx(240 / report["wall_s"], rel=0.01)
    assert set(report["stages"]) == {"decode", "preprocess", "inference", "postprocess", "encode", "total"}
    for name, q in report["stages"].items():
        assert set(q) == {"p50_ms", "p95_ms", "p99_ms"}
        assert 0 < q["p50_ms"] <= q["p95_ms"] <= q["p99_ms"] < report["wall_s"] * 1e3, name
    s = report["stages"]
    assert s["total"]["p50_ms"] >= s["inference"]["p50_ms"] + s["encode"]["p50_ms"] * 0.5


def test_variable_frame_rate_keeps_every_timestamp(tmp_path, capfd):
    pts = [0, 40, 80, 200, 210, 220, 500, 1000, 1033, 1500]
    src = tmp_path / "vfr.mp4"
    make_clip(src, pts=pts)
    out = tmp_path / "out.mp4"
    assert stylize_cli(src, out, "--quiet") == 0
    assert capfd.readouterr().err == ""  # --quiet: nothing on stderr when all goes well
    assert np.allclose(probe(out)["times"], [p / 1000 for p in pts], atol=1e-3)


@pytest.mark.parametrize("size", [(161, 97), (33, 20), (40, 21)])
def test_odd_sizes_survive_exactly(tmp_path, size):
    src = tmp_path / "odd.mp4"
    make_clip(src, *size)
    out = tmp_path / "out.mp4"
    assert stylize_cli(src, out) == 0
    got = probe(out)
    assert (got["width"], got["height"], got["frames"]) == (*size, 10)
    assert got["pix_fmt"] == "yuv444p"  # H.264 4:2:0 cannot describe an odd size


@pytest.mark.parametrize("size", [(16, 8), (10, 30)])
def test_frames_smaller_than_the_flow_patches_keep_the_temporal_stage(tmp_path, size):
    """Below 12-17 px a side OpenCV's DIS flow raised and the run died with a traceback."""
    src, out = tmp_path / "tiny.mp4", tmp_path / "out.mp4"
    make_clip(src, *size)
    assert main(["video", str(src), str(out), "--style", "starry", "--temporal"]) == 0
    got = probe(out)
    assert (got["width"], got["height"], got["frames"]) == (*size, 10)


def test_even_size_stays_yuv420p(tmp_path):
    src = tmp_path / "even.mp4"
    make_clip(src, 64, 48, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    assert stylize_cli(src, out) == 0
    assert probe(out)["pix_fmt"] == "yuv420p"


# FFmpeg display matrices (16.16 fixed point, last entry 2.30): 90 degrees, and a horizontal mirror.
ROT90 = [0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30]
MIRROR = [-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]


@pytest.mark.parametrize("matrix", [ROT90, MIRROR], ids=["rotate90", "mirror"])
def test_display_matrix_survives(tmp_path, matrix):
    src = tmp_path / "rot.mp4"
    make_clip(src, display_matrix=matrix)
    with VideoSource(src) as s:
        assert s.info.display_matrix == tuple(matrix)
    out = tmp_path / "out.mp4"
    assert stylize_cli(src, out) == 0
    with VideoSource(out) as s:
        assert s.info.display_matrix == tuple(matrix)
    if matrix is ROT90:
        assert probe(out)["rotation"] == probe(src)["rotation"] == 90


def test_audio_the_container_cannot_hold_is_reencoded_to_aac(tmp_path, capfd):
    src = tmp_path / "pcm.avi"
    make_clip(src, audio_codec="pcm_u8", bframes=False)
    assert probe(src)["audio"][0]["codec"] == "pcm_u8"
    out = tmp_path / "out.mp4"
    assert stylize_cli(src, out) == 0
    assert "re-encoding it to AAC" in capfd.readouterr().err
    a = probe(out)["audio"]
    assert len(a) == 1 and a[0]["codec"] == "aac" and a[0]["channels"] == 1 and a[0]["rate"] == 8000
    assert a[0]["duration_s"] == pytest.approx(1.0, abs=0.1)


def test_broken_timestamps_become_increasing(tmp_path):
    # AVI stores no pts: with B-frames (and here a 1 ms time base) FFmpeg's guesses repeat
    # and go backwards, which an encoder refuses.
    src = tmp_path / "bframes.avi"
    make_clip(src)
    pts = probe(src)["times"]
    assert pts != sorted(set(pts))  # the input really is broken
    out = tmp_path / "out.mp4"
    assert stylize_cli(src, out) == 0
    times = probe(out)["times"]
    assert len(times) == 10 and all(b > a for a, b in zip(times, times[1:]))


class Identity:
    """Stands in for the network so the I/O path alone is measured."""

    def stylize_timed(self, frame):
        return frame, {}


@pytest.mark.parametrize("color", [(1, 2), (1, 1), (2, 0)], ids=["bt709-full", "bt709-limited", "untagged"])
def test_colours_survive_decode_and_encode(tmp_path, color):
    src = tmp_path / "color.mp4"
    written = make_clip(src, 96, 64, color=color)
    out = tmp_path / "out.mp4"
    with VideoSource(src) as source, VideoSink(out, source.info) as sink:
        assert run(source, Identity(), sink).frames == len(written)
    got = probe(out)
    assert got["color"] == color
    with VideoSource(out) as source:
        for frame, reference in zip(source, written):
            # Two H.264 generations cost ~2.5-3.5 here (3.51 seen once in a full run: swscale's SIMD
            # path varies with buffer alignment); a wrong matrix (601 vs 709) costs ~7, and a range
            # mix-up stretches or squeezes every value by 14%.
            assert np.abs(frame.image.astype(np.int16) - reference).mean() < 4.5


def run_and_interrupt(bunny: Path, out: Path, presses: int) -> tuple[int, str]:
    """Run `rtstyle video` with stderr on a pseudo-terminal, so it draws its progress bar, and
    press Ctrl-C once the bar shows a few frames done."""
    cmd = [sys.executable, "-m", "rtstyle.cli", "video", str(bunny), str(out), "--max-size", "256"]
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    err = b""

    def read_some(timeout: float) -> None:
        nonlocal err
        if select.select([master], [], [], timeout)[0]:
            try:
                err += os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                time.sleep(timeout)

    try:
        deadline = time.monotonic() + 180
        while not re.search(rb"\s([3-9]|\d\d+)/240 frames", err):
            assert proc.poll() is None, err.decode(errors="replace")
            assert time.monotonic() < deadline, "no progress within 180 s: " + err.decode(errors="replace")
            read_some(0.2)
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            read_some(0.2)
        read_some(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_keeps_a_playable_partial_file(bunny, tmp_path, presses):
    out = tmp_path / "out.mp4"
    code, err = run_and_interrupt(bunny, out, presses)
    assert code == 130, err
    assert "ETA" in err  # the progress bar, drawn because stderr is a terminal
    assert "partial" in err and "Traceback" not in err
    assert out.exists() and not partial_path(out).exists()
    got = probe(out)  # decodes without error
    assert 3 <= got["frames"] < 240
    assert (got["width"], got["height"]) == (640, 360)
    assert got["audio"] and got["audio"][0]["codec"] == "aac"
