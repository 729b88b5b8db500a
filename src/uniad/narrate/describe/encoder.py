"""Visual encoders that turn frames (and cast photos) into the features UniAD reads.

The model only sees ``(T, D)`` arrays, so the encoder is a plug (:class:`VisualEncoder`).
It must be the one the checkpoint was trained on: MAD's features are CLIP ViT-L/14 image
embeddings (D = 768), so the default is Hugging Face's ``CLIPVisionModelWithProjection``
loaded from a folder the user supplies (e.g. a download of ``openai/clip-vit-large-patch14``).
:class:`OpenCLIPEncoder` is an optional plug for open_clip checkpoints; open_clip pulls in
torchvision, so it is not part of the default install (``pip install uniad[openclip]``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from uniad.errors import UniADError
from uniad.model.folder import read_encoder_name

log = logging.getLogger(__name__)

# CLIP ViT-L/14 (the MAD encoder): 24 layers of width 1024, 224 px, 14 px patches -> 768.
VIT_L14 = dict(
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    image_size=224, patch_size=14, projection_dim=768,
)


@runtime_checkable
class VisualEncoder(Protocol):
    """Images to features. ``name`` is recorded in feature stores and checked against the
    checkpoint's, so features from one encoder are never fed to a model trained on another."""

    name: str
    feature_dim: int

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(len(images), feature_dim)`` float32."""
        ...


class CLIPVisionEncoder:
    """CLIP image embeddings (``image_embeds``, after the projection) from transformers.

    ``CLIPImageProcessorPil`` does the resize/crop/normalise: in transformers 5 the plain
    ``CLIPImageProcessor`` is the torchvision-backed fast processor, and torchvision is not
    a dependency of UniAD.

    The name is ``clip:<folder basename>:<width>``, unless the folder records its own (a
    checkpoint's ``visual_encoder/`` copy keeps the name of the folder it was copied from,
    see :func:`uniad.model.folder.write_encoder_copy`).
    """

    def __init__(self, folder: str | Path, device: str = "cpu", batch_size: int = 32) -> None:
        from transformers import CLIPImageProcessorPil, CLIPVisionModelWithProjection

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise UniADError(
                f"{folder}: not a CLIP model folder (no config.json); pass a local copy of "
                "e.g. openai/clip-vit-large-patch14 (no download is attempted)"
            )
        try:
            model = CLIPVisionModelWithProjection.from_pretrained(
                folder, config=_vision_config(folder), local_files_only=True
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise UniADError(f"{folder}: cannot load a CLIP vision model ({exc})") from exc
        if (folder / "preprocessor_config.json").is_file():
            processor = CLIPImageProcessorPil.from_pretrained(folder, local_files_only=True)
        else:
            processor = _processor_for(model.config.image_size)
        name = read_encoder_name(folder) or f"clip:{folder.name}:{model.config.projection_dim}"
        self._setup(model, processor, name, device, batch_size)
        log.info("loaded visual encoder %s from %s", self.name, folder)

    @classmethod
    def from_model(cls, model: Any, processor: Any, name: str, device: str = "cpu",
                   batch_size: int = 32) -> CLIPVisionEncoder:
        """Wrap an already built model (tests and benchmarks use random weights)."""
        encoder = cls.__new__(cls)
        encoder._setup(model, processor, name, device, batch_size)
        return encoder

    def _setup(self, model: Any, processor: Any, name: str, device: str, batch_size: int) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.batch_size = batch_size
        self.name = name
        self.feature_dim = int(model.config.projection_dim)

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        out = np.zeros((len(images), self.feature_dim), dtype=np.float32)
        with torch.no_grad():
            for i in range(0, len(images), self.batch_size):
                batch = [im.convert("RGB") for im in images[i : i + self.batch_size]]
                pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
                embeds = self.model(pixel_values=pixels.to(self.device)).image_embeds
                out[i : i + len(batch)] = embeds.float().cpu().numpy()
        return out


def _vision_config(folder: Path) -> Any:
    """The vision tower's config, also from a full CLIP folder (text + vision, e.g.
    ``openai/clip-vit-large-patch14``): there the projection width is a top-level field,
    and transformers would otherwise build the projection at the vision config's default
    width (512) and refuse the 768-wide ViT-L/14 weights."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    if config.model_type == "clip":
        vision = config.vision_config
        vision.projection_dim = config.projection_dim
        return vision
    return config


