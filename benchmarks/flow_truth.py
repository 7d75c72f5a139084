"""Does E_warp measure flicker? Known camera motion on real frames, so the flow is exact.

    python benchmarks/flow_truth.py [--clips bunny.mp4,cockatoo.mp4] [--frames 16] [--style starry]

Issue 6 scores stability with the warping error E_warp (Lai et al. 2018) and
asks for a stylized/source ratio <= 5. On real clips the flow it needs is
estimated (Farneback, benchmarks/temporal.py), and the estimate's sub-pixel
errors cost in proportion to a picture's fine texture, which a stylization has
far more of than a photo. Here that is measured instead of argued: the first
frame of each clip is moved by a known camera motion (pan, zoom, roll: one
affine map per frame, every frame resampled once from the original, so no blur
piles up), which makes the flow between consecutive frames exact. Then:

* flow accuracy: end-point error (px) against the truth of the two metric
  flows (Farneback, the first one; ``fine_dis``, full-resolution DIS with
  variational refinement, the one benchmarks/temporal.py now judges by) and of
  DIS as the temporal stage runs it (its scale and preset);
* E_warp, and its ratio to the source's, of three outputs, each scored with the
  true flow and with each metric flow:
  - ``per-frame``: the network on every frame (what flickers);
  - ``temporal``: the temporal stage with its defaults (``rtstyle video``);
  - ``lock`` and ``temporal + lock``: the same with the stride-grid lock (opt-in);
  - ``ideal``: the original frame stylized once and moved by the same known
    motion: no flicker at all and the per-frame texture, by construction;
* style strength of each output on --quality-frames frames (benchmarks/temporal.py's
  style_strength: benchmarks/quality.py's distances), to see what a mechanism costs
  in texture when the motion is a clean camera move.

With the true flow, the source's E_warp is only resampling noise and ``ideal``
scores near 0. What ``ideal`` scores with an estimated flow is that metric's
floor for any output that keeps the full texture: the closer to the true
flow's, the better the metric measures flicker rather than its own flow's
error. With --noise SIGMA every frame gets its own Gaussian noise (a sensor's
or codec's, in 0-255 units) on top of the motion, which the flow then no longer
explains: the source's E_warp rises with it, and every ratio falls.
Writes OUT.md / OUT.json (default benchmarks/results/flow_truth).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rtstyle.flow import DisFlow, consistent, gray, inside, resize_flow, warping_error  # noqa: E402
from rtstyle.registry import resolve_model  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402
from rtstyle.temporal import TemporalConfig  # noqa: E402
from temporal import METRIC_FLOWS, VIDEOS, read_frames, style_strength  # noqa: E402  (this folder is on sys.path)

OUT = ROOT / "benchmarks/results/flow_truth"
CROP = 0.8  # frames are this fraction of the original, so the motion never leaves it
PAN = (1.5, 0.6)  # px per frame
ZOOM = 1.002  # per frame
ROLL = 0.15  # degrees per frame
OUTPUTS = ("per-frame", "lock", "temporal", "temporal + lock", "ideal")


def camera(t: int, size: tuple[int, int], original: tuple[int, int]) -> np.ndarray:
    """3x3 map from original-image coordinates to frame t's pixel grid (size = frame (w, h))."""
    (w, h), (ow, oh) = size, original
    m = cv2.getRotationMatrix2D((ow / 2, oh / 2), ROLL * t, ZOOM**t)  # roll and zoom about the centre
    m[:, 2] += (w - ow) / 2 - PAN[0] * t, (h - oh) / 2 - PAN[1] * t  # crop the centre, then pan
    return np.vstack([m, [0, 0, 1]])


