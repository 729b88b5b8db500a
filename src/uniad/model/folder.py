"""The checkpoint folder contract: file names, and reading each file with a named error.

A ``save_pretrained`` folder holds ``config.yaml`` (the resolved config),
``model.safetensors`` (trainable weights), ``llm.json`` (the identity of the LLM and
tokenizer trained on) and, for a random test LLM, ``llm/``. A training run folder holds
one under ``final/``. A model trained on features of a local CLIP folder (a rendered
world's fitted encoder) also carries a copy of it, ``visual_encoder/``, so the checkpoint
narrates with no ``--visual-encoder`` (:func:`write_encoder_copy`). Evaluate, narrate,
inspect and import all come through here, so a truncated weights file, an ``llm.json``
that is not JSON or a swapped tokenizer reads as one line naming the file and the field,
never as a traceback or, worse, a run that silently decodes garbage.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path
from typing import Any

from uniad.errors import CheckpointError, ConfigError

CONFIG_FILE, WEIGHTS_FILE, LLM_FILE, LLM_DIR = "config.yaml", "model.safetensors", "llm.json", "llm"
FINAL_DIR = "final"  # where ``uniad train`` puts the trained model inside a run folder
ENCODER_DIR = "visual_encoder"  # a copy of the CLIP folder the training features came from
ENCODER_NAME_FILE = "uniad_encoder.json"  # in such a copy: the name its features recorded
_IDENTITY_INTS = ("hidden_size", "vocab_size")
#: Tokenizer facts recorded at save time; a tokenizer that differs in any of them would
#: map the same text to other embedding rows than the ones trained.
TOKENIZER_KEYS = ("tokenizer_size", "bos_token_id", "eos_token_id", "pad_token_id",
                  "unk_token_id", "vocab_sha256")


def checkpoint_dir(path: str | Path) -> Path:
    """``RUN/final`` when ``path`` is a training run folder, else ``path`` itself; a path
    that holds no checkpoint is refused naming the file that is missing."""
    folder = Path(path)
    if (folder / FINAL_DIR).is_dir():
        folder = folder / FINAL_DIR
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: checkpoint folder does not exist")
    for name in (CONFIG_FILE, WEIGHTS_FILE, LLM_FILE):
        if not (folder / name).is_file():
            hint = (" (a run that has not finished: its checkpoints are in checkpoints/, "
                    "continue it with `uniad train --resume`)"
                    if (folder / "checkpoints").is_dir() else "")
            raise CheckpointError(f"{folder}: not a UniAD checkpoint ({name} is missing){hint}")
    return folder


def write_encoder_copy(source: Path, out: Path, name: str) -> Path:
    """Copy the CLIP model folder ``source`` (its files, each through the atomic writer) to
    ``out`` and record ``name`` in it (:data:`ENCODER_NAME_FILE`).

    Why the name file: a CLIP folder is named after its basename (``clip:encoder:64`` for a
    world's ``encoder/``, see ``CLIPVisionEncoder``), which the copy under
    ``visual_encoder/`` would change to ``clip:visual_encoder:64``, and narration refuses an
    encoder whose name differs from the checkpoint's ``model.visual_encoder``. The copy
    therefore carries the name its features were recorded under, and is read by that name
    wherever it is moved. Files of an earlier copy that ``source`` lacks are removed, so a
    folder saved over never mixes two encoders; saving a loaded model into its own folder
    (``source`` is ``out``) only rewrites the name."""
    from uniad.io import atomic_path, write_json

    out.mkdir(parents=True, exist_ok=True)
    if source.resolve() != out.resolve():
        files = sorted(f for f in source.iterdir() if f.is_file() and f.name != ENCODER_NAME_FILE)
        kept = {f.name for f in files}
        for old in out.iterdir():
            if old.is_file() and old.name not in kept:
                old.unlink()
        for file in files:
            with atomic_path(out / file.name) as tmp:
                shutil.copyfile(file, tmp)
    write_json(out / ENCODER_NAME_FILE, {"name": name})
    return out


def bundled_encoder(folder: Path) -> Path | None:
    """The copy of the visual encoder a checkpoint folder carries, or None."""
    copy = folder / ENCODER_DIR
    return copy if copy.is_dir() else None


def read_encoder_name(folder: Path) -> str | None:
    """The name recorded in a CLIP folder copied by :func:`write_encoder_copy`, or None for
    a folder without one (named after its basename, as before)."""
    path = folder / ENCODER_NAME_FILE
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("name")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as err:
        raise CheckpointError(f"{path}: not a JSON object with the encoder's name ({err})") from None
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"{path}: field 'name' (the encoder's name) is missing or not text")
    return name


def read_config(folder: Path) -> Any:
    """The checkpoint's resolved config; a file that does not parse or holds a setting this
    version refuses is a CheckpointError naming it."""
    from uniad.config import load_config

    try:
        return load_config(path=folder / CONFIG_FILE)
    except ConfigError as err:
        raise CheckpointError(f"{folder / CONFIG_FILE}: {err}") from None


def read_identity(folder: Path) -> dict[str, Any]:
    """``llm.json``: which LLM (and tokenizer) the weights were trained on."""
    path = folder / LLM_FILE
    try:
        identity = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: cannot be read ({err})") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not JSON (line {err.lineno}, column {err.colno}: "
                              f"{err.msg})") from None
    if not isinstance(identity, dict):
        raise CheckpointError(f"{path}: expected an object, got {type(identity).__name__}")
    if not isinstance(identity.get("llm"), str):
        raise CheckpointError(f"{path}: field 'llm' (the LLM trained on) is missing or not text")
    for key in _IDENTITY_INTS:
        value = identity.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(f"{path}: field '{key}' must be a positive integer, got {value!r}")
    saved_in = identity.get("saved_in")
    if saved_in is not None and (not isinstance(saved_in, str) or Path(saved_in).name != saved_in
                                 or saved_in in ("", ".", "..") or not (folder / saved_in).is_dir()):
        raise CheckpointError(f"{path}: field 'saved_in' names {saved_in!r}, which is not a "
                              f"folder of {folder}")
    return identity


def _check_safetensors_size(path: Path) -> None:
    """A truncated file (an interrupted copy) names itself before the library reads it:
    the header says how many bytes the tensors take, the file must hold them all."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: truncated ({size} bytes; not a safetensors file)")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise CheckpointError(f"{path}: truncated or not safetensors (header of {length} "
                                  f"bytes, file of {size})")
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"{path}: not a safetensors file (unreadable header)") from None
    ends = [v["data_offsets"][1] for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]
    needed = 8 + length + max(ends, default=0)
    if size < needed:
        raise CheckpointError(f"{path}: truncated: {size} bytes, the header needs {needed} "
                              "(copy the checkpoint again)")


