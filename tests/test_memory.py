"""keep_freed_memory(): frame-sized buffers are reused, not page-faulted in again for every frame."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Page faults per guided upsample of a real 640x480 frame, in a fresh process (malloc settings are per process).
PROBE = """
import resource, sys, cv2
if sys.argv[2] == "keep":
    from rtstyle.memory import keep_freed_memory
    assert keep_freed_memory()
from rtstyle.upsample import downscale, guided_upsample
cap = cv2.VideoCapture(sys.argv[1])
frame = cv2.resize(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB), (640, 480), interpolation=cv2.INTER_AREA)
small = downscale(frame, 0.5)
guided_upsample(small, frame)  # the first call may fault its working set in
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    guided_upsample(small, frame)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_frame(bunny: Path, mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, str(bunny), mode], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_freed_frame_buffers_are_reused(bunny):
    plain, kept = faults_per_frame(bunny, "plain"), faults_per_frame(bunny, "keep")
    # 640x480x3 float32 is ~900 pages; fresh mmap()s fault every one of them in, several arrays per call.
    assert plain > 900, f"glibc default: expected fresh pages per frame, got {plain} faults"
    assert kept < 0.05 * plain, f"{kept} faults per frame with the memory kept (vs {plain})"


def test_cli_applies_it(monkeypatch, capsys):
    import rtstyle.memory
    from rtstyle.cli import main

    calls = []
    monkeypatch.setattr(rtstyle.memory, "keep_freed_memory", lambda: calls.append(1) or True)
    assert main(["styles"]) == 0
    assert calls == [1] and "starry" in capsys.readouterr().out
