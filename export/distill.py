"""Train the StyTr² student (rtstyle.models.stytr2_student) for arbitrary styles.

    python -m export.distill --data ../shared/data/content/train --styles ../shared/data/styles \
        --holdout kiss,sunrise --vgg ../shared/weights/vgg16_features.pth --out runs/stytr2

With ``--teacher DIR`` (the official embedding/transformer/decoder_iter_*.pth)
this is distillation: StyTr²'s objective below plus the student's output
matched to the teacher's, in pixels and in VGG features over every layer. No
official weights can be fetched where rtstyle is built, so the shipped student
was trained without a teacher, on StyTr²'s own objective (Deng et al. 2022):

- content: MSE of mean/variance-normalised VGG features (relu3_3, relu4_3);
- style: MSE of the per-channel mean and std over relu1_2..relu4_3, each layer
  divided by the painting's own energy (the Caffe VGG's activations are huge);
- identity 1: pixels of f(c, c) vs c and f(s, s) vs s;
- identity 2: relative feature distance of the same pairs over every layer.

The paintings named in ``--holdout`` are never seen, so their results measure
generalisation. Checkpoints every ``--checkpoint-every`` steps to
OUT/checkpoint.pt; ``--resume`` continues exactly (model, optimiser, step, both
samplers' RNG). Losses go to OUT/losses.csv; OUT/student.pth at the end.
"""
from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from rtstyle.models.stytr2 import StyTr2, find_official, load_official
from rtstyle.models.stytr2_student import STYLE_SIZE, StudentConfig, StyTr2Student

from .train import IMAGE_EXTS, CropSampler, fit_logged, native_bf16, print_now, read_rgb, to_tensor
from .vgg import STYLE_LAYERS, VGGFeatures, relative_sq

CONTENT_LAYERS = ("relu3_3", "relu4_3")
LOSS_NAMES = ("loss", "content", "style", "id1", "id2")
TEACHER_LOSS_NAMES = ("teacher_out", "teacher_feat")


@dataclass
class DistillConfig:
    data: str
    styles: str
    holdout: tuple[str, ...] = ("kiss", "sunrise")
    vgg: str | None = None
    out: str = "runs/stytr2"
    steps: int = 2000
    batch: int = 4
    identity_batch: int = 2  # samples per step that also get the two identity losses
    crop: int = 128
    style_short_side: int = 320  # paintings are scaled so; style crops are STYLE_SIZE squares of that
    style_crops: int = 12  # precomputed crops (and VGG statistics) per painting
    content_weight: float = 1.0
    style_weight: float = 5.0
    id1_weight: float = 50.0
    id2_weight: float = 1.0
    lr: float = 5e-4
    warmup: int = 100
    clip: float = 5.0
    bf16: bool = field(default_factory=native_bf16)  # emulated bf16 is ~100x slower (AVX2 CPUs)
    threads: int = 1
    seed: int = 0
    checkpoint_every: int = 100
    snapshot_every: int = 500
    log_every: int = 10
    student: dict = field(default_factory=lambda: StudentConfig().to_dict())
    init: str | None = None  # start from these student weights (a state dict or a distill checkpoint)
    # Distillation proper, when official StyTr² weights exist: a folder with the three official files.
    teacher: str | None = None
    teacher_out_weight: float = 10.0  # pixels of the student vs the teacher's output
    teacher_feat_weight: float = 1.0  # their VGG features over every layer (perceptual matching)


