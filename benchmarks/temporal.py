"""Speed and temporal stability of the temporal stage, per mechanism, on real clips.

    python benchmarks/temporal.py [--videos bunny.mp4,cockatoo.mp4:24,cockatoo.mp4:96@24] [--frames 48] [--style starry]
                                  [--threads 2] [--keyframe-interval 6] [--fade-frames 6] [--flow-preset medium]
                                  [--flow-scale 0.5]
                                  [--quality-frames N (default: every frame; 0: skip)]
                                  [--variants per-frame,all,...] [--sequential | --pipelined] [--tag _cockatoo]
    python benchmarks/temporal.py                          # the bunny table (results/temporal.md)
    python benchmarks/temporal.py --videos cockatoo.mp4:24 --sequential \
        --variants per-frame,propagate,stabilize,all,all+contrast --tag _cockatoo

For each clip (first --frames frames, or :FRAMES after its name, from frame START with @START, at
the clip's own resolution) and each variant -- per-frame (no temporal stage), each
mechanism alone (reuse, propagate, fade, norms, stabilize, lock), all together, the
default (what `rtstyle video` runs without temporal flags: all together with the network's own
settings, its card's ``temporal``; --blend, --keyframe-interval and --flow-preset set the others), all
together with the blends' contrast kept (all+contrast) or with the stride
lock (all+lock), stabilize+lock, and all but the stabiliser (all-stabilize, and
all-stabilize+contrast: the strongest style) -- it measures:

* fps of ``Stylizer.stylize_timed`` alone (decode and encode excluded: they are
  the same for every variant), after one warm-up frame, and seconds per stage.
  The variants take turns frame by frame (each with its own stream state), so a
  load that drifts during the run affects them alike. ``--pipelined`` runs each
  variant instead through the threaded pipeline, from frames in memory, as
  `rtstyle video` does: the stage's flows are computed in the source thread while
  the previous frame is stylized, and fps is the run's wall time;
* the warping error E_warp (Lai et al. 2018): mean squared difference, values
  in [0, 1], between output t and output t-1 warped to t, over pixels that pass
  a forward-backward check, averaged over frame pairs. The flow is computed on
  the *source* frames at full resolution, by two estimators: ``fine_dis`` (DIS
  down to the finest scale with variational refinement; the ratio the targets
  are judged by) and Farneback (kept for comparison with earlier results). The
  metric's errors are not flicker: on frames moved by a known motion
  (benchmarks/flow_truth.py) Farneback is off by 1.0-1.4 px, enough to make a
  perfectly stable stylization score 58-97% of per-frame's E_warp, and
  ``fine_dis`` by 0.11-0.16 px. Neither is the stage's own flow (DIS medium,
  0.17-0.20 px), so agreeing with that earns little;
* E_warp of the source clip itself and the ratio stylized / source;
* style strength on every frame (or --quality-frames frames spread over the clip): the
  style and content distances of benchmarks/quality.py (relative Gram / relu3_3
  distances, VGG16) of each variant's output, to compare with per-frame. Every frame by
  default, because a temporal variant's style moves with the frame's place in its key
  interval (starry's default on bunny: 2-10% weaker than per-frame once a fade is over,
  15-19% in its middle): a few spread frames hit those places unevenly, and differently
  for variants with different key intervals (8 of bunny's 48 frames put starry's
  default at 7.8% weaker, all 48 at 9.1%).

Memory: interleaved, all variants' ONNX Runtime sessions are alive together; at
1280x720 (cockatoo.mp4) their arenas took >11 GB and the run was OOM-killed on this
24 GB machine shared with others. ``--sequential`` runs the variants one after
another over the whole clip and frees each before the next (fair only on an idle
machine, or a steady load: compare the load averages printed per variant).

Writes benchmarks/results/temporal.md, temporal.json, temporal_plot.png
(fps vs E_warp ratio) and temporal_strip.jpg (source / per-frame / all
mechanisms / the default, consecutive frames side by side, with a zoomed crop).
The machine's load average is recorded before and after each clip.
"""
from __future__ import annotations

