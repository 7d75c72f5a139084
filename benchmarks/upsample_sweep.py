"""Choose the guided upsampler's settings: radius x eps x mode on real stylized frames.

    python benchmarks/upsample_sweep.py [--style starry] [--model full|slim] [--photos 4] [--size 480]

A style network stylizes each eval photo (spread over the set, long side
``--size``) at full resolution (the reference) and at half resolution; the half
output is upsampled back by bilinear and by every setting. Reported per setting,
averaged over the photos: style and content distances (benchmarks/quality.py's),
edge strength at the photo's strongest edges relative to the full-resolution
output, and the mean absolute difference to it. Writes
benchmarks/results/upsample_sweep.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.quality import SHARED, Meter, resolve_styles, spread  # noqa: E402
from benchmarks.slim import RESULTS, edge_mask, gradient, stylize  # noqa: E402
from export.gatys import style_grams  # noqa: E402
from export.train import read_rgb, resize_long  # noqa: E402
from export.vgg import VGGFeatures  # noqa: E402
from rtstyle.engines import EngineOptions, create_engine  # noqa: E402
from rtstyle.registry import builtin_styles  # noqa: E402
from rtstyle.upsample import MODES, bilinear_upsample, downscale, guided_upsample  # noqa: E402

RADII, EPSILONS = (4, 8, 16), (1e-4, 1e-3, 1e-2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", default="starry")
    p.add_argument("--model", choices=("full", "slim"), default="full")
    p.add_argument("--photos", type=int, default=4)
    p.add_argument("--size", type=int, default=480)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    installed = builtin_styles()
    if a.style not in installed:
        raise SystemExit(f"unknown style {a.style!r}; built-in styles: {', '.join(installed)}")
    model = installed[a.style].path if a.model == "full" else installed[a.style].slim_path
    if model is None:
        raise SystemExit(f"style {a.style!r} ships no slim student")
    style = resolve_styles((a.style,), SHARED / "data/styles")[0]
    paths = sorted((SHARED / "data/content/eval").glob("*.jpg"))
    paths = [paths[i] for i in spread(len(paths), a.photos)]
    meter = Meter(VGGFeatures(str(SHARED / "weights/vgg16_features.pth")))
    grams = style_grams(meter.vgg, resize_long(read_rgb(style.painting), style.style_size))
    engine = create_engine("onnxruntime", model, EngineOptions(threads=1))
    scores: dict[str, list[tuple[float, ...]]] = {}
    for path in paths:
        photo = resize_long(read_rgb(path), a.size)
        feats, edges = meter.features(photo), edge_mask(photo)
        full, small = stylize(engine, photo), stylize(engine, downscale(photo, 0.5))
        ref = float(gradient(full)[edges].mean())
        candidates = {"full resolution": full, "half + bilinear": bilinear_upsample(small, photo)}
        for mode in MODES:
            for r in RADII:
                for eps in EPSILONS:
                    candidates[f"half + {mode} r{r} eps{eps:g}"] = guided_upsample(small, photo, r, eps, mode)
        for name, img in candidates.items():
            d = meter.distances(img, feats, grams)
            scores.setdefault(name, []).append((d["style"], d["content"], float(gradient(img)[edges].mean()) / ref,
                                                float(np.abs(img.astype(np.int16) - full).mean())))
    rows = {k: dict(zip(("style", "content", "edge_strength", "mad_to_full"), np.round(np.mean(v, 0), 4).tolist()))
            for k, v in scores.items()}
    load_after = os.getloadavg()
    lines = [f"# Guided upsampling sweep ({a.style}, {a.model} network, {len(paths)} eval photos at {a.size} px)", "",
             f"`python benchmarks/upsample_sweep.py --style {a.style} --model {a.model} --photos {a.photos} "
             f"--size {a.size}`; load {load_before[0]:.2f} before, {load_after[0]:.2f} after (quality only, no timing).",
             "", "| variant | style dist | content dist | edge strength | MAD to full res |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['style']:.4f} | {v['content']:.4f} | {v['edge_strength']:.3f} | {v['mad_to_full']:.2f} |"
              for k, v in rows.items()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "upsample_sweep.json").write_text(json.dumps({"args": vars(a), "rows": rows}, indent=2) + "\n")
    (RESULTS / "upsample_sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
