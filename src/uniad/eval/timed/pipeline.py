"""Score AD tracks of a set of films the way REFRAMED's preprocessing + scorers + evaluate do.

No file I/O: readers hand in untokenized segments, and the two Java tools come in as
callables (``tokenize``: PTB token strings; ``meteor``: scores of requests), each called
once for the whole set. Per system, REFRAMED's steps in order:

1. tokenize every reference and generated text (one tokenizer call);
2. the realistic variant: :func:`~uniad.eval.timed.realistic.realistic_filter` on the raw
   cues with the gaps of the cue's film (or clip);
3. each variant as REFRAMED's preprocessing writes it: cues without tokens dropped, times
   rounded to the millisecond, re-ordered by (start, end, position), then overlapping cues
   cut at the midpoint (:func:`~uniad.eval.timed.gaps.cut_overlaps`);
4. cues to items: a clip's cues all belong to it; a film split into sequences gives each
   cue to the sequence it overlaps most (none when it overlaps none);
5. gap CIDEr / METEOR and SODA per item, then per movie, then over movies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from uniad.eval.timed.aggregate import ItemScores, item_means, over_movies
from uniad.eval.timed.gap_scores import (CIDER_MAX_GAP_S, GapRecord, cider_scores, gap_meteor,
                                         meteor_requests)
from uniad.eval.timed.gaps import Gap, cut_overlaps, gap_texts
from uniad.eval.timed.realistic import MAX_WPM, Dropped, realistic_filter, track_wpm
from uniad.eval.timed.segments import Segment, joined_tokens
from uniad.eval.timed.soda import TOLERANCE_S, soda

METRICS = ("CIDEr", "METEOR", "SODA-M", "SODA-T")
VARIANTS = ("raw", "realistic")
Tokenize = Callable[[list[str]], list[str]]
Meteor = Callable[[list[tuple[str, tuple[str, ...]]]], list[float]]


@dataclass(frozen=True)
class TimedSettings:
    """REFRAMED's ``configs/base.yaml`` values."""

    collar_s: float = 1.0
    min_gap_s: float = 1.0
    cider_max_gap_s: float = CIDER_MAX_GAP_S
    max_wpm: float = MAX_WPM
    tolerance_s: float = TOLERANCE_S
    soda: bool = True  # False: gap metrics only (SODA of a whole film is #cues^2 METEOR calls)


@dataclass(frozen=True)
class Item:
    """What one score is computed over: a clip, a film's sequence or a whole film."""

    movie: str
    name: str
    start: float
    end: float
    gaps: tuple[Gap, ...]
    references: tuple[tuple[Segment, ...], ...]  # one tuple per reference track


@dataclass(frozen=True)
class Unit:
    """One generated track (file) and the items it is scored on."""

    key: str
    movie: str
    items: tuple[Item, ...]
    by_overlap: bool = False  # True: cues go to the item they overlap most
    covered: bool = True  # False: a movie the system has no track for (a movie subset)

    @property
    def gaps(self) -> list[Gap]:
        return [gap for item in self.items for gap in item.gaps]


@dataclass
class VariantResult:
    scores: dict[str, float | None]
    items: dict[str, ItemScores]
    cues: int = 0
    scored_gaps: int = 0
    cider_gaps: int = 0
    wpm: float | None = None
    dropped: list[tuple[str, Dropped]] = field(default_factory=list)  # (unit key, cue)
    wordless: int = 0
    shortened: int = 0  # cues the midpoint cut shortened
    removed: int = 0  # cues the overlap cut removed


@dataclass
class SetResult:
    variants: dict[str, VariantResult]
    references_without_words: int = 0
    raw_cues: dict[str, list[Segment]] = field(default_factory=dict)


def tokenize_segments(groups: Sequence[Sequence[Segment]], tokenize: Tokenize) -> list[list[Segment]]:
    """Every segment of every group with its PTB tokens, in one tokenizer call."""
    texts = [s.text for group in groups for s in group]
    tokens = iter(tokenize(texts) if texts else [])
    return [[Segment(s.start, s.end, s.text, tuple(next(tokens).split())) for s in group]
            for group in groups]


def as_written(segments: Sequence[Segment]) -> list[Segment]:
    """A variant's cues as REFRAMED's preprocessing writes and re-reads them (step 3, before
    the overlap cut): cues with tokens, times rounded as it computes them (the end is
    interpolated as start + (end - start) x tokens / tokens), its order."""
    written = [Segment(round(s.start, 3), round(s.start + (s.end - s.start) * 1.0, 3),
                       s.text.strip(), s.tokens) for s in segments if s.tokens]
    order = sorted(range(len(written)),
                   key=lambda n: (written[n].start, written[n].end, str(n + 1)))
    return [written[n] for n in order]


def assign(unit: Unit, segments: Sequence[Segment]) -> dict[str, list[Segment]]:
    """Cues per item name: all to a single-item unit; else each to the item it overlaps
    longest (the first on a tie; none when it overlaps no item)."""
    out: dict[str, list[Segment]] = {item.name: [] for item in unit.items}
    if not unit.by_overlap:
        out[unit.items[0].name] = list(segments)
        return out
    for segment in segments:
        best, best_overlap = None, 0.0
        for item in unit.items:
            overlap = min(segment.end, item.end) - max(segment.start, item.start)
            if overlap > best_overlap:
                best, best_overlap = item.name, overlap
        if best is not None:
            out[best].append(segment)
    return out


@dataclass
class _Prepared:
    """A variant's cues per item and its gap records. ``records`` also holds the gaps of
    movies the system did not cover: REFRAMED puts them in CIDEr's IDF corpus (with an
    empty generation) but averages only ``counted`` ones."""

    generations: list[tuple[Item, list[Segment]]]
    records: list[GapRecord]
    counted: list[bool]
    dropped: list[tuple[str, Dropped]]
    wordless: int = 0
    shortened: int = 0
    removed: int = 0


