"""Frame layouts and the conversions between them.

At the edges (sources, sinks, the Python API) a frame is a numpy array,
HxWx3 uint8 RGB, C-contiguous. Inside engines it is a batch, float32 NCHW RGB
in [0, 1]. These are the only two layouts; everything converts through here.
"""
from __future__ import annotations

import numpy as np


def as_rgb8(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Any common image array -> (HxWx3 uint8 RGB, alpha HxW uint8 or None).

    Accepts gray (HxW or HxWx1), RGB, RGBA, and uint8/uint16/float in [0, 1].
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"empty image of shape {img.shape}")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {img.dtype}")
    alpha = None
    if img.shape[2] == 4:
        alpha, img = img[:, :, 3], img[:, :, :3]
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img), alpha


def to_batch(frame: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> 1x3xHxW float32 in [0, 1]."""
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def from_batch(batch: np.ndarray) -> np.ndarray:
    """1x3xHxW float in [0, 1] -> HxWx3 uint8 RGB (rounded, clipped)."""
    out = np.clip(batch[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255)
    return np.ascontiguousarray(out.astype(np.uint8))
