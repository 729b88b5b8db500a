"""Visual mappers: frame features -> a fixed number of tokens in the LLM's embedding space.

The layout mirrors the published UniAD checkpoints (shared/data/release_checkpoint/LAYOUT.md)
attribute for attribute, so a release state dict loads into :class:`VisualMapper` after
stripping DDP's ``module.`` prefix; the character tower's keys need one fixed rename
(``project_img.`` -> ``project.``, ``perceiver_img.`` -> ``perceiver.``).

Computation (REFERENCE.md section 3): frames -> ``project`` -> ``visual_prenorm`` ->
``+ temporal_pos_embed[:T]``; the sequence ``[latent; frames]`` (latents first) goes through
``depth`` pre-LN CLIP-style blocks with full self-attention; the first ``num_latents``
outputs are the tokens. There is no final norm.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from uniad.config import ModelConfig
from uniad.errors import UniADError


class QuickGELU(nn.Module):
    """CLIP's GELU approximation ``x * sigmoid(1.702 x)``; the release's blocks use it."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """One pre-LN block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        # Packed in_proj_weight (3D, D), as in the release; batch_first only changes the
        # call convention, not the parameters.
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, 4 * width)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(4 * width, width)),
                ]
            )
        )

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """A stack of blocks; exists so parameter names read ``encoder.resblocks.{i}``."""

    def __init__(self, width: int, heads: int, depth: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(depth))

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        for block in self.resblocks:
            x = block(x, key_padding_mask)
        return x