def _processor_for(image_size: int) -> Any:
    """CLIP preprocessing (OpenAI mean/std are the class defaults) at ``image_size``."""
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )


def random_clip_encoder(name: str | None = None, **config: Any) -> CLIPVisionEncoder:
    """A randomly initialised CLIP vision encoder built from ``CLIPVisionConfig(**config)``:
    no weights, for tests (tiny configs) and speed benchmarks (``**VIT_L14``)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(**config)
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(cfg)
    return CLIPVisionEncoder.from_model(
        model, _processor_for(cfg.image_size), name or f"clip:random:{cfg.projection_dim}"
    )


RANDOM_PREFIX = "random-clip:"


def random_clip_name(**config: Any) -> str:
    """The name of a random CLIP encoder that holds its own recipe: ``"random-clip:"`` + the
    ``CLIPVisionConfig`` fields as sorted JSON (weights are seed 0). A checkpoint trained on
    such features records this name, so tests and the demo rebuild the same encoder from it
    (:func:`encoder_from_name`) without any weights file."""
    return RANDOM_PREFIX + json.dumps(config, sort_keys=True, separators=(",", ":"))


def encoder_from_name(name: str) -> CLIPVisionEncoder | None:
    """Rebuild the encoder a recorded name describes, or None when the name needs real
    weights (a CLIP folder the user must supply)."""
    if not name.startswith(RANDOM_PREFIX):
        return None
    try:
        config = json.loads(name[len(RANDOM_PREFIX):])
    except json.JSONDecodeError as exc:
        raise UniADError(f"encoder name {name!r}: malformed random-clip recipe ({exc})") from exc
    return random_clip_encoder(name=name, **config)


class OpenCLIPEncoder:
    """open_clip image features (``encode_image``), e.g. ``("ViT-L-14", "/path/weights.bin")``.

    Optional: open_clip depends on torchvision, so it is imported here, on use.
    """

    def __init__(self, model_name: str, pretrained: str | Path, device: str = "cpu",
                 batch_size: int = 32) -> None:
        try:
            import open_clip
        except ImportError as exc:
            raise UniADError(
                "the open_clip encoder needs open_clip_torch (pip install 'uniad[openclip]'), "
                "or use the default transformers CLIP encoder with --encoder <folder>"
            ) from exc
        if not Path(pretrained).is_file():
            raise UniADError(f"{pretrained}: open_clip weights file not found")
        model, _, preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=str(pretrained), device=device
        )
        self.model, self.preprocess = model.eval(), preprocess
        self.device, self.batch_size = device, batch_size
        self.feature_dim = int(model.visual.output_dim)
        self.name = f"open_clip:{model_name}:{self.feature_dim}"

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        chunks = []
        with torch.no_grad():
            for i in range(0, len(images), self.batch_size):
                batch = torch.stack([self.preprocess(im.convert("RGB"))
                                     for im in images[i : i + self.batch_size]])
                chunks.append(self.model.encode_image(batch.to(self.device)).float().cpu().numpy())
        if not chunks:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)


# A CLIP vision tower small enough to encode 30 s at 5 fps in seconds on a laptop CPU.
DEMO_CLIP = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, image_size=64, patch_size=16)


def demo_encoder(recorded: str | None, feature_dim: int) -> VisualEncoder:
    """The random CLIP the checkpoint recorded when it was trained on one, else
    :data:`DEMO_CLIP` projected to ``feature_dim``: what a checkpoint trained on synthetic
    features (``uniad demo``) is narrated with, from the CLI as in the demo."""
    rebuilt = encoder_from_name(recorded) if recorded else None
    if rebuilt is not None:
        return rebuilt
    recipe = {**DEMO_CLIP, "projection_dim": feature_dim}
    return random_clip_encoder(name=random_clip_name(**recipe), **recipe)
