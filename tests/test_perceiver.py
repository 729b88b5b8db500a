"""Visual mappers: the release's parameter layout and formula, masking, shapes, 7B sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from uniad.config import ModelConfig
from uniad.errors import UniADError
from uniad.model.params import count_parameters
from uniad.model.perceiver import LinearTokenMapper, VisualMapper, build_mappers

FEAT, WIDTH, HEAD_DIM, LATENTS, DEPTH, MAX_FRAMES = 12, 32, 8, 5, 2, 10


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture()
def mapper() -> VisualMapper:
    """A small mapper with every weight random, LayerNorms included (not identity)."""
    torch.manual_seed(0)
    m = VisualMapper(FEAT, WIDTH, LATENTS, DEPTH, head_dim=HEAD_DIM, max_frames=MAX_FRAMES)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return m.double()


def layout(d: int, f: int, latents: int, depth: int, frames: int) -> dict[str, tuple[int, ...]]:
    """The key -> shape table of LAYOUT.md (one tower), written out independently."""
    table = {
        "project.weight": (d, f),
        "project.bias": (d,),
        "perceiver.latent": (latents, d),
        "perceiver.temporal_pos_embed": (frames, d),
        "perceiver.visual_prenorm.weight": (d,),
        "perceiver.visual_prenorm.bias": (d,),
    }
    for i in range(depth):
        b = f"perceiver.encoder.resblocks.{i}"
        table |= {
            f"{b}.ln_1.weight": (d,),
            f"{b}.ln_1.bias": (d,),
            f"{b}.attn.in_proj_weight": (3 * d, d),
            f"{b}.attn.in_proj_bias": (3 * d,),
            f"{b}.attn.out_proj.weight": (d, d),
            f"{b}.attn.out_proj.bias": (d,),
            f"{b}.ln_2.weight": (d,),
            f"{b}.ln_2.bias": (d,),
            f"{b}.mlp.c_fc.weight": (4 * d, d),
            f"{b}.mlp.c_fc.bias": (4 * d,),
            f"{b}.mlp.c_proj.weight": (d, 4 * d),
            f"{b}.mlp.c_proj.bias": (d,),
        }
    return table


def reference(
    sd: dict[str, torch.Tensor], frames: torch.Tensor, heads: int, depth: int
) -> torch.Tensor:
    """LAYOUT.md's formula in plain tensor ops, for one unpadded clip (T, F) or (T, Q, F)."""
    x = frames @ sd["project.weight"].T + sd["project.bias"]
    d = x.shape[-1]
    prenorm = sd["perceiver.visual_prenorm.weight"], sd["perceiver.visual_prenorm.bias"]
    x = F.layer_norm(x, (d,), *prenorm)
    pos = sd["perceiver.temporal_pos_embed"][: x.shape[0]]
    x = (x + pos[:, None]).reshape(-1, d) if x.dim() == 3 else x + pos
    latents = sd["perceiver.latent"]
    h = torch.cat([latents, x])
    for i in range(depth):
        p = lambda name: sd[f"perceiver.encoder.resblocks.{i}.{name}"]  # noqa: E731
        y = F.layer_norm(h, (d,), p("ln_1.weight"), p("ln_1.bias"))
        q, k, v = (y @ p("attn.in_proj_weight").T + p("attn.in_proj_bias")).split(d, dim=-1)
        q, k, v = (t.reshape(len(h), heads, d // heads).transpose(0, 1) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(1, 2) / (d // heads) ** 0.5, dim=-1) @ v
        att = att.transpose(0, 1).reshape(len(h), d)
        h = h + att @ p("attn.out_proj.weight").T + p("attn.out_proj.bias")
        y = F.layer_norm(h, (d,), p("ln_2.weight"), p("ln_2.bias"))
        y = y @ p("mlp.c_fc.weight").T + p("mlp.c_fc.bias")
        y = y * torch.sigmoid(1.702 * y)
        h = h + y @ p("mlp.c_proj.weight").T + p("mlp.c_proj.bias")
    return h[: len(latents)]


def test_state_dict_matches_release_layout(mapper: VisualMapper) -> None:
    shapes = {k: tuple(v.shape) for k, v in mapper.state_dict().items()}
    assert shapes == layout(WIDTH, FEAT, LATENTS, DEPTH, MAX_FRAMES)


@pytest.mark.parametrize("queries", [None, 3])
def test_equals_independent_reimplementation(mapper: VisualMapper, queries: int | None) -> None:
    shape = (2, 4, FEAT) if queries is None else (2, 4, queries, FEAT)
    frames = torch.randn(shape, dtype=torch.float64)
    out = mapper(frames)
    assert out.shape == (2, LATENTS, WIDTH)
    sd = mapper.state_dict()
    for n in range(2):
        expected = reference(sd, frames[n], WIDTH // HEAD_DIM, DEPTH)
        torch.testing.assert_close(out[n], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("queries", [None, 2])
@pytest.mark.parametrize("grad", [True, False])  # no-grad eval takes PyTorch's fused attention path
def test_padded_batch_equals_each_clip_alone(
    mapper: VisualMapper, queries: int | None, grad: bool
) -> None:
    mapper = mapper.float().train(grad)
    lengths = [3, 6, 1]
    extra = () if queries is None else (queries,)
    clips = [torch.randn(t, *extra, FEAT) for t in lengths]
    batch = torch.zeros(len(clips), max(lengths), *extra, FEAT)
    batch.normal_()  # padding holds garbage, not zeros: it must not matter
    mask = torch.zeros(len(clips), max(lengths), dtype=torch.bool)
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
        mask[i, : len(clip)] = True
    batch.requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        out = mapper(batch, mask)
        alone = torch.cat([mapper(clip[None]) for clip in clips])
    torch.testing.assert_close(out, alone, atol=1e-5, rtol=1e-5)
    if grad:  # padded frames receive no gradient: nothing flows from them
        out.sum().backward()
        assert batch.grad[~mask].abs().max() == 0
        assert batch.grad[mask].abs().min() > 0


def test_too_many_frames_raises(mapper: VisualMapper) -> None:
    with pytest.raises(ValueError, match=f"{MAX_FRAMES + 1} frames exceed .* \\({MAX_FRAMES}\\)"):
        mapper(torch.randn(1, MAX_FRAMES + 1, FEAT, dtype=torch.float64))


def test_bad_shapes_raise(mapper: VisualMapper) -> None:
    with pytest.raises(ValueError, match="F=12"):
        mapper(torch.randn(1, 3, FEAT + 1))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        mapper(torch.randn(1, 3, FEAT), torch.ones(1, 3))


def test_linear_token_mapper_maps_each_token() -> None:
    m = LinearTokenMapper(FEAT, WIDTH)
    tokens = torch.randn(2, 4, FEAT)
    out = m(tokens)
    assert out.shape == (2, 4, WIDTH)
    # Per-token: mapping one token alone gives the same row.
    torch.testing.assert_close(m(tokens[:, 2:3]), out[:, 2:3])


def test_build_mappers_follow_the_preset() -> None:
    cfg = ModelConfig(
        feature_dim=FEAT, num_latents=4, num_char_tokens=3, perceiver_depth=1, perceiver_head_dim=8
    )
    video, chars = build_mappers(cfg, WIDTH)
    assert video(torch.randn(2, 5, FEAT)).shape == (2, 4, WIDTH)
    assert chars(torch.randn(7, 1, FEAT)).shape == (7, 3, WIDTH)  # one exemplar frame each

    cfg.mapper = "linear"
    video, chars = build_mappers(cfg, WIDTH)
    assert video(torch.randn(2, 5, 6, FEAT)).shape == (2, 4, WIDTH)  # Q-Former tokens per frame
    assert isinstance(chars, LinearTokenMapper)
    assert chars(torch.randn(7, 6, FEAT)).shape == (7, 6, WIDTH)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"mapper": "resampler"}, "model.mapper='resampler'"),
        ({"mapper": "qformer", "qformer_heads": 5}, "model.qformer_heads=5"),
        ({"perceiver_head_dim": 7}, "perceiver_head_dim=7"),
    ],
)
def test_build_mappers_rejects_bad_config(override: dict, message: str) -> None:
    with pytest.raises(UniADError, match=message):
        build_mappers(ModelConfig(feature_dim=FEAT, **override), WIDTH)


