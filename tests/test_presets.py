"""`--quality` presets (rtstyle/presets.py) on a real eval photo and real bunny frames."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtstyle import Stylizer
from rtstyle.cli import main
from rtstyle.presets import QUALITIES
from rtstyle.registry import StyleModel


def rgb(path: Path, size: tuple[int, int]) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def bunny_frame(bunny: Path, index: int = 60) -> np.ndarray:
    cap = cv2.VideoCapture(str(bunny))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def stylizers() -> dict[str, Stylizer]:
    return {q: Stylizer("starry", threads=1, quality=q) for q in QUALITIES}


@pytest.mark.parametrize("quality", QUALITIES)
def test_each_preset_keeps_odd_sizes_and_layout(stylizers, eval_photos, quality):
    frame = rgb(eval_photos[0], (333, 187))
    out, timings = stylizers[quality].stylize_timed(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    # A stylized picture, not the photo passed through.
    assert np.abs(out.astype(np.int16) - frame).mean() > 10
    assert ("upsample" in timings) == (stylizers[quality].preset.scale < 1)


def test_fast_runs_the_slim_student_at_the_reduced_size(stylizers, bunny, monkeypatch):
    # Styles without a full-size student (NAME.fast.onnx, tests/test_fastnet.py) keep this path.
    monkeypatch.setattr(StyleModel, "fast_path", property(lambda self: None))
    fast, best = Stylizer("starry", threads=1, quality="fast"), stylizers["best"]
    assert fast.style.path.name == "starry.slim.onnx" and best.style.path.name == "starry.onnx"
    assert fast.style.name == "starry"
    seen = []
    run = fast.engine.run
    fast.engine.run = lambda batch: seen.append(batch.shape) or run(batch)  # observe the network's input
    try:
        out = fast.stylize(bunny_frame(bunny))
    finally:
        del fast.engine.run
    assert out.shape == (360, 640, 3)
    assert seen == [(1, 3, 180, 320)]


def test_presets_stay_close_to_best(stylizers, bunny, eval_photos):
    # Measured (starry; 640x360 bunny frame, 480x360 eval photo): mean abs diff to `best` 27.5 / 31.9 for
    # `balanced` (strokes painted at half size) and 26.3 / 30.7 for `fast`; another style (wave) is
    # 45.7 / 43.2 away and the unstylized frame 86 / 68.
    other = Stylizer("wave", threads=1)
    frames = [bunny_frame(bunny), rgb(eval_photos[3], (480, 360))]
    for frame in frames:
        best = stylizers["best"].stylize(frame).astype(np.int16)
        unrelated = np.abs(other.stylize(frame) - best).mean()
        for q in ("balanced", "fast"):
            diff = np.abs(stylizers[q].stylize(frame) - best).mean()
            assert diff < 37 and diff < 0.85 * unrelated, (q, diff, unrelated)


def test_user_model_keeps_its_network_and_gets_the_scale(eval_photos):
    full = Path(Stylizer("wave").style.path)
    s = Stylizer(model=full, threads=1, quality="fast")
    assert s.style.path == full
    frame = rgb(eval_photos[1], (201, 151))
    out, timings = s.stylize_timed(frame)
    assert out.shape == frame.shape and "upsample" in timings


def run(capsys, *argv: str) -> tuple[int, str]:
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse refuses a bad choice itself
        rc = e.code
    return rc, capsys.readouterr().err


def test_cli_image_with_quality(capsys, eval_photos, tmp_path):
    out = tmp_path / "o.png"
    rc, err = run(capsys, "image", str(eval_photos[2]), str(out), "--quality", "fast", "--threads", "1")
    assert rc == 0, err
    src = cv2.imread(str(eval_photos[2]))
    assert cv2.imread(str(out)).shape == src.shape


def test_cli_refuses_bad_quality_and_conflicts(capsys, eval_photos, tmp_path):
    out = str(tmp_path / "o.png")
    rc, err = run(capsys, "image", str(eval_photos[2]), out, "--quality", "turbo")
    assert rc == 2 and "invalid choice: 'turbo'" in err
    rc, err = run(capsys, "image", str(eval_photos[2]), out, "--quality", "fast", "--max-size", "320")
    assert rc == 1
    assert err.strip() == "rtstyle: error: --max-size and --quality fast both set the internal size; give one"
    assert not Path(out).exists()
    with pytest.raises(ValueError, match="unknown quality"):
        Stylizer("starry", quality="turbo")


def test_the_fast_preset_runs_without_the_temporal_stage_unless_asked(bunny, tmp_path, capfd):
    """A student has no trunk/head graphs and its frame costs less than the stage's flows: stabilising
    alone made `--quality fast` video 3-3.5x slower (presets.STUDENT_TEMPORAL), so there is no stage
    unless --temporal-mechanisms asks for the stabiliser."""
    from rtstyle.temporal import TemporalConfig

    frames = [bunny_frame(bunny, i) for i in (60, 61, 62)]
    default = Stylizer("wave", quality="fast", threads=1, temporal=TemporalConfig())
    alone = Stylizer("wave", quality="fast", threads=1)
    forced = Stylizer("wave", quality="fast", threads=1, temporal=TemporalConfig.only(["stabilize"]))
    assert default.temporal is None and "faster than the stage's flows" in default.notes[0]
    assert forced.temporal is not None and forced.temporal.config.stabilize
    outs = {name: [s.stylize(f) for f in frames] for name, s in
            {"default": default, "alone": alone, "forced": forced}.items()}
    assert all(np.array_equal(a, b) for a, b in zip(outs["default"], outs["alone"]))
    assert np.abs(outs["forced"][2].astype(int) - outs["alone"][2].astype(int)).mean() > 1.0  # blended
    # And `rtstyle video --quality fast` says so and runs two frames at once.
    assert main(["video", str(bunny), str(tmp_path / "out.mp4"), "--quality", "fast"]) == 0
    err = capfd.readouterr().err
    assert "no temporal stage for starry: its network is faster than the stage's flows" in err
    assert ("2 workers" in err) == ((os.cpu_count() or 1) >= 2), err
