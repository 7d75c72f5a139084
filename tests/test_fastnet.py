"""The space-to-depth student (rtstyle/models/fastnet.py, NAME.fast.onnx) on real photos and bunny frames."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from rtstyle import Stylizer
from rtstyle.engines import EngineOptions, create_engine
from rtstyle.engines.torch_eager import state_dict_from_onnx
from rtstyle.frames import from_batch, to_batch
from rtstyle.models.build import network_for
from rtstyle.models.fastnet import FastNet, fastnet_config_of
from rtstyle.models.johnson import TransformerNet
from rtstyle.registry import StyleModel, builtin_styles
from rtstyle_export.formats import load_net
from rtstyle_export.slim import PERCEPTUAL_LAYERS, DistillConfig, Distiller
from rtstyle_export.vgg import VGGFeatures

OPTS = EngineOptions(threads=1)
STUDENTS = sorted(name for name, s in builtin_styles().items() if s.fast_path)


def photo(path: Path, size: tuple[int, int]) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b).mean())


def test_starry_ships_a_fast_student():
    style = builtin_styles()["starry"]
    assert style.fast_path is not None and style.fast_path.name == "starry.fast.onnx"
    assert style.fast_path.stat().st_size < 2_000_000  # FP16 weights: a shipped file stays small


def test_no_fast_student_no_fast_path(tmp_path):
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"")
    assert StyleModel("mine", model).fast_path is None
    (tmp_path / "mine.fast.onnx").write_bytes(b"")
    assert StyleModel("mine", model).fast_path == tmp_path / "mine.fast.onnx"


@pytest.mark.parametrize("name", STUDENTS)
def test_shipped_student_card_and_class(name, teachers):
    style = builtin_styles()[name]
    state = state_dict_from_onnx(style.fast_path)
    cfg = fastnet_config_of(state)
    assert cfg is not None and isinstance(network_for(state), FastNet)
    assert fastnet_config_of(state_dict_from_onnx(style.path)) is None  # the teacher stays a TransformerNet
    info = json.loads({p.key: p.value for p in onnx.load(str(style.fast_path)).metadata_props}["rtstyle_slim"])
    assert info["teacher"] == style.path.name
    assert info["teacher_sha256"] in teachers(style)
    arch = "fastnet-smooth" if cfg["smooth"] else "fastnet"
    assert "SpaceToDepth" in {n.op_type for n in onnx.load(str(style.fast_path)).graph.node}  # the fast fold
    assert info["architecture"] == {"type": arch, "width": cfg["width"], "blocks": cfg["blocks"]}


@pytest.mark.parametrize("name", STUDENTS)
def test_onnx_matches_pytorch_class_at_odd_sizes(name, eval_photos):
    path = builtin_styles()[name].fast_path
    ort = create_engine("onnxruntime", path, OPTS)
    eager = create_engine("torch", path, OPTS)  # rebuilds FastNet from the ONNX weights
    assert isinstance(eager.net, FastNet)
    for w, h in ((333, 187), (97, 61), (13, 9), (640, 480)):
        batch = to_batch(photo(eval_photos[2], (w, h)))
        a, b = ort.run(batch), eager.run(batch)
        assert a.shape == b.shape == (1, 3, h, w)
        assert np.abs(a - b).max() < 2e-3, (w, h, np.abs(a - b).max())
        assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.05


@pytest.mark.parametrize("name", STUDENTS)
def test_output_is_the_teachers_style(name, eval_photos):
    # The student at full size sits far closer to its teacher than the photo does, and than another style.
    style = builtin_styles()[name]
    other = "wave" if name != "wave" else "starry"
    img = photo(eval_photos[0], (480, 360))
    student = from_batch(create_engine("onnxruntime", style.fast_path, OPTS).run(to_batch(img)))
    teacher = from_batch(create_engine("onnxruntime", style.path, OPTS).run(to_batch(img)))
    unrelated = from_batch(create_engine("onnxruntime", builtin_styles()[other].path, OPTS).run(to_batch(img)))
    d = mad(student, teacher)
    assert d < 0.5 * mad(img, teacher) and d < 0.6 * mad(unrelated, teacher), (d, mad(img, teacher))


def test_fast_preset_runs_the_fast_student_at_full_size(eval_photos):
    s = Stylizer("starry", threads=1, quality="fast")
    assert s.style.path.name == "starry.fast.onnx" and s.preset.scale == 1.0
    seen = []
    run = s.engine.run
    s.engine.run = lambda batch: seen.append(batch.shape) or run(batch)  # observe the network's input
    frame = photo(eval_photos[1], (333, 187))
    out, timings = s.stylize_timed(frame)
    assert seen == [(1, 3, 187, 333)] and "upsample" not in timings
    assert out.shape == frame.shape and mad(out, frame) > 10


def test_fast_preset_falls_back_to_the_slim_student_at_half_size(monkeypatch):
    monkeypatch.setattr(StyleModel, "fast_path", property(lambda self: None))
    s = Stylizer("starry", threads=1, quality="fast")
    assert s.style.path.name == "starry.slim.onnx" and s.preset.scale == 0.5


def test_user_fast_model_runs_at_full_size():
    path = builtin_styles()["starry"].fast_path
    s = Stylizer(model=path, threads=1, quality="fast")
    assert s.style.path == path and s.preset.scale == 1.0


# --- distillation with --arch fastnet, tiny: a 8-wide student on 32 px crops -------------------------------


def test_fastnet_distillation_exports_a_fast_student(shared, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in sorted((shared / "data/content/train").glob("*.jpg"))[:4]:
        os.symlink(src.resolve(), photos / src.name)
    cfg = DistillConfig(style="starry", data=str(photos), out=str(tmp_path / "runs"), arch="fastnet", steps=10,
                        batch=2, crop=32, width=8, blocks=1, lr=5e-3, threads=1, seed=1, log_every=1, gram_weight=1.0)
    vgg = VGGFeatures(shared / "weights/vgg16_features.pth", layers=PERCEPTUAL_LAYERS)
    run = Distiller(cfg, vgg=vgg)
    assert isinstance(run.net, FastNet) and isinstance(run.teacher, TransformerNet)
    outputs = run.write_outputs(run.fit(log=lambda _: None))
    assert outputs["onnx"].name == "starry.fast.onnx"
    with open(run.dir / "losses.csv") as f:
        assert f.readline().strip() == "step,loss,pixel,perceptual,gram,elapsed_s"
    # --init: a fine-tuning run starts from those weights; the smooth variant's extra conv starts as the
    # identity, so it begins with exactly the same output.
    tuned = Distiller(replace(cfg, out=str(tmp_path / "tune"), init=str(outputs["pth"]), arch="fastnet-smooth"),
                      vgg=vgg)
    assert tuned.net.smooth and fastnet_config_of(tuned.net.state_dict())["smooth"]
    for k, v in run.net.state_dict().items():
        assert torch.equal(v, tuned.net.state_dict()[k]), k
    img = torch.from_numpy(to_batch(photo(sorted(photos.iterdir())[0], (45, 37))))
    with torch.no_grad():
        assert torch.allclose(run.net.eval()(img), tuned.net.eval()(img), atol=1e-6)
    with pytest.raises(ValueError, match="do not fit"):
        Distiller(replace(cfg, out=str(tmp_path / "bad"), init=str(outputs["pth"]), arch="johnson"), vgg=vgg)
    # The checkpoint goes through `rtstyle export --checkpoint` (load_net) as a FastNet.
    name, net, _ = load_net(checkpoint=outputs["pth"])
    assert name == "starry.fast" and isinstance(net, FastNet)
    x = np.random.default_rng(0).random((1, 3, 35, 41), dtype=np.float32)
    out = create_engine("onnxruntime", outputs["onnx"], OPTS).run(x)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert out.shape == (1, 3, 35, 41) and np.abs(out - ref).max() < 2e-2  # FP16-stored weights in the ONNX
    # The graph folds with one SpaceToDepth; reading it back undoes its channel order.
    assert [n.op_type for n in onnx.load(str(outputs["onnx"])).graph.node].count("SpaceToDepth") == 1
    back = state_dict_from_onnx(outputs["onnx"])
    for k, v in net.state_dict().items():
        assert torch.allclose(back[k], v, atol=1e-2 * float(v.abs().max()) + 1e-6), k
