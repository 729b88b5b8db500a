"""``--describer vlm:PATH``: a local Hugging Face vision-language model as the describer.

Any folder ``AutoModelForImageTextToText`` and ``AutoProcessor`` load (Qwen2-VL,
Qwen2.5-VL, Idefics3, SmolVLM, LLaVA, LLaVA-OneVision...) works: the prompt goes through
the processor's own chat template with the frames and portraits as ``{"type": "image"}``
parts, so each model gets its own image tokens. Greedy decoding, capped at about two
tokens per word of the slot's budget; the pipeline re-asks or cuts what runs over.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from uniad.errors import UniADError
from uniad.narrate.describe.prompt import Part, TOKENS_PER_WORD
from uniad.narrate.describe.prompted import PromptedDescriber


def check_vlm_folder(path: str | Path) -> None:
    """A ``vlm:`` folder must hold a model (``config.json``; nothing is downloaded)."""
    if not (Path(path) / "config.json").is_file():
        raise UniADError(f"--describer vlm:{path}: not a model folder (no config.json); give a "
                         "local copy of an image-text-to-text model, e.g. Qwen2.5-VL-3B-Instruct")


def load_vlm(path: str | Path, device: str = "cpu"):
    """Model and processor from a local folder (nothing is downloaded)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = Path(path)
    check_vlm_folder(folder)
    try:
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        # dtype "auto": the checkpoint's own precision (bf16 for current VLMs), not float32.
        model = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True,
                                                            dtype="auto")
    except ImportError as exc:
        # transformers 5 builds the video processor of Qwen2-VL/Qwen2.5-VL and SmolVLM
        # with torchvision, which the default install leaves out (it pulls a CUDA torch).
        raise UniADError(f"--describer vlm:{path}: its processor needs a package that is not "
                         f"installed ({exc}); for torchvision install the build matching your "
                         "torch (e.g. pip install torchvision --index-url "
                         "https://download.pytorch.org/whl/cpu), or serve the model with vLLM "
                         "and use --describer openai:URL") from exc
    except (OSError, ValueError) as exc:
        raise UniADError(f"--describer vlm:{path}: cannot load it as an image-text-to-text "
                         f"model ({exc})") from exc
    return model.to(device).eval(), processor


class VLMDescriber(PromptedDescriber):
    """Describe slots with a local model (``model``/``processor``, or loaded from ``path``)."""

    kind = "vlm"

    def __init__(self, path: str | Path | None, video, *, model=None, processor=None,
                 device: str = "cpu", **kwargs) -> None:
        super().__init__(video, **kwargs)
        if model is None or processor is None:
            model, processor = load_vlm(path, device)
        self.model, self.processor = model, processor

    def messages(self, system: str, parts: list[Part]) -> list[dict]:
        user = [{"type": "image", "image": p.image} if p.image is not None
                else {"type": "text", "text": p.text} for p in parts]
        return [{"role": "system", "content": [{"type": "text", "text": system}]},
                {"role": "user", "content": user}]

    @torch.inference_mode()
    def answer(self, system: str, parts: list[Part], max_words: int) -> str:
        inputs = self.processor.apply_chat_template(
            self.messages(system, parts), add_generation_prompt=True, tokenize=True,
            return_dict=True, return_tensors="pt").to(self.model.device)
        out = self.model.generate(**inputs, do_sample=False,
                                  max_new_tokens=max(4, math.ceil(max_words * TOKENS_PER_WORD)))
        new = out[0, inputs["input_ids"].shape[1]:]
        return self.processor.decode(new, skip_special_tokens=True)