import argparse
import json
import gc
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rtstyle.flow import (DisFlow, Oversampled, consistent, farneback, fine_dis, gray, resize_flow,  # noqa: E402
                          warping_error)
from rtstyle import pipeline  # noqa: E402
from rtstyle.pipeline import Frame  # noqa: E402
from rtstyle.registry import resolve_model  # noqa: E402
from rtstyle.sources import VideoSource  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402
from rtstyle.temporal import DEFAULT_MECHANISMS, MECHANISMS, TemporalConfig  # noqa: E402

VIDEOS = ROOT.parent / "shared/data/video"
OUT = ROOT / "benchmarks/results"
METRIC_FLOWS = {"fine DIS": fine_dis, "farneback": farneback}  # the first one is the one judged by


def variants(**kw) -> dict[str, TemporalConfig | None]:
    """Per-frame, each mechanism alone, all of them; ``kw``: TemporalConfig settings for every variant
    but ``default``, which is what `rtstyle video` runs without temporal flags (the network's own settings)."""
    out: dict[str, TemporalConfig | None] = {"per-frame": None}
    # contrast, repaint and keep refine other mechanisms' blends, holes and fades: measured with them below.
    out.update({m: TemporalConfig.only([m], **kw) for m in MECHANISMS if m not in ("contrast", "repaint", "keep")})
    out["all"] = TemporalConfig.only(DEFAULT_MECHANISMS, **kw)
    out["default"] = TemporalConfig(flow_scale=kw.get("flow_scale", TemporalConfig.flow_scale))
    out["default+repaint"] = TemporalConfig(repaint=True, flow_scale=kw.get("flow_scale", TemporalConfig.flow_scale))
    out["default-keep"] = TemporalConfig(keep=False, flow_scale=kw.get("flow_scale", TemporalConfig.flow_scale))
    for extra in ("lock", "contrast"):
        if extra not in DEFAULT_MECHANISMS:
            out[f"all+{extra}"] = TemporalConfig.only((*DEFAULT_MECHANISMS, extra), **kw)
    out["stabilize+lock"] = TemporalConfig.only(("stabilize", "lock"), **kw)
    # The strongest style: everything but the stabiliser's running average.
    strong = [m for m in DEFAULT_MECHANISMS if m != "stabilize"]
    out["all-stabilize"] = TemporalConfig.only(strong, **kw)
    out["all-stabilize+contrast"] = TemporalConfig.only([*strong, "contrast"], **kw)  # the fade keeps the contrast
    return out


def read_frames(path: Path, n: int) -> list[np.ndarray]:
    frames = []
    with VideoSource(path) as source:
        for item in source:
            if isinstance(item, Frame):
                frames.append(item.image)
                if len(frames) == n:
                    break
    return frames


class SourceFlow:
    """Per pair (t-1, t) of source frames: flow t -> t-1 and the non-occluded mask of frame t."""

    def __init__(self, frames: list[np.ndarray], flow=fine_dis):
        grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        self.pairs = []
        for prev, cur in zip(grays, grays[1:]):
            to_prev, to_cur = flow(cur, prev), flow(prev, cur)
            self.pairs.append((to_prev, consistent(to_prev, to_cur)))

    def e_warp(self, frames: list[np.ndarray]) -> list[float]:
        return [warping_error(cur, prev, flow, valid)
                for (flow, valid), prev, cur in zip(self.pairs, frames, frames[1:])]

    def floor(self, sources: list[np.ndarray], stylized: list[np.ndarray], config: TemporalConfig) -> float:
        """E_warp of a picture that follows the stage's own flow perfectly: stylized frame t-1
        warped to t by the stage's DIS flow (its flow scale and preset) and warp, scored against the
        metric's flow. What remains is the two flows' disagreement, times the
        picture's texture energy: about the E_warp a stage driven by that flow gets
        while keeping ``stylized``'s texture at full strength."""
        dis = DisFlow(config.flow_preset, config.flow_smooth)
        h, w = sources[0].shape[:2]
        size = (max(8, round(w * config.flow_scale)), max(8, round(h * config.flow_scale)))
        errors = []
        for (flow, valid), prev, cur, out in zip(self.pairs, sources, sources[1:], stylized):
            own = resize_flow(dis(gray(cur, size), gray(prev, size)), (w, h))
            followed = (Oversampled(out.astype(np.float32)).warp(own) + 0.5).clip(0, 255).astype(np.uint8)
            errors.append(warping_error(followed, out, flow, valid))
        return float(np.mean(errors))