def mean_std(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    f = f.float().flatten(2)
    return f.mean(2), (f.var(2) + eps).sqrt()


def normal(f: torch.Tensor) -> torch.Tensor:
    """Per-channel mean/variance normalisation: StyTr²'s content loss compares structure, not scale."""
    mean, std = mean_std(f)
    return (f.float() - mean[..., None, None]) / std[..., None, None]


def style_stats(feats: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {k: mean_std(feats[k]) for k in STYLE_LAYERS}


def style_loss(feats: dict[str, torch.Tensor], target: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    terms = []
    for k in STYLE_LAYERS:
        mean, std = mean_std(feats[k])
        tm, ts = target[k]
        energy = (tm**2).sum(1) + (ts**2).sum(1)
        terms.append((((mean - tm) ** 2).sum(1) + ((std - ts) ** 2).sum(1)) / energy.clamp_min(1e-12))
    return torch.stack(terms).mean()


def content_loss(feats: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([F.mse_loss(normal(feats[k]), normal(target[k])) for k in CONTENT_LAYERS]).mean()


def feature_identity(feats: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([relative_sq(feats[k], target[k]).mean() for k in STYLE_LAYERS]).mean()


def painting_paths(folder: str | Path, holdout: tuple[str, ...]) -> list[Path]:
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTS and p.stem not in holdout)
    if not paths:
        raise ValueError(f"no training paintings in {folder} (holdout: {', '.join(holdout)})")
    return paths


class StyleBank:
    """Random STYLE_SIZE crops (with flips) of each training painting and the VGG statistics the style
    loss compares against, computed once: a painting's VGG pass at 256 px costs 4 content crops."""

    def __init__(self, paths: list[Path], cfg: DistillConfig, vgg: VGGFeatures):
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.names = [p.stem for p in paths]
        self.crops: list[torch.Tensor] = []
        self.stats: list[dict[str, tuple[torch.Tensor, torch.Tensor]]] = []
        for path in paths:
            img = to_tensor(read_rgb(path))
            h, w = img.shape[-2:]
            s = cfg.style_short_side / min(h, w)
            img = F.interpolate(img, size=(round(h * s), round(w * s)), mode="area")
            for _ in range(cfg.style_crops):
                y = int(torch.randint(img.shape[-2] - STYLE_SIZE + 1, (1,), generator=gen))
                x = int(torch.randint(img.shape[-1] - STYLE_SIZE + 1, (1,), generator=gen))
                crop = img[..., y : y + STYLE_SIZE, x : x + STYLE_SIZE]
                if torch.rand(1, generator=gen) < 0.5:
                    crop = crop.flip(-1)
                self.crops.append(crop)
                with torch.no_grad():
                    self.stats.append(style_stats(vgg(crop)))
        self.gen = torch.Generator().manual_seed(cfg.seed + 2)

    def batch(self, n: int) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        idx = torch.randint(len(self.crops), (n,), generator=self.gen).tolist()
        stats = {k: tuple(torch.cat([self.stats[i][k][j] for i in idx]) for j in (0, 1)) for k in STYLE_LAYERS}
        return torch.cat([self.crops[i] for i in idx]), stats


class Distiller:
    def __init__(self, cfg: DistillConfig):
        self.cfg = cfg
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.dir = Path(cfg.out)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.net = StyTr2Student(StudentConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                  for k, v in cfg.student.items()}))
        if cfg.init:
            state = torch.load(cfg.init, map_location="cpu", weights_only=True)
            self.net.load_state_dict(state.get("model", state))
        self.vgg = VGGFeatures(cfg.vgg)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.content = CropSampler(cfg.data, cfg.crop, cfg.seed)
        self.bank = StyleBank(painting_paths(cfg.styles, cfg.holdout), cfg, self.vgg)
        self.teacher = load_official(StyTr2(), *find_official(cfg.teacher)).eval() if cfg.teacher else None
        self.loss_names = LOSS_NAMES + (TEACHER_LOSS_NAMES if self.teacher else ())
        self.step = 0
        self.started = time.perf_counter()
        self.elapsed_before = 0.0

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def save_checkpoint(self) -> None:
        state = {"model": self.net.state_dict(), "optim": self.opt.state_dict(), "step": self.step,
                 "content_rng": self.content.gen.get_state(), "style_rng": self.bank.gen.get_state(),
                 "torch_rng": torch.get_rng_state(), "elapsed": self.elapsed(), "config": asdict(self.cfg)}
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.checkpoint_path)  # atomic: a kill mid-save keeps the last good checkpoint

    def load_checkpoint(self) -> None:
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])
        self.step = state["step"]
        self.content.gen.set_state(state["content_rng"])
        self.bank.gen.set_state(state["style_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.elapsed_before = state["elapsed"]
        self.started = time.perf_counter()

    def losses(self, content: torch.Tensor, style: torch.Tensor,
               style_target: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
        cfg, n, k = self.cfg, content.shape[0], self.cfg.identity_batch
        # Identity pairs: the photo as its own style, and a centre crop of the painting as its own content.
        c_id = content[:k]
        s_id = style[:k, :, STYLE_SIZE // 4 : STYLE_SIZE // 4 + cfg.crop, STYLE_SIZE // 4 : STYLE_SIZE // 4 + cfg.crop]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            tokens = torch.cat([self.net.encode_style(style), self.net.encode_style(c_id), self.net.encode_style(s_id)])
            frames = torch.cat([content, c_id, s_id])
            out = self.net(frames, tokens)
            feats = self.vgg(out)
            with torch.no_grad():
                target = self.vgg(torch.cat([content, s_id]))
        ics = {key: v[:n] for key, v in feats.items()}
        ident = {key: v[n:] for key, v in feats.items()}
        ident_target = {key: torch.cat([v[:k], v[n:]]) for key, v in target.items()}
        parts = {
            "content": content_loss(ics, {key: v[:n] for key, v in target.items()}),
            "style": style_loss(ics, style_target),
            "id1": F.mse_loss(out[n:].float(), torch.cat([c_id, s_id])),
            "id2": feature_identity(ident, ident_target),
        }
        parts["loss"] = (cfg.content_weight * parts["content"] + cfg.style_weight * parts["style"]
                         + cfg.id1_weight * parts["id1"] + cfg.id2_weight * parts["id2"])
        if self.teacher is not None:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                taught = self.teacher(content, style).float()
                taught_feats = self.vgg(taught)
            parts["teacher_out"] = F.mse_loss(out[:n].float(), taught)
            parts["teacher_feat"] = feature_identity(ics, taught_feats)
            parts["loss"] = (parts["loss"] + cfg.teacher_out_weight * parts["teacher_out"]
                             + cfg.teacher_feat_weight * parts["teacher_feat"])
        return parts

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        self.net.train()
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (self.step + 1) / cfg.warmup)
        style, target = self.bank.batch(cfg.batch)
        parts = self.losses(self.content.batch(cfg.batch), style, target)
        self.opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        norm = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.clip))
        if math.isfinite(norm):
            self.opt.step()
        self.step += 1
        return {key: float(v.detach()) for key, v in parts.items()}

    def fit(self, log: Callable[[str], None] = print_now) -> None:
        fit_logged(self, self.loss_names, "student", log)
        torch.save(self.net.state_dict(), self.dir / "student.pth")


def parse_args(argv: list[str] | None = None) -> tuple[DistillConfig, bool]:
    p = argparse.ArgumentParser(prog="python -m export.distill", description="Train the StyTr² student.")
    d = DistillConfig("", "")
    p.add_argument("--data", required=True, help="folder of content photos")
    p.add_argument("--styles", required=True, help="folder of paintings")
    p.add_argument("--holdout", default=",".join(d.holdout), help="painting stems never trained on (comma list)")
    p.add_argument("--vgg", default=None, help="VGG16 features state dict (default: $RTSTYLE_VGG16)")
    p.add_argument("--out", default=d.out)
    p.add_argument("--init", default=None, help="start from these student weights (state dict or checkpoint)")
    p.add_argument("--teacher", default=None,
                   help="folder with official StyTr² embedding/transformer/decoder_iter_*.pth: distil from it")
    for name in ("steps", "batch", "identity_batch", "crop", "style_short_side", "style_crops", "warmup",
                 "threads", "seed", "checkpoint_every", "snapshot_every", "log_every"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("content_weight", "style_weight", "id1_weight", "id2_weight", "lr", "clip", "teacher_out_weight",
                 "teacher_feat_weight"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=d.bf16,
                   help=f"bfloat16 autocast (default here: {'on' if d.bf16 else 'off'}, on where the CPU has native bf16)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    a = p.parse_args(argv)
    fields = {k: v for k, v in vars(a).items() if k != "resume"}
    fields["holdout"] = tuple(s for s in a.holdout.split(",") if s)
    if a.identity_batch > a.batch:
        p.error("--identity-batch cannot exceed --batch")
    if a.crop % 128 or a.crop > STYLE_SIZE:
        p.error(f"--crop must be 128 or {STYLE_SIZE}: photos and painting crops are encoded as styles too")
    return DistillConfig(**fields), a.resume


def main(argv: list[str] | None = None) -> int:
    cfg, resume = parse_args(argv)
    distiller = Distiller(cfg)
    if resume and distiller.checkpoint_path.exists():
        distiller.load_checkpoint()
        print(f"resumed at step {distiller.step}", flush=True)
    print(f"training paintings: {', '.join(distiller.bank.names)}; held out: {', '.join(cfg.holdout)}", flush=True)
    distiller.fit()
    print(f"wrote {distiller.dir / 'student.pth'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