def read_weights(folder: Path) -> dict[str, Any]:
    """``model.safetensors`` of a checkpoint folder as tensors."""
    return read_safetensors(folder / WEIGHTS_FILE)


def read_safetensors(path: Path) -> dict[str, Any]:
    """A safetensors file as tensors, checked for truncation first (training checkpoints
    are read here too)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    _check_safetensors_size(path)
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot be read as safetensors: {err}") from None


def write_safetensors(path: Path, tensors: dict[str, Any]) -> Path:
    """Tensors as a safetensors file through the atomic writer (disk errors named)."""
    from safetensors.torch import save

    from uniad.io import write_bytes

    return write_bytes(path, save(tensors))


def tokenizer_identity(tokenizer: Any) -> dict[str, Any]:
    """The tokenizer facts :data:`TOKENIZER_KEYS` records (empty without a tokenizer)."""
    if tokenizer is None:
        return {}
    return {"tokenizer_size": len(tokenizer),
            **{key: getattr(tokenizer, key, None) for key in TOKENIZER_KEYS[1:-1]},
            "vocab_sha256": vocab_fingerprint(tokenizer)}


def vocab_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of the tokenizer's ``token -> id`` table: two tokenizers of one size that
    map a token to different rows (another LLM's, a retrained one) differ here."""
    table = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return hashlib.sha256(json.dumps(table, ensure_ascii=False).encode("utf-8")).hexdigest()


def check_llm(folder: Path, identity: dict[str, Any], spec: str, hidden_size: int,
              vocab: int, tokenizer: Any) -> None:
    """The loaded LLM and tokenizer must be the ones the weights were trained on."""
    for key, found in (("hidden_size", hidden_size), ("vocab_size", vocab)):
        if found != identity[key]:
            raise CheckpointError(
                f"{folder}: the checkpoint was trained on LLM '{identity['llm']}' with "
                f"{key}={identity[key]}, but LLM '{spec}' has {key}={found}; "
                "pass the LLM it was trained on (--llm)")
    found_tok = tokenizer_identity(tokenizer)
    if not found_tok:
        return
    if found_tok["tokenizer_size"] > vocab:
        raise CheckpointError(f"{folder}: the tokenizer of '{spec}' has {found_tok['tokenizer_size']} "
                              f"tokens but the LLM only {vocab} embedding rows: a tokenizer "
                              "of another LLM?")
    for key in TOKENIZER_KEYS:  # checkpoints saved before a key was recorded lack it
        if key in identity and identity[key] != found_tok[key]:
            raise CheckpointError(
                f"{folder / LLM_FILE}: the checkpoint's tokenizer had {key}={identity[key]}, "
                f"the one loaded from '{spec}' has {found_tok[key]}: a tokenizer of another "
                "LLM? Restore the tokenizer files the model was trained with")
