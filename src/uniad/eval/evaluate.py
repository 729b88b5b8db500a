"""Evaluate a checkpoint on a whole split: generate (batched, resumable), then score.

Generation appends one JSON line per sample to ``predictions.jsonl`` and flushes after
every batch, so a crash loses at most one batch and a rerun generates only the samples
that are not there yet. ``run.json`` records the settings the lines were generated with;
a rerun with other settings refuses to mix them. Scoring goes through the metrics driver
(:func:`uniad.eval.scoring.score`), plus the synthetic name/pronoun accuracies when the
world's truth is given; :mod:`uniad.eval.report` writes what people open.

Scorers that need truth evaluate does not know (the synthetic world's subjects) come in
as :class:`SampleScorer` objects, so this module imports nothing of the world.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Iterator

from tqdm import tqdm

from uniad.config import GenerationConfig
from uniad.data.dataset import ADDataset
from uniad.errors import OutputError, UniADError
from uniad.eval.inputs import References
from uniad.eval.report import EvalResult, SampleScorer, write_outputs
from uniad.eval.scoring import ScoreOptions, score
from uniad.io import AppendLog, output_error, refuse_existing_file, write_json, write_text
from uniad.model.folder import CONFIG_FILE, FINAL_DIR, WEIGHTS_FILE

log = logging.getLogger(__name__)

LINES_FILE, RUN_FILE, LOCK_FILE = "predictions.jsonl", "run.json", ".lock"
#: What a training run or checkpoint folder holds and an evaluation folder never does.
TRAINING_MARKS = (CONFIG_FILE, "checkpoints", FINAL_DIR, WEIGHTS_FILE)
_NOT_IDENTITY = ("world", "device")  # settings that do not change what is generated


LORA_NOTES = {
    "shipped": "the checkpoint's LoRA adapters were NOT applied, as in the release's own "
               "evaluation (--set model.release_lora=active applies them, as the paper describes)",
    "active": "the checkpoint's LoRA adapters were applied",
}
RULES_NOTES = {
    "hf432": "beam search as transformers 4.32.1 runs the release's arguments (BOS-seeded "
             "penalties; --set generation.rules=standard for transformers 5's rules)",
    "hf446": "beam search as transformers 4.46.3 runs the release's CMD-AD/TV-AD arguments "
             "(--set generation.rules=standard for transformers 5's rules)",
    "standard": "beam search with transformers 5's rules (--set generation.rules=hf432 or hf446 "
                "for the release's)",
}


# -- the prediction log -------------------------------------------------------------------


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The records of ``predictions.jsonl``; a torn last line (crash mid-write) is dropped
    and the file rewritten without it, so appending continues from a clean end."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for n, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if n != len(lines) - 1:
                raise UniADError(f"{path}: line {n + 1} is not JSON ({err}); "
                                 "rerun with --no-resume to start over") from err
            log.warning("%s: dropping a torn last line (interrupted write)", path)
            write_text(path, "".join(json.dumps(r) + "\n" for r in records))
            break
        if not isinstance(record, dict) or not {"uid", "prediction"} <= set(record):
            raise UniADError(f"{path}: line {n + 1} lacks 'uid'/'prediction'; "
                             "rerun with --no-resume to start over")
        records.append(record)
    return records


def check_output_folder(out: Path) -> None:
    """Refuse an ``--out`` that would overwrite something evaluate does not own: a file,
    a training run folder (its ``run.json`` is the run's provenance) or a checkpoint."""
    refuse_existing_file(out, "--out")
    owned_by = next((name for name in TRAINING_MARKS if (out / name).exists()), None)
    if owned_by is not None:
        raise OutputError(f"--out {out}: is a training run or checkpoint folder (it holds "
                          f"{owned_by}); evaluating there would overwrite its run.json. "
                          f"Use a folder of its own, e.g. --out {out / 'eval'}")


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` for the whole evaluation: a second ``uniad evaluate`` into the
    same folder is refused at once instead of generating everything a second time."""
    path = out / LOCK_FILE
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
    except OSError as err:
        raise output_error(err, path) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputError(f"--out {out}: another `uniad evaluate` ({holder}) is writing "
                              "into this folder; wait for it or use another --out") from None
        with contextlib.suppress(OSError):  # the note is for people; the lock is the flock
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}\n")
            handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def check_run(out: Path, generation_settings: dict[str, Any], resume: bool) -> None:
    """Start fresh, or make sure the existing lines came from the same settings."""
    run_file, lines = out / RUN_FILE, out / LINES_FILE
    before = None
    if not resume:
        lines.unlink(missing_ok=True)
    elif run_file.is_file() and lines.is_file():
        try:
            before = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UniADError(f"{run_file}: unreadable ({err}); rerun with --no-resume to "
                             "start over") from None
        if not isinstance(before, dict):
            raise UniADError(f"{run_file}: expected an object of settings; rerun with "
                             "--no-resume to start over")
        if before != generation_settings:
            changed = sorted(k for k in set(before) | set(generation_settings)
                             if before.get(k) != generation_settings.get(k))
            raise UniADError(f"{lines}: generated with other settings ({', '.join(changed)} "
                             "differ); use another --out or --no-resume")
    if before != generation_settings:  # unchanged: nothing to write (nor to fail writing)
        write_json(run_file, generation_settings)


def generate_split(
    model, dataset: ADDataset, out: Path, generation: GenerationConfig, limit: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Generate for every sample of ``dataset`` (the first ``limit``) not yet in the log.

    Returns the records in dataset order and how many were generated by this call.
    """
    indices = range(len(dataset) if limit is None else min(limit, len(dataset)))
    done = {r["uid"]: r for r in read_lines(out / LINES_FILE)}
    pending = [i for i in indices if dataset.events[i].uid not in done]
    if done:
        log.info("resuming: %d of %d samples already generated", len(indices) - len(pending),
                 len(indices))
    step = max(1, generation.batch_size)
    with AppendLog(out / LINES_FILE) as lines, \
            tqdm(total=len(pending), desc="generating", unit="AD") as bar:
        for start in range(0, len(pending), step):
            samples = [dataset[i] for i in pending[start:start + step]]
            texts = model.generate(samples, generation)
            batch = [
                {"uid": s.sample_id, "prediction": text, "reference": s.target,
                 "video_id": s.event.video_id, "start": s.event.start, "end": s.event.end,
                 "context": list(s.context_texts)}
                for s, text in zip(samples, texts)
            ]
            try:
                lines.append([json.dumps(r, ensure_ascii=False) for r in batch])
            except OutputError as err:
                kept = len(indices) - len(pending) + start
                raise OutputError(f"{err}; {kept} prediction(s) are kept there: free space "
                                  "and rerun the same command to generate only the rest") from None
            done.update((r["uid"], r) for r in batch)
            bar.update(len(batch))
    records = [done[dataset.events[i].uid] for i in indices]
    return records, len(pending)


# -- scoring ------------------------------------------------------------------------------


def split_references(dataset: ADDataset, uids: list[str], given: References | None) -> References:
    """References restricted to ``uids``: from ``given`` (an annotation file read by
    :func:`uniad.eval.inputs.load_references`, with cast and names) or from the events."""
    keep = set(uids)
    if given is None:
        events = [e for e in dataset.events if e.uid in keep]
        groups: dict[str, list] = {}
        for e in sorted(events, key=lambda e: e.start):
            groups.setdefault(e.video_id, []).append(e.uid)
        return References({e.uid: [e.text] for e in events}, groups, "dataset events")
    missing = keep - set(given.texts)
    if missing:
        raise UniADError(f"{len(missing)} evaluated uid(s) are not in the references "
                         f"(e.g. {sorted(missing)[:3]})")
    groups = {g: [u for u in ids if u in keep] for g, ids in given.groups.items()}
    return dataclasses.replace(
        given, texts={u: t for u, t in given.texts.items() if u in keep},
        groups={g: ids for g, ids in groups.items() if ids},
        named={u: n for u, n in given.named.items() if u in keep})


def sample_cider(predictions: dict[str, str], refs: References, tokenizer_name: str) -> dict[str, float]:
    """Per-sample CIDEr-D (x100) from the same pooled computation as the corpus score, so
    the mean over any subset (a movie) uses the IDF of the whole split."""
    from pycocoevalcap.cider.cider import Cider

    from uniad.eval.coco import tokenize_pairs
    from uniad.text import default_tokenizer

    gts, res = tokenize_pairs(predictions, {u: refs.texts[u] for u in predictions},
                              default_tokenizer(tokenizer_name))
    _, per = Cider().compute_score(gts, res)
    return {uid: 100.0 * float(v) for uid, v in zip(gts, per)}


def evaluate(
    model,
    dataset: ADDataset,
    out_dir: str | Path,
    *,
    generation: GenerationConfig | None = None,
    options: ScoreOptions | None = None,
    scorers: Sequence[SampleScorer] = (),
    references: References | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    resume: bool = True,
    settings: dict[str, Any] | None = None,
) -> EvalResult:
    """Generate for ``dataset`` into ``out_dir``, score, and write the report files.

    ``settings`` (checkpoint, data files, ...) are recorded in ``scores.json`` and
    ``report.md`` beside the decoding and scoring settings. The folder is locked for the
    whole call and must not be a training run folder (:func:`check_output_folder`).
    """
    out = Path(out_dir)
    check_output_folder(out)
    with output_lock(out):
        return _evaluate_locked(model, dataset, out, generation, options, scorers, references,
                                batch_size, limit, resume, settings)


def _evaluate_locked(model, dataset: ADDataset, out: Path, generation: GenerationConfig | None,
                     options: ScoreOptions | None, scorers: Sequence[SampleScorer],
                     references: References | None, batch_size: int | None, limit: int | None,
                     resume: bool, settings: dict[str, Any] | None) -> EvalResult:
    dataset.features.check_width(model.config.model.feature_dim)
    generation = dataclasses.replace(generation or model.config.generation)
    if batch_size is not None:
        generation.batch_size = batch_size
    options = options or ScoreOptions()
    decoding = {k: v for k, v in dataclasses.asdict(generation).items() if k != "batch_size"}
    # What the generated lines depend on; a resume under other values would mix outputs.
    lora = model.config.model.release_lora  # which LoRA semantics generated the lines
    identity = {k: v for k, v in (settings or {}).items() if k not in _NOT_IDENTITY}
    check_run(out, {"decoding": decoding, "data_settings": dataclasses.asdict(dataset.config),
                     "lora": lora, **identity}, resume)

    records, generated = generate_split(model, dataset, out, generation, limit)
    empty = sum(not r["prediction"].strip() for r in records)
    notes = []
    if dataset.without_context and not dataset.config.drop_without_context:
        notes.append(
            f"{len(dataset.without_context)} sample(s) have no previous clip and are scored "
            "without one; the release leaves CMD-AD/TV-AD records without `content` out "
            "(data.drop_without_context=true does the same, for comparable numbers)")
    if empty:
        notes.append(f"{empty} empty prediction(s) are scored as they are (they score 0)")
    notes.append(f"model.release_lora={lora}: " + LORA_NOTES[lora])
    notes.append(f"generation.rules={generation.rules}: " + RULES_NOTES[generation.rules])
    return score_and_report(
        out, records, references, options, dataset=dataset, scorers=scorers, counts={
            "events": len(dataset) + len(dataset.dropped),
            "dropped by the dataset": len(dataset.dropped),
            "left out by --limit": len(dataset) - len(records), "empty predictions": empty,
            "generated in this run": generated,
            "kept without a previous clip": len(dataset.without_context),
        }, notes=notes,
        settings={**(settings or {}), "decoding": decoding, "batch_size": generation.batch_size,
                  "lora": lora, "text_decoder": model.text_decoder.kind,
                  "scoring": dataclasses.asdict(options),
                  "data_settings": dataclasses.asdict(dataset.config)},
        generated=generated, dropped=list(dataset.dropped),
        without_context=list(dataset.without_context))


def score_and_report(out: Path, records: list[dict[str, Any]], references: References | None,
                     options: ScoreOptions, *, counts: dict[str, int], notes: Sequence[str],
                     settings: dict[str, Any], generated: int, dataset: ADDataset | None = None,
                     scorers: Sequence[SampleScorer] = (), **result_fields: Any) -> EvalResult:
    """Score the ``records`` of ``predictions.jsonl`` and write the report files: the end
    of :func:`evaluate` and of :func:`uniad.eval.describe_split.evaluate_describer`.

    References come from ``references`` or, when None, from the ``dataset``'s events
    (:func:`split_references`). ``counts`` and ``notes`` follow the metrics' and the
    ``scorers``' own; ``result_fields`` go to :class:`EvalResult` as they are. A report
    that cannot be written is an :class:`OutputError` saying the predictions are kept.
    """
    predictions = {r["uid"]: r["prediction"] for r in records}
    refs = split_references(dataset, list(predictions), references)
    report = score(predictions, refs, options)
    judged = [(scorer, scorer.judge(predictions)) for scorer in scorers]
    for scorer, judgements in judged:
        numbers = scorer.summarise(judgements.values())
        report.scores.update({k: v for k, v in numbers.items() if not k.endswith(" n")})
        report.counts.update({k: int(v) for k, v in numbers.items() if k.endswith(" n")})
        report.notes.append(scorer.note)
    report.counts.update(counts)
    report.notes.extend(notes)
    result = EvalResult(
        out_dir=out, scores=report.scores, counts=report.counts, notes=report.notes,
        settings=settings, records=records,
        sample_cider=sample_cider(predictions, refs, options.tokenizer),
        generated_now=generated, **result_fields)
    try:
        write_outputs(result, judged)
    except OutputError as err:
        raise OutputError(f"{err}; the {len(records)} predictions are kept in "
                          f"{out / LINES_FILE}: rerun the same command to write the report "
                          "without generating again") from None
    return result
