"""Built-in styles and user model files.

A built-in style is a pair shipped in ``rtstyle/styles/``: ``NAME.onnx`` and
its card ``NAME.json``. Names come from that folder's listing and user input
is only ever looked up in it, never joined into a path.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path


SLIM_SUFFIX = ".slim.onnx"
FAST_SUFFIX = ".fast.onnx"


@dataclass(frozen=True)
class StyleModel:
    name: str
    path: Path
    card: dict = field(default_factory=dict, compare=False)

    @property
    def title(self) -> str:
        c = self.card
        return f"{c['painting']} ({c['artist']}, {c['year']})" if "painting" in c else self.name

    @property
    def slim_path(self) -> Path | None:
        """The distilled slim student shipped beside this network (``NAME.slim.onnx``), if any: several
        times cheaper, for the fast presets. No card of its own (it would register as a style)."""
        path = self.path.with_suffix(SLIM_SUFFIX)
        return path if path.is_file() else None

    @property
    def fast_path(self) -> Path | None:
        """The space-to-depth student (rtstyle.models.fastnet) shipped as ``NAME.fast.onnx``, if any:
        cheap enough to run at full resolution, so it keeps the teacher's stroke scale."""
        path = self.path.with_suffix(FAST_SUFFIX)
        return path if path.is_file() else None


def builtin_dir() -> Path:
    return Path(str(resources.files("rtstyle") / "styles"))


def builtin_styles() -> dict[str, StyleModel]:
    styles = {}
    for card_path in sorted(builtin_dir().glob("*.json")):
        onnx_path = card_path.with_suffix(".onnx")
        if onnx_path.is_file():
            card = json.loads(card_path.read_text())
            styles[card_path.stem] = StyleModel(card_path.stem, onnx_path, card)
    return styles


def resolve_model(style: str | None = None, model: str | Path | None = None) -> StyleModel:
    """Exactly one of a built-in ``style`` name or a ``model`` file path."""
    if (style is None) == (model is None):
        raise ValueError("give either a style name or a model file, not both")
    if model is not None:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        return StyleModel(path.stem, path)
    styles = builtin_styles()
    if style not in styles:
        known = ", ".join(styles) or "none installed"
        raise ValueError(f"unknown style {style!r}; built-in styles: {known}")
    return styles[style]
