"""Engine selection, model-file errors, and the torch-free inference path."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

import rtstyle.engines as engines
from rtstyle.engines import EngineOptions, EngineUnavailable, create_engine, resolve
from rtstyle.registry import builtin_styles


def hide_packages(monkeypatch, *names: str) -> None:
    """Make find_spec report ``names`` as not installed, the way a machine without them would."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in names else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_auto_is_onnxruntime_on_this_cpu_machine():
    assert resolve("auto") == "onnxruntime"
    assert resolve("torch") == "torch"
    assert engines.AUTO_ORDER == ("tensorrt", "cuda", "onnxruntime", "torch")  # GPU first, then the CPU


def test_auto_falls_back_in_table_order(monkeypatch):
    hide_packages(monkeypatch, "onnxruntime")
    assert resolve("auto") == "torch"


def test_no_backend_at_all(monkeypatch):
    monkeypatch.setattr(engines, "available", lambda name: False)
    with pytest.raises(EngineUnavailable, match="no inference backend installed: pip install onnxruntime"):
        resolve("auto")


def test_unknown_engine_names_the_choices():
    with pytest.raises(EngineUnavailable, match=r"unknown engine 'tensorrt9'; choose from auto, onnxruntime, torch, cuda, "
                       r"ort-tensorrt, tensorrt, torch-tensorrt"):
        create_engine("tensorrt9", builtin_styles()["starry"].path)


@pytest.mark.parametrize("name,hint", [("onnxruntime", "pip install onnxruntime"),
                                       ("torch", r"pip install 'rtstyle\[train\]'")])
def test_named_but_unavailable_is_not_swapped(monkeypatch, name, hint):
    hide_packages(monkeypatch, name)
    with pytest.raises(EngineUnavailable, match=f"engine '{name}' needs {name}: {hint}"):
        create_engine(name, builtin_styles()["starry"].path)


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
@pytest.mark.parametrize("corruption", ["truncated", "text"])
def test_corrupt_model_is_a_value_error_naming_the_file(tmp_path, engine, corruption):
    good = builtin_styles()["starry"].path.read_bytes()
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(good[: len(good) // 3] if corruption == "truncated" else b"this is not a model\n")
    with pytest.raises(ValueError, match="broken.onnx") as info:
        create_engine(engine, bad, EngineOptions(threads=1))
    assert "\n" not in str(info.value)  # the CLI prints it as its one error line


ONNX_ONLY = """
import sys
import numpy as np
from rtstyle import Stylizer
from rtstyle.sources import read_image

photo = read_image(sys.argv[1])
stylizer = Stylizer(style="starry", engine="onnxruntime", threads=1)
out = stylizer.stylize(photo)
assert out.shape == photo.shape and out.dtype == np.uint8
assert np.abs(out.astype(int) - photo.astype(int)).mean() > 20, "not stylized"
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "rtstyle_export"))
print(stylizer.engine.describe(), heavy)
assert not heavy, heavy
"""


def test_onnx_inference_does_not_import_torch(eval_photos):
    done = subprocess.run([sys.executable, "-c", ONNX_ONLY, str(eval_photos[0])],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("onnxruntime-cpu (1 threads)")