def sequence(image: np.ndarray, frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``image`` moved by the camera: frames, and the exact flow of each frame t >= 1 to frame t-1."""
    oh, ow = image.shape[:2]
    size = (round(ow * CROP) // 8 * 8, round(oh * CROP) // 8 * 8)
    maps = [camera(t, size, (ow, oh)) for t in range(frames)]
    out = [cv2.warpAffine(image, m[:2], size, flags=cv2.INTER_CUBIC) for m in maps]
    xs, ys = np.meshgrid(np.arange(size[0], dtype=np.float64), np.arange(size[1], dtype=np.float64))
    grid = np.stack([xs, ys, np.ones_like(xs)], axis=-1)
    flows = []
    for prev, cur in zip(maps, maps[1:]):
        to_prev = grid @ (prev @ np.linalg.inv(cur)).T  # frame t pixel -> original -> frame t-1
        flows.append((to_prev[..., :2] - grid[..., :2]).astype(np.float32))
    return out, flows


def epe(estimate: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
    return float(np.sqrt(((estimate - truth) ** 2).sum(2))[valid].mean())


def judge(frames: list[np.ndarray], true_flows: list[np.ndarray]) -> dict[str, list]:
    """Per flow ("true" and each metric flow): for every pair, the flow t -> t-1 and the pixels scored."""
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    out: dict[str, list] = {"true": [(f, inside(f)) for f in true_flows]}
    for name, flow in METRIC_FLOWS.items():
        out[name] = []
        for prev, cur in zip(grays, grays[1:]):
            to_prev, to_cur = flow(cur, prev), flow(prev, cur)
            out[name].append((to_prev, consistent(to_prev, to_cur)))
    return out


def e_warp(outputs: list[np.ndarray], pairs: list) -> float:
    return float(np.mean([warping_error(cur, prev, flow, valid)
                          for (flow, valid), prev, cur in zip(pairs, outputs, outputs[1:])]))


def run_clip(name: str, a: argparse.Namespace) -> dict:
    original = read_frames(VIDEOS / name, 1)[0]
    frames, true_flows = sequence(original, a.frames)
    if a.noise:
        rng = np.random.default_rng(0)
        frames = [np.clip(f + rng.normal(0.0, a.noise, f.shape), 0, 255).astype(np.uint8) for f in frames]
    judges = judge(frames, true_flows)

    config = TemporalConfig().for_network(resolve_model(a.style).card)  # the stage as `rtstyle video` runs it
    dis = DisFlow(config.flow_preset, config.flow_smooth)
    h, w = frames[0].shape[:2]
    small = (round(w * config.flow_scale), round(h * config.flow_scale))
    flows = {**{k: [f for f, _ in judges[k]] for k in METRIC_FLOWS},
             f"DIS {config.flow_preset} x{config.flow_scale} (the stage's)":
                 [resize_flow(dis(gray(c, small), gray(p, small)), (w, h)) for p, c in zip(frames, frames[1:])]}
    accuracy = {k: float(np.mean([epe(e, t, inside(t)) for e, t in zip(v, true_flows)])) for k, v in flows.items()}
    for k in METRIC_FLOWS:  # where the metric looks: the pixels its forward-backward check keeps
        accuracy[f"{k}, scored pixels"] = float(np.mean([epe(f, t, valid) for (f, valid), t
                                                       in zip(judges[k], true_flows)]))

    per_frame = Stylizer(a.style, threads=a.threads)
    whole = per_frame.stylize(original)

    def stream(temporal: TemporalConfig) -> list[np.ndarray]:
        stylizer = Stylizer(a.style, threads=a.threads, temporal=temporal)  # one per stream: it keeps state
        return [stylizer.stylize(f) for f in frames]

    outputs = {
        "per-frame": [per_frame.stylize(f) for f in frames],
        "lock": stream(TemporalConfig.only(["lock"])),
        "temporal": stream(config),
        "temporal + lock": stream(replace(config, lock=True)),
        "ideal": sequence(whole, a.frames)[0],  # the stylized original, moved exactly as the frames are
    }
    scores = {}
    for flow_name, pairs in judges.items():
        source = e_warp(frames, pairs)
        scores[flow_name] = {"source": source,
                             **{k: {"e_warp": e_warp(v, pairs), "ratio": e_warp(v, pairs) / source}
                                for k, v in outputs.items()}}
    strength = style_strength(frames, outputs, a.style, a.quality_frames) if a.quality_frames else {}
    return {"size": [w, h], "epe_px": accuracy,
            "true_motion_px": float(np.mean([np.sqrt((f**2).sum(2)).mean() for f in true_flows])),
            "scores": scores, "style_strength": strength}


def report(results: dict, a: argparse.Namespace, load: tuple) -> str:
    lines = [
        "# E_warp with estimated vs exact flow (synthetic camera motion on real frames)", "",
        f"`python benchmarks/flow_truth.py --clips {a.clips} --frames {a.frames} --style {a.style}"
        + (f" --noise {a.noise:g}" if a.noise else "") + "`; "
        f"load average {load[0]:.2f} before, {load[1]:.2f} after.", "",
        f"Each clip's first frame, cropped to {CROP:.0%} and moved per frame by a pan of {PAN} px, a zoom of "
        f"{ZOOM} and a roll of {ROLL} deg, each frame resampled once (bicubic) from the original"
        + (f", then Gaussian noise of sigma {a.noise:g} (0-255) added to each frame" if a.noise else "") + "; "
        "the flow between frames is then known exactly. `ideal` = the original frame stylized once and moved "
        "by the same motion: flicker-free with the per-frame texture. `temporal` = the temporal stage's defaults; "
        "`lock` = the stride-grid lock alone. d_style: benchmarks/quality.py's style distance on "
        f"{a.quality_frames} frames (lower = stronger style). "
        "Ratio = E_warp / the source frames' E_warp under the same flow.", "",
    ]
    for clip, r in results.items():
        acc = ", ".join(f"{k} {v:.3f}" for k, v in r["epe_px"].items())
        lines += [f"## {clip} ({r['size'][0]}x{r['size'][1]}, {a.frames} frames, mean true motion "
                  f"{r['true_motion_px']:.2f} px/frame)", "",
                  f"Flow end-point error against the truth (px): {acc}.", "",
                  "| output | " + " | ".join(f"E_warp, {k} flow | ratio, {k} flow" for k in r["scores"]) + " |",
                  "|---|" + "---|---|" * len(r["scores"])]
        s = r["scores"]
        d = r.get("style_strength", {})

        def d_style(out: str) -> str:
            return f" {d[out]['style']:.3f} |" if out in d else " - |"

        lines[-2] += " d_style |"
        lines[-1] += "---|"
        lines.append("| source | " + " | ".join(f"{s[k]['source']:.6f} | 1.00" for k in s) + " |" + d_style("source"))
        for out in OUTPUTS:
            lines.append(f"| {out} | " + " | ".join(f"{s[k][out]['e_warp']:.6f} | {s[k][out]['ratio']:.2f}"
                                                    for k in s) + " |" + d_style(out))
        e = {flow: {k: s[flow][k]["e_warp"] for k in OUTPUTS} for flow in s}
        t = e["true"]
        removed = (t["per-frame"] - t["temporal"]) / (t["per-frame"] - t["ideal"])
        lines += ["", f"With the true flow, the temporal stage removes {removed:.0%} of per-frame's E_warp in excess "
                  "of ideal's."]
        for flow in (k for k in s if k != "true"):
            f = e[flow]
            lines[-1] += (f" With {flow}, ideal (no flicker at all) scores {f['ideal'] / f['per-frame']:.0%} "
                          f"of per-frame's E_warp and {f['ideal'] / f['temporal']:.0%} of the temporal stage's.")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", default="bunny.mp4,cockatoo.mp4")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--style", default="starry")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--noise", type=float, default=0.0, metavar="SIGMA",
                   help="Gaussian noise per frame, 0-255 units (default: 0, noiseless)")
    p.add_argument("--quality-frames", type=int, default=4, help="frames for the style distance (0: skip)")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--report-only", action="store_true", help="rewrite OUT.md from OUT.json")
    a = p.parse_args(argv)
    if a.report_only:
        saved = json.loads(Path(a.out).with_suffix(".json").read_text())
        load = saved.pop("load_average")
        Path(a.out).with_suffix(".md").write_text(report(saved, a, load) + "\n")
        return 0
    before = os.getloadavg()[0]
    results = {}
    for clip in a.clips.split(","):
        results[clip] = run_clip(clip, a)
        print(clip, json.dumps(results[clip]["epe_px"]), flush=True)
    load = (before, os.getloadavg()[0])
    md = report(results, a, load)
    Path(a.out).with_suffix(".json").write_text(json.dumps({**results, "load_average": load}, indent=1) + "\n")
    Path(a.out).with_suffix(".md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
