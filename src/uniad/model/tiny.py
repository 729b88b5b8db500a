"""A tiny random Llama and a tokenizer trained in-process: the LLM plug for tests.

Both are built from nothing in about a second, offline and deterministic for a seed, so
tests exercise the same code paths (tokenise, embed, LoRA, generate, save/load) as a real
checkpoint without any download.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"

# Used when the caller has no texts of its own: enough variety for a few hundred merges.
DEFAULT_CORPUS = (
    "Anna opens the door and looks into the dark room.",
    "She sits down at the kitchen table.",
    "Tom walks across the street, holding a red umbrella.",
    "He picks up the phone and listens.",
    "The car stops in front of an old house.",
    "Two men run along the beach at sunset.",
    "Possible characters: Anna played by Emma Stone; Tom played by Ryan Gosling.",
    "Describe the scene: a woman smiles at the camera.",
    "They dance together under the stars.",
    "The dog jumps over the fence and barks.",
)

TINY_LLAMA = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,  # grouped-query attention, as in current LLMs
    intermediate_size=128,
    max_position_embeddings=1024,
    tie_word_embeddings=False,
)


def build_tiny_tokenizer(
    corpus: Iterable[str] | None = None, vocab_size: int = 512
) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on ``corpus``: every string encodes (no unknown bytes) and
    decodes back exactly, like the real LLM tokenizers it stands in for."""
    texts = list(DEFAULT_CORPUS if corpus is None else corpus)
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[UNK, BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=TINY_LLAMA["max_position_embeddings"],
        clean_up_tokenization_spaces=False,
    )


def build_tiny_llm(
    corpus: Iterable[str] | None = None, seed: int = 0,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A random 2-layer Llama sized to a tokenizer trained on ``corpus`` (or to ``tokenizer``,
    one :func:`build_tiny_tokenizer` made before).

    The global RNG is left as it was: the seed applies inside a forked RNG state.
    """
    tokenizer = tokenizer or build_tiny_tokenizer(corpus)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_LLAMA,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval(), tokenizer