def stylize_variants(frames: list[np.ndarray], style: str, threads: int, configs: dict[str, TemporalConfig | None],
                     sequential: bool = False, pipelined: bool = False) -> dict[str, tuple[list[np.ndarray], dict]]:
    """Every variant over the same frames, one Stylizer (one stream state) each. Interleaved (the
    default), the variants take turns frame by frame: on a shared machine whose load drifts, each
    then sees the same conditions. ``sequential``: one variant at a time, freed before the next.
    ``pipelined``: one variant at a time through rtstyle.pipeline.run, as `rtstyle video` runs it."""
    groups = [[name] for name in configs] if sequential or pipelined else [list(configs)]
    measure = stylize_pipelined if pipelined else stylize_interleaved
    result = {}
    for names in groups:
        result.update(measure(frames, style, threads, {n: configs[n] for n in names}))
        gc.collect()  # the finished variants' sessions and arenas, before the next ones allocate theirs
    return result


def stylize_interleaved(frames: list[np.ndarray], style: str, threads: int,
                        configs: dict[str, TemporalConfig | None]) -> dict[str, tuple[list[np.ndarray], dict]]:
    """The variants over the same frames, taking turns frame by frame."""
    load = os.getloadavg()[0]
    stylizers = {name: Stylizer(style, threads=threads, temporal=c) for name, c in configs.items()}
    for s in stylizers.values():
        warm_up(s, frames[0])
    outs = {name: [] for name in configs}
    stages = {name: {} for name in configs}
    wall = dict.fromkeys(configs, 0.0)
    for f in frames:
        for name, s in stylizers.items():
            t = time.perf_counter()
            out, timings = s.stylize_timed(f)
            wall[name] += time.perf_counter() - t
            outs[name].append(out)
            for k, v in timings.items():
                stages[name][k] = stages[name].get(k, 0.0) + v
    return {name: (outs[name], run_info(s, len(frames), wall[name], stages[name], load))
            for name, s in stylizers.items()}


def warm_up(s: Stylizer, frame: np.ndarray) -> None:
    """One frame through, then a fresh stream: ORT allocates its buffers on the first call."""
    s.stylize_timed(frame)
    if s.temporal is not None:
        s.temporal.reset()
        s.temporal.keyframes = s.temporal.frames = 0


def run_info(s: Stylizer, frames: int, wall: float, seconds: dict[str, float], load: float) -> dict:
    return {"fps": frames / wall, "load": [load, os.getloadavg()[0]],
            "ms_per_frame": {k: 1e3 * v / frames for k, v in seconds.items()},
            "keyframes": s.temporal.keyframes if s.temporal else frames,
            # The stabiliser's weight where it runs (the network's own unless --blend), else None.
            "blend": s.temporal.config.blend if s.temporal and s.temporal.config.stabilize else None,
            "notes": s.temporal.notes if s.temporal else []}


