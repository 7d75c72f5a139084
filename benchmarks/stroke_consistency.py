"""Does the network paint the same strokes on consecutive frames?

    python benchmarks/stroke_consistency.py [--style starry] [--model M.onnx] [--clip bunny.mp4] [--frames 10]

The temporal stage's blend (issue 6) keeps a stroke only as far as the next
frame paints it again in the same place: strokes that differ average away,
which is what weakens the style under stabilisation. This measures how alike
they are. Consecutive per-frame outputs are aligned by the metric's flow
(``rtstyle.flow.fine_dis`` on the source frames, pixels that pass its
forward-backward check, eroded), and their fine detail (the picture minus a
Gaussian blur of sigma 2 px: the band the strokes live in) is correlated,
pixel by pixel, across colour channels. Three sequences:

* ``clip``: the first --frames frames of a real clip;
* ``camera move``: the clip's first frame moved by benchmarks/flow_truth.py's
  known pan, zoom and roll (clean motion, nothing else changes);
* ``ideal``: that frame stylized once and moved the same way (the same strokes,
  moved: the ceiling, below 1 only by resampling).

1.0 = the same strokes moved with the content; 0 = unrelated strokes. Prints a
table; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rtstyle.flow import consistent, fine_dis, warp  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402
from flow_truth import sequence  # noqa: E402  (this folder is on sys.path)
from temporal import VIDEOS, read_frames  # noqa: E402

DETAIL_SIGMA = 2.0  # px: finer than this is stroke texture, coarser is colour and shape


def detail(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float32)
    return x - cv2.GaussianBlur(x, (0, 0), DETAIL_SIGMA)


def consistency(frames: list[np.ndarray], outputs: list[np.ndarray]) -> list[float]:
    """Per pair t-1 -> t: correlation of output t's detail with output t-1's, warped to t."""
    out = []
    for t in range(1, len(frames)):
        a, b = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (frames[t], frames[t - 1]))
        to_prev = fine_dis(a, b)
        # Away from occlusion edges, where no flow can align anything.
        valid = cv2.erode(consistent(to_prev, fine_dis(b, a)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        x, y = detail(outputs[t])[valid], detail(warp(outputs[t - 1], to_prev, sharp=True))[valid]
        out.append(float(np.corrcoef(x.ravel(), y.ravel())[0, 1]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", default="starry")
    p.add_argument("--model", help="an ONNX style model instead of the built-in style's")
    p.add_argument("--clip", default="bunny.mp4", help="a clip in ../shared/data/video")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    if a.frames < 2:
        p.error("--frames must be at least 2")
    stylizer = Stylizer(None if a.model else a.style, model=a.model, threads=a.threads)
    clip = read_frames(VIDEOS / a.clip, a.frames)
    first = clip[0]
    moved, _ = sequence(first, a.frames)
    ideal, _ = sequence(stylizer.stylize(first), a.frames)
    rows = {
        f"clip ({a.clip}, {a.frames} frames)": consistency(clip, [stylizer.stylize(f) for f in clip]),
        "camera move (its first frame, known motion)": consistency(moved, [stylizer.stylize(f) for f in moved]),
        "ideal (the same strokes, moved)": consistency(moved, ideal),
    }
    print(f"Stroke consistency of {a.model or a.style}: correlation of consecutive outputs' detail "
          f"(sigma < {DETAIL_SIGMA:g} px), aligned by fine DIS\n")
    print("| sequence | mean | min | max |\n|---|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {np.mean(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
