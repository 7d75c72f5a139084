"""The full StyTr², its official-checkpoint loader, the student, its losses and its trainer."""
from __future__ import annotations

import math

import pytest
import torch

from export.distill import DistillConfig, Distiller, content_loss, style_loss
from export.flops import student_flops, teacher_flops
from export.train import read_rgb, resize_long, to_tensor
from rtstyle.models.stytr2 import StyTr2, find_official, load_official
from rtstyle.models.stytr2_student import StyTr2Student

D, FFN = 512, 2048


def official_state_dicts() -> dict[str, dict[str, tuple[int, ...]]]:
    """Key names and shapes of the official checkpoints, written out from the official code
    (models/StyTR.py: PatchEmbed and the ``decoder`` Sequential; models/transformer.py)."""
    attn = {"in_proj_weight": (3 * D, D), "in_proj_bias": (3 * D,), "out_proj.weight": (D, D), "out_proj.bias": (D,)}
    ffn = {"linear1.weight": (FFN, D), "linear1.bias": (FFN,), "linear2.weight": (D, FFN), "linear2.bias": (D,)}
    transformer: dict[str, tuple[int, ...]] = {"new_ps.weight": (D, D, 1, 1), "new_ps.bias": (D,),
                                               "decoder.norm.weight": (D,), "decoder.norm.bias": (D,)}
    for i in range(3):
        for enc in ("encoder_c", "encoder_s"):
            p = f"{enc}.layers.{i}."
            transformer.update({p + "self_attn." + k: v for k, v in attn.items()})
            transformer.update({p + k: v for k, v in ffn.items()})
            transformer.update({f"{p}norm{j}.{w}": (D,) for j in (1, 2) for w in ("weight", "bias")})
        p = f"decoder.layers.{i}."
        for block in ("self_attn", "multihead_attn"):
            transformer.update({f"{p}{block}.{k}": v for k, v in attn.items()})
        transformer.update({p + k: v for k, v in ffn.items()})
        transformer.update({f"{p}norm{j}.{w}": (D,) for j in (1, 2, 3) for w in ("weight", "bias")})
    # Indices of the convs in the official decoder Sequential (pads, ReLUs and upsamplings between).
    convs = {1: (512, 256), 5: (256, 256), 8: (256, 256), 11: (256, 256), 14: (256, 128), 18: (128, 128),
             21: (128, 64), 25: (64, 64), 28: (64, 3)}
    decoder: dict[str, tuple[int, ...]] = {}
    for i, (cin, cout) in convs.items():
        decoder.update({f"{i}.weight": (cout, cin, 3, 3), f"{i}.bias": (cout,)})
    return {"embedding": {"proj.weight": (D, 3, 8, 8), "proj.bias": (D,)}, "transformer": transformer,
            "decoder": decoder}


