"""Slim students: the shipped ones run and stay close to their teachers; distillation learns and resumes exactly."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from rtstyle.engines import EngineOptions, create_engine
from rtstyle.engines.torch_eager import state_dict_from_onnx
from rtstyle.frames import from_batch, to_batch
from rtstyle.models.johnson import config_of
from rtstyle.registry import StyleModel, builtin_styles
from rtstyle_export.slim import (PERCEPTUAL_LAYERS, DistillConfig, Distiller, camera_error, camera_move, load_teacher,
                                 random_camera, shift_error)
from rtstyle_export.vgg import VGGFeatures

OPTS = EngineOptions(threads=1)  # shared, oversubscribed cores: more threads only spin-wait
STUDENTS = sorted(name for name, s in builtin_styles().items() if s.slim_path)
# Mean absolute difference (0-255) between student and teacher on the first eval photo at 320 px: measured
# per style (same path as the test), with about 30% margin.
MAX_MAD = {"starry": 16.0, "wave": 16.0, "scream": 10.0, "composition": 16.0}  # measured 12.3, 12.0, 7.4, 12.5


def photo(path: Path, long_side: int) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    s = long_side / max(img.shape[:2])
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)


def test_starry_ships_a_student():
    # The default style is the one the fast presets need first.
    assert "starry" in STUDENTS
    assert builtin_styles()["starry"].slim_path.name == "starry.slim.onnx"


def test_no_student_no_slim_path(tmp_path):
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"")
    assert StyleModel("mine", model).slim_path is None
    (tmp_path / "mine.slim.onnx").write_bytes(b"")
    assert StyleModel("mine", model).slim_path == tmp_path / "mine.slim.onnx"


@pytest.mark.parametrize("name", STUDENTS)
def test_student_is_a_distilled_slim_johnson_net(name, teachers):
    style = builtin_styles()[name]
    student, teacher = config_of(state_dict_from_onnx(style.slim_path)), config_of(state_dict_from_onnx(style.path))
    assert student["width"] < teacher["width"] and student["blocks"] <= teacher["blocks"]
    assert style.slim_path.stat().st_size < style.path.stat().st_size / 4
    meta = {p.key: p.value for p in onnx.load(str(style.slim_path)).metadata_props}
    info = json.loads(meta["rtstyle_slim"])
    # Distilled from the teacher shipped beside it, or the one it was fine-tuned from for steady strokes
    # (a retrained teacher needs a new student).
    assert info["teacher"] == style.path.name
    assert info["teacher_sha256"] in teachers(style)
    assert info["architecture"] == {"type": "johnson", **student}


@pytest.mark.parametrize("name", STUDENTS)
def test_student_runs_at_odd_sizes(name, eval_photos):
    engine = create_engine("onnxruntime", builtin_styles()[name].slim_path, OPTS)
    for w, h in ((97, 61), (333, 247)):
        img = cv2.resize(photo(eval_photos[3], 400), (w, h), interpolation=cv2.INTER_AREA)
        out = engine.run(to_batch(img))
        assert out.shape == (1, 3, h, w) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0 and out.std() > 0.05  # a picture, not a flat field


@pytest.mark.parametrize("name", STUDENTS)
def test_student_stays_close_to_its_teacher(name, eval_photos):
    style = builtin_styles()[name]
    img = photo(eval_photos[0], 320)
    student = from_batch(create_engine("onnxruntime", style.slim_path, OPTS).run(to_batch(img)))
    teacher = from_batch(create_engine("onnxruntime", style.path, OPTS).run(to_batch(img)))
    mad = np.abs(student.astype(np.int16) - teacher).mean()
    assert mad < MAX_MAD[name], mad
    # And far closer to the teacher than the photo is: it learnt the style, not the identity.
    assert mad < 0.5 * np.abs(img.astype(np.int16) - teacher).mean()


# --- distillation itself, tiny: a 4-wide student on 32 px crops --------------------------------------------

STEPS = 12


class Killed(Exception):
    """Stands in for a kill between two checkpoints."""


@pytest.fixture(scope="module")
def vgg(shared) -> VGGFeatures:
    return VGGFeatures(shared / "weights/vgg16_features.pth", layers=PERCEPTUAL_LAYERS)


@pytest.fixture(scope="module")
def photos(shared, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for src in sorted((shared / "data/content/train").glob("*.jpg"))[:6]:
        os.symlink(src.resolve(), folder / src.name)
    return folder


def config(photos: Path, out: Path) -> DistillConfig:
    return DistillConfig(style="starry", data=str(photos), out=str(out), steps=STEPS, batch=2, crop=32, width=4,
                         blocks=1, lr=5e-3, threads=1, seed=1, log_every=1, checkpoint_every=6)


def logged(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_distillation_learns_resumes_exactly_and_exports(photos, vgg, tmp_path):
    straight = Distiller(config(photos, tmp_path / "a"), vgg=vgg)
    outputs = straight.write_outputs(straight.fit(log=lambda _: None))
    losses = [float(r["loss"]) for r in logged(straight.dir)]
    assert list(logged(straight.dir)[0]) == ["step", "loss", "pixel", "perceptual", "elapsed_s"]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses

    cfg = config(photos, tmp_path / "b")
    interrupted = Distiller(cfg, vgg=vgg)

    def kill_at_9(_msg: str) -> None:
        if interrupted.step == 9:
            raise Killed

    with pytest.raises(Killed):
        interrupted.fit(log=kill_at_9)
    resumed = Distiller(cfg, vgg=vgg)
    resumed.load_checkpoint()
    assert resumed.step == 6
    resumed.fit(log=lambda _: None)
    assert [int(r["step"]) for r in logged(resumed.dir)] == list(range(1, STEPS + 1))
    for k, v in straight.net.state_dict().items():
        assert torch.equal(v, resumed.net.state_dict()[k]), k

    # The exported student is a slim ONNX the runtime engine runs.
    assert outputs["onnx"].name == "starry.slim.onnx"
    out = create_engine("onnxruntime", outputs["onnx"], OPTS).run(np.full((1, 3, 35, 41), 0.5, np.float32))
    assert out.shape == (1, 3, 35, 41)


def test_shift_error_lines_up_the_moved_crop(eval_photos):
    """A stride-4 network repaints its strokes under a 1-2 px shift but nearly repeats them under a
    4 px one: so the term compares the right pixels (a misaligned slice would make all shifts alike)."""
    teacher, _ = load_teacher("starry")
    img = photo(eval_photos[0], 160)[:96, :96]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = teacher(x)
        errors = {s: float(shift_error(teacher, x, y, *s, margin=8)) for s in ((0, 0), (1, 2), (4, 4))}
    assert errors[(0, 0)] < 1e-10
    assert errors[(4, 4)] < 0.5 * errors[(1, 2)], errors


def test_camera_move_is_exact_at_whole_pixels_and_keeps_the_centre_under_roll(eval_photos):
    img = photo(eval_photos[0], 160)[:64, :80]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    moved = camera_move(x, torch.tensor([[1.0, 0.0, 3.0], [0.0, 1.0, 2.0]]))  # view moved by (3, 2) px
    assert torch.allclose(moved[..., 4:-6, 4:-6], x[..., 6:-4, 7:-3], atol=1e-4)
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        m = random_camera(gen, 0.0, 2.0, 0.05, (64, 80))
        assert torch.allclose(m @ torch.tensor([39.5, 31.5, 1.0], dtype=torch.float64),
                              torch.tensor([39.5, 31.5], dtype=torch.float64))
        assert 0.95 <= float(torch.linalg.det(m[:, :2])) ** 0.5 <= 1.05


def test_camera_error_lines_up_the_moved_view(eval_photos):
    """As for shifts: the network nearly repeats its strokes under a 4 px move of its view, not under a
    1.5 px one or a 3 degree roll; a misaligned comparison would make all motions alike."""
    teacher, _ = load_teacher("starry")
    img = photo(eval_photos[0], 160)[:96, :96]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    c, s = np.cos(np.radians(3.0)), np.sin(np.radians(3.0))
    motions = {"still": [[1, 0, 0], [0, 1, 0]], "4 px": [[1, 0, 4], [0, 1, 4]], "1.5 px": [[1, 0, 1.5], [0, 1, 1.5]],
               "roll": [[c, -s, 47.5 * (1 - c) + 47.5 * s], [s, c, 47.5 * (1 - c) - 47.5 * s]]}
    with torch.no_grad():
        y = teacher(x)
        errors = {k: float(camera_error(teacher, x, y, torch.tensor(m, dtype=torch.float64), margin=12))
                  for k, m in motions.items()}
    assert errors["still"] < 1e-6, errors
    assert errors["4 px"] < 0.5 * min(errors["1.5 px"], errors["roll"]), errors


@pytest.mark.parametrize("motion", ["shift", "camera"])
def test_distillation_with_the_temporal_term_logs_it(photos, vgg, tmp_path, motion):
    cfg = DistillConfig(**{**config(photos, tmp_path).__dict__, "steps": 3, "temporal_weight": 1.0, "motion": motion})
    run = Distiller(cfg, vgg=vgg)
    run.fit(log=lambda _: None)
    rows = logged(run.dir)
    assert list(rows[0]) == ["step", "loss", "pixel", "perceptual", "temporal", "elapsed_s"]
    assert all(float(r["temporal"]) > 0 for r in rows)
