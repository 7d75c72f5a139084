"""Any painting as the style: the distilled StyTr² shipped in ``rtstyle/arbitrary_style/``.

The student is two graphs. ``style_encoder.onnx`` turns the painting into
style tokens once, when the stream starts; ``frame.onnx`` stylizes each frame
given those tokens. ``bind_style`` returns the frame graph's engine with the
tokens bound, a one-input, one-output engine like any per-style network, so
the Stylizer (its ``stylize_timed`` contract, ``max_size``, tiny-frame padding)
and every pipeline run it unchanged:

    from rtstyle import Stylizer
    out = Stylizer(style_image="kiss.jpg").stylize(frame)
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from .engines import Engine, EngineOptions, EngineUnavailable, create_engine, resolve
from .frames import as_rgb8, to_batch
from .registry import StyleModel
from .sources import read_image

STYLE_GRAPH, FRAME_GRAPH, CARD = "style_encoder.onnx", "frame.onnx", "stytr2_student.json"
STYLE_SIZE = 256  # the style encoder's fixed input side (rtstyle.models.stytr2_student.STYLE_SIZE)
TOKENS_INPUT, IMAGE_INPUT = "style_tokens", "image"


def model_dir() -> Path:
    return Path(str(resources.files("rtstyle") / "arbitrary_style"))


def style_square(painting: np.ndarray) -> np.ndarray:
    """The painting's centre square at STYLE_SIZE: the student was trained on square crops of paintings,
    and squashing the whole canvas into a square would distort its brush strokes."""
    h, w = painting.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    square = painting[y : y + side, x : x + side]
    interp = cv2.INTER_AREA if side > STYLE_SIZE else cv2.INTER_CUBIC
    return cv2.resize(square, (STYLE_SIZE, STYLE_SIZE), interpolation=interp)


class StyleBoundEngine(Engine):
    """The frame graph with the cached style tokens fed on every call: image in, stylized frame out."""

    def __init__(self, frame_engine: Engine, tokens: np.ndarray, encode_seconds: float):
        super().__init__(frame_engine.model_path, frame_engine.options)
        self.inner = frame_engine
        self.name = frame_engine.name
        self.inputs = (IMAGE_INPUT,)
        self.outputs = frame_engine.outputs
        self.tokens = tokens
        self.encode_seconds = encode_seconds  # what caching the style saves on every later frame

    def run_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = feeds[IMAGE_INPUT]
        tokens = np.broadcast_to(self.tokens, (batch.shape[0], *self.tokens.shape[1:]))
        return self.inner.run_feeds({IMAGE_INPUT: batch, TOKENS_INPUT: np.ascontiguousarray(tokens)})

    def describe(self) -> str:
        return f"{self.inner.describe()} + cached style ({self.encode_seconds * 1000:.0f} ms to encode)"


def encode_style(painting: np.ndarray, engine: str = "auto", options: EngineOptions = EngineOptions(),
                 folder: Path | None = None) -> np.ndarray:
    """HxWx3 uint8 RGB painting -> 1xTxD style tokens (the cached style)."""
    style_engine = create_engine(engine, (folder or model_dir()) / STYLE_GRAPH, options)
    return style_engine.run(to_batch(style_square(painting)))


def bind_style(style_image: str | Path, engine: str = "auto", options: EngineOptions = EngineOptions(),
               folder: Path | None = None) -> tuple[StyleModel, StyleBoundEngine]:
    """Read and encode the painting once; return its StyleModel and the frame engine bound to it."""
    folder = folder or model_dir()
    if resolve(engine) == "torch":  # it rebuilds Johnson networks from their ONNX weights, nothing else
        raise EngineUnavailable("--style-image needs an ONNX engine (e.g. --engine onnxruntime), not torch")
    if not (folder / FRAME_GRAPH).is_file():
        raise FileNotFoundError(f"the arbitrary-style model is not installed: {folder / FRAME_GRAPH}")
    painting, _ = as_rgb8(read_image(style_image, "style image"))
    t0 = time.perf_counter()
    tokens = encode_style(painting, engine, options, folder)
    seconds = time.perf_counter() - t0
    card_path = folder / CARD
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    style = StyleModel(f"image:{Path(style_image).name}", folder / FRAME_GRAPH, card)
    return style, StyleBoundEngine(create_engine(engine, folder / FRAME_GRAPH, options), tokens, seconds)