class PerceiverResampler(nn.Module):
    """Learned latents that read a variable number of frame tokens (already at ``width``).

    Unlike Flamingo's resampler, latents and frames attend to each other jointly (one
    self-attention over the concatenation), which is what the release computes.
    """

    def __init__(
        self, width: int, num_latents: int, depth: int, head_dim: int = 128, max_frames: int = 58,
        latent_std: float = 1.0,
    ) -> None:
        super().__init__()
        if width % head_dim:
            raise ValueError(f"width {width} is not a multiple of head_dim {head_dim}")
        self.max_frames = max_frames
        self.latent = nn.Parameter(torch.randn(num_latents, width) * latent_std)
        self.temporal_pos_embed = nn.Parameter(torch.randn(max_frames, width) * 0.02)
        self.visual_prenorm = nn.LayerNorm(width)
        self.encoder = Encoder(width, width // head_dim, depth)

    @property
    def num_latents(self) -> int:
        return self.latent.shape[0]

    def forward(self, frames: Tensor, mask: Tensor | None = None) -> Tensor:
        """``frames`` (N, T, D) or (N, T, Q, D); ``mask`` (N, T) bool, True = a real frame.

        Returns (N, num_latents, D). Padded frames (mask False) are hidden from attention,
        so a padded batch gives the same latents as each clip on its own.
        """
        n, t = frames.shape[:2]
        if t > self.max_frames:
            raise ValueError(
                f"{t} frames exceed the temporal position table ({self.max_frames}); "
                "sample fewer frames or build the mapper with a larger max_frames"
            )
        x = self.visual_prenorm(frames)
        if x.dim() == 4:
            # VideoLLaMA-style input: Q query tokens per frame. Every query of a frame gets
            # that frame's position, then the frames' tokens are laid out frame by frame.
            q = x.shape[2]
            x = (x + self.temporal_pos_embed[:t, None, :]).reshape(n, t * q, -1)
            if mask is not None:
                mask = mask.repeat_interleave(q, dim=1)
        else:
            x = x + self.temporal_pos_embed[:t]
        latents = self.latent.expand(n, -1, -1)
        padding = None
        if mask is not None:
            latent_valid = mask.new_ones(n, self.num_latents)
            padding = ~torch.cat([latent_valid, mask], dim=1)
        out = self.encoder(torch.cat([latents, x], dim=1), padding)
        return out[:, : self.num_latents]


def _check_input(
    frames: Tensor, mask: Tensor | None, feature_dim: int, ranks: tuple[int, ...]
) -> None:
    """Reject wrong shapes with a message that says what was expected."""
    if frames.dim() not in ranks or frames.shape[-1] != feature_dim:
        expected = " or ".join({3: "(N, T, F)", 4: "(N, T, Q, F)"}[r] for r in ranks)
        raise ValueError(
            f"expected features of shape {expected} with F={feature_dim}, got {tuple(frames.shape)}"
        )
    if mask is None:
        return
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(frames.shape[:2]):
        raise ValueError(
            f"mask must be a bool tensor of shape {tuple(frames.shape[:2])}, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )


def _init_project(linear: nn.Linear, feature_dim: int) -> nn.Linear:
    """The release's projection init: N(0, F^-1/2) weights, zero bias."""
    nn.init.normal_(linear.weight, std=feature_dim**-0.5)
    nn.init.zeros_(linear.bias)
    return linear


class VisualMapper(nn.Module):
    """``project`` (F -> width) + :class:`PerceiverResampler`: one of the release's towers."""

    def __init__(
        self,
        feature_dim: int,
        width: int,
        num_latents: int,
        depth: int,
        head_dim: int = 128,
        max_frames: int = 58,
        latent_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.project = _init_project(nn.Linear(feature_dim, width), feature_dim)
        self.perceiver = PerceiverResampler(width, num_latents, depth, head_dim, max_frames,
                                            latent_std)

    @property
    def num_tokens(self) -> int:
        return self.perceiver.num_latents

    def forward(self, frames: Tensor, mask: Tensor | None = None) -> Tensor:
        """(N, T, F) or (N, T, Q, F) features + optional (N, T) bool mask -> (N, latents, width)."""
        _check_input(frames, mask, self.feature_dim, (3, 4))
        x = self.project(frames.to(self.project.weight.dtype))
        return self.perceiver(x, mask)


class LinearTokenMapper(nn.Module):
    """Maps each token on its own (F -> width): the CMD/TV character path over Q-Former tokens."""

    def __init__(self, feature_dim: int, width: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.project = _init_project(nn.Linear(feature_dim, width), feature_dim)

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """(N, K, F) -> (N, K, width).

        ``mask`` is accepted so both mapper kinds share one call signature; a per-token map
        cannot leak padding into real tokens, so it needs no masking.
        """
        _check_input(tokens, mask, self.feature_dim, (3,))
        return self.project(tokens.to(self.project.weight.dtype))


def build_mappers(config: ModelConfig, width: int) -> tuple[nn.Module, nn.Module]:
    """(video_mapper, character_mapper) for ``config.mapper`` at the LLM's ``width``.

    ``perceiver`` (MAD): two Perceiver towers, ``num_latents`` video tokens and
    ``num_char_tokens`` tokens per character (each exemplar a T-frame sequence, T=1 on MAD).
    ``qformer`` (CMD-AD/TV-AD, the release): Video-LLaMA's video Q-Former reads the frames'
    Q-Former tokens (N, T, Q, F) (:mod:`uniad.model.qformer`); characters map their Q-Former
    tokens one to one. ``linear``: as ``qformer`` with a Perceiver video tower instead.
    """
    if config.mapper not in ("perceiver", "linear", "qformer"):
        raise UniADError(f"model.mapper='{config.mapper}' is unknown (choose perceiver, linear "
                         "or qformer)")
    if config.mapper == "qformer":
        from uniad.model.qformer import QFormerVideoMapper

        if config.feature_dim % config.qformer_heads:
            raise UniADError(f"model.qformer_heads={config.qformer_heads} does not divide "
                             f"model.feature_dim={config.feature_dim} (the Q-Former's width)")
        video = QFormerVideoMapper(
            config.feature_dim, width, config.num_latents, config.max_frames,
            config.qformer_layers, config.qformer_heads, config.qformer_intermediate,
            eager=config.attention == "eager",
        )
        return video, LinearTokenMapper(config.feature_dim, width)
    if width % config.perceiver_head_dim:
        raise UniADError(
            f"model.perceiver_head_dim={config.perceiver_head_dim} does not divide the LLM "
            f"width {width}; pick a divisor of {width}"
        )
    video = VisualMapper(
        config.feature_dim,
        width,
        config.num_latents,
        config.perceiver_depth,
        config.perceiver_head_dim,
        config.max_frames,
        config.perceiver_latent_std,
    )
    if config.mapper == "linear":
        return video, LinearTokenMapper(config.feature_dim, width)
    character = VisualMapper(
        config.feature_dim,
        width,
        config.num_char_tokens,
        config.perceiver_depth,
        config.perceiver_head_dim,
        config.max_frames,
        config.perceiver_latent_std,
    )
    return video, character