def write_official(folder, prefix: str = "") -> dict[str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)

    def plausible(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """Trained-looking values: unit-gain norms, fan-in-scaled weights, small biases."""
        noise = torch.randn(shape, generator=gen)
        if ".norm" in "." + name and name.endswith("weight"):
            return 1 + 0.1 * noise
        if len(shape) == 1 or name.endswith("bias"):
            return 0.01 * noise
        return noise / (torch.tensor(shape[1:]).prod().float().sqrt())

    states = {part: {prefix + k: plausible(k, shape) for k, shape in keys.items()}
              for part, keys in official_state_dicts().items()}
    for part, state in states.items():
        torch.save(state, folder / f"{part}_iter_160000.pth")
    return states


def official_paths(folder) -> list:
    return [folder / f"{part}_iter_160000.pth" for part in ("embedding", "transformer", "decoder")]


@pytest.fixture(scope="module")
def photo(eval_photos) -> torch.Tensor:
    return to_tensor(resize_long(read_rgb(eval_photos[2]), 96))  # 3:2 or 2:3, not square


@pytest.fixture(scope="module")
def paintings(shared) -> list[torch.Tensor]:
    return [to_tensor(resize_long(read_rgb(shared / f"data/styles/{n}.jpg"), 64)) for n in ("starry", "wave")]


def test_full_model_has_the_official_names_shapes_and_size():
    net = StyTr2()
    expected = official_state_dicts()
    for part, module in (("embedding", net.embedding), ("transformer", net.transformer), ("decoder", net.decode)):
        got = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        assert got == expected[part], part
    assert 35e6 < sum(p.numel() for p in net.parameters()) < 36e6  # the paper's ~35M


@pytest.mark.parametrize("prefix", ["", "module."])
def test_official_checkpoints_load_by_name(tmp_path, prefix, photo, paintings):
    states = write_official(tmp_path, prefix)
    net = load_official(StyTr2(), *official_paths(tmp_path)).eval()
    assert torch.equal(net.transformer.decoder.layers[2].multihead_attn.in_proj_weight,
                       states["transformer"][prefix + "decoder.layers.2.multihead_attn.in_proj_weight"])
    assert torch.equal(net.decode[28].weight, states["decoder"][prefix + "28.weight"])
    with torch.no_grad():
        a, b = (net(photo, p) for p in paintings)  # a painting of another size and aspect than the photo
    assert a.shape == photo.shape and torch.isfinite(a).all()
    assert (a - b).abs().mean() > 1e-4  # the style reaches the output


def test_a_wrong_checkpoint_is_a_clear_error(tmp_path):
    write_official(tmp_path)
    emb, trans, dec = official_paths(tmp_path)
    with pytest.raises(ValueError, match="is not a StyTr² decoder checkpoint"):
        load_official(StyTr2(), emb, trans, trans)  # the transformer file given as the decoder
    with pytest.raises(FileNotFoundError):
        load_official(StyTr2(), emb, trans, tmp_path / "missing.pth")


def test_student_is_over_ten_times_cheaper_per_frame():
    teacher, student = teacher_flops(480, 640), student_flops(480, 640)
    assert 850e9 < teacher["total"] < 1000e9  # ~460 GMAC at 640x480 with a 512 px painting
    assert teacher["frame"] / student["frame"] >= 10
    # The same count reproduces the paper's figure: ~61 GMAC at 256x256.
    assert abs(teacher_flops(256, 256, 256)["total"] / 2 - 61e9) < 3e9


def test_student_keeps_any_frame_size_and_uses_the_style(photo, shared):
    net = StyTr2Student().eval()
    style = to_tensor(read_rgb(shared / "data/styles/kiss.jpg"))[..., :256, :256]
    tokens = net.encode_style(style)
    assert tokens.shape == (1, 256, 64)
    with torch.no_grad():
        odd = photo[..., :61, :83]
        out = net(odd, tokens)
        other = net(odd, net.encode_style(torch.flip(style, (1,))))
    assert out.shape == odd.shape and 0 <= out.min() and out.max() <= 1
    assert (out - other).abs().mean() > 1e-4
    with pytest.raises(ValueError, match="multiples of 128"):
        net.encode_style(style[..., :200, :200])


def test_distill_losses_and_resume_exactly(tmp_path, shared):
    cfg = DistillConfig(data=str(shared / "data/content/eval"), styles=str(shared / "data/styles"),
                        holdout=("composition", "kiss", "scream", "seurat", "shipwreck", "sunrise", "temeraire",
                                 "udnie"),
                        vgg=str(shared / "weights/vgg16_features.pth"), out=str(tmp_path / "a"), steps=3, batch=2,
                        identity_batch=1, crop=128, style_crops=1, log_every=1, checkpoint_every=2,
                        snapshot_every=100, warmup=1)
    straight = Distiller(cfg)
    assert straight.bank.names == ["starry", "wave"]  # the held-out paintings never enter training
    # The losses: zero against themselves, and the content loss ignores a per-channel rescaling.
    rng = straight.bank.gen.get_state()
    style, target = straight.bank.batch(1)
    straight.bank.gen.set_state(rng)  # the comparison below needs the same batches
    feats = straight.vgg(style)
    assert float(style_loss(feats, target)) < 1e-6
    scaled = {k: v * 3.0 + 1.0 for k, v in feats.items()}
    assert float(content_loss(scaled, feats)) < 1e-4
    assert float(style_loss(scaled, target)) > 0.1
    straight.fit(log=lambda *a, **k: None)

    first = Distiller(DistillConfig(**{**cfg.__dict__, "out": str(tmp_path / "b"), "steps": 2}))
    first.fit(log=lambda *a, **k: None)
    resumed = Distiller(DistillConfig(**{**cfg.__dict__, "out": str(tmp_path / "b")}))
    resumed.load_checkpoint()
    assert resumed.step == 2
    resumed.fit(log=lambda *a, **k: None)
    for k, v in straight.net.state_dict().items():
        assert torch.equal(v, resumed.net.state_dict()[k]), k
    rows = (tmp_path / "b/losses.csv").read_text().splitlines()
    assert rows[0] == "step,loss,content,style,id1,id2,elapsed_s" and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    assert (tmp_path / "b/student.pth").is_file()


def test_distillation_from_official_weights(tmp_path, shared):
    teacher_dir = tmp_path / "official"
    teacher_dir.mkdir()
    write_official(teacher_dir)
    (teacher_dir / "decoder_iter_9.pth").write_bytes((teacher_dir / "decoder_iter_160000.pth").read_bytes())
    assert [p.name for p in find_official(teacher_dir)][2] == "decoder_iter_160000.pth"  # the newest, numerically
    cfg = DistillConfig(data=str(shared / "data/content/eval"), styles=str(shared / "data/styles"),
                        holdout=tuple(p.stem for p in (shared / "data/styles").glob("*.jpg") if p.stem != "wave"),
                        vgg=str(shared / "weights/vgg16_features.pth"), out=str(tmp_path / "run"), steps=2, batch=1,
                        identity_batch=1, style_crops=1, log_every=1, teacher=str(teacher_dir))
    distiller = Distiller(cfg)
    distiller.fit(log=lambda *a, **k: None)
    header, *rows = (tmp_path / "run/losses.csv").read_text().splitlines()
    assert header == "step,loss,content,style,id1,id2,teacher_out,teacher_feat,elapsed_s" and len(rows) == 2
    values = [float(v) for v in rows[-1].split(",")[1:]]
    assert all(math.isfinite(v) for v in values) and values[6] > 0  # the teacher's output is matched
