"""A tiny random image-text-to-text model saved as a folder: the ``vlm:`` plug for tests
and the benchmark, built offline in about a second.

LLaVA (a CLIP vision tower, a projector and a Llama) because its processor has a PIL
image processor (no torchvision) and takes several images per prompt; the tokenizer is
the project's tiny BPE (:mod:`uniad.model.tiny`) with an ``<image>`` token and a plain
chat template. ``AutoModelForImageTextToText``/``AutoProcessor`` load the folder like any
real checkpoint, so the describer under test is the one users run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
)
from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

from uniad.model.tiny import TINY_LLAMA, build_tiny_tokenizer

IMAGE = "<image>"
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}" + IMAGE +
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
IMAGE_SIZE, PATCH = 32, 8


def build_tiny_vlm(folder: str | Path, seed: int = 0) -> Path:
    """Save a random tiny LLaVA and its processor into ``folder``; returns the folder."""
    tokenizer = build_tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE]})
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                              num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH)
    text = LlamaConfig(vocab_size=len(tokenizer), **TINY_LLAMA, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_id=tokenizer.convert_tokens_to_ids(IMAGE),
                         vision_feature_select_strategy="full", vision_feature_layer=-1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
    images = LlavaImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                                    crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    # "full" keeps CLIP's class token: one more feature per image than patches.
    processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=PATCH,
                               vision_feature_select_strategy="full",
                               num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE)
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
