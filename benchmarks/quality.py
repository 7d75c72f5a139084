"""Stylisation quality of the per-style networks, measured with the training losses.

    python benchmarks/quality.py [--styles starry,wave] [--size 320] [--gatys-iters 100]
                                 [--gatys-photos 4] [--no-gatys] [--vgg PATH] [--out DIR]
                                 [--gatys-cache DIR] [--threads N]

For each style and each eval photo (long side --size) it measures the style
distance (mean relative Gram distance over relu1_2..relu4_3, against the
painting at the card's training style size) and the content distance
(relative relu3_3, against the photo) of (a) the photo itself, (b) the network
output and (c) Gatys optimisation of the same photo (export.gatys: the optimum
the network approximates; run on --gatys-photos photos spread over the set and
cached in benchmarks/results/gatys/). Gap closure = how much of Gatys' style-distance drop the
network achieves, on the photos that have a Gatys result; the bar is 60%.

Writes OUT/quality.md, OUT/quality.json and OUT/contact_sheet.jpg.

Defaults, measured: at 320 px one Gatys image costs ~68 CPU-seconds for 100
L-BFGS iterations (one torch thread), so 4 styles x 4 photos is ~18 min even
with only one core's worth of CPU. 100 iterations reach the same style
distance as 200 (0.049 vs 0.048 on the first photo with Starry Night); only the
content term keeps creeping down after that.

Another model (e.g. an arbitrary-style network) is evaluated by passing its own
``stylize(photo, style)`` to ``main``/``evaluate``; see ``BuiltinNetworks``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from export.gatys import GatysConfig, gatys, style_grams  # noqa: E402
from export.train import read_rgb, resize_long, to_tensor  # noqa: E402
from export.vgg import VGGFeatures, content_distance, style_distance  # noqa: E402
from rtstyle import Stylizer, builtin_styles  # noqa: E402

SHARED = ROOT.parent / "shared"
ACCEPTANCE = 0.60  # minimum gap closure


@dataclass(frozen=True)
class QualityConfig:
    styles: tuple[str, ...] = ()  # empty: every installed built-in style
    size: int = 320  # long side of the eval photos
    gatys_iters: int = 100
    gatys_photos: int = 4
    gatys: bool = True
    vgg: str = field(default_factory=lambda: os.environ.get("RTSTYLE_VGG16",
                                                          str(SHARED / "weights/vgg16_features.pth")))
    out: Path = ROOT / "benchmarks/results"
    # Shared by every --out: Gatys depends only on photo, painting, sizes, weights and iterations.
    gatys_cache: Path = ROOT / "benchmarks/results/gatys"
    photos: Path = SHARED / "data/content/eval"
    paintings: Path = SHARED / "data/styles"
    threads: int = 0  # torch threads for VGG/Gatys; 0: torch's default (all cores)


@dataclass(frozen=True)
class Style:
    name: str
    painting: Path
    style_size: int  # long side of the painting the network was trained against
    content_weight: float  # the training objective's weights, which Gatys optimises too
    style_weight: float
    card: dict = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        provisional = self.card.get("provisional")
        return f"{self.name} (provisional: {provisional})" if provisional else self.name


# (photo HxWx3 uint8 RGB, style) -> stylised image of the same size, HxWx3 uint8 RGB.
StylizeFn = Callable[[np.ndarray, Style], np.ndarray]


class BuiltinNetworks:
    """The installed per-style ONNX networks, one Stylizer per style, created on first use."""

    description = "built-in per-style networks (rtstyle/styles/*.onnx, ONNX Runtime)"

    def __init__(self) -> None:
        self._stylizers: dict[str, Stylizer] = {}

    def __call__(self, photo: np.ndarray, style: Style) -> np.ndarray:
        if style.name not in self._stylizers:
            self._stylizers[style.name] = Stylizer(style=style.name)
        return self._stylizers[style.name].stylize(photo)


def resolve_styles(names: tuple[str, ...], paintings: Path) -> list[Style]:
    """Installed styles (or ``names``) with the painting and style size their cards give."""
    installed = builtin_styles()
    out = []
    for name in names or tuple(installed):
        card = installed[name].card if name in installed else {}
        training = card.get("training", {})
        painting = paintings / card.get("source_file", f"{name}.jpg")
        if not painting.is_file():
            raise FileNotFoundError(f"painting for style {name!r} not found: {painting}")
        out.append(Style(name, painting, int(training.get("style_size", 512)),
                         float(training.get("content_weight", 1.0)), float(training.get("style_weight", 10.0)), card))
    if not out:
        raise ValueError("no styles to evaluate: none installed and none given with --styles")
    return out


def spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over range(n), first and last included: deterministic, not clustered."""
    k = max(0, min(k, n))
    if k <= 1:
        return list(range(k))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def relative(path: str | Path) -> str:
    """Path as seen from the checkout, so reports read the same on every machine."""
    return os.path.relpath(path, ROOT)


