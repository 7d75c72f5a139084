"""The shipped StyTr² student at run time: its two ONNX graphs, `--style-image`, no torch."""
from __future__ import annotations

import json
import subprocess
import sys

import av
import numpy as np
import pytest
import torch

from export.stytr2_export import export_student
from rtstyle.arbitrary import STYLE_GRAPH, bind_style, encode_style, model_dir, style_square
from rtstyle.cli import main
from rtstyle.engines import EngineOptions, create_engine
from rtstyle.frames import to_batch
from rtstyle.models.stytr2_student import StyTr2Student
from rtstyle.sources import read_image
from rtstyle.stylizer import Stylizer
from rtstyle.temporal import TemporalConfig

ONE = EngineOptions(threads=1)


@pytest.fixture(scope="module")
def photo(eval_photos) -> np.ndarray:
    return read_image(eval_photos[5])


@pytest.fixture(scope="module")
def kiss(shared):
    return shared / "data/styles/kiss.jpg"


def test_exported_graphs_match_torch_at_any_size(tmp_path, photo, kiss):
    torch.manual_seed(3)
    net = StyTr2Student().eval()
    paths = export_student(net, tmp_path)
    net = net.half().float().eval()  # the graphs store FP16 weights: compare against the same rounding
    painting = to_batch(style_square(read_image(kiss)))
    tokens = create_engine("onnxruntime", paths["style_encoder"], ONE).run(painting)
    with torch.no_grad():
        expected = net.encode_style(torch.from_numpy(painting)).numpy()
    np.testing.assert_allclose(tokens, expected, atol=2e-3)
    frame_engine = create_engine("onnxruntime", paths["frame"], ONE)
    assert frame_engine.inputs == ("image", "style_tokens")
    for h, w in ((120, 160), (75, 133)):  # dynamic height and width, odd sizes included
        image = to_batch(photo[:h, :w])
        out = frame_engine.run_feeds({"image": image, "style_tokens": tokens})["stylized"]
        with torch.no_grad():
            ref = net(torch.from_numpy(image), torch.from_numpy(tokens)).numpy()
        assert out.shape == (1, 3, h, w)
        np.testing.assert_allclose(out, ref, atol=2e-3)


def test_the_style_is_encoded_once_and_reused(photo, kiss, shared):
    style, engine = bind_style(kiss, "onnxruntime", ONE)
    assert style.name == "image:kiss.jpg" and engine.inputs == ("image",)
    np.testing.assert_array_equal(engine.tokens, encode_style(read_image(kiss), "onnxruntime", ONE))
    stylizer = Stylizer(style_image=kiss, engine="onnxruntime", threads=1)
    out, stages = stylizer.stylize_timed(photo)
    assert set(stages) == {"preprocess", "inference", "postprocess"}
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - photo.astype(int)).mean() > 10  # restyled, not copied
    starry = Stylizer(style_image=shared / "data/styles/starry.jpg", threads=1).stylize(photo)
    assert np.abs(out.astype(int) - starry.astype(int)).mean() > 5  # the painting decides the look
    # The same stylizer again gives the same frame: nothing is re-encoded or drifts between frames.
    np.testing.assert_array_equal(stylizer.stylize(photo), out)


def test_cli_image_and_errors(tmp_path, capsys, eval_photos, kiss):
    out = tmp_path / "out.png"
    assert main(["image", str(eval_photos[0]), str(out), "--style-image", str(kiss), "--threads", "1"]) == 0
    assert read_image(out).shape == read_image(eval_photos[0]).shape
    capsys.readouterr()
    assert main(["image", str(eval_photos[0]), str(tmp_path / "b.png"), "--style-image", str(tmp_path / "no.jpg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rtstyle: error: style image not found:") and "no.jpg" in err and err.count("\n") == 1
    assert main(["image", str(eval_photos[0]), str(tmp_path / "b.png"), "--style-image", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"rtstyle: error: style image is a folder, not an image: {tmp_path}\n"
    assert main(["image", str(eval_photos[0]), str(tmp_path / "t.png"), "--style-image", str(kiss),
                 "--engine", "torch"]) == 1
    assert "needs an ONNX engine" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: not allowed with --style
        main(["image", str(eval_photos[0]), str(tmp_path / "c.png"), "--style", "starry", "--style-image", str(kiss)])
    with pytest.raises(ValueError, match="not several"):
        Stylizer("starry", style_image=kiss)


def test_video_with_a_style_image_keeps_every_frame(tmp_path, bunny, kiss):
    out = tmp_path / "bunny.mp4"
    assert main(["video", str(bunny), str(out), "--style-image", str(kiss), "--max-size", "96", "--threads", "1",
                 "--quiet"]) == 0
    with av.open(str(out)) as f:
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    with av.open(str(bunny)) as f:
        first = next(f.decode(video=0)).to_ndarray(format="rgb24")
    assert len(frames) == 240 and frames[0].shape == (360, 640, 3)
    assert np.abs(frames[0].astype(int) - first.astype(int)).mean() > 10



def test_video_with_a_style_image_runs_per_frame_unless_asked(tmp_path, bunny, kiss, capfd):
    """The student's card measured the stage (stabiliser only: it has no trunk/head graphs) not worth its
    cost: `rtstyle video` says so and paints each frame as the Stylizer does alone."""
    stats = tmp_path / "stats.json"
    assert main(["video", str(bunny), str(tmp_path / "out.mp4"), "--style-image", str(kiss), "--max-size", "64",
                 "--threads", "1", "--stats-json", str(stats)]) == 0
    assert "rtstyle: no temporal stage for image:kiss.jpg" in capfd.readouterr().err
    assert "keyframes" not in json.loads(stats.read_text())
    # With no stage to run, frames are independent: --workers needs no --no-temporal.
    assert main(["video", str(bunny), str(tmp_path / "two.mp4"), "--style-image", str(kiss), "--max-size", "64",
                 "--workers", "2", "--quiet"]) == 0
    with av.open(str(bunny)) as f:
        frames = [fr.to_ndarray(format="rgb24") for _, fr in zip(range(3), f.decode(video=0))]
    default = Stylizer(style_image=kiss, threads=1, max_size=64, temporal=TemporalConfig())
    alone = Stylizer(style_image=kiss, threads=1, max_size=64)
    forced = Stylizer(style_image=kiss, threads=1, max_size=64, temporal=TemporalConfig.only(["stabilize"]))
    assert default.temporal is None and forced.temporal is not None and forced.temporal.config.stabilize
    outs = {name: [s.stylize(f) for f in frames] for name, s in
            {"default": default, "alone": alone, "forced": forced}.items()}
    for a, b in zip(outs["default"], outs["alone"]):
        assert np.array_equal(a, b)
    assert np.abs(outs["forced"][2].astype(int) - outs["alone"][2].astype(int)).mean() > 0.2  # blended: 0.5


NO_TORCH = """
import sys
from rtstyle import Stylizer
from rtstyle.sources import read_image
out = Stylizer(style_image=sys.argv[2], engine="onnxruntime", threads=1).stylize(read_image(sys.argv[1]))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "rtstyle_export"))
assert not heavy, heavy
print(out.shape)
"""


def test_style_image_inference_does_not_import_torch(eval_photos, kiss):
    done = subprocess.run([sys.executable, "-c", NO_TORCH, str(eval_photos[0]), str(kiss)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (model_dir() / STYLE_GRAPH).is_file()
