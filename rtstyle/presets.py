"""``--quality fast|balanced|best``: one name for the speed/quality levers.

A preset picks which network runs (the full per-style net or its distilled
slim student, ``NAME.slim.onnx``) and the internal scale it runs at; below
1.0 the stylized frame is brought back to the frame's size by the guided
upsampler (rtstyle.upsample), steered by the full-resolution frame so edges
stay crisp. The students have no trunk/head graphs, so of the temporal stage
only its flow-based stabilisation could apply to them, and its flows cost more
than they do: a student runs without the stage unless --temporal-mechanisms
asks for the stabiliser (STUDENT_TEMPORAL).

``fast`` also stylizes two frames at once when they are independent (no
temporal stage) and there are two cores: live 640x480 keeps up with a 30 fps
camera that way (benchmarks/results/live_w32_workers_idle.md).

A style that ships a space-to-depth student (``NAME.fast.onnx``,
rtstyle.models.fastnet) runs it in ``fast`` at full size instead: cheaper than
the slim student at half size and with the teacher's stroke scale.

The choices were measured on 640x480 frames (benchmarks/presets.py,
results in benchmarks/results/presets.md).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .registry import FAST_SUFFIX, StyleModel
from .upsample import GuidedUpsample

QUALITIES = ("fast", "balanced", "best")


@dataclass(frozen=True)
class Preset:
    slim: bool  # run the distilled student when the style ships one
    scale: float  # internal resolution / output resolution; < 1 upsamples with GuidedUpsample
    upsample: GuidedUpsample = GuidedUpsample()
    full_size_student: bool = False  # prefer NAME.fast.onnx at scale 1.0 when the style ships one
    # Default --workers when frames are independent (--no-temporal). A small network splits poorly over
    # threads (the fast student: 33 ms on one, 20 on two); two frames at once, one thread each, use both.
    workers: int = 1


PRESETS: dict[str, Preset] = {
    "best": Preset(slim=False, scale=1.0),  # today's behaviour: the full network at full size
    "balanced": Preset(slim=False, scale=0.5),  # the teacher's strokes, a quarter of the pixels
    # NAME.fast.onnx at full size; else the slim student at a quarter of the pixels: live 640x480 on 2 cores
    "fast": Preset(slim=True, scale=0.5, full_size_student=True, workers=2),
}


def get_preset(quality: str | None) -> Preset | None:
    """The preset for a --quality value; None (no preset) keeps the Stylizer's plain behaviour."""
    if quality is None:
        return None
    if quality not in PRESETS:
        raise ValueError(f"unknown quality {quality!r}; choose from {', '.join(QUALITIES)}")
    return PRESETS[quality]


def preset_model(model: StyleModel, preset: Preset | None, builtin: bool) -> tuple[StyleModel, str | None]:
    """The network a preset runs for ``model``, and a note when it had to fall back to the full one.

    Only built-in styles have students; a user's --model is used as given (the preset's scale still applies)."""
    if preset is None or not preset.slim or not builtin:
        return model, None
    if preset.full_size_student and model.fast_path is not None:
        return student(model, model.fast_path), None
    slim = model.slim_path
    if slim is None:
        return model, f"no slim student for style {model.name!r}; using the full network"
    return student(model, slim), None


# What the temporal stage does for a student (rtstyle.temporal.NETWORK_SETTINGS): nothing unless asked. It has no
# trunk/head graphs, so the stage could only stabilise, and its flows cost more than the network.
STUDENT_TEMPORAL = {"stabilize": False, "note": "its network is faster than the stage's flows",
                    "why": "bunny, 48 frames, --quality fast, 2 threads (one-off, 2026-12-07), per-frame against "
                           "the stabiliser (blend 0.6): starry 42.1 / 12.0 fps, E_warp 64.1x / 11.5x source, d_style "
                           "0.295 / 0.387; wave 38.3 / 12.9 fps, 19.0x / 4.2x, 0.427 / 0.486; scream 38.2 / 11.6 fps, "
                           "1.8x / 0.4x, 0.553 / 0.579; composition 31.1 / 12.7 fps, 17.0x / 3.4x, 0.431 / 0.481"}


def student(model: StyleModel, path: Path) -> StyleModel:
    """A student network of ``model``'s style: its card, with the student's own ``temporal`` entry instead
    of the full network's (how steadily that network paints, which a student distilled from it need not)."""
    return StyleModel(model.name, path, {**model.card, "temporal": STUDENT_TEMPORAL})


def preset_for(model: StyleModel, preset: Preset | None) -> Preset | None:
    """The preset as it applies to the network ``preset_model`` chose: the full-size student runs at scale 1."""
    if preset is not None and preset.full_size_student and model.path.name.endswith(FAST_SUFFIX):
        return replace(preset, scale=1.0)
    return preset
