"""A user's cast file (names + photos) to a character bank the model can read.

Cast file, JSON (a list of objects, or ``{"cast": [...]}``) or CSV (header row)::

    id, name, role, short_name, gender, photos
    nm0000098, Jennifer Aniston, Rachel Green, Rachel, female, rachel.jpg;rachel2.jpg

``photos`` are one or more image paths (a JSON list or a ';'-separated CSV cell), relative
to the cast file. ``id`` defaults to the role (or name) made into a slug; ``short_name``
to the role's first word (see :attr:`Character.display_name`).

Exemplars: each photo goes through the *same* encoder as the video frames, whole (no face
crop: no face detector ships offline, so photos should be tight portraits), and the
photos of a character are averaged into one ``(1, D)`` row, the shape of MAD's exemplars
that UniAD is trained on (AutoAD-II averages five CLIP frames per actor). With
``per_photo=True`` every photo is its own row, ``(K, D)``, for models trained on several
exemplar tokens. Keys are global (``"<id>"``) and the cast list is scoped to the video.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from uniad.data.charbank import CharacterBank
from uniad.data.schema import Character, SchemaError
from uniad.errors import DataError
from uniad.narrate.describe.encoder import VisualEncoder

_FIELDS = ("id", "name", "role", "short_name", "gender")


@dataclass(frozen=True)
class CastMember:
    """A character of the cast file, its photos resolved to paths, and where it was read."""

    character: Character
    photos: tuple[Path, ...]
    record: int | str  # "line 3" (CSV) or 0 (JSON's first entry), for error messages


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _member(path: Path, record: int | str, row: dict[str, Any]) -> CastMember:
    values = {k: (str(row[k]).strip() if row.get(k) is not None else "") for k in _FIELDS}
    values["id"] = values["id"] or _slug(values["role"] or values["name"])
    values["gender"] = values["gender"] or None
    try:
        character = Character(**values)
    except SchemaError as exc:
        raise DataError(path, exc.message, record=record, field=exc.field) from exc
    photos = row.get("photos") or []
    if isinstance(photos, str):
        photos = [p for p in (s.strip() for s in photos.split(";")) if p]
    if not isinstance(photos, list) or not photos:
        raise DataError(path, "needs at least one photo", record=record, field="photos")
    return CastMember(character, tuple(path.parent / str(p) for p in photos), record)


def read_cast(path: str | Path) -> list[CastMember]:
    """Parse a JSON or CSV cast file (by extension) into members, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "cast file not found")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            members = [_member(path, f"line {reader.line_num}", row) for row in reader]
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(path, f"cannot read as JSON ({exc})") from exc
        entries = data.get("cast") if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise DataError(path, "expected a list of characters (or {\"cast\": [...]})")
        members = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise DataError(path, "expected an object", record=i)
            members.append(_member(path, i, entry))
    seen: dict[str, int | str] = {}
    for m in members:
        if m.character.id in seen:
            first = seen[m.character.id]
            raise DataError(path, f"id {m.character.id!r} also used by "
                                  f"{'record ' if isinstance(first, int) else ''}{first}",
                            record=m.record, field="id")
        seen[m.character.id] = m.record
    if not members:
        raise DataError(path, "the cast is empty")
    return members


def _open_photo(cast_file: Path, member: CastMember, photo: Path) -> Image.Image:
    try:
        with Image.open(photo) as image:
            return image.convert("RGB")  # convert() loads the pixels: truncation shows here
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(cast_file, f"photo {photo} cannot be opened ({exc})",
                        record=member.record, field="photos") from exc


def build_bank(
    cast_file: str | Path, encoder: VisualEncoder, video_id: str, per_photo: bool = False
) -> CharacterBank:
    """Encode every cast photo and return a bank: exemplar ``"<id>"`` -> ``(1, D)`` (mean
    over photos) or ``(K, D)`` (``per_photo``), cast list under ``video_id``."""
    import torch

    cast_file = Path(cast_file)
    members = read_cast(cast_file)
    exemplars = {}
    for m in members:
        features = encoder.encode([_open_photo(cast_file, m, p) for p in m.photos])
        rows = features if per_photo else features.mean(axis=0, keepdims=True)
        exemplars[m.character.id] = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
    return CharacterBank.from_tensors(exemplars, cast={video_id: [m.character for m in members]})
