"""Where frames go. Every sink takes HxWx3 uint8 RGB numpy frames.

Outputs are written to a hidden partial file beside the destination and
renamed into place only when complete, so a failed run never leaves a file
that looks finished.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def check_output(src: str | Path, dst: str | Path, overwrite: bool) -> Path:
    """Refuse an output that would destroy the input or an existing file, or cannot be written."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"output is the input file: {dst}")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"output exists: {dst} (pass --overwrite to replace it)")
    if dst.is_dir():
        raise IsADirectoryError(f"output is a directory: {dst}")
    folder = dst.parent if str(dst.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder is not writable: {folder}")
    return dst


def partial_path(dst: str | Path) -> Path:
    """Hidden sibling with the same extension (encoders pick the format from it)."""
    dst = Path(dst)
    return dst.with_name(f".{dst.stem}.partial{dst.suffix}")


def write_image(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
    path = Path(path)
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if alpha is None else \
        cv2.cvtColor(np.dstack([rgb, alpha]), cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(path.suffix or ".png", img)
    if not ok:
        raise ValueError(f"cannot encode an image as {path.suffix!r}: {path}")
    tmp = partial_path(path)
    try:
        buf.tofile(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
