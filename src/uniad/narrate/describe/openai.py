"""``--describer openai:URL``: an OpenAI-compatible chat endpoint as the describer.

vLLM (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct``), llama.cpp's ``llama-server``, Ollama and
hosted services all speak ``POST {URL}/chat/completions`` with the user content as a list
of ``{"type": "text"}`` and ``{"type": "image_url"}`` parts; frames and portraits travel
as base64 JPEG data URLs, so the server needs no access to our files.

Plain ``requests`` rather than the ``openai`` package: one POST with a JSON body is all we
send, ``requests`` is already installed with transformers, and its errors (connection
refused, timeout) map directly onto messages that name the URL.
"""

from __future__ import annotations

import base64
import io
import math
import os

import requests
from PIL import Image

from uniad.errors import UniADError
from uniad.narrate.describe.prompt import Part, TOKENS_PER_WORD
from uniad.narrate.describe.prompted import PromptedDescriber

MODEL_ENV, KEY_ENV = "UNIAD_OPENAI_MODEL", "OPENAI_API_KEY"


def model_name(base_url: str, model: str | None) -> str:
    """The model name to send: ``model``, else ``$UNIAD_OPENAI_MODEL``; none is refused
    (before the film is decoded: :func:`~uniad.narrate.describe.choose.check_describer`)."""
    found = model or os.environ.get(MODEL_ENV)
    if not found:
        raise UniADError(f"--describer openai:{base_url} needs a model name: pass "
                         f"--describer-model or set {MODEL_ENV} (e.g. "
                         "Qwen/Qwen2.5-VL-7B-Instruct, what the server serves)")
    return found


def data_url(image: Image.Image, quality: int = 85) -> str:
    """An image as a ``data:image/jpeg;base64,...`` URL."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def content(parts: list[Part]) -> list[dict]:
    """The user message's ``content`` list in the OpenAI chat format."""
    return [{"type": "image_url", "image_url": {"url": data_url(p.image)}}
            if p.image is not None else {"type": "text", "text": p.text} for p in parts]


class OpenAIDescriber(PromptedDescriber):
    """Describe slots by asking ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``).

    ``model`` defaults to ``$UNIAD_OPENAI_MODEL``, ``api_key`` to ``$OPENAI_API_KEY``
    (local servers accept none); other keyword arguments go to :class:`PromptedDescriber`.
    """

    kind = "openai"

    def __init__(self, base_url: str, video, *, model: str | None = None,
                 api_key: str | None = None, timeout: float = 120.0, **kwargs) -> None:
        super().__init__(video, **kwargs)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model_name(base_url, model)
        self.api_key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        self.timeout = timeout
        self.session = requests.Session()

    def answer(self, system: str, parts: list[Part], max_words: int) -> str:
        body = {"model": self.model, "temperature": 0.0,
                "max_tokens": max(8, math.ceil(max_words * TOKENS_PER_WORD)),
                "messages": [{"role": "system", "content": system},
                             {"role": "user", "content": content(parts)}]}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            reply = self.session.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise UniADError(f"describer server {self.url} unreachable ({exc.__class__.__name__}: "
                             f"{exc}); is it running?") from exc
        if reply.status_code != 200:
            raise UniADError(f"describer server {self.url} answered HTTP {reply.status_code}: "
                             f"{reply.text[:300]}")
        try:
            return reply.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UniADError(f"describer server {self.url}: not an OpenAI chat completion "
                             f"({reply.text[:200]!r})") from exc
