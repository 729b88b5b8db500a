"""The character bank: who is in each movie, and what their faces look like as features.

On disk a bank is one safetensors file (no pickle, so loading a bank never runs code):

- tensor keys are exemplar keys, ``"<scope>/<character_id>"`` for per-movie exemplars
  (MAD: one averaged CLIP frame per actor and movie) or ``"<character_id>"`` for global
  ones (CMD-AD/TV-AD: 32 Q-Former tokens of the actor's profile photo); each tensor is
  ``(K, D)``;
- the metadata entry ``"cast"`` holds, when known, a JSON cast list
  ``{video_or_movie_id: [{id, name, role, short_name, gender?}, ...]}``.

The release shipped exemplars as pickled ``.pth.tar`` dicts; :func:`load_legacy_exemplars`
reads them with ``torch.load(weights_only=True)`` and refuses anything but a dict of
tensors, and :func:`convert_legacy_bank` turns one into our format once.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from uniad.data.formats import load_json
from uniad.data.schema import Character, SchemaError
from uniad.errors import DataError, Problem
from uniad.io import write_bytes

if TYPE_CHECKING:  # torch loads only where tensors are read: checking a cast JSON needs none
    import torch

log = logging.getLogger(__name__)

FORMAT_NAME = "uniad-charbank"
FORMAT_VERSION = "1"
_LEGACY_SUFFIXES = (".pth", ".pt", ".tar")
_MEMORY = "<memory>"


# -- cast lists ------------------------------------------------------------------------------


def _character(
    source: str | Path, record: str, where: str, entry: Any, **names: str
) -> Character:
    """Build a :class:`Character` from one JSON object, reading fields *by name*.

    ``names`` maps our field names to the file's keys (the release calls the short name
    ``char_in_ad``). The release unpacked these dicts by value order; reading by key means
    a reordered or extended dict still loads correctly.
    """
    if not isinstance(entry, dict):
        raise DataError(source, f"expected an object, got {type(entry).__name__}",
                        record=record, field=where or None)
    values = {ours: entry.get(theirs) for ours, theirs in names.items()}
    for ours in ("name", "role", "short_name"):
        if values.get(ours) is None:
            values[ours] = ""
    try:
        return Character(**values)
    except SchemaError as err:
        theirs = names.get(err.field, err.field)
        raise DataError(source, err.message, record=record,
                        field=f"{where}.{theirs}" if where else theirs) from err


def _parse_cast(source: str | Path, data: Any) -> dict[str, list[Character]]:
    """``{video_id: [{id, name, role, short_name?, gender?}]}`` -> characters, in order."""
    if not isinstance(data, dict):
        raise DataError(source, f"expected an object mapping ids to cast lists, "
                        f"got {type(data).__name__}")
    cast: dict[str, list[Character]] = {}
    for video_id, entries in data.items():
        if not isinstance(entries, list):
            raise DataError(source, f"expected a list of characters, got "
                            f"{type(entries).__name__}", record=video_id)
        cast[video_id] = [
            _character(source, video_id, f"[{i}]", e, id="id", name="name", role="role",
                       short_name="short_name", gender="gender")
            for i, e in enumerate(entries)
        ]
    return cast


def _cast_to_json(cast: Mapping[str, Iterable[Character]]) -> str:
    def entry(c: Character) -> dict[str, str]:
        out = {"id": c.id, "name": c.name, "role": c.role, "short_name": c.short_name}
        if c.gender is not None:
            out["gender"] = c.gender
        return out

    return json.dumps({vid: [entry(c) for c in chars] for vid, chars in cast.items()},
                      ensure_ascii=False)


def read_cast_json(path: str | Path) -> dict[str, list[Character]]:
    """The release's ``*_charbank.json``: ``{tt-id: [{id, role, name}, ...]}`` in cast order."""
    return _parse_cast(path, load_json(path))


