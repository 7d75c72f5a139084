"""ONNX Runtime session settings (EngineOptions, --ort NAME=VALUE) and --workers on the command line."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rtstyle import Stylizer
from rtstyle.cli import main
from rtstyle.engines import EngineOptions, create_engine
from rtstyle.engines.options import with_settings
from rtstyle.loopback import LoopbackCamera, LoopbackConfig
from rtstyle.registry import builtin_styles


@pytest.fixture(scope="module")
def photo(eval_photos) -> np.ndarray:
    rgb = cv2.cvtColor(cv2.imread(str(eval_photos[0])), cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (128, 96), interpolation=cv2.INTER_AREA)


def test_settings_parse_by_field_name():
    o = with_settings(EngineOptions(threads=2), ["spinning=off", "optimization=basic", "memory-pattern=0",
                                                 "cpu_arena=no", "parallel_execution=on", "threads=1"])
    assert o == EngineOptions(threads=1, spinning=False, optimization="basic", memory_pattern=False,
                              cpu_arena=False, parallel_execution=True)
    assert with_settings(EngineOptions(), []) == EngineOptions()


@pytest.mark.parametrize("item, message", [
    ("spin=off", "NAME one of"), ("spinning", "NAME=VALUE"), ("spinning=maybe", "on/off"),
    ("optimization=max", "disable, basic"), ("threads=two", "integer"),
])
def test_bad_settings_are_value_errors(item, message):
    with pytest.raises(ValueError, match=message):
        with_settings(EngineOptions(), [item])


def test_session_gets_the_settings():
    model = builtin_styles()["wave"].path
    engine = create_engine("onnxruntime", model, EngineOptions(threads=1, spinning=False, optimization="basic",
                                                               memory_pattern=False, cpu_arena=False))
    so = engine.session.get_session_options()
    assert so.intra_op_num_threads == 1
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert so.graph_optimization_level.name == "ORT_ENABLE_BASIC"
    assert not so.enable_mem_pattern and not so.enable_cpu_mem_arena
    default = create_engine("onnxruntime", model, EngineOptions(threads=1)).session.get_session_options()
    assert default.get_session_config_entry("session.intra_op.allow_spinning") == (
        "1" if EngineOptions().spinning else "0")


def test_settings_change_speed_not_pictures(photo):
    """Every setting is a scheduling or memory choice: the stylized photo stays the same."""
    reference = Stylizer("wave", quality="fast", threads=1).stylize(photo)
    for settings in (["spinning=off"], ["optimization=disable"], ["memory_pattern=off", "cpu_arena=off"],
                     ["parallel_execution=on"]):
        out = Stylizer("wave", quality="fast", threads=1,
                       engine_options=with_settings(EngineOptions(), settings)).stylize(photo)
        assert np.abs(out.astype(int) - reference.astype(int)).max() <= 2, settings
    # --threads wins over the options' own threads (the CLI keeps them separate).
    s = Stylizer("wave", threads=1, engine_options=EngineOptions(threads=2, spinning=False))
    assert s.engine.session.get_session_options().intra_op_num_threads == 1


@pytest.mark.parametrize("args, message", [
    (["--ort", "bogus=1"], "--ort expects NAME=VALUE"),
    (["--ort", "spinning=perhaps"], "on/off"),
])
def test_cli_bad_ort_setting_is_one_line(args, message, eval_photos, tmp_path, capsys):
    code = main(["image", str(eval_photos[0]), str(tmp_path / "o.png"), *args])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and message in err, err


def test_cli_image_with_ort_settings(eval_photos, tmp_path, capsys):
    out = tmp_path / "o.png"
    code = main(["image", str(eval_photos[0]), str(out), "--style", "wave", "--max-size", "96", "--threads", "1",
                 "--ort", "spinning=off", "--ort", "optimization=extended"])
    assert code == 0, capsys.readouterr().err
    assert cv2.imread(str(out)).shape == cv2.imread(str(eval_photos[0])).shape


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--workers", "2", "--temporal"], "add --no-temporal"),
])
def test_cli_bad_workers_is_one_line(args, message, tmp_path, capsys):
    code = main(["webcam", "--camera", "0", "--no-window", "--stats-json", str(tmp_path / "s.json"), *args])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and message in err, err


def test_webcam_two_workers_records_in_order(bunny, tmp_path, capsys):
    """--workers 2 on a live stamped camera: the recording's frames are served frames, in capture order."""
    from rtstyle.loopback import read_stamp
    import av

    out, stats = tmp_path / "w2.mp4", tmp_path / "s.json"
    with LoopbackCamera(bunny, 0, LoopbackConfig(size=(160, 120), stamp=True, duration_s=60)) as cam:
        code = main(["webcam", "--camera", cam.url, "--no-window", "--output", str(out), "--duration", "3",
                     "--stats-json", str(stats), "--style", "wave", "--workers", "2", "--ort", "spinning=off"])
    served = {i % 2048 for i in cam.served}  # the camera has stopped: its log is complete
    assert code == 0, capsys.readouterr().err
    with av.open(str(out)) as c:
        stamps = [read_stamp(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    read = [s for s in stamps if s is not None]
    assert len(read) >= 0.9 * len(stamps) >= 3
    assert read == sorted(read) and len(set(read)) == len(read), f"out of order or repeated: {read}"
    assert set(read) <= served
    report = json.loads(stats.read_text())
    assert report["frames"] == len(stamps) and report["dropped"] == report["captured"] - report["frames"]


@pytest.mark.parametrize("args, threads", [([], 0), (["--threads", "2"], 2), (["--workers", "2"], 0)])
def test_webcam_thread_defaults(args, threads, monkeypatch, tmp_path, capsys):
    """Live, inference gets every core (ONNX Runtime's own default, 0) unless --threads says otherwise;
    --workers splits the cores in make_stylizers. On an idle machine 2 threads beat 1 with the fast
    student: 30.0 vs 27.3 fps at 640x480 / 30 fps (benchmarks/results/live_idle.md)."""
    import rtstyle.cli

    seen = []

    def capture(a):
        seen.append(a.threads)
        raise ValueError("stop here")

    monkeypatch.setattr(rtstyle.cli, "make_stylizers", capture)
    code = main(["webcam", "--camera", "0", "--no-window", "--stats-json", str(tmp_path / "s.json"), *args])
    assert code == 1 and "stop here" in capsys.readouterr().err
    assert seen == [threads]


@pytest.mark.parametrize("args, cores, workers", [
    ([], 2, 1),  # no preset: one frame at a time, all cores on it
    (["--quality", "fast"], 2, 2),  # the fast preset's small network: two frames at once
    (["--quality", "fast"], 1, 1),  # ... but never more workers than cores
    (["--quality", "fast", "--temporal", "--temporal-mechanisms", "stabilize"], 2, 1),  # a stage: frames in turn
    (["--quality", "fast", "--temporal"], 2, 2),  # a student's own stage is empty (presets.STUDENT_TEMPORAL)
    (["--quality", "best"], 8, 1),
    (["--quality", "fast", "--workers", "1"], 2, 1),  # an explicit --workers wins
    (["--style-image", "KISS"], 2, 2),  # the any-painting network's card asks for two (runtime.workers)
    (["--style-image", "KISS", "--workers", "1"], 2, 1),
])
def test_webcam_worker_defaults(args, cores, workers, monkeypatch, tmp_path, capsys, shared):
    """--quality fast live on 2+ cores runs two workers: 29.99-30.02 fps (p95 51-53 ms) against 26.4-29.6
    with one worker on two threads, idle (benchmarks/results/live_w32_workers_idle.md)."""
    import rtstyle.cli
    import rtstyle.stylizer

    seen = []
    real = rtstyle.cli.make_stylizers

    def capture(a):
        seen.append((real(a), a.threads))
        raise ValueError("stop here")

    for module in (rtstyle.cli, rtstyle.stylizer):
        monkeypatch.setattr(module.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(rtstyle.cli, "make_stylizers", capture)
    args = [str(shared / "data/styles/kiss.jpg") if x == "KISS" else x for x in args]
    code = main(["webcam", "--camera", "0", "--no-window", "--stats-json", str(tmp_path / "s.json"), *args])
    assert code == 1 and "stop here" in capsys.readouterr().err
    stylizers, threads = seen[0]
    assert len(stylizers) == workers
    assert threads == (cores // workers if workers > 1 else 0)
    assert all(s.config.threads == threads for s in stylizers)