def _prepare(units: Sequence[Unit], cues: dict[str, list[Segment]], realistic: bool,
             settings: TimedSettings) -> _Prepared:
    prepared = _Prepared([], [], [], [])
    for unit in units:
        segments = cues.get(unit.key, [])
        if realistic:
            segments, dropped = realistic_filter(segments, unit.gaps, settings.collar_s,
                                                 settings.max_wpm)
            prepared.dropped += [(unit.key, d) for d in dropped]
        written = as_written(segments)
        final = cut_overlaps(written)
        prepared.wordless += len(segments) - len(written)
        prepared.removed += len(written) - len(final)
        unchanged = set(written)
        prepared.shortened += sum(1 for s in final if s not in unchanged)
        by_item = assign(unit, final)
        for item in unit.items:
            generations = by_item[item.name]
            if unit.covered:
                prepared.generations.append((item, generations))
            texts = gap_texts(generations, item.gaps, settings.collar_s)
            references = [gap_texts(ref, item.gaps, settings.collar_s) for ref in item.references]
            for index, (start, end) in enumerate(item.gaps):
                prepared.records.append(GapRecord(item.movie, item.name, start, end, texts[index],
                                                  tuple(r[index] for r in references)))
                prepared.counted.append(unit.covered)
    return prepared


def _soda_requests(item: Item, generations: Sequence[Segment]) -> list[tuple[str, tuple[str, ...]]]:
    return [(joined_tokens(g), (joined_tokens(r),))
            for reference in item.references for g in generations for r in reference]


def _score_variant(prepared: _Prepared, meteor: dict, settings: TimedSettings) -> VariantResult:
    corpus = [(r, counted) for r, counted in zip(prepared.records, prepared.counted) if r.scored]
    ciders = cider_scores([r for r, _ in corpus])
    scored = [r for r, counted in corpus if counted]
    cider = item_means((r.movie, r.item, c) for (r, counted), c in zip(corpus, ciders)
                       if counted and r.seconds < settings.cider_max_gap_s)
    meteors = item_means((r.movie, r.item, gap_meteor([meteor[q] for q in meteor_requests(r)]))
                         for r in scored)
    soda_m: ItemScores = {}
    soda_t: ItemScores = {}
    wpm: ItemScores = {}
    for item, generations in prepared.generations:
        rate = track_wpm(generations)
        if rate is not None:
            wpm.setdefault(item.movie, {})[item.name] = rate
        results = []
        for reference in item.references if settings.soda else ():
            if not reference:
                continue
            similarity = [[meteor[(joined_tokens(g), (joined_tokens(r),))] for r in reference]
                          for g in generations]
            results.append(soda(generations, reference, similarity, settings.tolerance_s))
        if results:
            soda_m.setdefault(item.movie, {})[item.name] = max(r.soda_m for r in results)
            soda_t.setdefault(item.movie, {})[item.name] = max(r.soda_t for r in results)
    items = {"CIDEr": cider, "METEOR": meteors, "SODA-M": soda_m, "SODA-T": soda_t}
    return VariantResult(
        scores={name: over_movies(scores) for name, scores in items.items()}, items=items,
        cues=sum(len(g) for _, g in prepared.generations), scored_gaps=len(scored),
        cider_gaps=sum(1 for r in scored if r.seconds < settings.cider_max_gap_s),
        wpm=over_movies(wpm), dropped=prepared.dropped, wordless=prepared.wordless,
        shortened=prepared.shortened, removed=prepared.removed)


def score_set(units: Sequence[Unit], cues: dict[str, list[Segment]], tokenize: Tokenize,
              meteor: Meteor, settings: TimedSettings = TimedSettings(),
              variants: Sequence[str] = VARIANTS) -> SetResult:
    """Raw and realistic scores of one system's ``cues`` (unit key -> time-ordered
    untokenized cues) on ``units`` whose references are untokenized."""
    keys = [u.key for u in units]
    ref_groups = [ref for u in units for item in u.items for ref in item.references]
    tokenized = tokenize_segments(ref_groups + [cues.get(k, []) for k in keys], tokenize)
    refs, gens = iter(tokenized[:len(ref_groups)]), tokenized[len(ref_groups):]
    tokenized_units, wordless_refs = [], 0
    for unit in units:
        items = []
        for item in unit.items:
            references = []
            for _ in item.references:
                reference = next(refs)
                wordless_refs += sum(1 for s in reference if not s.tokens)
                references.append(tuple(s for s in reference if s.tokens))
            items.append(Item(item.movie, item.name, item.start, item.end, item.gaps,
                              tuple(references)))
        tokenized_units.append(Unit(unit.key, unit.movie, tuple(items), unit.by_overlap,
                                    unit.covered))
    tokenized_cues = dict(zip(keys, gens))
    prepared = {v: _prepare(tokenized_units, tokenized_cues, v == "realistic", settings)
                for v in variants}
    requests: dict[tuple[str, tuple[str, ...]], None] = {}
    for p in prepared.values():
        for record, counted in zip(p.records, p.counted):
            if record.scored and counted:
                requests.update(dict.fromkeys(meteor_requests(record)))
        for item, generations in p.generations if settings.soda else ():
            requests.update(dict.fromkeys(_soda_requests(item, generations)))
    ordered = list(requests)
    scores = dict(zip(ordered, meteor(ordered)))
    return SetResult({v: _score_variant(p, scores, settings) for v, p in prepared.items()},
                     wordless_refs, tokenized_cues)
