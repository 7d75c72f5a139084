"""`rtstyle export`: every built-in style in every CPU format, checked against PyTorch on real photos."""
from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from rtstyle.cli import main
from rtstyle.engines import EngineOptions, create_engine
from rtstyle.frames import as_rgb8, from_batch, to_batch
from rtstyle.registry import builtin_styles
from rtstyle.sources import read_image
from rtstyle_export.fp16 import fp16_node_types
from rtstyle_export.formats import FORMATS, ExportJob, export, load_net
from rtstyle_export.quantize import Int8Config

STYLES = sorted(builtin_styles())
# Tests calibrate on a handful of small frames; the shipped numbers (benchmarks/int8.py) use 64.
QUICK_INT8 = Int8Config(calib_frames=4, calib_size=(192, 144), calibrate_method="MinMax")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


@pytest.fixture(scope="module")
def photos(eval_photos) -> list[np.ndarray]:
    """Two real eval photos at ~256 px on the long side, one of them with odd dimensions."""
    out = []
    for path, size in zip(eval_photos[:2], ((256, 171), (193, 255))):
        out.append(cv2.resize(as_rgb8(read_image(path))[0], size, interpolation=cv2.INTER_AREA))
    return out


def run(engine, photos) -> list[np.ndarray]:
    return [from_batch(engine.run(to_batch(p))) for p in photos]


@pytest.fixture(scope="module", params=STYLES)
def exported(request, tmp_path_factory, shared, photos):
    """One style in onnx, onnx-fp16 and onnx-int8, plus the PyTorch reference outputs."""
    name, net, source = load_net(request.param)
    folder = tmp_path_factory.mktemp(name)
    job = ExportJob(name, net, source, folder, calib_dir=shared / "data/content/train", int8=QUICK_INT8)
    files = {fmt: export(fmt, job) for fmt in ("onnx", "onnx-fp16", "onnx-int8")}
    with torch.inference_mode():
        ref = [from_batch(net(torch.from_numpy(to_batch(p))).numpy()) for p in photos]
    return name, files, ref


def test_fp32_onnx_contract_and_parity_with_pytorch(exported, photos):
    name, files, ref = exported
    model = onnx.load(str(files["onnx"]))
    onnx.checker.check_model(model)
    assert model.opset_import[0].version >= 17
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("image", "stylized")
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))  # N, H, W dynamic
    got = run(create_engine("onnxruntime", files["onnx"], EngineOptions(threads=1)), photos)
    for g, r, p in zip(got, ref, photos):
        assert g.shape == p.shape
        assert np.abs(g.astype(int) - r.astype(int)).max() <= 1, name  # rounding of 8-bit output only


def test_fp16_keeps_norms_fp32_and_io_fp32(exported, photos):
    name, files, _ = exported
    model = onnx.load(str(files["onnx-fp16"]))
    kinds = fp16_node_types(model)
    assert kinds["Conv"] == {"float16"}, kinds
    assert kinds["InstanceNormalization"] == {"float32"}, kinds
    for vi in (*model.graph.input, *model.graph.output):
        assert vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    fp32 = run(create_engine("onnxruntime", files["onnx"], EngineOptions(threads=1)), photos)
    fp16 = run(create_engine("onnxruntime", files["onnx-fp16"], EngineOptions(threads=1)), photos)
    for a, b in zip(fp16, fp32):
        assert psnr(a, b) >= 40, (name, psnr(a, b))


def test_int8_is_static_qdq_per_channel_and_close_to_fp32(exported, photos):
    name, files, _ = exported
    model = onnx.load(str(files["onnx-int8"]))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    # first, penultimate and last Conv stay float: their weights are plain initializers, not DequantizeLinear outputs
    produced_by_dq = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    inits = {i.name: i for i in model.graph.initializer}
    assert all(convs[i].input[1] in inits for i in (0, -2, -1))
    assert all(c.input[1] in produced_by_dq for c in convs[1:-2])
    scales = [inits[n.input[1]] for n in model.graph.node if n.op_type == "DequantizeLinear"
              and n.input[0] in inits and inits[n.input[0]].data_type == onnx.TensorProto.INT8]
    assert scales and all(len(s.dims) == 1 and s.dims[0] > 1 for s in scales)  # one scale per output channel
    fp32 = run(create_engine("onnxruntime", files["onnx"], EngineOptions(threads=1)), photos)
    int8 = run(create_engine("onnxruntime", files["onnx-int8"], EngineOptions(threads=1)), photos)
    for a, b in zip(int8, fp32):
        # 4 tiny calibration frames, MinMax, here; benchmarks/int8.py measures the shipped 64-frame calibration
        assert psnr(a, b) >= 24, (name, psnr(a, b))
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 0  # it really is a different arithmetic


