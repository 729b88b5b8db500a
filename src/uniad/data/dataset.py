"""The torch Dataset: annotations + feature store + character bank -> :class:`Sample`.

One dataset serves training, evaluation and the synthetic demo (REFERENCE.md section 2):

- the current clip's frames are read with :meth:`FeatureStore.window` and sampled to
  ``data.video_length`` frames (TSN for training, linspace for evaluation, see
  :mod:`uniad.data.sampling`);
- the first ``data.previous_clips`` context entries become previous clips and the first
  ``data.context_ads`` their AD texts, both oldest first;
- the character list comes from the source ``data.character_source`` names, filtered by
  score threshold and top-k, each character with its bank exemplar.

Unlike the release, nothing is dropped silently: every event is checked at construction
and the ones that cannot become a sample are listed in :attr:`ADDataset.dropped` with
their reason and logged. Random frame draws come from a generator seeded by
``(seed, epoch, index)``, so a sample is the same in any worker and on any rerun.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from uniad.config import DataConfig, check_section
from uniad.data.charbank import CharacterBank
from uniad.data.features import FeatureStore
from uniad.data.samples import assemble_sample
from uniad.data.schema import ADEvent, Character, CharacterEntry, Sample
from uniad.errors import DataError

log = logging.getLogger(__name__)

# The CMD-AD/TV-AD loader's skip list (data.character_filter=release): entries whose
# ``char_in_ad`` is one of these words never reach the prompt (LAYOUT-cmdad-tvad.md).
RELEASE_SKIPPED_NAMES = frozenset({"He", "She", "The", "They", "Them", "It", "Its", "As", "And",
                                   "But", "Or", "How", "This", "That", "In"})
_SHOWN_REASONS = 5  # how many drop reasons a warning spells out


def _check_config(config: DataConfig) -> None:
    """Refuse settings the dataset cannot honour, naming the setting (the config's own
    converter and ranges: a DataConfig built in code is checked like a loaded one)."""
    check_section(config, "data")


def character_pool(event: ADEvent, source: str, training: bool) -> tuple[Character, ...]:
    """The character list ``source`` names for this event (before threshold and top-k).

    ``"auto"`` follows the release: training reads ``named_candidates`` (MAD
    ``ad_chars_in_chars``, an oracle list: the characters the reference AD names) when the
    record has it, otherwise the refined list, otherwise the candidates.
    """
    if source == "auto":
        if training and event.named_candidates is not None:
            return event.named_candidates
        source = "recognised"
    if source == "recognised":
        return event.refined if event.refined is not None else event.candidates
    if source == "refined":
        return event.refined or ()
    if source == "named_candidates":
        return event.named_candidates or ()
    return event.candidates


def select_characters(
    event: ADEvent,
    source: str,
    training: bool,
    threshold: float | None = None,
    max_characters: int | None = None,
) -> list[Character]:
    """Characters for the prompt: source list, then ``score >= threshold``, then top-k.

    Unscored entries (refined lists carry no scores: they are already a selection) pass
    the threshold and rank after scored ones for top-k. The kept entries stay in the
    list's own (cast) order, so the prompt does not reshuffle when scores move.
    """
    pool = list(character_pool(event, source, training))
    if threshold is not None:
        pool = [c for c in pool if c.score is None or c.score >= threshold]
    if max_characters is not None and len(pool) > max_characters:
        ranked = sorted(range(len(pool)),
                        key=lambda i: (pool[i].score is None, -(pool[i].score or 0.0)))
        keep = set(ranked[:max_characters])
        pool = [c for i, c in enumerate(pool) if i in keep]
    return [c if c.short_name else dataclasses.replace(c, short_name=c.display_name)
            for c in pool]


def release_skips(character: Character) -> bool:
    """The release's CMD/TV filter: no ``char_in_ad``, or a pronoun / function word."""
    return not character.short_name or character.short_name in RELEASE_SKIPPED_NAMES


def _oldest_first(items: Sequence, count: int) -> list:
    """The ``count`` nearest of a nearest-first list, reordered oldest first."""
    return list(reversed(items[:count]))