def read_chars_mapping(path: str | Path) -> dict[str, Character]:
    """The release's ``*_chars_mapping.json``: ``{nm-id: {name, role, char_in_ad}}``."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(path, f"expected an object keyed by actor id, got {type(data).__name__}")
    out = {}
    for nm_id, entry in data.items():
        if isinstance(entry, dict):
            entry = {**entry, "id": nm_id}
        out[nm_id] = _character(path, nm_id, "", entry, id="id", name="name", role="role",
                                short_name="char_in_ad")
    return out


# -- exemplar tensors ------------------------------------------------------------------------


def _tensor_problems(source: str, key: str, value: Any) -> list[Problem]:
    """What is wrong with one exemplar: not a tensor, not ``(K, D)`` floats, NaN/Inf."""
    import torch

    if not isinstance(value, torch.Tensor):
        return [Problem(source, f"expected a tensor, got {type(value).__name__}", key)]
    if value.dim() != 2 or value.shape[0] == 0:
        return [Problem(source, f"expected exemplar shape (K, D) with K > 0, "
                        f"got {tuple(value.shape)}", key)]
    if not value.is_floating_point():
        return [Problem(source, f"expected float values, got {value.dtype}", key)]
    if not torch.isfinite(value).all():
        return [Problem(source, "exemplar holds NaN or Inf values", key)]
    return []


def _dim_problems(source: str, tensors: Mapping[str, torch.Tensor]) -> list[Problem]:
    """Keys whose feature width D differs from the first key's (one model, one D)."""
    widths = {k: t.shape[-1] for k, t in tensors.items() if t.dim() == 2}
    if not widths:
        return []
    first_key, dim = next(iter(widths.items()))
    return [Problem(source, f"feature width {d} differs from {dim} (key {first_key!r})", k)
            for k, d in widths.items() if d != dim]


