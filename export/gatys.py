"""Optimisation-based style transfer (Gatys et al.): the quality reference for the per-style networks.

    python -m export.gatys PHOTO PAINTING OUT.png [--size 320] [--iters 200] [--vgg PATH]

It minimises exactly the training objective of ``export.train`` (content weight
1 on the relative relu3_3 distance, style weight 10 on the mean relative Gram
distance over relu1_2..relu4_3, no TV term), in float32, with L-BFGS started
from the photo. A per-style network approximates the optimum of this objective
in one forward pass, so how far Gatys gets bounds what the network can reach.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .train import read_rgb, resize_long, to_tensor
from .vgg import VGGFeatures, content_distance, gram, style_distance


@dataclass(frozen=True)
class GatysConfig:
    iters: int = 200  # L-BFGS iterations; without line search each is one VGG forward+backward
    content_weight: float = 1.0
    style_weight: float = 10.0
    history: int = 50


@dataclass
class GatysResult:
    image: np.ndarray  # HxWx3 uint8 RGB, the optimised image clipped to [0, 1] and rounded
    seconds: float
    evaluations: int  # objective evaluations (VGG forward+backward), the real cost unit
    losses: list[float]  # objective at each evaluation, for convergence checks


def style_grams(vgg: VGGFeatures, painting: np.ndarray) -> dict[str, torch.Tensor]:
    """Gram targets of an HxWx3 uint8 RGB painting, already resized to the style size."""
    with torch.no_grad():
        return {k: gram(v) for k, v in vgg(to_tensor(painting)).items()}


def gatys(vgg: VGGFeatures, photo: np.ndarray, grams: dict[str, torch.Tensor],
          cfg: GatysConfig = GatysConfig()) -> GatysResult:
    """Stylise an HxWx3 uint8 RGB photo towards ``grams`` by L-BFGS on its pixels."""
    start = time.perf_counter()
    content = to_tensor(photo)
    with torch.no_grad():
        content_feats = vgg(content)
    # to_tensor returns a permuted view; L-BFGS needs a contiguous gradient.
    x = content.clone(memory_format=torch.contiguous_format).requires_grad_(True)
    # Unconstrained pixels: clamping inside the closure would break L-BFGS's curvature
    # pairs. The few values that overshoot [0, 1] are clipped once at the end.
    # Zero tolerances: always run exactly cfg.iters iterations, so a cached result's cost is predictable.
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=cfg.iters, history_size=cfg.history,
                            tolerance_grad=0.0, tolerance_change=0.0)
    losses: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        feats = vgg(x)
        loss = (cfg.content_weight * content_distance(feats, content_feats).sum()
                + cfg.style_weight * style_distance(feats, grams).sum())
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    opt.step(closure)
    image = (x.detach()[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return GatysResult(np.ascontiguousarray(image), time.perf_counter() - start, len(losses), losses)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.gatys", description=__doc__.split("\n\n")[0])
    p.add_argument("photo")
    p.add_argument("painting")
    p.add_argument("out", help="output image (PNG recommended)")
    p.add_argument("--size", type=int, default=320, help="long side of the photo (default: %(default)s)")
    p.add_argument("--style-size", type=int, default=512, help="long side of the painting (default: %(default)s)")
    p.add_argument("--iters", type=int, default=GatysConfig.iters)
    p.add_argument("--vgg", default=None, help="VGG16 features state dict (default: $RTSTYLE_VGG16)")
    a = p.parse_args(argv)
    vgg = VGGFeatures(a.vgg)
    grams = style_grams(vgg, resize_long(read_rgb(Path(a.painting)), a.style_size))
    result = gatys(vgg, resize_long(read_rgb(Path(a.photo)), a.size), grams, GatysConfig(iters=a.iters))
    cv2.imwrite(a.out, cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR))
    print(f"{a.out}: {result.evaluations} evaluations in {result.seconds:.1f}s, "
          f"objective {result.losses[0]:.4f} -> {result.losses[-1]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
