"""Training on real photos, a real painting and the real VGG16: it learns, resumes exactly, and writes its outputs."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import onnx
import pytest
import torch

from rtstyle_export.train import Trainer, TrainConfig
from rtstyle_export.vgg import VGGFeatures

STEPS = 20


class Killed(Exception):
    """Stands in for a kill between two checkpoints."""


@pytest.fixture(scope="module")
def vgg(shared) -> VGGFeatures:
    return VGGFeatures(shared / "weights/vgg16_features.pth")  # 59 MB: load once for the module


@pytest.fixture(scope="module")
def photos(shared, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for src in sorted((shared / "data/content/train").glob("*.jpg"))[:8]:
        os.symlink(src.resolve(), folder / src.name)
    return folder


def config(shared: Path, photos: Path, out: Path, **kw) -> TrainConfig:
    # Tiny on purpose: VGG16 up to relu4_3 dominates a step, and it scales with crop area.
    base = dict(style_image=str(shared / "data/styles/starry.jpg"), name="tiny", data=str(photos),
                vgg=str(shared / "weights/vgg16_features.pth"), out=str(out), steps=STEPS, batch=2, crop=32,
                style_size=160, width=8, blocks=1, lr=5e-3, threads=1, seed=3, log_every=1, checkpoint_every=10)
    return TrainConfig(**{**base, **kw})


def logged(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def straight(shared, photos, vgg, tmp_path_factory) -> Trainer:
    """20 uninterrupted steps, then the final outputs."""
    trainer = Trainer(config(shared, photos, tmp_path_factory.mktemp("straight")), vgg=vgg)
    trainer.outputs = trainer.write_outputs(trainer.fit(log=lambda _: None))
    return trainer


def test_training_lowers_the_loss(straight):
    losses = [float(r["loss"]) for r in logged(straight.dir)]
    assert len(losses) == STEPS
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.5 * first, (first, last)


def test_resume_continues_exactly(shared, photos, vgg, straight, tmp_path):
    cfg = config(shared, photos, tmp_path)

    def kill_at_15(_msg: str) -> None:
        if interrupted.step == 15:
            raise Killed

    # Killed at step 15: the last checkpoint is step 10, and steps 11-15 are already in the log.
    interrupted = Trainer(cfg, vgg=vgg)
    with pytest.raises(Killed):
        interrupted.fit(log=kill_at_15)
    assert [int(r["step"]) for r in logged(interrupted.dir)] == list(range(1, 16))

    resumed = Trainer(cfg, vgg=vgg)
    resumed.load_checkpoint()
    assert resumed.step == 10
    resumed.fit(log=lambda _: None)

    want, got = straight.net.state_dict(), resumed.net.state_dict()
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6, msg=name)
    rows = logged(resumed.dir)
    assert [int(r["step"]) for r in rows] == list(range(1, STEPS + 1))
    assert [r["loss"] for r in rows] == [r["loss"] for r in logged(straight.dir)]


def test_outputs_are_written(straight):
    out = straight.outputs
    assert set(out) == {"pth", "onnx", "card"}
    state = torch.load(out["pth"], weights_only=True)
    assert state.keys() == straight.net.state_dict().keys()
    onnx.checker.check_model(onnx.load(str(out["onnx"])))
    card = json.loads(out["card"].read_text())
    assert {"name", "painting", "artist", "year", "architecture", "io", "training", "training_seconds",
            "final_losses"} <= card.keys()
    assert card["name"] == "tiny"
    assert card["architecture"] == {"type": "johnson", "width": 8, "blocks": 1}
    assert card["training"]["steps"] == STEPS and card["training"]["style_image"] == "starry.jpg"
    assert set(card["final_losses"]) == {"loss", "content", "style", "tv"}
    assert (straight.dir / "checkpoint.pt").is_file()


def test_rtstyle_train_hands_its_arguments_to_the_trainer(capsys):
    from rtstyle.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "-h"])
    assert e.value.code == 0
    assert "--style-image" in capsys.readouterr().out
