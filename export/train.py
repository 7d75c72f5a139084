"""Train a Johnson per-style network with the perceptual loss.

    python -m export.train --style-image ../shared/data/styles/starry.jpg --name starry \
        --data ../shared/data/content/train --vgg ../shared/weights/vgg16_features.pth

Checkpoints every ``--checkpoint-every`` steps to ``OUT/NAME/checkpoint.pt``;
``--resume`` continues from it exactly (model, optimiser, step and the data
sampler's RNG). Losses go to ``OUT/NAME/losses.csv``. When done: ``NAME.pth``
(state dict), ``NAME.onnx`` (FP16-weight ONNX) and ``NAME.json`` (the card).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from rtstyle.models.johnson import TransformerNet

from .onnx_export import export_onnx
from .paintings import PAINTINGS
from .vgg import STYLE_LAYERS, VGGFeatures, content_distance, gram, style_distance, total_variation

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class TrainConfig:
    style_image: str
    name: str
    data: str
    vgg: str | None = None
    out: str = "runs"
    steps: int = 3000
    batch: int = 4
    crop: int = 128
    style_size: int = 512  # long side of the painting as VGG sees it: sets the brush-stroke scale
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.0
    lr: float = 1e-3
    width: int = 32
    blocks: int = 5
    bf16: bool = False
    channels_last: bool = False
    threads: int = 0  # 0: torch's default (all cores)
    seed: int = 0
    checkpoint_every: int = 200
    snapshot_every: int = 500  # keep the model at these steps too: a late divergence can't erase a good one
    clip_factor: float = 3.0  # clip gradient norms above this multiple of their running mean
    log_every: int = 10
    extra: dict = field(default_factory=dict)


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HWC uint8 RGB -> 1x3xHxW float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def resize_long(img: np.ndarray, long_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)



def native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively here (AVX-512 BF16/AMX); elsewhere it emulates it ~100x slower."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def print_now(message: str) -> None:
    print(message, flush=True)  # background runs log to files: don't hold lines in a buffer


def fit_logged(run, columns: tuple[str, ...], snapshot: str, log: Callable[[str], None] = print_now) -> None:
    """The loop every trainer here shares: step until ``run.cfg.steps``, a CSV log that a resumed
    run continues without duplicated rows, checkpoints, and ``{snapshot}_STEP.pth`` snapshots (a
    late divergence cannot erase a good model).

    ``run`` has ``cfg`` (steps, log_every, checkpoint_every, snapshot_every), ``dir``, ``step``,
    ``net``, ``train_step() -> {loss name: value}``, ``elapsed()`` and ``save_checkpoint()``."""
    cfg = run.cfg
    log_path = run.dir / "losses.csv"
    new_log = not log_path.exists() or run.step == 0
    if not new_log:
        drop_rows_after(log_path, run.step)
    with open(log_path, "w" if new_log else "a", newline="") as f:
        writer = csv.writer(f)
        if new_log:
            writer.writerow(["step", *columns, "elapsed_s"])
        window: list[dict[str, float]] = []
        while run.step < cfg.steps:
            window.append(run.train_step())
            if run.step % cfg.log_every == 0 or run.step == cfg.steps:
                avg = {k: sum(w[k] for w in window) / len(window) for k in columns}
                writer.writerow([run.step, *(f"{avg[k]:.5f}" for k in columns), f"{run.elapsed():.1f}"])
                f.flush()
                log(f"step {run.step}/{cfg.steps} " + " ".join(f"{k} {avg[k]:.4f}" for k in columns)
                    + f" ({run.elapsed():.0f}s)")
                window = []
            if run.step % cfg.checkpoint_every == 0:
                run.save_checkpoint()
            if run.step % cfg.snapshot_every == 0:
                torch.save(run.net.state_dict(), run.dir / f"{snapshot}_{run.step:06d}.pth")
    run.save_checkpoint()

class CropSampler:
    """Random crops with horizontal flips from photos held in memory, driven by one torch.Generator
    whose state is checkpointed, so a resumed run draws the very batches the original would have."""

    def __init__(self, folder: str | Path, crop: int, seed: int):
        paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not paths:
            raise ValueError(f"no images in {folder}")
        self.crop = crop
        self.images = [self._fit(read_rgb(p), crop) for p in paths]
        self.gen = torch.Generator().manual_seed(seed)

    @staticmethod
    def _fit(img: np.ndarray, crop: int) -> np.ndarray:
        h, w = img.shape[:2]
        if min(h, w) < crop:
            s = crop / min(h, w)
            img = cv2.resize(img, (max(crop, round(w * s)), max(crop, round(h * s))), interpolation=cv2.INTER_CUBIC)
        return img

    def batch(self, n: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=self.gen))]
            h, w = img.shape[:2]
            y = int(torch.randint(h - self.crop + 1, (1,), generator=self.gen))
            x = int(torch.randint(w - self.crop + 1, (1,), generator=self.gen))
            patch = img[y : y + self.crop, x : x + self.crop]
            if torch.rand(1, generator=self.gen) < 0.5:
                patch = patch[:, ::-1]
            out.append(to_tensor(patch))
        return torch.cat(out)


def drop_rows_after(log_path: Path, step: int) -> None:
    """A run killed between checkpoints logged steps that the resumed run redoes: drop those rows."""
    with open(log_path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
    if len(kept) != len(rows):
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerows(kept)


class Trainer:
    columns = ("loss", "content", "style", "tv")  # the keys of losses(), logged in this order
    vgg_layers = STYLE_LAYERS  # the loss network's taps

    def __init__(self, cfg: TrainConfig, vgg: VGGFeatures | None = None):
        """``vgg``: an already loaded loss network to share (it is frozen, so sharing is safe)."""
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        if cfg.bf16 and not native_bf16():
            print("warning: --bf16 on a CPU without native bfloat16 (AVX-512 BF16/AMX): emulated, it is"
                  " ~100x slower than float32 here; drop --bf16", file=sys.stderr, flush=True)
        self.dir = Path(cfg.out) / cfg.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.net = self.build_net()
        self.vgg = vgg if vgg is not None else VGGFeatures(cfg.vgg, layers=self.vgg_layers)
        self.fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.net.to(memory_format=self.fmt)
        self.vgg.to(memory_format=self.fmt)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.data = CropSampler(cfg.data, cfg.crop, cfg.seed)
        self.prepare_targets()
        self.step = 0
        self.grad_ema = 0.0  # running mean of gradient norms, for clipping
        self.started = time.perf_counter()
        self.elapsed_before = 0.0  # training seconds spent in earlier (resumed) runs

    def build_net(self) -> torch.nn.Module:
        """The network being trained (the slim distiller chooses among architectures)."""
        return TransformerNet(self.cfg.width, self.cfg.blocks)

    def prepare_targets(self) -> None:
        """What the loss compares with: the painting's Gram matrices."""
        style = to_tensor(resize_long(read_rgb(Path(self.cfg.style_image)), self.cfg.style_size))
        with torch.no_grad():
            self.style_grams = {k: gram(v) for k, v in self.vgg(style).items()}

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        state = {
            "model": self.net.state_dict(),
            "optim": self.opt.state_dict(),
            "step": self.step,
            "grad_ema": self.grad_ema,
            "rng": self.data.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "elapsed": self.elapsed(),
            "config": asdict(self.cfg),
        }
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.checkpoint_path)  # atomic: a kill mid-save never corrupts the last good checkpoint

    def load_checkpoint(self) -> None:
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])
        self.step = state["step"]
        self.grad_ema = state["grad_ema"]
        self.data.gen.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.elapsed_before = state["elapsed"]
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        x = x.contiguous(memory_format=self.fmt)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            y = self.net(x)
            feats_y = self.vgg(y)
            with torch.no_grad():
                feats_x = self.vgg(x)
        # Distances (and Grams inside them) are float32 regardless of autocast.
        content = content_distance(feats_y, feats_x).mean()
        style = style_distance(feats_y, self.style_grams).mean()
        tv = total_variation(y.float())
        total = cfg.content_weight * content + cfg.style_weight * style + cfg.tv_weight * tv
        return {"loss": total, "content": content, "style": style, "tv": tv}

    def train_step(self) -> dict[str, float]:
        self.net.train()
        parts = self.losses(self.data.batch(self.cfg.batch))
        self.opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        # Adaptive clipping: with bf16 and Adam at 1e-3, one outlier batch can throw the network into a
        # flat-output state it never leaves (seen at step ~1200 of the first starry run).
        limit = self.grad_ema * self.cfg.clip_factor if self.grad_ema else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), limit))
        if math.isfinite(norm) and math.isfinite(float(parts["loss"].detach())):
            self.opt.step()
            self.grad_ema = norm if not self.grad_ema else 0.98 * self.grad_ema + 0.02 * min(norm, limit)
        self.step += 1
        return {k: float(v.detach()) for k, v in parts.items()}

    def fit(self, log: Callable[[str], None] = print_now) -> dict[str, float]:
        fit_logged(self, self.columns, "model", log)
        return self.final_losses()

    def final_losses(self, rows: int = 20) -> dict[str, float]:
        """Mean of the last ``rows`` logged rows: a single batch's loss is too noisy to report."""
        with open(self.dir / "losses.csv") as f:
            data = list(csv.DictReader(f))[-rows:]
        return {k: round(sum(float(r[k]) for r in data) / len(data), 5) for k in self.columns}

    def save_net(self) -> tuple[Path, Path]:
        """The trained network as ``NAME.pth`` (state dict) and ``NAME.onnx`` (FP16 weights)."""
        self.net.eval()
        pth = self.dir / f"{self.cfg.name}.pth"
        torch.save(self.net.state_dict(), pth)
        return pth, export_onnx(self.net, self.dir / f"{self.cfg.name}.onnx", fp16_weights=True)

    def write_outputs(self, final: dict[str, float]) -> dict[str, Path]:
        cfg = self.cfg
        pth, onnx_path = self.save_net()
        card = {
            "name": cfg.name,
            **PAINTINGS.get(cfg.name, {"painting": Path(cfg.style_image).stem, "artist": "unknown", "year": ""}),
            "source_file": Path(cfg.style_image).name,
            "architecture": {"type": "johnson", "width": cfg.width, "blocks": cfg.blocks},
            "io": "image: float32 NCHW RGB in [0, 1] -> float32 NCHW RGB in [0, 1]",
            "training": {k: v for k, v in asdict(cfg).items() if k not in ("out", "extra")},
            "training_seconds": round(self.elapsed()),
            "final_losses": final,
        }
        card["training"]["style_image"] = Path(cfg.style_image).name
        card["training"]["data"] = Path(cfg.data).name
        card["training"]["vgg"] = Path(cfg.vgg).name if cfg.vgg else "torchvision IMAGENET1K_V1"
        card_path = self.dir / f"{cfg.name}.json"
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        return {"pth": pth, "onnx": onnx_path, "card": card_path}


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    p = argparse.ArgumentParser(prog="rtstyle train", description="Train a per-style Johnson network.")
    d = TrainConfig("", "", "")
    p.add_argument("--style-image", required=True, help="the painting")
    p.add_argument("--name", required=True, help="style name (lowercase letters, digits, _ and -)")
    p.add_argument("--data", required=True, help="folder of content photos")
    p.add_argument("--vgg", default=None, help="VGG16 features state dict (default: $RTSTYLE_VGG16, else torchvision)")
    p.add_argument("--out", default=d.out, help="runs folder (default: %(default)s)")
    for name in ("steps", "batch", "crop", "style_size", "width", "blocks", "threads", "seed",
                 "checkpoint_every", "snapshot_every", "log_every"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("content_weight", "style_weight", "tv_weight", "lr", "clip_factor"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on CPUs with AVX-512 BF16/AMX)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue from OUT/NAME/checkpoint.pt")
    a = p.parse_args(argv)
    resume = a.resume
    fields = {k: v for k, v in vars(a).items() if k != "resume"}
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", a.name):
        p.error(f"invalid style name {a.name!r}: use lowercase letters, digits, '_' and '-'")
    return TrainConfig(**fields), resume


def main(argv: list[str] | None = None) -> int:
    cfg, resume = parse_args(argv)
    trainer = Trainer(cfg)
    if resume and trainer.checkpoint_path.exists():
        trainer.load_checkpoint()
        print(f"resumed {cfg.name} at step {trainer.step}")
    final = trainer.fit()
    outputs = trainer.write_outputs(final)
    for kind, path in outputs.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