def sha8(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


class GatysCache:
    """Gatys distances (and a JPEG preview) per (photo, painting, style size, eval size, iterations).

    The painting's hash is in the folder name, so replacing a painting never reuses stale results.
    """

    def __init__(self, root: Path):
        self.root = root

    def path(self, photo: Path, style: Style, size: int, iters: int) -> Path:
        folder = self.root / f"{style.painting.stem}-{sha8(style.painting)}_style{style.style_size}"
        return folder / f"{photo.stem}_{size}px_{iters}it.json"

    def load(self, path: Path, photo: Path, cfg: GatysConfig) -> dict | None:
        if not path.is_file():
            return None
        entry = json.loads(path.read_text())
        same = entry.get("photo_sha8") == sha8(photo) and entry.get("gatys") == asdict(cfg)
        return entry if same else None

    def save(self, path: Path, photo: Path, cfg: GatysConfig, entry: dict, image: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {**entry, "photo_sha8": sha8(photo), "gatys": asdict(cfg)}
        # Preview only: the distances above were measured on the exact uint8 result, not on this JPEG.
        cv2.imwrite(str(path.with_suffix(".jpg")), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        path.write_text(json.dumps(entry, indent=2) + "\n")


class Meter:
    """Style and content distances of uint8 images, with the VGG features of each photo computed once."""

    def __init__(self, vgg: VGGFeatures):
        self.vgg = vgg

    @torch.no_grad()
    def features(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        return self.vgg(to_tensor(image))

    @torch.no_grad()
    def distances(self, image: np.ndarray, photo_feats: dict[str, torch.Tensor],
                  grams: dict[str, torch.Tensor]) -> dict[str, float]:
        feats = self.features(image)
        return {"style": float(style_distance(feats, grams)), "content": float(content_distance(feats, photo_feats))}


def mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def gap_closure(rows: list[dict], score: Callable[[dict], float]) -> float | None:
    """(score(photo) - score(net)) / (score(photo) - score(gatys)), means over the photos that have Gatys."""
    rows = [r for r in rows if "gatys" in r]
    if not rows:
        return None
    photo, net, ref = (mean([score(r[k]) for r in rows]) for k in ("photo", "net", "gatys"))
    return (photo - net) / (photo - ref) if photo > ref else None


@dataclass
class Images:
    """What the contact sheet shows: eval photos, each style's network outputs, the paintings."""
    photos: list[np.ndarray]
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    paintings: dict[str, np.ndarray] = field(default_factory=dict)


def evaluate(cfg: QualityConfig, stylize: StylizeFn, log: Callable[[str], None] = print) -> tuple[dict, Images]:
    """All measurements as a JSON-ready dict, and the images for the contact sheet."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    photo_paths = sorted(cfg.photos.glob("*.jpg"))
    if not photo_paths:
        raise FileNotFoundError(f"no eval photos in {cfg.photos}")
    styles = resolve_styles(cfg.styles, cfg.paintings)
    gatys_idx = set(spread(len(photo_paths), cfg.gatys_photos)) if cfg.gatys else set()
    cache = GatysCache(cfg.gatys_cache)
    meter = Meter(VGGFeatures(cfg.vgg))
    images = Images([resize_long(read_rgb(p), cfg.size) for p in photo_paths])
    photo_feats = [meter.features(p) for p in images.photos]
    report: dict = {
        "config": {k: relative(v) if k in ("vgg", "out", "gatys_cache", "photos", "paintings") else v
                   for k, v in asdict(cfg).items()},
        "gatys_photos": [photo_paths[i].name for i in sorted(gatys_idx)],
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "styles": {},
    }
    for style in styles:
        painting = read_rgb(style.painting)
        images.paintings[style.name] = painting
        grams = style_grams(meter.vgg, resize_long(painting, style.style_size))
        gatys_cfg = GatysConfig(cfg.gatys_iters, style.content_weight, style.style_weight)
        rows, outputs, net_seconds = [], [], 0.0
        for i, (path, photo, feats) in enumerate(zip(photo_paths, images.photos, photo_feats)):
            t = time.perf_counter()
            styled = stylize(photo, style)
            net_seconds += time.perf_counter() - t
            outputs.append(styled)
            row = {"name": path.name, "photo": meter.distances(photo, feats, grams),
                   "net": meter.distances(styled, feats, grams)}
            if i in gatys_idx:
                row["gatys"] = cached_gatys(meter, cache, path, photo, feats, style, grams, cfg.size, gatys_cfg, log)
            rows.append(row)
        images.outputs[style.name] = outputs
        summary = summarise(rows, gatys_cfg)
        summary["net_seconds_per_photo"] = round(net_seconds / len(rows), 3)
        training = style.card.get("training", {})
        report["styles"][style.name] = {"label": style.label, "painting": style.painting.name,
                                        "model": {"steps": training.get("steps"),
                                                  "steady_steps": sum(tune["settings"]["steps"] for tune
                                                                      in style.card.get("fine_tunes", [])),
                                                  "training_seconds": style.card.get("training_seconds"),
                                                  "provisional": style.card.get("provisional")},
                                        "style_size": style.style_size, "gatys": asdict(gatys_cfg),
                                        "summary": summary, "photos": rows}
        closure = summary["gap_closure"]
        log(f"{style.label}: d_style photo {summary['all']['photo']['style']:.3f} "
            f"net {summary['all']['net']['style']:.3f}"
            + (f", gap closure {closure:.0%} on {len(gatys_idx)} photos" if closure is not None else ""))
    return report, images


def summarise(rows: list[dict], weights: GatysConfig) -> dict:
    def means(subset: list[dict], kinds: tuple[str, ...]) -> dict:
        return {k: {d: mean([r[k][d] for r in subset]) for d in ("style", "content")} for k in kinds}

    with_gatys = [r for r in rows if "gatys" in r]
    return {
        "all": means(rows, ("photo", "net")),
        "gatys_photos": means(with_gatys, ("photo", "net", "gatys")) if with_gatys else None,
        "gap_closure": gap_closure(rows, lambda d: d["style"]),
        # The same on the whole training objective: a network that buys style distance with far more
        # content loss than Gatys pays shows up here, not in the style-only closure.
        "objective_closure": gap_closure(
            rows, lambda d: weights.content_weight * d["content"] + weights.style_weight * d["style"]),
        "gatys_seconds_mean": mean([r["gatys"]["seconds"] for r in with_gatys]),
        "gatys_cpu_seconds_mean": mean([r["gatys"]["cpu_seconds"] for r in with_gatys]),
    }


def cached_gatys(meter: Meter, cache: GatysCache, path: Path, photo: np.ndarray, feats: dict[str, torch.Tensor],
                 style: Style, grams: dict[str, torch.Tensor], size: int, gatys_cfg: GatysConfig,
                 log: Callable[[str], None]) -> dict:
    entry_path = cache.path(path, style, size, gatys_cfg.iters)
    entry = cache.load(entry_path, path, gatys_cfg)
    if entry is None:
        log(f"  gatys {style.name} {path.name}: {gatys_cfg.iters} iterations at {size}px ...")
        cpu = time.process_time()
        result = gatys(meter.vgg, photo, grams, gatys_cfg)
        cpu = time.process_time() - cpu
        # Wall time depends on who else uses the CPU; process CPU time says what the work itself costs.
        entry = {**meter.distances(result.image, feats, grams), "seconds": round(result.seconds, 1),
                 "cpu_seconds": round(cpu, 1),
                 "evaluations": result.evaluations, "objective_start": round(result.losses[0], 5),
                 "objective_end": round(result.losses[-1], 5), "threads": torch.get_num_threads()}
        cache.save(entry_path, path, gatys_cfg, entry, result.image)
        log(f"    {entry['seconds']:.0f}s ({entry['cpu_seconds']:.0f} CPU s), "
            f"d_style {entry['style']:.3f} d_content {entry['content']:.3f}")
    return {k: entry[k] for k in ("style", "content", "seconds", "cpu_seconds", "threads")}


def fit_cell(img: np.ndarray, cell: int, background: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = cell / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((cell, cell, 3), background, np.uint8)
    y, x = (cell - small.shape[0]) // 2, (cell - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def put_label(canvas: np.ndarray, text: str, x: int, y: int, scale: float) -> None:
    """White text on a dark box at baseline (x, y): readable over both bright sky and dark paint.
    (Not a thicker black copy underneath: OpenCV's glyph advance grows with the thickness, so
    the outline drifts right of the text and ghosts its last characters.)"""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(canvas, (x - 2, y - h - 3), (x + w + 2, y + base), (0, 0, 0), -1)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(images: Images, names: list[str], cell: int = 180, gap: int = 4, band: int = 28,
                  background: int = 32) -> np.ndarray:
    """Rows: the paintings, then every photo; columns: the original, then each style's output. RGB uint8."""
    columns = ["original", *images.outputs]
    rows = [[None, *(images.paintings[s] for s in images.outputs)]]
    rows += [[photo, *(images.outputs[s][i] for s in images.outputs)] for i, photo in enumerate(images.photos)]
    step = cell + gap
    sheet = np.full((band + len(rows) * step + gap, len(columns) * step + gap, 3), background, np.uint8)
    for c, name in enumerate(columns):
        put_label(sheet, name, gap + c * step + 4, band - 8, 0.6)
    for r, row in enumerate(rows):
        y = band + r * step
        for c, img in enumerate(row):
            if img is not None:
                sheet[y : y + cell, gap + c * step : gap + c * step + cell] = fit_cell(img, cell, background)
        label = "paintings" if r == 0 else Path(names[r - 1]).stem
        put_label(sheet, label, gap + 4, y + cell - 6, 0.4)
    return sheet


def fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:.0%}" if pct else f"{v:.3f}"


def steady(name: str, model: dict) -> str:
    """The steady fine-tunes a network had after its training (NAME.json, fine_tunes), if any."""
    return f" + {model['steady_steps']} steady fine-tune ({name}.json)" if model.get("steady_steps") else ""


def markdown(report: dict, command: str, description: str) -> str:
    cfg = report["config"]
    lines = [
        "| style | d_style photo | d_style net | d_content net | d_style photo* | d_style net* | d_style Gatys* "
        "| d_content Gatys* | gap closure* | >= 60% | objective closure* |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["styles"].values():
        sm, g = s["summary"], s["summary"]["gatys_photos"] or {}
        closure = sm["gap_closure"]
        lines.append("| " + " | ".join([
            s["label"], fmt(sm["all"]["photo"]["style"]), fmt(sm["all"]["net"]["style"]),
            fmt(sm["all"]["net"]["content"]),
            *(fmt(g[k][d]) if g else "-" for k, d in (("photo", "style"), ("net", "style"), ("gatys", "style"),
                                                       ("gatys", "content"))),
            fmt(closure, pct=True), "-" if closure is None else ("yes" if closure >= ACCEPTANCE else "**no**"),
            fmt(sm["objective_closure"], pct=True),
        ]) + " |")
    table = "\n".join(lines)
    runs = [r["gatys"] for s in report["styles"].values() for r in s["photos"] if "gatys" in r]
    timing = (f"{mean([r['seconds'] for r in runs]):.0f} s wall, {mean([r['cpu_seconds'] for r in runs]):.0f} s CPU "
              f"with {'/'.join(sorted({str(r['threads']) for r in runs}))} torch thread(s)" if runs else "-")
    gatys_note = (
        f"- Gatys (export/gatys.py): L-BFGS from the photo on each style's training objective (the card's content and "
        f"style weights, default 1 and 10; float32, no TV), {cfg['gatys_iters']} iterations at {cfg['size']} px, "
        f"on {len(report['gatys_photos'])} photos spread over the set: {', '.join(report['gatys_photos'])}. "
        f"Cached in `{cfg['gatys_cache']}/`. Mean cost per image when computed: {timing} (the CPU is shared, so wall time varies)."
        if cfg["gatys"] else "- Gatys: not run (--no-gatys).")
    return "\n".join([
        "# Stylisation quality",
        "",
        table,
        "",
        "Lower is better for both distances. d_style: mean over relu1_2, relu2_2, relu3_3, relu4_3 of "
        "||G(x) - G(painting)||² / ||G(painting)||², the painting at the card's training style size (long side). "
        "d_content: ||relu3_3(x) - relu3_3(photo)||² / ||relu3_3(photo)||² (0 for the photo itself). "
        "Columns without * are means over all eval photos; * columns are means over the photos that have a Gatys "
        "result. Gap closure = (d_style photo* - d_style net*) / (d_style photo* - d_style Gatys*); "
        f"acceptance bar {ACCEPTANCE:.0%}. Objective closure: the same ratio on the training objective "
        "content_weight·d_content + style_weight·d_style (informative, no bar).",
        "",
        f"- Networks: {description}."
        + "".join(f" {name}: {s['model']['steps'] or '?'} training steps{steady(name, s['model'])}."
                  for name, s in report["styles"].items()),
        f"- Eval photos: {cfg['photos']}, long side {cfg['size']} px, all images measured as uint8.",
        gatys_note,
        f"- VGG16: {Path(cfg['vgg']).name}; torch {report['torch']}.",
        "- Contact sheet: `contact_sheet.jpg`.",
        f"- Command: `{command}`",
        "",
    ])


def parse_args(argv: list[str] | None = None) -> QualityConfig:
    d = QualityConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--styles", default="", help="comma-separated style names (default: every installed style)")
    p.add_argument("--size", type=int, default=d.size, help="long side of the eval photos (default: %(default)s)")
    p.add_argument("--gatys-iters", type=int, default=d.gatys_iters, help="L-BFGS iterations (default: %(default)s)")
    p.add_argument("--gatys-photos", type=int, default=d.gatys_photos,
                   help="photos per style that get a Gatys reference (default: %(default)s; 18 for all)")
    p.add_argument("--no-gatys", action="store_true", help="skip the Gatys reference (and the gap closure)")
    p.add_argument("--vgg", default=d.vgg, help="VGG16 features weights (default: $RTSTYLE_VGG16 or %(default)s)")
    p.add_argument("--out", type=Path, default=d.out, help="results folder (default: %(default)s)")
    p.add_argument("--gatys-cache", type=Path, default=d.gatys_cache, help="Gatys cache (default: %(default)s)")
    p.add_argument("--photos", type=Path, default=d.photos, help="eval photos folder (default: %(default)s)")
    p.add_argument("--paintings", type=Path, default=d.paintings, help="paintings folder (default: %(default)s)")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="torch threads (default: all cores; 1 is faster when the CPU is oversubscribed)")
    a = p.parse_args(argv)
    styles = tuple(s.strip() for s in a.styles.split(",") if s.strip())
    return QualityConfig(styles, a.size, a.gatys_iters, a.gatys_photos, not a.no_gatys, a.vgg, a.out, a.gatys_cache,
                         a.photos, a.paintings, a.threads)


def main(argv: list[str] | None = None, stylize: StylizeFn | None = None, description: str | None = None) -> int:
    """Run the benchmark; ``stylize`` swaps in another model's outputs (default: the built-in networks)."""
    argv = sys.argv[1:] if argv is None else argv
    cfg = parse_args(argv)
    if stylize is None:
        stylize, description = BuiltinNetworks(), BuiltinNetworks.description
    report, images = evaluate(cfg, stylize)
    cfg.out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python benchmarks/quality.py", *argv])
    md = markdown(report, command, description or getattr(stylize, "description", repr(stylize)))
    print(md)
    (cfg.out / "quality.md").write_text(md)
    (cfg.out / "quality.json").write_text(json.dumps(report, indent=2) + "\n")
    sheet = contact_sheet(images, [r["name"] for r in next(iter(report["styles"].values()))["photos"]])
    sheet_path = cfg.out / "contact_sheet.jpg"
    cv2.imwrite(str(sheet_path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {cfg.out / 'quality.md'}, {cfg.out / 'quality.json'}, {sheet_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
