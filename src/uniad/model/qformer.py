"""Video-LLaMA's video Q-Former: the CMD-AD/TV-AD checkpoint's video mapper.

The published ``CMDAD_TVAD.pt`` maps VideoLLaMA per-frame Q-Former tokens ``(T, 32, F)``
to 32 LLM tokens (shared/data/release_checkpoint/LAYOUT-cmdad-tvad.md, "Video path"):

    Z[t, q] = X[t, q] + P[t]                 frame position table P (at most max_frames)
    M       = Z flattened t-major            (T * 32, F): what the queries attend to
    h       = QFormer(LN_e(query tokens), M) 2 post-LN BERT layers, cross-attention each
    y       = llama_proj(h)                  (32, D)

``h`` is transformers' :class:`Blip2QFormerModel` (its layer norm on ``query_embeds`` is
LN_e), which computes the same function as the release's LAVIS BERT; only the position
add, the query tokens and the projection live here. The attribute names follow the
release's (``video_query_tokens``, ``video_frame_position_embedding``, ``llama_proj``) so
the key mapping in :mod:`uniad.model.release.cmdtv` is a rename of the Q-Former part only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel


def qformer_config(
    width: int, layers: int, heads: int, intermediate: int, eager: bool
) -> Blip2QFormerConfig:
    """The release's video Q-Former: bert-base settings (erf-GELU, LN eps 1e-12, dropout
    0.1, off in eval) at ``width``, a cross-attention in every layer reading width-``width``
    frame tokens, and no text input (so no text FFN: the release deletes it)."""
    config = Blip2QFormerConfig(
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        cross_attention_frequency=1,
        encoder_hidden_size=width,
        use_qformer_text_input=False,
    )
    # The release runs LAVIS' eager BERT attention; eager reproduces it bit for bit (SDPA
    # differs by ~1e-6, LAYOUT-cmdad-tvad.md).
    config._attn_implementation = "eager" if eager else "sdpa"
    return config


class QFormerVideoMapper(nn.Module):
    """Frames' Q-Former tokens ``(N, T, Q, F)`` -> ``(N, num_queries, width)`` LLM tokens."""

    def __init__(
        self,
        feature_dim: int,
        width: int,
        num_queries: int,
        max_frames: int,
        layers: int = 2,
        heads: int = 12,
        intermediate: int = 3072,
        eager: bool = True,
    ) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.max_frames = max_frames
        self.video_query_tokens = nn.Parameter(torch.zeros(1, num_queries, feature_dim))
        nn.init.normal_(self.video_query_tokens, std=0.02)  # BLIP-2's query init
        self.video_frame_position_embedding = nn.Embedding(max_frames, feature_dim)
        self.qformer = Blip2QFormerModel(qformer_config(feature_dim, layers, heads, intermediate, eager))
        self.llama_proj = nn.Linear(feature_dim, width)

    @property
    def num_tokens(self) -> int:
        return self.video_query_tokens.shape[1]

    def forward(self, frames: Tensor, mask: Tensor | None = None) -> Tensor:
        """``frames`` (N, T, Q, F); ``mask`` (N, T) bool, True = a real frame.

        Masked frames are batch padding (:mod:`uniad.model.batch`): they are hidden from the
        cross-attention, so a padded batch gives each clip's tokens as if it ran alone. A
        fully valid batch passes no mask, exactly as the release calls the Q-Former. The
        release's own zero frames (clips shorter than 8, ``linspace_pad``) are real frames
        here as there.
        """
        if frames.dim() != 4 or frames.shape[-1] != self.feature_dim:
            raise ValueError(f"expected features of shape (N, T, Q, F) with F={self.feature_dim}, "
                             f"got {tuple(frames.shape)}")
        n, t, q, _ = frames.shape
        if t > self.max_frames:
            raise ValueError(f"{t} frames exceed the frame position table ({self.max_frames}); "
                             "sample fewer frames or build the mapper with a larger max_frames")
        dtype = self.video_query_tokens.dtype
        positions = self.video_frame_position_embedding.weight[:t]
        tokens = (frames.to(dtype) + positions[None, :, None, :]).reshape(n, t * q, -1)
        frame_mask = None
        if mask is not None and not bool(mask.all()):
            frame_mask = mask.repeat_interleave(q, dim=1).long()
        hidden = self.qformer(
            query_embeds=self.video_query_tokens.expand(n, -1, -1),
            encoder_hidden_states=tokens,
            encoder_attention_mask=frame_mask,
        ).last_hidden_state
        return self.llama_proj(hidden)