class CharacterBank:
    """Exemplar features by key plus cast lists by video; see the module docstring.

    Construction checks every exemplar (``(K, D)`` finite floats, one D for all), so a
    bank that exists is usable; :func:`validate_bank` reports the same checks as a list.
    """

    def __init__(
        self,
        exemplars: Mapping[str, torch.Tensor] | None = None,
        cast: Mapping[str, list[Character]] | None = None,
        source: str | Path = _MEMORY,
    ) -> None:
        self.source = str(source)
        tensors = dict(exemplars or {})
        problems = [p for k, v in tensors.items() for p in _tensor_problems(self.source, k, v)]
        problems = problems or _dim_problems(self.source, tensors)
        if problems:
            p = problems[0]
            raise DataError(p.file, p.message, record=p.record, field=p.field)
        self._exemplars: dict[str, torch.Tensor] = tensors
        self._cast: dict[str, list[Character]] = {k: list(v) for k, v in (cast or {}).items()}

    @classmethod
    def from_tensors(
        cls, tensors: Mapping[str, torch.Tensor], cast: Mapping[str, list[Character]] | None = None
    ) -> CharacterBank:
        return cls(tensors, cast)

    @classmethod
    def load(cls, path: str | Path) -> CharacterBank:
        """Load a bank: our ``.safetensors``, a cast ``.json`` (names, no exemplars), or a
        legacy ``.pth.tar`` (read safely; convert it once with ``uniad data convert-bank``).
        """
        path = Path(path)
        if path.suffix == ".json":
            return cls(cast=read_cast_json(path), source=path)
        if path.suffix in _LEGACY_SUFFIXES:
            log.info("%s is a legacy exemplar file; `uniad data convert-bank` makes a "
                     "safetensors bank that loads faster", path)
            return cls(convert_legacy_keys(path, load_legacy_exemplars(path)), source=path)
        tensors, cast = _read_safetensors(path)
        return cls(tensors, cast, source=path)

    def save(self, path: str | Path) -> Path:
        """Write the bank as safetensors (tensors bit-identical, cast in the metadata)."""
        path = Path(path)
        from safetensors.torch import save

        # safetensors refuses shared or strided storage; bank tensors are small, so copy.
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in self._exemplars.items()}
        metadata = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                    "cast": _cast_to_json(self._cast)}
        write_bytes(path, save(tensors, metadata=metadata))
        return path

    def exemplar(self, video_id: str, character_id: str) -> torch.Tensor | None:
        """The ``(K, D)`` exemplar of a character in a video, or None when the bank has none.

        Per-movie keys win over global ones; ``"<id>.jpg"`` covers banks built directly
        from the release's CMD/TV dicts.
        """
        for key in (f"{video_id}/{character_id}", character_id, f"{character_id}.jpg"):
            found = self._exemplars.get(key)
            if found is not None:
                return found
        return None

    def cast(self, video_id: str) -> list[Character]:
        """The cast list of a movie or episode, in cast order ([] when unknown)."""
        return list(self._cast.get(video_id, []))

    @property
    def cast_ids(self) -> list[str]:
        """Ids of the videos (or IMDb titles) that have a cast list."""
        return list(self._cast)

    @property
    def feature_dim(self) -> int | None:
        """The exemplar width D shared by all keys (None for a names-only bank)."""
        first = next(iter(self._exemplars.values()), None)
        return None if first is None else int(first.shape[-1])

    def keys(self) -> list[str]:
        return list(self._exemplars)

    def __len__(self) -> int:
        return len(self._exemplars)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, list[Character]]]:
    if not path.is_file():
        raise DataError(path, "character bank not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as err:
        raise DataError(path, f"cannot read as safetensors ({err})") from err
    cast_text = metadata.get("cast")
    if cast_text is None:
        return tensors, {}
    try:
        cast = json.loads(cast_text)
    except json.JSONDecodeError as err:
        raise DataError(path, f"cast metadata is not valid JSON ({err})", field="cast") from err
    return tensors, _parse_cast(path, cast)


# -- legacy .pth.tar import ------------------------------------------------------------------


def load_legacy_exemplars(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a release exemplar file without running any code it may contain.

    Accepted: exactly a dict from string keys to tensors (MAD ``{movie_nm: [1, 768]}``,
    CMD/TV ``{"nm....jpg": [32, 768]}``). ``weights_only=True`` makes torch refuse any
    pickled class or function instead of executing it; that refusal, and any other
    content than a flat dict of tensors, becomes a :class:`DataError`.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "exemplar file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # Keep torch's line naming the refused object, not its advice to disable the check.
        culprit = next((ln.strip().split(". ")[0].rstrip(".")
                        for ln in str(err).splitlines() if "GLOBAL" in ln), "")
        raise DataError(path, "contains Python objects other than tensors and was not loaded; "
                        "only a dict of name -> tensor is accepted"
                        + (f" ({culprit})" if culprit else "")) from None
    except (RuntimeError, EOFError, OSError, ValueError, SafetensorError) as err:
        raise DataError(path, f"cannot read as a PyTorch file ({err})") from None
    if not isinstance(obj, dict):
        raise DataError(path, f"expected a dict of name -> tensor, got {type(obj).__name__}")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise DataError(path, f"expected string keys, got {type(key).__name__} {key!r}")
        if not isinstance(value, torch.Tensor):
            raise DataError(path, f"expected a tensor, got {type(value).__name__}",
                            record=key)
    return obj


def legacy_key(key: str) -> str:
    """Map a release exemplar key to ours.

    ``"<movie>_nm0000123"`` (MAD, per movie) -> ``"<movie>/nm0000123"``, split at the last
    ``_nm`` because movie ids may themselves contain underscores; ``"nm0000123.jpg"``
    (CMD/TV, global) -> ``"nm0000123"``. Other keys are kept as global keys.
    """
    if key.endswith(".jpg"):
        return key[: -len(".jpg")]
    cut = key.rfind("_nm")
    if cut > 0:
        return f"{key[:cut]}/{key[cut + 1:]}"
    return key


def convert_legacy_keys(
    source: str | Path, tensors: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename every key with :func:`legacy_key`, refusing two keys that land on one name."""
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in tensors.items():
        if value.dim() == 3 and value.shape[0] == 1:
            # CMD/TV exemplars may be saved (1, 32, F); the release maps them token-wise, so
            # (32, F) is the same exemplar (LAYOUT-cmdad-tvad.md, "Characters").
            value = value[0]
        new = legacy_key(key)
        if new in out:
            raise DataError(source, f"keys {origin[new]!r} and {key!r} both map to {new!r}",
                            record=key)
        out[new], origin[new] = value, key
    return out


def convert_legacy_bank(
    src: str | Path, dst: str | Path, cast: str | Path | None = None
) -> Path:
    """Convert a release ``.pth.tar`` exemplar file (plus an optional cast JSON) to our bank."""
    tensors = convert_legacy_keys(src, load_legacy_exemplars(src))
    bank = CharacterBank(tensors, read_cast_json(cast) if cast else None, source=src)
    out = bank.save(dst)
    scopes = {k.rsplit("/", 1)[0] for k in tensors if "/" in k}
    shapes = sorted({tuple(t.shape) for t in tensors.values()})
    dtypes = sorted({str(t.dtype) for t in tensors.values()})
    log.info("converted %s -> %s: %d exemplars (%d per-movie scopes, %d global), shapes %s, "
             "dtype %s, cast lists for %d ids", src, out, len(tensors), len(scopes),
             sum("/" not in k for k in tensors), shapes, ", ".join(dtypes), len(bank.cast_ids))
    return out


# -- validation ------------------------------------------------------------------------------


def validate_bank(path: str | Path) -> list[Problem]:
    """Every problem found in a bank file (ours, a cast JSON, or a legacy file), no raising."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            read_cast_json(path)
            return []
        if path.suffix in _LEGACY_SUFFIXES:
            tensors: Mapping[str, Any] = load_legacy_exemplars(path)
        else:
            tensors, _ = _read_safetensors(path)
    except DataError as err:
        return [err.problem]
    source = str(path)
    problems = [p for k, v in tensors.items() for p in _tensor_problems(source, k, v)]
    return problems + _dim_problems(source, tensors)
