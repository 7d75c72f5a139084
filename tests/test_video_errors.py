"""`rtstyle video` on bad input and bad output: one `rtstyle: error: ...` line, exit 1, and no
file left behind that looks finished (no output, no hidden partial file)."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pytest

from rtstyle import sinks
from rtstyle.cli import main
from rtstyle.sinks import VideoSink

SMALL = ["--max-size", "32"]  # the network's cost is beside the point here


def run_cli(capfd, *args: str) -> tuple[int, str]:
    code = main(["video", *map(str, args)])
    return code, capfd.readouterr().err  # capfd: FFmpeg's own log lines would show up too


def assert_one_error_line(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("rtstyle: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


def leftovers(folder: Path, keep: set[Path] = frozenset()) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in keep)


@contextmanager
def tmpfs(path: Path, options: str):
    """A small private filesystem (needs root); skips the test where mounting is not allowed."""
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_missing_input(tmp_path, capfd):
    code, err = run_cli(capfd, tmp_path / "nope.mp4", tmp_path / "out.mp4")
    assert_one_error_line(code, err, "input not found")
    assert leftovers(tmp_path) == []


def test_a_folder_as_input(tmp_path, capfd):
    (tmp_path / "clips").mkdir()
    code, err = run_cli(capfd, tmp_path / "clips", tmp_path / "out.mp4")
    assert_one_error_line(code, err, "input is a folder, not a video")
    assert leftovers(tmp_path) == ["clips"]


@pytest.mark.parametrize("kind", ["text", "jpeg", "truncated-header", "empty"])
def test_not_a_video(tmp_path, capfd, bunny, eval_photos, kind):
    src = tmp_path / f"in.{'jpg' if kind == 'jpeg' else 'mp4'}"
    if kind == "text":
        src.write_text("this is not a video\n")
    elif kind == "jpeg":
        src.write_bytes(eval_photos[0].read_bytes())
    elif kind == "truncated-header":  # bunny's index (moov) sits at the end: 30% cannot be opened
        data = bunny.read_bytes()
        src.write_bytes(data[: len(data) * 3 // 10])
    else:
        src.write_bytes(b"")
    code, err = run_cli(capfd, src, tmp_path / "out.mp4", *SMALL)
    expected = "is an image" if kind == "jpeg" else "not a readable video"
    assert_one_error_line(code, err, expected, str(src))
    assert leftovers(tmp_path) == [src.name]


def test_truncated_midway_removes_the_partial_output(tmp_path, capfd, bunny):
    # With the index first (faststart) half a file opens and decodes, then runs out of data.
    whole = tmp_path / "faststart.mp4"
    with av.open(str(bunny)) as i, av.open(str(whole), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for packet in i.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                o.mux(packet)
    src = tmp_path / "half.mp4"
    src.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    code, err = run_cli(capfd, src, tmp_path / "out.mp4", *SMALL)
    assert_one_error_line(code, err, "truncated or corrupt", "cannot read past frame")
    assert leftovers(tmp_path) == [src.name]


def test_audio_only_file(tmp_path, capfd):
    src = tmp_path / "sound.m4a"
    with av.open(str(src), "w") as out:
        a = out.add_stream("aac", rate=16000, layout="mono")
        samples = (np.sin(np.arange(16000) / 8) * 0.3).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        out.mux(a.encode(frame))
        out.mux(a.encode())
    code, err = run_cli(capfd, src, tmp_path / "out.mp4")
    assert_one_error_line(code, err, "only audio")
    assert leftovers(tmp_path) == [src.name]


def test_existing_output_needs_overwrite_and_input_is_never_the_output(tmp_path, capfd, bunny):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert_one_error_line(*run_cli(capfd, bunny, out), "output exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    src = tmp_path / "in.mp4"
    src.write_bytes(bunny.read_bytes())
    assert_one_error_line(*run_cli(capfd, src, src, "--overwrite"), "output is the input file")
    assert src.read_bytes() == bunny.read_bytes()


def test_output_folder_missing(tmp_path, capfd, bunny):
    code, err = run_cli(capfd, bunny, tmp_path / "no/such/folder/out.mp4")
    assert_one_error_line(code, err, "output folder does not exist")


def test_output_folder_not_writable(tmp_path, capfd, bunny):
    folder = tmp_path / "ro"
    if os.geteuid() == 0:  # root writes through permission bits: use a read-only filesystem
        with tmpfs(folder, "ro,size=64k"):
            code, err = run_cli(capfd, bunny, folder / "out.mp4")
    else:
        folder.mkdir(mode=0o555)
        code, err = run_cli(capfd, bunny, folder / "out.mp4")
    assert_one_error_line(code, err, "not writable")


def test_unknown_output_format(tmp_path, capfd, bunny):
    code, err = run_cli(capfd, bunny, tmp_path / "out.xyz")
    assert_one_error_line(code, err, "cannot write video as '.xyz'")
    assert leftovers(tmp_path) == []


def test_disk_full_on_a_real_filesystem(tmp_path, capfd, bunny):
    with tmpfs(tmp_path / "tiny", "size=200k") as folder:
        code, err = run_cli(capfd, bunny, folder / "out.mp4", *SMALL)
        assert_one_error_line(code, err, "No space left on device", str(folder / "out.mp4"))
        assert leftovers(folder) == []


def test_disk_full_from_the_muxer_is_one_line(tmp_path, capfd, bunny, monkeypatch):
    """The same path without root: the muxer raising ENOSPC after a few frames."""
    real = VideoSink._write_frame

    def write_until_full(self, frame):
        if self.frames == 5:
            self._guard(_raise_enospc)
        real(self, frame)

    monkeypatch.setattr(VideoSink, "_write_frame", write_until_full)
    code, err = run_cli(capfd, bunny, tmp_path / "out.mp4", *SMALL)
    assert_one_error_line(code, err, "No space left on device")
    assert leftovers(tmp_path) == []


def _raise_enospc():
    raise av.error.OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what PyAV raises on a full disk


def test_unknown_style(tmp_path, capfd, bunny):
    code, err = run_cli(capfd, bunny, tmp_path / "out.mp4", "--style", "no-such-style")
    assert_one_error_line(code, err, "unknown style 'no-such-style'")
    assert leftovers(tmp_path) == []


def test_engine_unavailable(tmp_path, capfd, bunny, monkeypatch):
    monkeypatch.setattr("rtstyle.engines.available", lambda name: False)
    code, err = run_cli(capfd, bunny, tmp_path / "out.mp4", "--engine", "torch")
    assert_one_error_line(code, err, "engine 'torch' needs torch")
    assert leftovers(tmp_path) == []


def test_bad_crf_is_a_usage_error(tmp_path, capfd, bunny):
    with pytest.raises(SystemExit) as e:
        run_cli(capfd, bunny, tmp_path / "out.mp4", "--crf", "70")
    assert e.value.code == 2 and "must be 0..51" in capfd.readouterr().err


def test_errors_print_no_traceback_from_a_real_process(tmp_path):
    src = tmp_path / "notes.mp4"
    src.write_text("not a video")
    r = subprocess.run([sys.executable, "-m", "rtstyle.cli", "video", str(src), str(tmp_path / "o.mp4")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.startswith("rtstyle: error: not a readable video") and r.stderr.count("\n") == 1, r.stderr


def test_partial_path_is_hidden_and_keeps_the_extension(tmp_path):
    assert sinks.partial_path(tmp_path / "clip.mp4") == tmp_path / ".clip.partial.mp4"
