"""Shared fixtures. Tests run on the real data in ../shared (beside the checkout, also in CI)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTSTYLE_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    assert (SHARED / "data").is_dir(), f"shared data not found at {SHARED} (set RTSTYLE_SHARED)"
    return SHARED


@pytest.fixture(scope="session")
def eval_photos(shared) -> list[Path]:
    return sorted((shared / "data/content/eval").glob("*.jpg"))


@pytest.fixture(scope="session")
def bunny(shared) -> Path:
    return shared / "data/video/bunny.mp4"


@pytest.fixture(scope="session")
def teachers():
    """style -> the sha256 prefixes a student of its network may name as its teacher: the shipped
    network's, and each it was fine-tuned from to keep its strokes steady (NAME.json, fine_tunes),
    which paint the same pictures (starry: d_style 0.267 and 0.268 against 0.265)."""
    def hashes(style) -> set[str]:
        card = json.loads(style.path.with_suffix(".json").read_text())
        own = hashlib.sha256(style.path.read_bytes()).hexdigest()[:16]
        return {own, *(tune["from_sha256"] for tune in card.get("fine_tunes", []))}
    return hashes
