"""GPU code paths without a GPU: cache keys, profiles, the selection table, probes, error messages.

Nothing here runs a GPU kernel (this machine has none); see docs/gpu.md.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys

import pytest

import rtstyle.engines as engines
from rtstyle.cli import main
from rtstyle.engines import EngineUnavailable, create_engine, pick_auto, resolve
from rtstyle.engines import devices
from rtstyle.engines.cache import engine_dir
from rtstyle.engines.ort_gpu import tensorrt_ep_options
from rtstyle.engines.tensorrt_build import (DeviceInfo, Profile, cache_key, engine_path, parse_size,
                                            profile_from_sizes)
from rtstyle.registry import builtin_styles

GPU = DeviceInfo("NVIDIA GeForce RTX 4090", (8, 9))
SHA = "ab" * 32


# --- profiles -----------------------------------------------------------------------------------

def test_profile_defaults_cover_the_stylizer_minimum_and_1080p_both_ways():
    p = profile_from_sizes()
    assert p == Profile((1, 3, 16, 16), (1, 3, 480, 640), (1, 3, 1920, 1920))
    assert p.covers((1, 3, 1080, 1920)) and p.covers((1, 3, 1920, 1080)) and p.covers((1, 3, 16, 16))
    assert not p.covers((1, 3, 2160, 3840)) and not p.covers((2, 3, 64, 64))


def test_profile_from_requested_sizes_is_nchw():
    p = profile_from_sizes("320x240", "1280x720", "1920x1080")
    assert (p.min, p.opt, p.max) == ((1, 3, 240, 320), (1, 3, 720, 1280), (1, 3, 1080, 1920))
    assert p.label() == "320x240_1280x720_1920x1080"
    # only some given: the rest are the defaults, still ordered
    assert profile_from_sizes(opt_size="800x600").opt == (1, 3, 600, 800)


@pytest.mark.parametrize("sizes,message", [
    (("640x480", "320x240", None), "min <= opt <= max"),
    ((None, "640x2000", None), "min <= opt <= max"),  # opt taller than the default max
    (("8x8", None, None), "at least 16"),
    ((None, "640*480", None), "WIDTHxHEIGHT"),
])
def test_profile_errors(sizes, message):
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        profile_from_sizes(*sizes)


def test_parse_size_accepts_either_x():
    assert parse_size("1280X720") == (1280, 720) == parse_size(" 1280x720 ")


# --- engine cache keys --------------------------------------------------------------------------

def test_cache_key_is_stable_and_depends_on_everything_an_engine_depends_on():
    p = profile_from_sizes()
    key = cache_key(SHA, "10.7.0", GPU, "fp16", p)
    assert key == cache_key(SHA, "10.7.0", GPU, "fp16", profile_from_sizes()) and len(key) == 16
    variants = [
        cache_key("cd" * 32, "10.7.0", GPU, "fp16", p),                          # another model
        cache_key(SHA, "10.8.0", GPU, "fp16", p),                                # another TensorRT
        cache_key(SHA, "10.7.0", DeviceInfo("NVIDIA A100", (8, 0)), "fp16", p),  # another GPU
        cache_key(SHA, "10.7.0", dataclasses.replace(GPU, capability=(8, 6)), "fp16", p),
        cache_key(SHA, "10.7.0", GPU, "fp32", p),                                # another precision
        cache_key(SHA, "10.7.0", GPU, "fp16", profile_from_sizes(max_size="1280x720")),
    ]
    assert len({key, *variants}) == len(variants) + 1


def test_engine_path_names_model_precision_and_key(tmp_path):
    path = engine_path(tmp_path / "starry.onnx", "0123456789abcdef", "fp16", tmp_path / "engines")
    assert path == tmp_path / "engines" / "starry.fp16.0123456789abcdef.engine"


def test_engine_dir_is_the_checkout_folder_or_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("RTSTYLE_ENGINES", raising=False)
    assert engine_dir().name == "engines" and (engine_dir() / "README.md").is_file()  # in this checkout
    monkeypatch.setenv("RTSTYLE_ENGINES", str(tmp_path))
    assert engine_dir() == tmp_path


# --- probes and the selection table --------------------------------------------------------------

def test_this_machine_has_no_cuda_device():
    assert devices.cuda_device_count() == 0
    assert devices.cuda_device_count("libdoes-not-exist.so") == 0


def test_ort_provider_probe_needs_the_provider_and_a_device():
    listed = lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]  # noqa: E731
    assert devices.needs_ort_provider("CUDAExecutionProvider", listed, lambda: 1) is None
    # onnxruntime-gpu on a machine without a GPU still lists the provider: the device count decides
    assert "no CUDA device" in devices.needs_ort_provider("CUDAExecutionProvider", listed, lambda: 0)
    no_gpu_build = devices.needs_ort_provider("CUDAExecutionProvider", lambda: ["CPUExecutionProvider"], lambda: 1)
    assert "onnxruntime has no CUDAExecutionProvider" in no_gpu_build and "onnxruntime-gpu" in no_gpu_build


def test_module_and_torch_probes():
    assert devices.needs_modules("json", "os", hint="x") is None
    assert devices.needs_modules("no_such_module_rt", hint="pip install it").startswith(
        "no_such_module_rt does not import")
    assert devices.needs_torch_cuda(lambda: True) is None
    assert "no CUDA device" in devices.needs_torch_cuda(lambda: False)
    calls = []
    first = devices.first_reason(lambda: calls.append(1), lambda: "second fails", lambda: calls.append(3))
    assert first == "second fails" and calls == [1]  # stops at the first failure


def fake_installed(monkeypatch, *names: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: object() if name in names else real(name, *a, **k))


def with_probe(monkeypatch, name: str, reason: str | None) -> None:
    monkeypatch.setitem(engines.BACKENDS, name, dataclasses.replace(engines.BACKENDS[name], probe=lambda: reason))


def test_auto_takes_tensorrt_then_cuda_then_the_cpu(monkeypatch):
    fake_installed(monkeypatch, "tensorrt")
    with_probe(monkeypatch, "tensorrt", None)
    with_probe(monkeypatch, "cuda", None)
    assert pick_auto() == ("tensorrt", {})
    with_probe(monkeypatch, "tensorrt", "no CUDA device found")
    assert pick_auto() == ("cuda", {"tensorrt": "engine 'tensorrt' cannot run here: no CUDA device found"})
    with_probe(monkeypatch, "cuda", "onnxruntime has no CUDAExecutionProvider")
    name, skipped = pick_auto()
    assert name == "onnxruntime" and list(skipped) == ["tensorrt", "cuda"]


def test_auto_on_this_machine_is_onnxruntime_and_says_why():
    name, skipped = pick_auto()
    assert name == "onnxruntime"
    assert skipped["tensorrt"].startswith("engine 'tensorrt' needs tensorrt: pip install 'rtstyle[gpu]'")
    assert "CUDAExecutionProvider" in skipped["cuda"]
    assert all("\n" not in r for r in skipped.values())


@pytest.mark.parametrize("engine,message", [
    ("tensorrt", "engine 'tensorrt' needs tensorrt: pip install 'rtstyle[gpu]'"),
    ("torch-tensorrt", "engine 'torch-tensorrt' needs torch_tensorrt"),
    ("cuda", "engine 'cuda' cannot run here: onnxruntime has no CUDAExecutionProvider"),
    ("ort-tensorrt", "engine 'ort-tensorrt' cannot run here: onnxruntime has no TensorrtExecutionProvider"),
])
def test_named_gpu_engine_without_a_gpu_is_a_one_line_error(engine, message):
    with pytest.raises(EngineUnavailable, match=message.replace("[", r"\[").replace("]", r"\]")):
        create_engine(engine, builtin_styles()["starry"].path)


def test_gpu_engine_installed_but_no_device(monkeypatch):
    fake_installed(monkeypatch, "tensorrt")
    with pytest.raises(EngineUnavailable, match="^engine 'tensorrt' cannot run here: no CUDA device found"):
        resolve("tensorrt")


def test_cli_engine_tensorrt_exits_nonzero_with_one_line(tmp_path, eval_photos):
    done = subprocess.run([sys.executable, "-m", "rtstyle.cli", "image", str(eval_photos[0]),
                           str(tmp_path / "out.png"), "--engine", "tensorrt"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("rtstyle: error: engine 'tensorrt' needs tensorrt")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "out.png").exists()


def test_cli_auto_says_which_engine_it_picked(tmp_path, eval_photos, capsys):
    small = tmp_path / "in.png"
    import cv2

    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(eval_photos[1])), (96, 64)))
    assert main(["image", str(small), str(tmp_path / "out.png"), "--threads", "1"]) == 0
    assert capsys.readouterr().err == f"wrote {tmp_path / 'out.png'} (96x64, onnxruntime-cpu (1 threads))\n"


# --- ONNX Runtime TensorRT provider options -------------------------------------------------------

def test_tensorrt_ep_options_fp16_caches_in_engines_and_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("RTSTYLE_ENGINES", str(tmp_path))
    opts = tensorrt_ep_options("image")
    assert opts["trt_fp16_enable"] and opts["trt_engine_cache_enable"] and opts["trt_timing_cache_enable"]
    assert opts["trt_engine_cache_path"] == opts["trt_timing_cache_path"] == str(tmp_path / "ort-tensorrt")
    assert opts["trt_profile_min_shapes"] == "image:1x3x16x16"
    assert opts["trt_profile_opt_shapes"] == "image:1x3x480x640"
    assert opts["trt_profile_max_shapes"] == "image:1x3x1920x1920"
    # graphs without rtstyle's `image` input (several inputs) get no fixed profile
    assert not any(k.startswith("trt_profile") for k in tensorrt_ep_options(None))


# --- the engine cache lookup (a stand-in tensorrt module: only the build itself needs the real one) ---

class BuildAttempted(Exception):
    pass


def fake_tensorrt(monkeypatch, version: str = "10.7.0") -> None:
    import types

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    def builder(logger):
        raise BuildAttempted

    trt.Logger, trt.Builder = Logger, builder
    monkeypatch.setitem(sys.modules, "tensorrt", trt)


def test_build_engine_reuses_the_cached_engine_and_rebuilds_when_the_key_changes(monkeypatch, tmp_path):
    from rtstyle.engines.cache import file_sha256
    from rtstyle.engines.tensorrt_build import build_engine

    fake_tensorrt(monkeypatch)
    model = builtin_styles()["starry"].path
    profile = profile_from_sizes()
    cached = engine_path(model, cache_key(file_sha256(model), "10.7.0", GPU, "fp16", profile), "fp16", tmp_path)
    cached.write_bytes(b"serialized engine")
    assert build_engine(model, profile, "fp16", tmp_path, GPU) == cached  # hit: no builder touched
    with pytest.raises(BuildAttempted):  # another profile is another engine
        build_engine(model, profile_from_sizes(max_size="1280x720"), "fp16", tmp_path, GPU)
    with pytest.raises(BuildAttempted):  # another GPU too
        build_engine(model, profile, "fp16", tmp_path, DeviceInfo("NVIDIA A100", (8, 0)))
    fake_tensorrt(monkeypatch, "10.8.0")
    with pytest.raises(BuildAttempted):  # and another TensorRT version
        build_engine(model, profile, "fp16", tmp_path, GPU)
