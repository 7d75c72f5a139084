"""Export a trained StyTr² student as rtstyle's two arbitrary-style graphs, with its card.

    python -m export.stytr2_export runs/stytr2/student.pth --out rtstyle/arbitrary_style \
        [--log runs/stytr2/losses.csv]

- ``style_encoder.onnx``: ``style`` 1x3x256x256 (the painting's centre square,
  RGB [0, 1]) -> ``style_tokens`` 1xTxD, run once per painting: the cached style;
- ``frame.onnx``: ``image`` Nx3xHxW (dynamic batch, height and width) and
  ``style_tokens`` -> ``stylized`` Nx3xHxW.

Both store their weights as FP16 behind Cast nodes (export/onnx_export.py).
"""
from __future__ import annotations

import argparse
import csv
import json
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from rtstyle.models.stytr2_student import STYLE_SIZE, StudentConfig, StyTr2Student

from .onnx_export import OPSET, store_weights_fp16

STYLE_GRAPH, FRAME_GRAPH, CARD = "style_encoder.onnx", "frame.onnx", "stytr2_student.json"


class _StyleEncoder(nn.Module):
    def __init__(self, net: StyTr2Student):
        super().__init__()
        self.net = net

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.net.encode_style(style)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict) -> Path:
    with warnings.catch_warnings():
        # The TorchScript exporter's tracer and deprecation notes are expected for these fixed graphs.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, opset_version=OPSET,
                          dynamic_axes=dynamic, do_constant_folding=True, dynamo=False)
    model = store_weights_fp16(onnx.load(str(path)))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def load_student(path: str | Path) -> StyTr2Student:
    """A student state dict (student.pth or a snapshot) or a distill checkpoint, with the default config."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    cfg = StudentConfig()
    if "model" in state:  # a training checkpoint
        student = state["config"]["student"]
        cfg = StudentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in student.items()})
        state = state["model"]
    net = StyTr2Student(cfg)
    net.load_state_dict(state)
    return net.eval()


def export_student(net: StyTr2Student, out: str | Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net = net.eval().float()
    style = torch.rand(1, 3, STYLE_SIZE, STYLE_SIZE)
    style_path = _export(_StyleEncoder(net).eval(), (style,), out / STYLE_GRAPH, ["style"], ["style_tokens"], {})
    with torch.no_grad():
        tokens = net.encode_style(style)
    frame_path = _export(net, (torch.rand(1, 3, 120, 160), tokens), out / FRAME_GRAPH, ["image", "style_tokens"],
                         ["stylized"], {"image": {0: "batch", 2: "height", 3: "width"},
                                        "stylized": {0: "batch", 2: "height", 3: "width"}})
    return {"style_encoder": style_path, "frame": frame_path}


def training_summary(log: Path, rows: int = 20) -> dict:
    with open(log) as f:
        data = list(csv.DictReader(f))
    tail = data[-rows:]
    return {"steps": int(data[-1]["step"]), "training_seconds": round(float(data[-1]["elapsed_s"])),
            "final_losses": {k: round(sum(float(r[k]) for r in tail) / len(tail), 4) for k in tail[0]
                             if k not in ("step", "elapsed_s")}}


# How the temporal stage treats the student (rtstyle.temporal.NETWORK_SETTINGS): per frame it already meets
# issue 6's E_warp ratio of 5, and the stabiliser alone would cost speed and style for steadiness it does not need.
TEMPORAL = {"stabilize": False, "note": "per frame its network is steady enough (E_warp 1.4-2.9x source)", "why": (
    "per frame it is already steady, and it has no trunk/head graphs, so the stage could only stabilise: "
    "one-off 2026-12-07, 2 threads, per-frame against the stabiliser (blend 0.6): bunny 48 frames with kiss "
    "E_warp 1.43x source at d_style 0.633 against 0.40x at 0.642 and 0.61x the speed; with starry 2.92x / 0.625 "
    "against 0.81x / 0.636 at 0.54x; cockatoo 24 frames with kiss 1.89x / 0.695 against 0.80x / 0.709 at 0.59x")}


# Parallel frames (rtstyle.stylizer.Stylizer.parallel_frames): the network is too small to use both cores on one frame.
RUNTIME = {"workers": 2, "why": (
    "two frames at once, one thread each, beat one frame on two threads on this project's 2 cores: "
    "rtstyle video --no-temporal --workers 1 / 2, 2026-12-07: bunny (640x360) 10.69 / 15.35 fps, "
    "cockatoo (1280x720) 2.74 / 3.67 fps")}


def write_card(net: StyTr2Student, out: Path, checkpoint: Path, log: Path | None, note: str = "") -> Path:
    card = {
        "name": "stytr2-student",
        "architecture": {"type": "stytr2-student", **net.cfg.to_dict()},
        "graphs": {"style_encoder": STYLE_GRAPH, "frame": FRAME_GRAPH},
        "io": {"style_encoder": f"style: float32 1x3x{STYLE_SIZE}x{STYLE_SIZE} RGB [0, 1] -> style_tokens",
               "frame": "image: float32 Nx3xHxW RGB [0, 1] + style_tokens -> stylized: float32 Nx3xHxW RGB [0, 1]"},
        "temporal": TEMPORAL,
        "runtime": RUNTIME,
    }
    state = torch.load(checkpoint, map_location="cpu", weights_only=True) if checkpoint.name == "checkpoint.pt" else {}
    if "config" in state:
        cfg = state["config"]
        card["training"] = {k: v for k, v in cfg.items() if k not in ("data", "styles", "vgg", "out")}
        card["training"]["vgg"] = Path(cfg["vgg"]).name if cfg.get("vgg") else None
        card["training"]["init"] = Path(cfg["init"]).name if cfg.get("init") else None
    if log is not None and log.is_file():
        card.update(training_summary(log))
    if note:
        card["note"] = note
    path = out / CARD
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.stytr2_export", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path, help="student.pth, a snapshot, or the distill checkpoint.pt")
    p.add_argument("--out", type=Path, default=Path("rtstyle/arbitrary_style"))
    p.add_argument("--log", type=Path, default=None, help="the run's losses.csv, summarised in the card")
    p.add_argument("--note", default="", help="free text for the card (e.g. how the run was started)")
    a = p.parse_args(argv)
    net = load_student(a.checkpoint)
    paths = export_student(net, a.out)
    paths["card"] = write_card(net, a.out, a.checkpoint, a.log, a.note)
    for kind, path in paths.items():
        print(f"{kind}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
