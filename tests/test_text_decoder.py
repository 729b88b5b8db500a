"""Ids -> text as the release decodes them: SentencePiece where the LLM folder has one."""

from __future__ import annotations

import io

import pytest
import sentencepiece as spm

from uniad.model.llm import text_decoder
from uniad.model.tiny import build_tiny_tokenizer

CORPUS = ["Anna opens the door.", "She sits down at the table.", "Tom walks across the street.",
          "He picks up the phone and listens.", "The car stops in front of an old house."] * 20


@pytest.fixture(scope="module")
def llama_like_folder(tmp_path_factory):
    """A folder with a SentencePiece ``tokenizer.model`` (byte fallback, unk 0 / bos 1 /
    eos 2 as Llama-2's), trained in-process."""
    folder = tmp_path_factory.mktemp("llm")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=model, vocab_size=290,
                                   byte_fallback=True, minloglevel=2, unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    return folder


def test_folder_with_sentencepiece_model_decodes_with_it(llama_like_folder):
    tokenizer = build_tiny_tokenizer()  # specials: <unk> 0, <s> 1, </s> 2, <pad> 3
    decoder = text_decoder(str(llama_like_folder), tokenizer)
    assert decoder.kind == "sentencepiece"
    sp = spm.SentencePieceProcessor(model_file=str(llama_like_folder / "tokenizer.model"))
    words = sp.encode("Anna opens the door.")
    # byte-fallback pieces of "é" split after its first byte: invalid UTF-8 in the middle
    e_acute = [sp.piece_to_id(f"<0x{b:02X}>") for b in "é".encode()]
    ids = [1, *words, e_acute[0], *words, 2, 0]
    text = decoder([ids])[0]
    assert text == sp.decode([*words, e_acute[0], *words])  # specials skipped
    assert text.count("\ufffd") == 1 and text.count("Anna opens the door.") == 2


def test_named_llms_and_plain_folders_decode_with_the_tokenizer(tmp_path):
    tokenizer = build_tiny_tokenizer()
    ids = tokenizer("Anna opens the door.", add_special_tokens=False)["input_ids"]
    for spec in ("tiny", str(tmp_path)):
        decoder = text_decoder(spec, tokenizer)
        assert decoder.kind == "tokenizer"
        assert decoder([[tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]]) == ["Anna opens the door."]
