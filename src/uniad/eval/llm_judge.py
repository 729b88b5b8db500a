"""LLM-AD-eval (AutoAD-III): an LLM rates each predicted AD against its reference, 0-5.

Unlike the release (sampled answers, unseeded; unparsable answers silently scored 0),
decoding here is greedy (temperature 0) so scores are reproducible, an unparsable answer
is re-asked with a stricter instruction up to ``retries`` times and then *counted* as
unparsed (left out of the mean and reported), and an unreachable server stops the run
with an error instead of yielding a partial mean. Two backends: an OpenAI-compatible
``/v1/chat/completions`` endpoint and a local causal LM (transformers).
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Protocol

from uniad.errors import UniADError

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are an intelligent chatbot designed for evaluating the quality of audio "
    "descriptions (AD) of movie scenes. Compare the predicted AD with the correct AD and "
    "judge how well the prediction matches it. Focus on the actions, the objects and the "
    "interactions between characters. A pronoun or a different name for the same "
    "character counts as a match. Rate the match with an integer from 0 (no match) to 5 "
    "(perfect match)."
)
USER_TEMPLATE = (
    "Correct AD: {reference}\n"
    "Predicted AD: {prediction}\n"
    "Give your rating as a Python dictionary string with the key 'score', for example "
    "{{'score': 3}}. Reply with the dictionary only, no explanation."
)
STRICT_SUFFIX = (
    "\nYour previous reply could not be read. Reply with exactly {'score': N}, "
    "N an integer from 0 to 5, and nothing else."
)
WEAK_JUDGE_NOTE = (
    "the SmolLM2-135M judge is weak (135M parameters) and its scores are not comparable "
    "with published LLM-AD-eval numbers (LLaMA-2-7B-chat)"
)

_SCORE_KEY = re.compile(r"""['"]?score['"]?\s*[:=]\s*['"]?([0-5])(?!\d)""", re.IGNORECASE)
_LONE_DIGIT = re.compile(r"^\D*([0-5])\D*$")


class JudgeUnavailable(UniADError):
    """The judge cannot be reached or loaded; no scores are produced."""


class JudgeBackend(Protocol):
    name: str

    def complete(self, messages: list[dict[str, str]]) -> str: ...


def parse_score(answer: str) -> int | None:
    """The 0-5 score in a judge answer: ``{'score': 4}``, ``"score": 4`` or a lone digit."""
    m = _SCORE_KEY.search(answer)
    if m:
        return int(m.group(1))
    m = _LONE_DIGIT.match(answer.strip())
    return int(m.group(1)) if m else None


def judge_messages(prediction: str, reference: str, strict: bool = False) -> list[dict[str, str]]:
    user = USER_TEMPLATE.format(reference=reference, prediction=prediction)
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user + (STRICT_SUFFIX if strict else "")}]


class OpenAIChatBackend:
    """An OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI) at ``base_url``.

    ``base_url`` ends before ``/chat/completions`` (e.g. ``http://127.0.0.1:8000/v1``);
    defaults come from $UNIAD_JUDGE_BASE_URL, $UNIAD_JUDGE_MODEL and $UNIAD_JUDGE_API_KEY.
    """

    def __init__(self, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, timeout: float = 60.0, max_tokens: int = 16) -> None:
        self.base_url = (base_url or os.environ.get("UNIAD_JUDGE_BASE_URL", "")).rstrip("/")
        self.model = model or os.environ.get("UNIAD_JUDGE_MODEL", "")
        self.api_key = api_key or os.environ.get("UNIAD_JUDGE_API_KEY")
        if not self.base_url or not self.model:
            raise JudgeUnavailable("the LLM judge needs a base URL and a model name "
                                   "(--judge-url/--judge-model or UNIAD_JUDGE_BASE_URL/UNIAD_JUDGE_MODEL)")
        self.timeout, self.max_tokens = timeout, max_tokens
        self.name = f"{self.model} @ {self.base_url}"

    def complete(self, messages: list[dict[str, str]]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0,
                           "max_tokens": self.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", body, headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
            return str(payload["choices"][0]["message"]["content"])
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            raise JudgeUnavailable(f"LLM judge at {self.base_url} unreachable: {err}") from err
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as err:
            raise JudgeUnavailable(f"LLM judge at {self.base_url} sent a reply that is not a "
                                   f"chat completion: {err!r}") from err


class LocalLMBackend:
    """A local causal LM (transformers model + tokenizer), greedy, chat template if any.

    The answer is started for the model with ``{'score': `` (the format the prompt asks
    for), so a small model only has to produce the digit; the prefix is part of the
    returned answer, so parsing is unchanged.
    """

    answer_prefix = "{'score': "

    def __init__(self, model, tokenizer, name: str, max_new_tokens: int = 8) -> None:
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.max_new_tokens = max_new_tokens

    def complete(self, messages: list[dict[str, str]]) -> str:
        import torch

        if getattr(self.tokenizer, "chat_template", None):
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "\n\n".join(m["content"] for m in messages) + "\n"
        enc = self.tokenizer(prompt + self.answer_prefix, return_tensors="pt")
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        new = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return self.answer_prefix + new


def local_backend(spec: str) -> LocalLMBackend:
    """``smollm2`` (embedded, via uniad.model.llm.load_llm) or a local model folder."""
    try:
        if spec == "smollm2":
            from uniad.model.llm import load_llm

            model, tokenizer = load_llm("smollm2")
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            tokenizer = AutoTokenizer.from_pretrained(spec, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(spec, local_files_only=True)
    except (ImportError, OSError) as err:
        raise JudgeUnavailable(f"cannot load the judge model {spec!r}: {err}") from err
    return LocalLMBackend(model, tokenizer, spec)


@dataclass
class JudgeResult:
    scores: dict[str, float]
    ratings: dict[str, int]
    unparsed: list[str] = field(default_factory=list)
    judge: str = ""


def judge_scores(predictions: dict[str, str], references: dict[str, list[str]],
                 backend: JudgeBackend, retries: int = 2) -> JudgeResult:
    """Mean 0-5 rating over parsed answers; unparsed ids are listed, not scored 0."""
    from tqdm import tqdm

    ratings: dict[str, int] = {}
    unparsed: list[str] = []
    for uid in tqdm(list(predictions), desc="LLM judge", unit="AD", disable=len(predictions) < 20):
        for attempt in range(retries + 1):
            answer = backend.complete(judge_messages(predictions[uid], references[uid][0], strict=attempt > 0))
            score = parse_score(answer)
            if score is not None:
                ratings[uid] = score
                break
            log.debug("judge answer for %s not parsable (attempt %d): %r", uid, attempt + 1, answer)
        else:
            unparsed.append(uid)
    scores = {"LLM-judge": sum(ratings.values()) / len(ratings)} if ratings else {}
    scores["LLM-judge unparsed"] = float(len(unparsed))
    return JudgeResult(scores, ratings, unparsed, backend.name)
