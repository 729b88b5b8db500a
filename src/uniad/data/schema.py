"""The typed records every UniAD stage passes around.

Benchmark loaders (MAD, CMD-AD, TV-AD), the synthetic world and the raw-video path all
produce the same :class:`ADEvent` and :class:`Sample`, so training, evaluation and
narration share one code path. Records validate themselves on construction and raise
:class:`SchemaError` naming the field; readers add the file and record index by
re-raising it as :class:`uniad.errors.DataError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uniad.errors import UniADError

if TYPE_CHECKING:  # annotations only: checking a JSON file must not import torch
    import torch


class SchemaError(UniADError, ValueError):
    """A record field holds an invalid value; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"field '{field}': {message}")


def require_text(value: Any, name: str, allow_empty: bool = False) -> None:
    if not isinstance(value, str):
        raise SchemaError(name, f"expected text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise SchemaError(name, "is empty")


#: Longest time accepted, in seconds (about 11.6 days): no film or episode is longer, so a
#: larger value is a unit or data error (``1e308`` would overflow every frame index).
MAX_SECONDS = 1e6


def brief(value: Any) -> str:
    """``repr`` for messages, cut short; huge integers are described, not printed (Python
    refuses to print integers over 4,300 digits, and nobody wants to read them)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_finite_number(value: Any) -> bool:
    """A real number (not a bool) that converts to a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return value.bit_length() <= 1000  # float() of a larger int overflows
    return math.isfinite(value)


def require_time(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(name, f"expected seconds as a number, got {brief(value)}")
    if not is_finite_number(value):
        what = "too large" if isinstance(value, int) else "not finite"
        raise SchemaError(name, f"is {what} ({brief(value)})")
    if value < 0:
        raise SchemaError(name, f"is negative ({brief(value)})")
    if value > MAX_SECONDS:
        raise SchemaError(name, f"is {brief(value)} seconds, more than {MAX_SECONDS:.0e} "
                          "(11 days): a unit or data error")


@dataclass(frozen=True)
class Character:
    """A character of a movie or episode.

    ``id`` is an IMDb ``nm...`` actor id in the real data (any unique string in ours);
    ``name`` the actor's name; ``role`` the character's full name ("Rachel Green");
    ``short_name`` the name audio description uses ("Rachel", the release's
    ``char_in_ad``); ``score`` the recogniser's confidence that the character is on
    screen, when the record comes from a prediction.
    """

    id: str
    name: str
    role: str
    short_name: str = ""
    score: float | None = None
    gender: str | None = None  # "female" / "male" / None: decides "she"/"he" in AD

    def __post_init__(self) -> None:
        require_text(self.id, "id")
        require_text(self.name, "name", allow_empty=True)
        require_text(self.role, "role", allow_empty=True)
        require_text(self.short_name, "short_name", allow_empty=True)
        if self.score is not None and not is_finite_number(self.score):
            raise SchemaError("score", f"expected a finite number, got {brief(self.score)}")

    @property
    def display_name(self) -> str:
        """The name AD uses: the short name when known, else the role's first word."""
        if self.short_name:
            return self.short_name
        return self.role.split()[0] if self.role.strip() else self.name


@dataclass(frozen=True)
class ADEvent:
    """One audio-description sentence and what is known about its moment.

    Fields map to the real formats as follows (see ``uniad.data.formats``):

    - ``video_id``: MAD ``movie_id`` / CMD-AD, TV-AD ``key_name``.
    - ``candidates``: characters possibly on screen, with scores where the file has them
      (MAD ``char``; TV/CMD ``char_pred`` scored by ``prob_data``).
    - ``refined``: the character-refined candidate list the file ships (MAD-eval and
      TV/CMD ``prob``), or None when the format has none.
    - ``named``: characters the AD names (MAD ``ad_chars``; TV/CMD ``char``).
    - ``named_candidates``: MAD ``ad_chars_in_chars`` (named and recognised: the list the
      release trains on), or None.
    - ``named_short``: TV/CMD ``char_in_ad``, the names as written in the AD.
    - ``context``: earlier AD events of the same video, nearest first (MAD ``context``;
      TV/CMD ``content``).
    - ``uid``: the id predictions and scores are keyed by; readers assign
      ``f"{video_id}#{n}"`` with n the record's position among that video's records.
    - ``extra``: fields of the source record that UniAD does not interpret, kept so that
      writing the record back loses nothing.
    """

    video_id: str
    start: float
    end: float
    text: str
    candidates: tuple[Character, ...] = ()
    refined: tuple[Character, ...] | None = None
    named: tuple[Character, ...] = ()
    named_candidates: tuple[Character, ...] | None = None
    named_short: tuple[str, ...] = ()
    context: tuple[ADEvent, ...] = ()
    uid: str = ""  # stable id: "<video_id>#<n>", n = position among the video's records
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        require_text(self.video_id, "video_id")
        require_time(self.start, "start")
        require_time(self.end, "end")
        if self.end <= self.start:
            raise SchemaError("end", f"end ({self.end}) must be after start ({self.start})")
        require_text(self.text, "ad", allow_empty=True)
        for i, ctx in enumerate(self.context):
            if not isinstance(ctx, ADEvent):
                raise SchemaError(f"context[{i}]", "expected an ADEvent")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class CharacterEntry:
    """A character as the model sees it: who, plus exemplar features ``(K, D)``.

    K is the number of exemplar tokens: 1 for MAD's averaged CLIP exemplar, 32 for the
    VideoLLaMA Q-Former tokens of CMD-AD/TV-AD profile images.
    """

    character: Character
    exemplar: torch.Tensor
    # Whether this was the last entry of the event's character list before entries were
    # skipped (no exemplar, the release's filter): the CMD/TV prompt ends a character with
    # ". " only then (LAYOUT-cmdad-tvad.md). None: unknown, the position among kept entries.
    last_listed: bool | None = None

    def __post_init__(self) -> None:
        if self.exemplar.dim() != 2:
            raise SchemaError(
                "exemplar", f"expected shape (K, D), got {tuple(self.exemplar.shape)}"
            )


@dataclass
class Sample:
    """Everything the model consumes for one AD: the sequence builder's input.

    ``video`` holds the current clip's sampled frame features, ``(T, D)`` or ``(T, Q, D)``
    (per-frame query tokens); ``previous_videos`` the earlier clips' features, oldest
    first; ``context_texts`` the earlier ADs, oldest first; ``target`` the AD to learn
    or score against (None when narrating); ``screen_text`` the text read on screen
    (narration with ``--read-text context``; the builder uses it only with
    ``model.use_screen_text``).
    """

    sample_id: str
    event: ADEvent
    video: torch.Tensor
    previous_videos: list[torch.Tensor] = field(default_factory=list)
    context_texts: list[str] = field(default_factory=list)
    characters: list[CharacterEntry] = field(default_factory=list)
    target: str | None = None
    screen_text: list[str] = field(default_factory=list)  # OCR'd text (narration only)

    def __post_init__(self) -> None:
        if self.video.dim() not in (2, 3):
            raise SchemaError(
                "video", f"expected (T, D) or (T, Q, D) features, got {tuple(self.video.shape)}"
            )
        if self.video.shape[0] == 0:
            raise SchemaError("video", "has no frames")
        for i, prev in enumerate(self.previous_videos):
            if prev.dim() != self.video.dim() or prev.shape[1:] != self.video.shape[1:]:
                raise SchemaError(
                    f"previous_videos[{i}]",
                    f"shape {tuple(prev.shape)} does not match the current clip's "
                    f"{tuple(self.video.shape)}",
                )
