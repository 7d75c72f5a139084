"""`rtstyle image` and `rtstyle styles` on real photos, in-process and as a real command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtstyle.cli import main

THREADS = ["--threads", "1"]  # oversubscribed shared cores: one thread is the fastest


def read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_stylized(src_bgr: np.ndarray, out_path: Path) -> np.ndarray:
    out = read(out_path)
    assert out.shape == (*src_bgr.shape[:2], 3)
    assert out.dtype == np.uint8
    assert np.abs(out.astype(int) - src_bgr[:, :, :3].astype(int)).mean() > 20  # restyled, not copied
    return out


@pytest.fixture(scope="module")
def photo(eval_photos) -> Path:
    return eval_photos[3]


@pytest.fixture(scope="module")
def small(photo, tmp_path_factory) -> Path:
    """The photo at a third of its size: the format variants need no more pixels than this."""
    img = read(photo)
    path = tmp_path_factory.mktemp("small") / "small.png"
    cv2.imwrite(str(path), cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3), interpolation=cv2.INTER_AREA))
    return path


def test_photo_is_stylized_at_its_size(capsys, photo, tmp_path):
    out = tmp_path / "out.jpg"
    rc, _, err = run(capsys, "image", str(photo), str(out), "--style", "starry", *THREADS)
    assert rc == 0, err
    assert_stylized(read(photo), out)


def test_real_subprocess(photo, tmp_path):
    out = tmp_path / "out.png"
    cmd = [sys.executable, "-m", "rtstyle.cli", "image", str(photo), str(out), *THREADS]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_stylized(read(photo), out)
    # A user error in a real process: exit status 1 and one line, not a traceback.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("rtstyle: error: output exists") and done.stderr.count("\n") == 1


def test_rgba_keeps_alpha(capsys, small, tmp_path):
    bgr = read(small)
    h, w = bgr.shape[:2]
    alpha = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    src = tmp_path / "rgba.png"
    cv2.imwrite(str(src), np.dstack([bgr, alpha]))
    out = tmp_path / "out.png"
    rc, _, err = run(capsys, "image", str(src), str(out), *THREADS)
    assert rc == 0, err
    got = read(out)
    assert got.shape == (h, w, 4)
    np.testing.assert_array_equal(got[:, :, 3], alpha)
    assert np.abs(got[:, :, :3].astype(int) - bgr.astype(int)).mean() > 20


def test_gray_and_16bit_inputs(capsys, small, tmp_path):
    bgr = read(small)
    ref = tmp_path / "ref.png"
    assert run(capsys, "image", str(small), str(ref), *THREADS)[0] == 0

    wide = tmp_path / "sixteen.png"
    cv2.imwrite(str(wide), bgr.astype(np.uint16) * 257)  # exact 8 -> 16 bit scaling
    assert read(wide).dtype == np.uint16
    out16 = tmp_path / "out16.png"
    rc, _, err = run(capsys, "image", str(wide), str(out16), *THREADS)
    assert rc == 0, err
    # 16 bits that hold exactly the 8-bit photo must stylize exactly like it.
    np.testing.assert_array_equal(read(out16), read(ref))

    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert read(gray).ndim == 2
    out_gray = tmp_path / "out_gray.png"
    rc, _, err = run(capsys, "image", str(gray), str(out_gray), *THREADS)
    assert rc == 0, err
    assert_stylized(cv2.cvtColor(read(gray), cv2.COLOR_GRAY2BGR), out_gray)


def test_odd_size(capsys, photo, tmp_path):
    src = tmp_path / "odd.png"
    cv2.imwrite(str(src), read(photo)[11:108, 23:184])  # 97 x 161
    out = tmp_path / "out.png"
    rc, _, err = run(capsys, "image", str(src), str(out), *THREADS)
    assert rc == 0, err
    assert read(out).shape == (97, 161, 3)


def test_max_size_keeps_the_full_output_size(capsys, photo, tmp_path):
    out = tmp_path / "out.png"
    rc, _, err = run(capsys, "image", str(photo), str(out), "--max-size", "64", *THREADS)
    assert rc == 0, err
    assert_stylized(read(photo), out)


def test_a_preset_without_its_student_says_so(capsys, small, tmp_path, monkeypatch):
    from rtstyle.registry import StyleModel

    monkeypatch.setattr(StyleModel, "slim_path", property(lambda self: None))
    monkeypatch.setattr(StyleModel, "fast_path", property(lambda self: None))
    out = tmp_path / "out.png"
    rc, _, err = run(capsys, "image", str(small), str(out), "--quality", "fast", *THREADS)
    assert rc == 0, err
    assert "rtstyle: no slim student for style 'starry'; using the full network\n" in err
    assert_stylized(read(small), out)


def test_overwrite_replaces(capsys, small, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    rc, _, err = run(capsys, "image", str(small), str(out), "--overwrite", *THREADS)
    assert rc == 0, err
    assert read(out).shape[:2] == read(small).shape[:2]


@pytest.mark.parametrize("case", ["missing input", "text as jpg", "unknown style", "path as style",
                                  "output is input", "output exists", "missing folder"])
def test_user_errors_are_one_line(capsys, small, tmp_path, case):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    argv = {
        "missing input": [str(tmp_path / "nope.jpg"), str(tmp_path / "o.png")],
        "text as jpg": [str(text), str(tmp_path / "o.png")],
        "unknown style": [str(small), str(tmp_path / "o.png"), "--style", "nosuchstyle"],
        "path as style": [str(small), str(tmp_path / "o.png"), "--style", "../../etc/passwd"],
        "output is input": [str(small), str(small), "--overwrite"],
        "output exists": [str(small), str(existing)],
        "missing folder": [str(small), str(tmp_path / "no/such/dir/o.png")],
    }[case]
    before = small.read_bytes()
    rc, out, err = run(capsys, "image", *argv, *THREADS)
    assert rc == 1
    assert err.startswith("rtstyle: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    assert not (tmp_path / "o.png").exists()
    assert small.read_bytes() == before and existing.read_bytes() == b"keep me"
    if "style" in case:
        assert "unknown style" in err


def test_styles_lists_starry(capsys):
    rc, out, _ = run(capsys, "styles")
    assert rc == 0
    line = next(line for line in out.splitlines() if line.split()[0] == "starry")
    assert "The Starry Night" in line and "Vincent van Gogh" in line
