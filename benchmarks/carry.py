"""What carrying a picture along the flow costs: style kept against steadiness, flow by flow.

    python benchmarks/carry.py [--clip cockatoo.mp4] [--frames 14] [--style starry]

The temporal stage paints a key frame and carries that picture along the flow to the
frames after it (rtstyle.temporal.Carried). On handheld footage a carried starry
picture loses style with every frame since its key: its strokes bend with the flow.
This isolates the carrying from the rest of the stage (no holes, no fade, no new key
frames): frame 0's per-frame picture is carried to frames 1..n-1 along each flow below,
warped once from frame 0 (rtstyle.flow.Oversampled) as the stage does, and scored by

* E_warp over the n frames, as a ratio to the source's (benchmarks/temporal.py: Lai et
  al. 2018, the metric's fine DIS flow);
* style strength at a few frames k: d_style (benchmarks/quality.py) against the
  network's own picture of frame k, as a percentage weaker.

The flows: one per pair of consecutive frames with the stage's preset, composed
(``steps``) raw, smoothed as the stage smooths them (TemporalConfig.flow_smooth), smoothed
twice as much, or with DIS's variational smoothness raised (``alpha``); the smoothed steps
corrected each frame by a flow to the key frame warped along them (``+ drift correction``:
the error of many composed steps replaced by that of one flow); and each smoothed step replaced
by its RANSAC homography (``homography``: straight strokes, the scene's own parallax and
motion not followed). Writes OUT.md / OUT.json (default benchmarks/results/carry_CLIP).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.temporal import VIDEOS, SourceFlow, read_frames  # noqa: E402
from rtstyle.flow import DisFlow, Oversampled, gray, warp  # noqa: E402
from rtstyle.registry import resolve_model  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402
from rtstyle.temporal import TemporalConfig  # noqa: E402

Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (gray a, gray b) -> flow(a, b), HxWx2


def raised_alpha(flow: DisFlow, alpha: float) -> DisFlow:
    """``flow`` with DIS's variational smoothness weight set to ``alpha`` (OpenCV's default 20)."""
    flow.dis.setVariationalRefinementAlpha(alpha)
    return flow


class Homography:
    """A flow replaced by the homography that fits it best (RANSAC on a 16 px grid)."""

    def __init__(self, flow: Flow):
        self.flow = flow

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        dense = self.flow(a, b)
        h, w = dense.shape[:2]
        ys, xs = np.mgrid[8:h:16, 8:w:16]
        src = np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float32)
        fit, _ = cv2.findHomography(src, src + dense[ys, xs].reshape(-1, 2), cv2.RANSAC, 1.0)
        grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
        return cv2.perspectiveTransform(grid.reshape(1, -1, 2), fit).reshape(h, w, 2) - grid


def carry(picture: np.ndarray, grays: list[np.ndarray], step: Flow, correct: Flow | None) -> tuple[list, float]:
    """Frame 0's picture (HxWx3 float in [0, 1]) on every frame, uint8; and the flows' ms per frame."""
    painted = Oversampled(picture)
    to_key = np.zeros((*grays[0].shape, 2), np.float32)  # current frame -> frame 0
    outs, spent = [to_uint8(picture)], 0.0
    for prev, cur in zip(grays, grays[1:]):
        t = time.perf_counter()
        s = step(cur, prev)
        to_key = s + warp(to_key, s)
        if correct is not None:  # the residual is small: added, not composed
            to_key = to_key + correct(cur, warp(grays[0], to_key))
        spent += time.perf_counter() - t
        outs.append(to_uint8(painted.warp(to_key)))
    return outs, 1e3 * spent / (len(grays) - 1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (image * 255 + 0.5).clip(0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default="cockatoo.mp4", help="a clip in ../shared/data/video, or a path")
    p.add_argument("--frames", type=int, default=14)
    p.add_argument("--style", default="starry")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    # Quality measurement only: torch (the VGG distances) is imported here, not for the flows.
    from benchmarks.quality import Meter, QualityConfig, resolve_styles
    from export.gatys import style_grams
    from export.train import read_rgb, resize_long
    from export.vgg import VGGFeatures

    path = Path(a.clip) if Path(a.clip).is_file() else VIDEOS / a.clip
    frames = read_frames(path, a.frames)
    if len(frames) < 2:
        print(f"error: {path} has fewer than 2 frames", file=sys.stderr)
        return 1
    h, w = frames[0].shape[:2]
    grays = [gray(f, (w, h)) for f in frames]
    stylizer = Stylizer(a.style, threads=a.threads, temporal=None)
    per_frame = [stylizer.stylize(f) for f in frames]
    metric = SourceFlow(frames)
    source_e = float(np.mean(metric.e_warp(frames)))
    stage = TemporalConfig().for_network(resolve_model(a.style).card)
    preset, smooth = stage.flow_preset, stage.flow_smooth
    variants: dict[str, tuple[Flow, Flow | None]] = {
        f"steps ({preset}), raw": (DisFlow(preset), None),
        "steps, smoothed (the stage)": (DisFlow(preset, smooth), None),
        "steps, smoothed 2x": (DisFlow(preset, 2 * smooth), None),
        "steps, alpha 60": (raised_alpha(DisFlow(preset), 60), None),
        "steps, alpha 150": (raised_alpha(DisFlow(preset), 150), None),
        "steps, smoothed + drift correction": (DisFlow(preset, smooth), DisFlow(preset, smooth)),
        "homography of the smoothed steps": (Homography(DisFlow(preset, smooth)), None),
    }

    cfg = QualityConfig()
    (st,) = resolve_styles((a.style,), cfg.paintings)
    meter = Meter(VGGFeatures(cfg.vgg))
    grams = style_grams(meter.vgg, resize_long(read_rgb(st.painting), st.style_size))
    ks = list(range(1, len(frames), 3))
    feats = {k: meter.features(frames[k]) for k in ks}
    own = {k: meter.distances(per_frame[k], feats[k], grams)["style"] for k in ks}
    rows = {"per-frame (every frame painted)": {"ratio": float(np.mean(metric.e_warp(per_frame))) / source_e,
                                                "ms": None, "weaker": {k: 0.0 for k in ks}}}
    picture = per_frame[0].astype(np.float32) / 255.0
    for name, (step, correct) in variants.items():
        outs, ms = carry(picture, grays, step, correct)
        weaker = {k: meter.distances(outs[k], feats[k], grams)["style"] / own[k] - 1.0 for k in ks}
        rows[name] = {"ratio": float(np.mean(metric.e_warp(outs))) / source_e, "ms": ms, "weaker": weaker}
        print(f"{name:40s} E_warp ratio {rows[name]['ratio']:6.2f}  flows {ms:5.0f} ms/frame  weaker "
              + " ".join(f"k{k} {v:+.1%}" for k, v in weaker.items()), flush=True)

    out = a.out or ROOT / "benchmarks" / "results" / f"carry_{path.stem}"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"clip": path.name, "frames": len(frames), "size": [w, h], "style": a.style, "flow_preset": preset,
              "flow_smooth": smooth, "source_e_warp": source_e, "load_after": os.getloadavg(), "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# Carrying one picture along the flow ({a.style}, {path.name}, {w}x{h}, {len(frames)} frames)", "",
          f"`python benchmarks/carry.py {' '.join(sys.argv[1:] if argv is None else argv)}`; load average after "
          f"{os.getloadavg()[0]:.2f}. Frame 0's per-frame picture carried to every later frame (no holes, no fade, "
          "no key frames); E_warp ratio to the source under the metric's fine DIS flow; style: d_style against "
          "the network's own picture of frame k (lower = stronger; + = weaker).", "",
          "| flow | E_warp ratio | flows ms/frame | " + " | ".join(f"k = {k}" for k in ks) + " |",
          "|---|---|---|" + "---|" * len(ks)]
    for name, r in rows.items():
        ms = "" if r["ms"] is None else f"{r['ms']:.0f}"
        md.append(f"| {name} | {r['ratio']:.2f} | {ms} | " + " | ".join(f"{v:+.1%}" for v in r["weaker"].values())
                  + " |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
