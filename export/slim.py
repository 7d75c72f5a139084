"""Distil a slim student from a built-in style's full network.

    python -m export.slim --style starry --data ../shared/data/content/train \
        --vgg ../shared/weights/vgg16_features.pth --width 16 --blocks 3 --steps 1500 --threads 1 --bf16

The teacher is the shipped ``rtstyle/styles/NAME.onnx`` (its weights read back
into PyTorch); the student is the same TransformerNet, narrower and/or with
fewer residual blocks. The loss is the student's output against the teacher's
on random content crops (relative squared error: needs no VGG backward, and
the teacher already carries the style) plus a small perceptual term, the
relative distance of early VGG features (relu1_2, relu2_2), that keeps the
strokes' texture crisp where a pixel loss alone would blur them.

``--arch fastnet`` distils the space-to-depth student instead
(rtstyle/models/fastnet.py; files ``NAME.fast.*``, what ``--quality fast`` runs at
full size); ``--arch fastnet-smooth --init runs/NAME.fast/NAME.fast.pth`` then
fine-tunes it with its identity-initialised smoothing conv, best on larger
crops with ``--gram-weight`` (Gram matrices of the student's relu1_2/relu2_2
features against the teacher's: stroke contrast the pixel loss averages away).

``--temporal-weight W`` adds a flicker term: the student run on the crop shifted
by 1-3 px must paint its output on the whole crop, shifted (``shift_error``);
with ``--arch johnson --width 32 --blocks 5 --init TEACHER.pth`` it fine-tunes a
full network toward strokes that stay put when the camera moves. ``--motion camera``
moves the crop as a handheld camera does between a key frame and the frames after it
(a sub-pixel shift up to ``--max-shift``, a roll up to ``--max-roll`` degrees, a zoom
up to ``--max-zoom``; ``camera_error``), both sides resampled bicubically.

Runs, checkpoints (exact resume) and the CSV loss log are those of
export/train.py's Trainer, which this subclasses. When done:
``OUT/NAME/NAME.slim.pth`` and ``NAME.slim.onnx`` (FP16 weights, the student's
shape and distillation settings in the ONNX metadata). Ship the ONNX beside
the teacher as ``rtstyle/styles/NAME.slim.onnx``: the registry finds it there.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F

from rtstyle.engines.torch_eager import state_dict_from_onnx
from rtstyle.models.fastnet import FastNet
from rtstyle.models.johnson import TransformerNet, config_of
from rtstyle.registry import resolve_model

from .train import Trainer
from .vgg import gram, relative_sq

PERCEPTUAL_LAYERS = ("relu1_2", "relu2_2")
SMOOTH_LAYER = "head.3."  # FastNet(smooth=True)'s identity-initialised last conv

# --arch: the student's constructor (width, blocks) and the suffix its files get (NAME.SUFFIX.onnx).
ARCHS: dict[str, tuple[Callable[[int, int], torch.nn.Module], str]] = {
    "johnson": (TransformerNet, "slim"),  # the teacher's layout, narrower (rtstyle/models/johnson.py)
    "fastnet": (FastNet, "fast"),  # space-to-depth body at 1/4 and 1/8 resolution (rtstyle/models/fastnet.py)
    "fastnet-smooth": (partial(FastNet, smooth=True), "fast"),  # + a full-resolution 3x3 conv across the 4x4 blocks
}


@dataclass
class DistillConfig:
    style: str  # a built-in style: the teacher
    data: str
    vgg: str | None = None
    out: str = "runs"
    steps: int = 1500
    batch: int = 4
    crop: int = 128
    arch: str = "johnson"  # a key of ARCHS
    init: str | None = None  # start from these student weights (a NAME.*.pth): fine-tune, e.g. on larger crops
    width: int = 16
    blocks: int = 3
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.1
    gram_weight: float = 0.0  # Gram matrices of the same VGG taps against the teacher's: texture statistics
    temporal_weight: float = 0.0  # the output of a shifted crop against the shifted output: strokes that stay put
    max_shift: int = 3  # the shift, 1..max_shift px per axis: a stride-4 network redraws at all but multiples of 4
    # "shift": whole pixels (no resampling); "camera": a handheld camera's motion between a key frame and the
    # frames after it (sub-pixel shift up to max_shift, roll up to max_roll degrees, zoom up to max_zoom), bicubic.
    motion: str = "shift"
    max_roll: float = 1.5
    max_zoom: float = 0.03
    margin: int = 8  # border pixels left out of the temporal term: a crop's edges are not a frame's
    lr: float = 2e-3
    lr_final: float = 0.05  # cosine decay to this fraction of lr at the last step
    bf16: bool = False
    channels_last: bool = False
    threads: int = 0
    seed: int = 0
    checkpoint_every: int = 100
    snapshot_every: int = 500
    clip_factor: float = 3.0
    log_every: int = 10

    @property
    def name(self) -> str:
        return f"{self.style}.{ARCHS[self.arch][1]}"


def shift_error(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dy: int, dx: int, margin: int) -> torch.Tensor:
    """Flicker under a known motion (after ReCoNet's and Gupta et al.'s synthetic-motion losses,
    with an integer shift so the motion needs no resampling): ``net`` on the crop ``x`` moved by
    (dy, dx) against its output ``y`` on the whole crop moved by the same amount, as relative
    squared error away from the ``margin`` (a crop's edges are not a frame's)."""
    moved = net(x[..., dy:, dx:])
    m = margin
    return relative_sq(moved[..., m:-m, m:-m], y[..., dy + m:-m, dx + m:-m]).mean()


def camera_move(t: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """NCHW ``t`` seen by a camera moved by ``motion`` (2x3, pixel coordinates of the moved view -> t's):
    bicubic, edges mirrored."""
    h, w = t.shape[-2:]
    # affine_grid works in [-1, 1] coordinates (align_corners=False): pixel p -> (2p + 1) / size - 1.
    to_unit = torch.tensor([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]], dtype=torch.float64)
    full = torch.cat([motion.double(), torch.tensor([[0, 0, 1]], dtype=torch.float64)])
    theta = (to_unit @ full @ torch.linalg.inv(to_unit))[:2].float().expand(t.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(t.shape), align_corners=False)
    return F.grid_sample(t.float(), grid, mode="bicubic", padding_mode="reflection", align_corners=False)


def camera_error(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, motion: torch.Tensor, margin: int,
                 fmt: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """``shift_error`` for any small camera motion (``camera_move``): ``net`` on the moved crop against
    its output ``y`` moved the same way. Both are resampled alike, so the target is as crisp as the input."""
    moved = net(camera_move(x, motion).clamp(0, 1).contiguous(memory_format=fmt))
    m = margin
    return relative_sq(moved[..., m:-m, m:-m], camera_move(y, motion)[..., m:-m, m:-m]).mean()


def random_camera(gen: torch.Generator, max_shift: float, max_roll: float, max_zoom: float,
                  size: tuple[int, int]) -> torch.Tensor:
    """A random similarity about the crop's centre: 2x3, pixel coordinates."""
    u = torch.rand(4, generator=gen, dtype=torch.float64) * 2 - 1
    roll, zoom = math.radians(max_roll) * float(u[0]), 1 + max_zoom * float(u[1])
    c, s = zoom * math.cos(roll), zoom * math.sin(roll)
    cx, cy = (size[1] - 1) / 2, (size[0] - 1) / 2
    return torch.tensor([[c, -s, cx - c * cx + s * cy + max_shift * float(u[2])],
                         [s, c, cy - s * cx - c * cy + max_shift * float(u[3])]], dtype=torch.float64)


def load_teacher(style: str) -> tuple[TransformerNet, Path]:
    path = resolve_model(style=style).path
    state = state_dict_from_onnx(path)
    net = TransformerNet(**config_of(state))
    net.load_state_dict(state)
    return net.eval().requires_grad_(False), path


class Distiller(Trainer):
    @property
    def columns(self) -> tuple[str, ...]:
        return (("loss", "pixel", "perceptual") + (("gram",) if self.cfg.gram_weight else ())
                + (("temporal",) if self.cfg.temporal_weight else ()))

    vgg_layers = PERCEPTUAL_LAYERS

    def build_net(self) -> torch.nn.Module:
        net = ARCHS[self.cfg.arch][0](self.cfg.width, self.cfg.blocks)
        if self.cfg.init:
            state = torch.load(self.cfg.init, map_location="cpu", weights_only=True)
            try:
                missing, unexpected = net.load_state_dict(state, strict=False)
            except RuntimeError as e:  # shape mismatches: another width or class
                raise ValueError(f"{self.cfg.init}: weights do not fit --arch {self.cfg.arch}: "
                                 f"{str(e).splitlines()[1].strip()}") from None
            # Only layers that start as the identity may be new (fastnet -> fastnet-smooth).
            if unexpected or any(not k.startswith(SMOOTH_LAYER) for k in missing):
                raise ValueError(f"{self.cfg.init}: weights do not fit --arch {self.cfg.arch} "
                                 f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
        return net

    def prepare_targets(self) -> None:
        # The teacher's output is the target; no painting Gram matrices.
        self.teacher, self.teacher_path = load_teacher(self.cfg.style)
        self.teacher.to(memory_format=self.fmt)

    def lr_at(self, step: int) -> float:
        """Cosine from lr to lr * lr_final: a function of the step alone, so a resumed run follows it exactly."""
        cfg = self.cfg
        t = min(step / max(cfg.steps, 1), 1.0)
        return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * t)))

    def train_step(self) -> dict[str, float]:
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        return super().train_step()

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        x = x.contiguous(memory_format=self.fmt)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            with torch.no_grad():
                target = self.teacher(x)  # eval mode: clamped to [0, 1], what users see
                feats_t = self.vgg(target)
            y = self.net(x)
            feats_y = self.vgg(y) if cfg.perceptual_weight or cfg.gram_weight else {}
        pixel = relative_sq(y, target).mean()
        perceptual = (torch.stack([relative_sq(feats_y[k], feats_t[k]).mean() for k in PERCEPTUAL_LAYERS]).mean()
                      if cfg.perceptual_weight else torch.zeros(()))
        total = cfg.pixel_weight * pixel + cfg.perceptual_weight * perceptual
        parts = {"loss": total, "pixel": pixel, "perceptual": perceptual}
        if cfg.gram_weight:
            # Stroke texture as statistics: a blurred student can match pixels on average but not these.
            parts["gram"] = torch.stack([relative_sq(gram(feats_y[k]), gram(feats_t[k])).mean()
                                         for k in PERCEPTUAL_LAYERS]).mean()
            parts["loss"] = parts["loss"] + cfg.gram_weight * parts["gram"]
        if cfg.temporal_weight:
            parts["temporal"] = self.temporal_term(x, y)
            parts["loss"] = parts["loss"] + cfg.temporal_weight * parts["temporal"]
        return parts

    def temporal_term(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.motion == "camera":
            motion = random_camera(self.data.gen, cfg.max_shift, cfg.max_roll, cfg.max_zoom, tuple(x.shape[-2:]))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                return camera_error(self.net, x, y, motion, cfg.margin, self.fmt)
        dy, dx = (int(v) for v in torch.randint(cfg.max_shift + 1, (2,), generator=self.data.gen))
        if dy == dx == 0:
            dy = 1 + int(torch.randint(cfg.max_shift, (1,), generator=self.data.gen))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            return shift_error(self.net, x.contiguous(memory_format=self.fmt), y, dy, dx, cfg.margin)

    def write_outputs(self, final: dict[str, float]) -> dict[str, Path]:
        cfg = self.cfg
        pth, onnx_path = self.save_net()
        info = {
            "teacher": self.teacher_path.name,
            "teacher_sha256": hashlib.sha256(self.teacher_path.read_bytes()).hexdigest()[:16],
            "architecture": {"type": cfg.arch, "width": cfg.width, "blocks": cfg.blocks},
            "distillation": {k: v for k, v in asdict(cfg).items() if k not in ("out", "vgg", "data", "init")},
            "data": Path(cfg.data).name,
            "training_seconds": round(self.elapsed()),
            "final_losses": final,
        }
        # The card lives inside the ONNX file: a NAME.slim.json beside the styles would register a style.
        model = onnx.load(str(onnx_path))
        entry = model.metadata_props.add()
        entry.key, entry.value = "rtstyle_slim", json.dumps(info)
        onnx.save(model, str(onnx_path))
        card = self.dir / f"{cfg.name}.json"
        card.write_text(json.dumps(info, indent=2) + "\n")
        return {"pth": pth, "onnx": onnx_path, "card": card}


def parse_args(argv: list[str] | None = None) -> tuple[DistillConfig, dict[str, bool]]:
    p = argparse.ArgumentParser(prog="python -m export.slim", description="Distil a slim student of a built-in style.")
    d = DistillConfig("", "")
    p.add_argument("--style", required=True, help="built-in style whose full network is the teacher")
    p.add_argument("--data", required=True, help="folder of content photos")
    p.add_argument("--vgg", default=None, help="VGG16 features state dict (default: $RTSTYLE_VGG16, else torchvision)")
    p.add_argument("--out", default=d.out, help="runs folder (default: %(default)s)")
    p.add_argument("--init", default=None, help="student weights (NAME.*.pth) to start from instead of random")
    p.add_argument("--arch", choices=sorted(ARCHS), default=d.arch,
                   help="student layout: johnson (NAME.slim.*) or fastnet (NAME.fast.*) (default: %(default)s)")
    for name in ("steps", "batch", "crop", "width", "blocks", "threads", "seed", "checkpoint_every",
                 "snapshot_every", "log_every", "max_shift", "margin"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    p.add_argument("--motion", choices=("shift", "camera"), default=d.motion,
                   help="the temporal term's motion: whole-pixel shifts or a handheld camera's (default: %(default)s)")
    for name in ("pixel_weight", "perceptual_weight", "gram_weight", "temporal_weight", "lr", "lr_final", "clip_factor",
                 "max_roll", "max_zoom"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on CPUs with AVX-512 BF16/AMX)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue from OUT/NAME.slim/checkpoint.pt")
    p.add_argument("--export-only", action="store_true",
                   help="write the outputs from the last checkpoint without training further")
    a = p.parse_args(argv)
    flags = {"resume": a.resume, "export_only": a.export_only}
    return DistillConfig(**{k: v for k, v in vars(a).items() if k not in flags}), flags


def main(argv: list[str] | None = None) -> int:
    cfg, flags = parse_args(argv)
    try:
        trainer = Distiller(cfg)
    except (OSError, ValueError) as e:
        raise SystemExit(f"export.slim: error: {e}") from None
    if (flags["resume"] or flags["export_only"]) and trainer.checkpoint_path.exists():
        trainer.load_checkpoint()
        print(f"loaded {cfg.name} at step {trainer.step}")
    elif flags["export_only"]:
        raise SystemExit(f"export.slim: error: no checkpoint at {trainer.checkpoint_path}")
    final = trainer.final_losses() if flags["export_only"] else trainer.fit()
    for kind, path in trainer.write_outputs(final).items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