class _Keep:
    """A pipeline sink that keeps the stylized frames in memory."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def write(self, item: Frame) -> None:
        self.frames.append(item)

    def flush(self) -> None:
        pass

    def close(self, keep: bool) -> None:
        pass


def stylize_pipelined(frames: list[np.ndarray], style: str, threads: int,
                      configs: dict[str, TemporalConfig | None]) -> dict[str, tuple[list[np.ndarray], dict]]:
    """Each variant through the threaded pipeline from frames already in memory: the temporal stage's flows run
    in the source thread beside inference, as in `rtstyle video`, and fps is the run's wall time (no decoding
    or encoding: the same for every variant)."""
    result = {}
    for name, config in configs.items():
        load = os.getloadavg()[0]
        s = Stylizer(style, threads=threads, temporal=config)
        warm_up(s, frames[0])
        sink = _Keep()
        run = pipeline.run([Frame(image=f, index=i) for i, f in enumerate(frames)], s, sink)
        stages: dict[str, float] = {}
        for f in sink.frames:
            for k, v in f.timings.items():
                if k not in ("decode", "encode", "total"):
                    stages[k] = stages.get(k, 0.0) + v
        result[name] = ([f.image for f in sink.frames], run_info(s, run.frames, run.wall_s, stages, load))
        del s, sink
        gc.collect()
    return result


def style_strength(frames: list[np.ndarray], outputs: dict[str, list[np.ndarray]], style: str,
                   k: int) -> dict[str, dict[str, float]]:
    """Mean style/content distances (benchmarks/quality.py) of each variant on k spread frames."""
    import torch  # noqa: F401  (quality measurement only)

    from benchmarks.quality import Meter, QualityConfig, resolve_styles, spread
    from export.gatys import style_grams
    from export.train import read_rgb, resize_long
    from export.vgg import VGGFeatures

    cfg = QualityConfig()
    (st,) = resolve_styles((style,), cfg.paintings)
    meter = Meter(VGGFeatures(cfg.vgg))
    grams = style_grams(meter.vgg, resize_long(read_rgb(st.painting), st.style_size))
    idx = spread(len(frames), k)
    pictures = {"source": frames, **outputs}
    d: dict[str, list[dict[str, float]]] = {name: [] for name in pictures}
    for i in idx:  # one frame's features at a time: at 720p they take ~0.5 GB (48 frames filled 24 GiB)
        feats = meter.features(frames[i])
        for name, outs in pictures.items():
            d[name].append(meter.distances(outs[i], feats, grams))
    result = {name: {m: float(np.mean([x[m] for x in d[name]])) for m in ("style", "content")} for name in pictures}
    result["frames"] = idx
    return result


def strip(frames: list[np.ndarray], outputs: dict[str, list[np.ndarray]], start: int, count: int = 4) -> np.ndarray:
    """Rows: source, per-frame, all, the default, the default without keep (and all-stabilize, with contrast);
    columns: ``count`` consecutive frames, then a 2x zoom of the centre of the last."""
    from benchmarks.quality import put_label  # (imports torch, like the quality measurement)

    shown = ("per-frame", "all", "default", "default-keep", "all-stabilize", "all-stabilize+contrast")
    rows = {"source": frames, **{k: outputs[k] for k in shown if k in outputs}}
    h, w = frames[0].shape[:2]
    scale = min(1.0, 320 / w)
    cw, ch = round(w * scale), round(h * scale)
    gap = 4
    sheet = np.full((len(rows) * (ch + gap) + gap, (count + 1) * (cw + gap) + gap, 3), 24, np.uint8)
    for r, (name, seq) in enumerate(rows.items()):
        y = gap + r * (ch + gap)
        for c in range(count + 1):
            img = seq[start + min(c, count - 1)]
            if c == count:  # zoom: the centre of the last frame, 2x, nearest-neighbour (no added blur)
                img = img[h // 2 - h // 4: h // 2 + h // 4, w // 2 - w // 4: w // 2 + w // 4]
                cell = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_NEAREST)
            else:
                cell = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_AREA)
            x = gap + c * (cw + gap)
            sheet[y: y + ch, x: x + cw] = cell
            label = f"{name} t={start + min(c, count - 1)}" + (" zoom" if c == count else "")
            put_label(sheet, label, x + 4, y + 16, 0.45)
    return sheet


def plot(results: dict) -> np.ndarray:
    """fps (x) vs E_warp ratio (y), one marker per variant and clip; drawn with OpenCV (no matplotlib)."""
    W, H, m = 720, 440, 60
    img = np.full((H, W, 3), 255, np.uint8)
    judged = next(iter(METRIC_FLOWS))
    pts = [(clip, name, v["fps"], v["e_warp_ratio"][judged]) for clip, r in results.items()
           for name, v in r["variants"].items()]
    xmax = max(p[2] for p in pts) * 1.15
    ymax = max(p[3] for p in pts) * 1.15

    def xy(fps: float, ratio: float) -> tuple[int, int]:
        return int(m + fps / xmax * (W - 2 * m)), int(H - m - ratio / ymax * (H - 2 * m))

    cv2.line(img, (m, H - m), (W - m, H - m), (0, 0, 0), 1)
    cv2.line(img, (m, H - m), (m, m), (0, 0, 0), 1)
    cv2.putText(img, "stylizer fps", (W // 2 - 50, H - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"E_warp stylized / source ({judged} flow)", (5, m - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 0, 0), 1, cv2.LINE_AA)
    for tick in np.linspace(0, xmax, 5)[1:]:
        cv2.putText(img, f"{tick:.2f}", (xy(tick, 0)[0] - 15, H - m + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    for tick in np.linspace(0, ymax, 5)[1:]:
        cv2.putText(img, f"{tick:.1f}", (8, xy(0, tick)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    target = xy(0, 5.0)[1]
    cv2.line(img, (m, target), (W - m, target), (0, 0, 200), 1)
    cv2.putText(img, "target ratio 5", (W - m - 110, target - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 200), 1)
    colors = [(200, 80, 0), (0, 140, 0), (160, 0, 160), (0, 120, 200)]
    for ci, clip in enumerate(results):
        for c, name, fps, ratio in (p for p in pts if p[0] == clip):
            p = xy(fps, ratio)
            cv2.circle(img, p, 5, colors[ci % len(colors)], -1)
            cv2.putText(img, name, (p[0] + 7, p[1] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colors[ci % len(colors)], 1,
                        cv2.LINE_AA)
        cv2.putText(img, clip, (W - m - 150, m + 18 * ci), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colors[ci % len(colors)], 1)
    return img


def bench_clip(path: Path, a: argparse.Namespace, log) -> tuple[dict, dict[str, list[np.ndarray]], list[np.ndarray]]:
    load_before = os.getloadavg()
    frames = read_frames(path, a.start + a.frames)[a.start:]
    metrics = {k: SourceFlow(frames, flow) for k, flow in METRIC_FLOWS.items()}
    source_e = {k: float(np.mean(m.e_warp(frames))) for k, m in metrics.items()}
    log(f"{path.name}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, "
        f"source E_warp {source_e}, load {load_before[0]:.2f}")
    outputs, rows = {}, {}
    configs = variants(keyframe_interval=a.keyframe_interval, fade_frames=a.fade_frames, blend=a.blend,
                       flow_preset=a.flow_preset, flow_scale=a.flow_scale)
    if a.variants:
        configs = {k: configs[k] for k in a.variants.split(",")}
    for name, (outs, info) in stylize_variants(frames, a.style, a.threads, configs, a.sequential, a.pipelined).items():
        e = {k: float(np.mean(m.e_warp(outs))) for k, m in metrics.items()}
        rows[name] = {**info, "e_warp": e, "e_warp_ratio": {k: e[k] / source_e[k] for k in e},
                      "config": asdict(configs[name]) if configs[name] else None}
        outputs[name] = outs
        log(f"  {name:10s} {info['fps']:.3f} fps  E_warp ratio to source "
            + ", ".join(f"{k} {v:.2f}" for k, v in rows[name]["e_warp_ratio"].items())
            + f"  key frames {info['keyframes']}")
    base = rows["per-frame"]["fps"] if "per-frame" in rows else float("nan")
    for r in rows.values():
        r["speedup"] = r["fps"] / base
    # The flow the stage carries pictures along: --flow-preset, else the network's own.
    stage = TemporalConfig(flow_preset=a.flow_preset, flow_scale=a.flow_scale, keyframe_interval=a.keyframe_interval,
                           fade_frames=a.fade_frames).for_network(resolve_model(a.style).card)
    result = {"frames": len(frames), "start": a.start, "size": [frames[0].shape[1], frames[0].shape[0]],
              "flow_preset": stage.flow_preset, "keyframe_interval": stage.keyframe_interval,
              "fade_frames": stage.fade_length,
              "source_e_warp": source_e, "variants": rows,
              "load_before": load_before, "load_after": os.getloadavg()}
    if "per-frame" in outputs:
        judged = next(iter(METRIC_FLOWS))
        result["flow_floor"] = metrics[judged].floor(frames, outputs["per-frame"], stage) / source_e[judged]
        log(f"  flow floor for per-frame texture: {result['flow_floor']:.1f}x source")
    if a.quality_frames:
        k = len(frames) if a.quality_frames < 0 else a.quality_frames
        result["style_strength"] = style_strength(frames, outputs, a.style, k)
    return result, outputs, frames


def report_md(results: dict, a: argparse.Namespace) -> str:
    flows = list(METRIC_FLOWS)
    judged = flows[0]
    blend = a.blend if a.blend is not None else next(
        (v["blend"] for r in results.values() for v in r["variants"].values() if v["blend"] is not None), None)
    first = next(iter(results.values()))
    preset, interval = first["flow_preset"], first["keyframe_interval"]
    fade = first.get("fade_frames", interval)
    stabiliser = "no stabiliser" if blend is None else f"blend {blend}"
    lines = [f"# Temporal stage: speed and stability ({a.style}, {a.threads} threads, "
             f"key-frame interval {interval}, fade {fade} frames, {stabiliser}, stage flow DIS {preset} "
             f"x{a.flow_scale})", "",
             "Generated by `python benchmarks/temporal.py`. fps = "
             + ("the threaded pipeline, flows computed ahead in its source thread" if a.pipelined else "Stylizer only")
             + " (decode/encode excluded). "
             "E_warp per Lai et al. 2018 with flow computed on the source frames and a forward-backward "
             f"occlusion check; values in [0, 1]; flows: {judged} (judged by: 0.11-0.16 px end-point error on "
             "known motion, benchmarks/results/flow_truth.md) and Farneback (1.0-1.4 px, earlier results). "
             "Style/content: benchmarks/quality.py distances, the mean over the frames listed under the table "
             "(lower style distance = stronger style).", ""]
    for clip, r in results.items():
        la, lb = r["load_before"], r["load_after"]
        src = ", ".join(f"{k} {v:.6f}" for k, v in r["source_e_warp"].items())
        quality = "style_strength" in r
        start = r.get("start", 0)
        frames = f"frames {start}-{start + r['frames'] - 1}" if start else f"first {r['frames']} frames"
        lines += [f"## {clip} ({r['size'][0]}x{r['size'][1]}, {frames})", "",
                  f"Source E_warp: {src}. Load average before {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}, "
                  f"after {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f}.", "",
                  f"| variant | fps | speed-up | E_warp ({judged}) | "
                  + " | ".join(f"ratio to source ({k})" for k in flows)
                  + " | key frames | ms/frame by stage | load |" + (" d_style | d_content |" if quality else ""),
                  "|---|---|---|---|" + "---|" * len(flows) + "---|---|---|" + ("---|---|" if quality else "")]
        for name, v in r["variants"].items():
            stages = ", ".join(f"{k} {ms:.0f}" for k, ms in v["ms_per_frame"].items())
            row = (f"| {name} | {v['fps']:.3f} | {v['speedup']:.2f}x | {v['e_warp'][judged]:.6f} | "
                   + " | ".join(f"{v['e_warp_ratio'][k]:.2f}" for k in flows)
                   + f" | {v['keyframes']}/{r['frames']} | {stages} | {v['load'][0]:.1f}-{v['load'][1]:.1f} |")
            if quality:
                q = r["style_strength"][name]
                row += f" {q['style']:.4f} | {q['content']:.4f} |"
            lines.append(row)
        if quality:
            q = r["style_strength"]["source"]
            lines.append(f"| (source frames) | | | {r['source_e_warp'][judged]:.6f} | " + " | ".join("1.00" for _ in flows)
                         + f" | | | | {q['style']:.4f} | {q['content']:.4f} |")
        if quality:
            scored = r["style_strength"]["frames"]
            lines += ["", "Style scored on " + ("every frame" if len(scored) == r["frames"]
                                                else f"frames {', '.join(map(str, scored))}") + "."]
        if "flow_floor" in r:
            lines += ["", f"Flow floor: the per-frame output of frame t-1 moved to t along the stage's own flow "
                      f"(DIS, {preset}, scale {a.flow_scale}) -- perfectly "
                      f"stable by that flow, every stroke kept -- scores E_warp {r['flow_floor']:.1f}x source "
                      f"under the metric's {judged} flow: the two flows disagree by a fraction of a pixel, "
                      "which costs in proportion to the texture's energy."]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", default="bunny.mp4",
                   help="clips in ../shared/data/video (or paths), each optionally :FRAMES (default --frames) "
                        "and @START (its first frame; default 0)")
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--style", default="starry")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keyframe-interval", type=int, default=None, help="default: the network's own")
    p.add_argument("--fade-frames", type=int, default=None, help="default: the network's own")
    p.add_argument("--blend", type=float, default=None, help="stabilisation weight (default: the network's own)")
    p.add_argument("--flow-preset", default=None, help="the stage's DIS preset (default: the network's own)")
    p.add_argument("--flow-scale", type=float, default=TemporalConfig().flow_scale, help="the stage's flow scale")
    p.add_argument("--quality-frames", type=int, default=-1,
                   help="frames for style strength, spread over the clip (default -1: every frame; 0: skip)")
    p.add_argument("--strip-start", type=int, default=20, help="first frame of the side-by-side strip")
    p.add_argument("--variants", default="", help="comma-separated subset of the variants (default: all)")
    p.add_argument("--sequential", action="store_true",
                   help="one variant at a time, each freed before the next (large clips: memory)")
    p.add_argument("--pipelined", action="store_true",
                   help="one variant at a time through the threaded pipeline (the flows computed ahead, as in "
                        "`rtstyle video`) instead of Stylizer calls in turn")
    p.add_argument("--tag", default="", help="suffix of the result files (temporal{TAG}.md, ...)")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    results, first = {}, None
    for spec in a.videos.split(","):
        spec, _, start = spec.partition("@")
        name, _, count = spec.partition(":")
        path = Path(name) if Path(name).is_file() else VIDEOS / name
        clip_args = argparse.Namespace(**{**vars(a), "frames": int(count or a.frames), "start": int(start or 0)})
        results[path.name + (f"@{start}" if start else "")], outputs, frames = bench_clip(path, clip_args, print)
        if first is None:
            first = (path.stem, frames, outputs)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"temporal{a.tag}.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()},
                                                     "clips": results}, indent=2) + "\n")
    (a.out / f"temporal{a.tag}.md").write_text(report_md(results, a) + "\n")
    cv2.imwrite(str(a.out / f"temporal{a.tag}_plot.png"), plot(results))
    stem, frames, outputs = first
    start = min(a.strip_start, len(frames) - 4)
    cv2.imwrite(str(a.out / f"temporal{a.tag}_strip.jpg"), cv2.cvtColor(strip(frames, outputs, start), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {a.out}/temporal{a.tag}.md, .json, _plot.png, _strip.jpg ({stem})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