def test_projection_init_follows_release() -> None:
    torch.manual_seed(0)
    m = VisualMapper(768, 64, 2, 1, head_dim=32)
    assert m.project.bias.abs().max() == 0
    assert abs(m.project.weight.std().item() - 768**-0.5) < 0.1 * 768**-0.5


def test_latents_start_at_the_release_scale_unless_told() -> None:
    """N(0, 1) latents as the release draws them; perceiver_latent_std scales both towers."""
    torch.manual_seed(0)
    release = build_mappers(ModelConfig(feature_dim=FEAT, num_latents=30, num_char_tokens=30,
                                        perceiver_head_dim=8), 64)
    small = build_mappers(ModelConfig(feature_dim=FEAT, num_latents=30, num_char_tokens=30,
                                      perceiver_head_dim=8, perceiver_latent_std=0.1), 64)
    for mapper in release:
        assert abs(mapper.perceiver.latent.std().item() - 1.0) < 0.1
    for mapper in small:
        assert abs(mapper.perceiver.latent.std().item() - 0.1) < 0.01


def test_mad_towers_at_7b_width_total_812_6_million() -> None:
    cfg = ModelConfig()  # the release's MAD settings
    with torch.device("meta"):
        video, chars = build_mappers(cfg, 4096)
    counts = [count_parameters(m)["total"] for m in (video, chars)]
    per_tower = sum(torch.Size(s).numel() for s in layout(4096, 768, 30, 2, 58).values())
    assert counts == [per_tower, per_tower]
    assert round(sum(counts) / 1e6, 1) == 812.6  # REFERENCE.md section 3
