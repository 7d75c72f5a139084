"""The Johnson network, its ONNX export, and parity between the engines that run it."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from rtstyle.engines import EngineOptions, create_engine
from rtstyle.frames import to_batch
from rtstyle.models.johnson import TransformerNet, config_of
from rtstyle.registry import builtin_styles
from rtstyle_export.onnx_export import export_onnx

# One thread: on shared, oversubscribed cores more threads only spin-wait (10x slower measured).
OPTS = EngineOptions(threads=1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def photo_batch(path: Path, long_side: int | None = None) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    if long_side:
        s = long_side / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return to_batch(img)


def random_net(width: int = 8, blocks: int = 2, seed: int = 0) -> TransformerNet:
    """A fresh net with randomised norm affines: untouched ones are all-ones/zeros, and the exporter
    would merge those identical initializers, so the torch engine could not rebuild the net."""
    torch.manual_seed(seed)
    net = TransformerNet(width, blocks)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


def expected_params(width: int, blocks: int) -> int:
    """Parameter count written out layer by layer (conv weights + biases, norm scale + shift)."""
    w = width

    def conv(cin: int, cout: int, k: int, norm: bool = True) -> int:
        return cin * cout * k * k + cout + (2 * cout if norm else 0)

    trunk = conv(3, w, 9) + conv(w, 2 * w, 3) + conv(2 * w, 4 * w, 3) + blocks * 2 * conv(4 * w, 4 * w, 3)
    head = conv(4 * w, 2 * w, 3) + conv(2 * w, w, 3) + conv(w, 3, 9, norm=False)
    return trunk + head


@pytest.fixture(scope="module")
def starry() -> Path:
    return builtin_styles()["starry"].path


@pytest.fixture(scope="module")
def fresh_onnx(tmp_path_factory) -> tuple[TransformerNet, Path]:
    net = random_net()
    return net, export_onnx(net, tmp_path_factory.mktemp("fresh") / "fresh.onnx", fp16_weights=False)


def test_starry_onnxruntime_matches_torch_on_photos(starry, eval_photos):
    ort = create_engine("onnxruntime", starry, OPTS)
    ref = create_engine("torch", starry, OPTS)
    assert len(eval_photos) >= 15
    for path in eval_photos[::6]:  # 3 of the 18, downscaled: convolutions do not care and CPU is scarce
        batch = photo_batch(path, 256)
        a, b = ort.run(batch), ref.run(batch)
        assert a.shape == b.shape == batch.shape
        assert np.abs(a - b).max() < 2e-3, path.name
        assert psnr(a, b) > 60, path.name
        # Parity of two identity maps would prove nothing: the model must actually restyle.
        assert np.abs(a - batch).mean() > 0.05, path.name


def test_fresh_export_matches_pytorch(fresh_onnx, eval_photos):
    net, path = fresh_onnx
    batch = photo_batch(eval_photos[0], 160)
    with torch.inference_mode():
        want = net(torch.from_numpy(batch)).numpy()
    got_ort = create_engine("onnxruntime", path, OPTS).run(batch)
    got_torch = create_engine("torch", path, OPTS).run(batch)  # rebuilt from the ONNX initializers
    assert np.abs(got_ort - want).max() < 1e-5
    assert np.abs(got_torch - want).max() < 1e-5


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_odd_sizes_round_trip(fresh_onnx, engine):
    _, path = fresh_onnx
    eng = create_engine(engine, path, OPTS)
    for h, w in [(97, 161), (33, 17), (64, 65)]:
        batch = np.random.default_rng(h).random((1, 3, h, w), dtype=np.float32)
        out = eng.run(batch)
        assert out.shape == (1, 3, h, w)
        assert out.min() >= 0.0 and out.max() <= 1.0  # eval-mode clamp survives export


def test_eval_mode_clamps_and_training_mode_does_not():
    net = random_net()
    x = torch.rand(1, 3, 40, 40)
    raw = net.train()(x)
    assert raw.min() < 0 or raw.max() > 1, "pick a seed whose raw output leaves [0, 1]"
    assert torch.equal(net.eval()(x), raw.clamp(0, 1))


@pytest.mark.parametrize("width,blocks", [(32, 5), (16, 3), (8, 1)])
def test_width_blocks_set_size_and_config_of_recovers_them(width, blocks):
    net = TransformerNet(width, blocks)
    assert sum(p.numel() for p in net.parameters()) == expected_params(width, blocks)
    assert config_of(net.state_dict()) == {"width": width, "blocks": blocks}


def test_fp16_export_is_small_and_valid(tmp_path):
    path = export_onnx(random_net(32, 5), tmp_path / "full.onnx", fp16_weights=True)
    assert path.stat().st_size < 4 * 1024 * 1024
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["stylized"]
    halves = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) >= 30  # every conv weight of the 5-block net is stored as float16
