"""A CMD-AD/TV-AD release checkpoint at a tiny width, written from LAYOUT-cmdad-tvad.md by
hand (key names and shapes from the layout's table, not from the code under test).

D = 64 (the tiny LLM), F = 16, 4 queries, 16 frame positions (two clips of 8 frames),
Q-Former heads of 8 and an FFN of 32.
"""

from __future__ import annotations

import pathlib

import torch
from test_release import TINY, Sizes, llm_shapes

FEAT, QUERIES, POSITIONS, HEADS, FFN, QLAYERS = 16, 4, 16, 2, 32, 2
SETTINGS = [f"model.feature_dim={FEAT}", f"model.num_latents={QUERIES}",
            f"model.max_frames={POSITIONS}", f"model.qformer_heads={HEADS}",
            f"model.qformer_intermediate={FFN}"]
Q = "perceiver.video_Qformer.bert."


def layout_shapes(z: Sizes = TINY, feat: int = FEAT, queries: int = QUERIES,
                  positions: int = POSITIONS, ffn: int = FFN) -> dict[str, tuple[int, ...]]:
    """LAYOUT-cmdad-tvad.md's table (without the tied output copies and position_ids)."""
    d, f = z.width, feat
    shapes: dict[str, tuple[int, ...]] = {
        "perceiver.video_query_tokens": (1, queries, f),
        "perceiver.video_frame_position_embedding.weight": (positions, f),
        Q + "embeddings.LayerNorm.weight": (f,), Q + "embeddings.LayerNorm.bias": (f,),
        "perceiver.llama_proj.weight": (d, f), "perceiver.llama_proj.bias": (d,),
        "project_img.weight": (d, f), "project_img.bias": (d,),
    }
    for layer in range(QLAYERS):
        b = f"{Q}encoder.layer.{layer}."
        for att in ("attention", "crossattention"):
            for p in ("query", "key", "value"):
                shapes |= {f"{b}{att}.self.{p}.weight": (f, f), f"{b}{att}.self.{p}.bias": (f,)}
            shapes |= {f"{b}{att}.output.dense.weight": (f, f), f"{b}{att}.output.dense.bias": (f,),
                       f"{b}{att}.output.LayerNorm.weight": (f,),
                       f"{b}{att}.output.LayerNorm.bias": (f,)}
        shapes |= {f"{b}intermediate_query.dense.weight": (ffn, f),
                   f"{b}intermediate_query.dense.bias": (ffn,),
                   f"{b}output_query.dense.weight": (f, ffn), f"{b}output_query.dense.bias": (f,),
                   f"{b}output_query.LayerNorm.weight": (f,), f"{b}output_query.LayerNorm.bias": (f,)}
    shapes |= {f"{kind}_input_token_embedding.weight": (1, d) for kind in ("video", "image", "context")}
    return shapes | llm_shapes(z)


def release_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the layout; LayerNorm/RMSNorm gains near 1, the rest small."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout_shapes().items():
        value = torch.randn(shape, generator=g) * 0.3
        state[key] = value + 1 if key.endswith(("norm.weight", "LayerNorm.weight")) else value
    for kind in ("video", "image", "context"):
        state[f"{kind}_output_token_embedding.weight"] = state[f"{kind}_input_token_embedding.weight"].clone()
    state[Q + "embeddings.position_ids"] = torch.arange(512)[None]
    return state


def save_release(state: dict[str, torch.Tensor], path: pathlib.Path) -> pathlib.Path:
    """As the release's only save code writes it under DDP."""
    torch.save({"epoch": 1, "name": "cmdad_tvad", "optimizer": {"state": {}, "param_groups": []},
                "state_dict": {"module." + k: v for k, v in state.items()}}, path)
    return path


def import_args(ckpt, llm, out, vocab: int, *extra: str) -> list[str]:
    """``uniad import-release --preset tvad`` at the tiny settings."""
    return ["import-release", "--checkpoint", str(ckpt), "--llm", str(llm), "--out", str(out),
            "--preset", "tvad", "--allow-width", "--llm-vocab", str(vocab),
            *[x for s in SETTINGS for x in ("--set", s)], *extra]
