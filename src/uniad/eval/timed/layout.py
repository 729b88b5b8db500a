"""Sets of films to score, from our files or from REFRAMED's own data layout.

- One film: a generated track, one or two reference tracks and the dialogue; the film is
  one item from 0 s to its duration (given, or else the latest time in any of its files).
- Folders: the same per film, files matched by name (``film.srt`` in every folder);
  durations from one number or a JSON ``{film: seconds}``.
- REFRAMED's layout under a root (``meta/``, ``reference_data/``, ``generations/``), read
  as its evaluation reads it: the challenge split (films in sequences of scenes, end
  credits left out, a generated cue scored in the sequence it overlaps most) and the
  video splits (train/validation/test: each clip one item of its movie).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from uniad.errors import DataError
from uniad.eval.timed.gaps import Interval, clip_lines, dialogue_gaps, merge_overlapping
from uniad.eval.timed.pipeline import Item, Unit
from uniad.eval.timed.readers import ordered_cues, read_dialogue, read_track, track_files
from uniad.eval.timed.segments import Segment

REFERENCE_NAMES = ("reference1", "reference2")
SPLIT_FOLDERS = {"challenge": "challenge", "train": "videos", "validation": "videos",
                 "test": "videos"}


@dataclass
class ScoringSet:
    """What :func:`~uniad.eval.timed.pipeline.score_set` needs for one system, plus notes."""

    units: list[Unit]
    cues: dict[str, list[Segment]]
    notes: list[str]


def _item(name: str, movie: str, start: float, end: float, dialogue: Sequence[Interval],
          references: Sequence[Sequence[Segment]], min_gap_s: float) -> Item:
    lines = clip_lines(merge_overlapping(dialogue), start, end)
    return Item(movie, name, start, end, tuple(dialogue_gaps(lines, start, end, min_gap_s)),
                tuple(tuple(r) for r in references))


def film_set(pred: Path, refs: Sequence[Path], dialogue: Path | Sequence[Interval],
             duration: float | None, name: str | None = None, min_gap_s: float = 1.0) -> ScoringSet:
    """One film from its files (``dialogue``: a subtitle file or the dialogue's intervals).
    It is called ``name`` (default "film", so two systems' tracks of one film pair up in
    the significance test)."""
    cues = read_track(pred)
    references = [read_track(r, reference=True) for r in refs]
    lines = read_dialogue(dialogue) if isinstance(dialogue, (str, Path)) else merge_overlapping(dialogue)
    notes = []
    name = name or "film"
    if duration is None:
        ends = [e for _, e in lines] + [s.end for r in references for s in r] + [s.end for s in cues]
        duration = max(ends, default=0.0)
        notes.append(f"{name}: no duration given, using the latest time in its files "
                     f"({duration:.3f} s)")
    unit = Unit(name, name, (_item(name, name, 0.0, duration, lines, references, min_gap_s),))
    return ScoringSet([unit], {name: cues}, notes)


def read_durations(value: str | None) -> float | dict[str, float] | None:
    """``--duration``: seconds for every film, or a JSON file ``{film: seconds}``."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    path = Path(value)
    if not path.is_file():
        raise DataError(path, "--duration is neither a number of seconds nor a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise DataError(path, f"expected {{film: seconds}} ({exc})") from exc


def folder_set(pred: Path, refs: Sequence[Path], dialogue: Path,
               durations: float | dict[str, float] | None, min_gap_s: float = 1.0) -> ScoringSet:
    """Films matched by file name across the prediction, reference and dialogue folders;
    every reference and dialogue film must have a prediction (an empty track scores 0)."""
    preds = track_files(pred)
    ref_files = [track_files(r) for r in refs]
    lines = track_files(dialogue)
    units, cues, notes = [], {}, []
    for film in sorted(lines):
        missing = [str(folder) for folder, files in zip(refs, ref_files) if film not in files]
        if missing:
            raise DataError(lines[film], f"film {film!r} has no reference track in {', '.join(missing)}")
        if film not in preds:
            raise DataError(pred, f"no generated track for film {film!r} (name it {film}.srt/.vtt/.json)")
        duration = durations.get(film) if isinstance(durations, dict) else durations
        one = film_set(preds[film], [files[film] for files in ref_files], lines[film], duration,
                       film, min_gap_s)
        units += one.units
        cues.update(one.cues)
        notes += one.notes
    extra = sorted(set(preds) - set(lines))
    if extra:
        notes.append(f"not scored (no dialogue file): {', '.join(extra)}")
    return ScoringSet(units, cues, notes)


# --- REFRAMED's layout ------------------------------------------------------------------

def _json(path: Path) -> object:
    if not path.is_file():
        raise DataError(path, "file not found (REFRAMED layout)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})") from exc


def _generation_file(folder: Path, stem: str) -> Path | None:
    json_path, srt_path = folder / f"{stem}.json", folder / f"{stem}.srt"
    if json_path.exists() and srt_path.exists():
        raise DataError(folder / stem, "both .json and .srt generations exist")
    return json_path if json_path.exists() else srt_path if srt_path.exists() else None


def _challenge_movie(ref_dir: Path, movie: str, sequence_ids: list[str],
                     min_gap_s: float) -> tuple[Item, ...]:
    scenes = _json(ref_dir / "scenes" / f"{movie}.json")
    sequences = _json(ref_dir / "sequences" / f"{movie}.json")
    spans, scene_to_sequence, credits = {}, {}, None
    for sequence, names in sequences.items():
        for scene in names:
            if scene not in scenes:
                raise DataError(ref_dir / "scenes" / f"{movie}.json", f"no scene {scene!r}",
                                record=scene)
            scene_to_sequence[scene] = sequence
            credits = sequence if scene == "end_credits" else credits
        spans[sequence] = (min(float(scenes[s]["start"]) for s in names),
                           max(float(scenes[s]["end"]) for s in names))
    if credits is None:
        raise DataError(ref_dir / "sequences" / f"{movie}.json", "no sequence holds 'end_credits'")
    references = []
    for name in REFERENCE_NAMES:
        path = ref_dir / name / f"{movie}.json"
        raw = _json(path)
        by_sequence: dict[str, list[Segment]] = {s: [] for s in spans}
        for cue in ordered_cues(path, reference=True):
            scene = raw[cue.key].get("scene")
            if scene not in scene_to_sequence:
                raise DataError(path, f"unknown scene {scene!r}", record=cue.key, field="scene")
            by_sequence[scene_to_sequence[scene]].append(cue.segment())
        references.append(by_sequence)
    dialogue = read_dialogue(ref_dir / "subs" / f"{movie}.json")
    items = []
    for sequence in sequence_ids:
        if sequence == credits:
            continue
        if sequence not in spans:
            raise DataError(ref_dir / "sequences" / f"{movie}.json", f"no sequence {sequence!r}")
        start, end = spans[sequence]
        items.append(_item(sequence, movie, start, end, dialogue,
                           [r[sequence] for r in references], min_gap_s))
    return tuple(items)


def reframed_set(root: Path, split: str, system: str, min_gap_s: float = 1.0) -> ScoringSet:
    """One system of REFRAMED's layout: ``meta/reframed-{split}.json``,
    ``reference_data/{challenge|videos}/...`` and ``generations/{challenge|videos}/{system}/``."""
    if split not in SPLIT_FOLDERS:
        raise DataError(root, f"unknown split {split!r}: choose from {', '.join(SPLIT_FOLDERS)}")
    folder = SPLIT_FOLDERS[split]
    meta = _json(root / "meta" / f"reframed-{split}.json")
    ref_dir = root / "reference_data" / folder
    gen_dir = root / "generations" / folder / system
    if not gen_dir.is_dir():
        raise DataError(gen_dir, f"no generations for system {system!r}")
    units, cues, notes = [], {}, []
    for movie, movie_meta in meta.items():
        if folder == "challenge":
            path = _generation_file(gen_dir, movie)
            if path is None:  # REFRAMED still puts its gaps in CIDEr's IDF corpus
                notes.append(f"{movie}: no generations, not averaged (a movie subset)")
            else:
                cues[movie] = read_track(path)
            units.append(Unit(movie, movie, _challenge_movie(ref_dir, movie, list(movie_meta),
                                                             min_gap_s), True, path is not None))
            continue
        for video in movie_meta:
            clip, duration = str(video["id"]), float(video["duration"])
            path = _generation_file(gen_dir / movie, clip)
            if path is None:
                raise DataError(gen_dir / movie / f"{clip}.json", "generation file not found")
            references = [read_track(ref_dir / movie / name / f"{clip}.json", reference=True)
                          for name in REFERENCE_NAMES]
            dialogue = read_dialogue(ref_dir / movie / "subs" / f"{clip}.json")
            key = f"{movie}/{clip}"
            units.append(Unit(key, movie, (_item(clip, movie, 0.0, duration, dialogue,
                                                 references, min_gap_s),)))
            cues[key] = read_track(path)
    if not cues:
        raise DataError(gen_dir, "no generation file for any movie of the split")
    return ScoringSet(units, cues, notes)
