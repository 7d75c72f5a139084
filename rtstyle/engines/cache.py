"""Where exported models and built engines live.

In a checkout: ``engines/`` beside the package (it has a README saying so).
Installed: the user cache directory (``$XDG_CACHE_HOME/rtstyle/engines``).
``$RTSTYLE_ENGINES`` overrides both.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def engine_dir() -> Path:
    if os.environ.get("RTSTYLE_ENGINES"):
        return Path(os.environ["RTSTYLE_ENGINES"])
    checkout = Path(__file__).resolve().parents[2] / "engines"
    if (checkout / "README.md").is_file():
        return checkout
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rtstyle" / "engines"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