def test_manifest_records_how_the_file_was_made(exported):
    name, files, _ = exported
    for fmt, path in files.items():
        m = json.loads(path.with_name(path.name + ".json").read_text())
        assert m["format"] == fmt and m["file"] == path.name
        assert m["precision"] == FORMATS[fmt].precision
        assert len(m["sha256"]) == 64 and len(m["source_sha256"]) == 64
        assert m["io"]["input"] == "image" and "onnxruntime" in m["tools"] and "torch" in m["tools"]
    assert json.loads(files["onnx-int8"].with_name(files["onnx-int8"].name + ".json").read_text())["int8"][
        "calib_frames"] == QUICK_INT8.calib_frames


def test_cli_export_then_stylize_with_the_export(tmp_path, eval_photos, capsys):
    out = tmp_path / "wave.fp16.onnx"
    assert main(["export", "--style", "wave", "--format", "onnx-fp16", "--output", str(out)]) == 0
    assert out.is_file() and json.loads((tmp_path / "wave.fp16.onnx.json").read_text())["format"] == "onnx-fp16"
    picture = tmp_path / "out.png"
    small = tmp_path / "in.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(eval_photos[0])), (160, 120)))
    assert main(["image", str(small), str(picture), "--model", str(out), "--engine", "onnxruntime"]) == 0
    assert read_image(picture).shape == (120, 160, 3)


def test_cli_export_from_a_checkpoint(tmp_path):
    _, net, _ = load_net("scream")
    ckpt = tmp_path / "mine.pth"
    torch.save({"model": net.state_dict(), "step": 3}, ckpt)  # the trainer's checkpoint layout
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--output", str(tmp_path / "m.onnx")]) == 0
    assert json.loads((tmp_path / "m.onnx.json").read_text())["source"] == str(ckpt)


@pytest.mark.parametrize("args,message", [
    (["--style", "nope", "--format", "onnx"], "unknown style 'nope'"),
    (["--checkpoint", "missing.pth", "--format", "onnx"], "checkpoint not found: missing.pth"),
    (["--style", "starry", "--format", "tensorrt"], "format 'tensorrt' needs tensorrt"),
    (["--style", "starry", "--format", "torch-tensorrt"], "format 'torch-tensorrt' needs torch_tensorrt"),
    (["--style", "starry", "--format", "onnx", "--max-size", "big"], "size must be WIDTHxHEIGHT"),
    (["--style", "starry", "--format", "onnx", "--min-size", "800x600", "--opt-size", "640x480"],
     "sizes must grow min <= opt <= max"),
    (["--style", "starry", "--format", "onnx-int8", "--calibration", "nowhere"], "calibration needs a folder"),
])
def test_cli_export_errors_are_one_line(tmp_path, capsys, args, message):
    assert main(["export", *args, "--output", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rtstyle: error: ") and message in err and err.count("\n") == 1, err


def test_bad_checkpoint_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["export", "--checkpoint", str(bad), "--format", "onnx", "--output", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and err.count("\n") == 1


def test_int8_calibration_config_is_validated():
    with pytest.raises(ValueError, match="keep_float takes .first., .penultimate., .last. or Conv node names"):
        from rtstyle_export.quantize import float_conv_names
        float_conv_names(onnx.ModelProto(), dataclasses.replace(QUICK_INT8, keep_float=("middle",)).keep_float)


def test_cli_format_choices_are_the_factory_table():
    from rtstyle.export_cmd import FORMAT_CHOICES

    assert FORMAT_CHOICES == tuple(FORMATS)
