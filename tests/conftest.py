"""Shared fixtures. Tests run on the real data in ../shared (beside the checkout, also in CI)."""
from __future__ import annotations

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