class ADDataset(Dataset):
    """AD events -> :class:`Sample` (see the module docstring).

    ``training`` picks ``config.train_sampling`` (random, per ``(seed, epoch, index)``)
    or ``config.eval_sampling``, and the ``"auto"`` character source. ``bank=None``
    gives samples without characters (the no-bank ablation). Tensors are float32.
    The store opens its HDF5 handle lazily per process, so the dataset can be handed to a
    ``DataLoader`` with worker processes.

    ``data.max_ad_tokens`` is not applied here: it needs the tokenizer, so the sequence
    builder enforces it.
    """

    def __init__(
        self,
        events: Sequence[ADEvent],
        features: FeatureStore,
        bank: CharacterBank | None,
        config: DataConfig,
        training: bool,
        seed: int = 0,
    ) -> None:
        _check_config(config)
        self.features = features
        self.bank = bank
        self.config = config
        self.training = training
        self.seed = seed
        self.epoch = 0
        self.sampling = config.train_sampling if training else config.eval_sampling
        self._check_dims()

        self.events: list[ADEvent] = []
        self.dropped: list[tuple[str, str]] = []
        self.unreadable: list[str] = []  # dropped because their window fails the store's check
        self.without_context: list[str] = []  # uids kept with fewer previous clips
        self.missing_exemplars: Counter[str] = Counter()  # "<video>/<character id>" -> events
        self.filtered_characters = 0  # entries data.character_filter left out
        self._previous: list[tuple[ADEvent, ...]] = []  # usable previous clips, oldest first
        self._characters: list[list[CharacterEntry]] = []
        self._videos: dict[str, int | str] = {}  # timeline video -> frames, or why it is unusable
        self._unusable_context = 0  # events whose earlier AD exists but whose clip does not
        for event in events:
            self._add(event)
        self._log_summary(len(events))
        if self.missing_exemplars and not any(self._characters):
            first = next(iter(self.missing_exemplars))
            raise DataError(bank.source, f"holds none of the {len(self.missing_exemplars)} "
                            "characters the annotations select (e.g. "
                            f"{first}): a bank for other annotations?", record=first,
                            field="exemplar")

    # -- construction ----------------------------------------------------------------------

    def _check_dims(self) -> None:
        """A bank of another width than the features can never work: say so up front."""
        if self.bank is None or self.bank.feature_dim is None or not self.features.feature_shape:
            return
        width = self.features.feature_shape[-1]
        if self.bank.feature_dim != width:
            raise DataError(self.bank.source, f"exemplars have width {self.bank.feature_dim} "
                            f"but the features in {self.features.path} have width {width}",
                            field="exemplar")

    def _window_problem(self, video_id: str, start: float, end: float) -> str | None:
        """The store's window check, each timeline video's dataset checked once."""
        store, frames = self.features, None
        if store.layout == "timeline":
            if video_id not in self._videos:
                problem = store.window_problem(video_id, 0.0, 0.0)
                self._videos[video_id] = problem.message if problem else store.num_frames(video_id)
            frames = self._videos[video_id]
            if isinstance(frames, str):
                return frames
        problem = store.window_problem(video_id, start, end, frames)
        return problem and problem.message

    def _add(self, event: ADEvent) -> None:
        problem = self._window_problem(event.video_id, event.start, event.end)
        if problem is not None:
            self.dropped.append((event.uid, problem))
            self.unreadable.append(event.uid)
            return
        wanted = _oldest_first(event.context, self.config.previous_clips)
        usable = tuple(c for c in wanted
                       if self._window_problem(event.video_id, c.start, c.end) is None)
        if len(usable) < self.config.previous_clips:
            if self.config.drop_without_context:
                self.dropped.append((event.uid, f"has {len(usable)} of the "
                                     f"{self.config.previous_clips} previous clips asked for "
                                     "and data.drop_without_context is set"))
                return
            self.without_context.append(event.uid)
            if len(usable) < len(wanted):
                self._unusable_context += 1
        self.events.append(event)
        self._previous.append(usable)
        self._characters.append(self._entries(event))

    def _entries(self, event: ADEvent) -> list[CharacterEntry]:
        if self.bank is None:
            return []
        entries = []
        pool = select_characters(
            event, self.config.character_source, self.training,
            self.config.character_threshold, self.config.max_characters,
        )
        skipped: set[str] = set()
        if self.config.character_filter == "release":
            # Judged on the file's char_in_ad (select_characters fills an empty short name in).
            skipped = {c.id for c in character_pool(event, self.config.character_source,
                                                    self.training) if release_skips(c)}
        for i, character in enumerate(pool):
            if character.id in skipped:
                self.filtered_characters += 1
                continue
            exemplar = self.bank.exemplar(event.video_id, character.id)
            if exemplar is None:
                self.missing_exemplars[f"{event.video_id}/{character.id}"] += 1
                continue
            entries.append(CharacterEntry(character, exemplar, last_listed=i == len(pool) - 1))
        return entries

    def _log_summary(self, total: int) -> None:
        if self.dropped:
            shown = "; ".join(f"{uid}: {why}" for uid, why in self.dropped[:_SHOWN_REASONS])
            log.warning("dropped %d of %d events (first: %s)", len(self.dropped), total, shown)
        if self.without_context:
            # A video's first ADs have no earlier AD: expected. A missing clip is not.
            level = logging.WARNING if self._unusable_context else logging.INFO
            log.log(level, "%d events have fewer than %d previous clips (%d of them because "
                    "the clip lies outside the features) and are kept without them (first: %s)",
                    len(self.without_context), self.config.previous_clips,
                    self._unusable_context, ", ".join(self.without_context[:_SHOWN_REASONS]))
        if self.filtered_characters:
            log.info("data.character_filter=%s left out %d character entries",
                     self.config.character_filter, self.filtered_characters)
        if self.missing_exemplars:
            log.warning("%d selected character entries have no exemplar in the bank and are "
                        "left out (first: %s)", sum(self.missing_exemplars.values()),
                        ", ".join(list(self.missing_exemplars)[:_SHOWN_REASONS]))
        if self.events and self.bank is not None and not any(self._characters):
            log.warning("no event has characters with character_source=%r (training=%s); "
                        "MAD eval files ship only the refined list ('refined', 'recognised')",
                        self.config.character_source, self.training)

    # -- access ----------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Change the random frame draws (training). Call it before iterating the epoch's
        DataLoader; workers kept alive across epochs (``persistent_workers``) hold a copy
        of the dataset and would not see the change."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int) -> Sample:
        event = self.events[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return assemble_sample(
            event, self.features, self.config, self.sampling,
            previous=[(c.start, c.end) for c in self._previous[index]],
            context_texts=[c.text for c in _oldest_first(event.context, self.config.context_ads)],
            characters=[dataclasses.replace(e, exemplar=e.exemplar.to(torch.float32))
                        for e in self._characters[index]],  # keeps last_listed (cmdtv prompt)
            target=event.text, rng=rng,
        )


def collate_samples(samples: list[Sample]) -> list[Sample]:
    """Keep a batch as a list of samples: the model's sequence builder pads and stacks,
    because the interleaved sequences differ in layout (characters, context) per sample."""
    return list(samples)
