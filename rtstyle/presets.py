"""``--quality fast|balanced|best``: one name for the speed/quality levers.

A preset picks which network runs (the full per-style net or its distilled
slim student, ``NAME.slim.onnx``) and the internal scale it runs at; below
1.0 the stylized frame is brought back to the frame's size by the guided
upsampler (rtstyle.upsample), steered by the full-resolution frame so edges
stay crisp. Temporal settings stay with the command's own flags (--temporal):
the students have no trunk/head graphs, so only its flow-based stabilisation
would apply to them, and that costs latency a live preset cannot spare.

The choices were measured on 640x480 frames (benchmarks/presets.py,
results in benchmarks/results/presets.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from .registry import StyleModel
from .upsample import GuidedUpsample

QUALITIES = ("fast", "balanced", "best")


@dataclass(frozen=True)
class Preset:
    slim: bool  # run the distilled student when the style ships one
    scale: float  # internal resolution / output resolution; < 1 upsamples with GuidedUpsample
    upsample: GuidedUpsample = GuidedUpsample()


PRESETS: dict[str, Preset] = {
    "best": Preset(slim=False, scale=1.0),  # today's behaviour: the full network at full size
    "balanced": Preset(slim=False, scale=0.5),  # the teacher's strokes, a quarter of the pixels
    "fast": Preset(slim=True, scale=0.5),  # student at a quarter of the pixels: live 640x480 on 2 cores
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
    slim = model.slim_path
    if slim is None:
        return model, f"no slim student for style {model.name!r}; using the full network"
    return StyleModel(model.name, slim, model.card), None
