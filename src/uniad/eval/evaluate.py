"""Evaluate a checkpoint on a whole split: generate (batched, resumable), then score.

Generation appends one JSON line per sample to ``predictions.jsonl`` and flushes after
every batch, so a crash loses at most one batch and a rerun generates only the samples
that are not there yet. ``run.json`` records the settings the lines were generated with;
a rerun with other settings refuses to mix them. Scoring goes through the metrics driver
(:func:`uniad.eval.scoring.score`), plus the synthetic name/pronoun accuracies when the
world's truth is given; :mod:`uniad.eval.report` writes what people open.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from uniad.config import GenerationConfig
from uniad.data.dataset import ADDataset
from uniad.data.synthetic import EventTruth
from uniad.errors import UniADError
from uniad.eval.inputs import References
from uniad.eval.scoring import ScoreOptions, score
from uniad.eval.synthetic_accuracy import judge_all, synthetic_accuracy

log = logging.getLogger(__name__)

LINES_FILE, RUN_FILE = "predictions.jsonl", "run.json"
_NOT_IDENTITY = ("world", "device")  # settings that do not change what is generated


@dataclass
class EvalResult:
    """What an evaluation produced; ``records`` are the prediction lines, in dataset order."""

    out_dir: Path
    scores: dict[str, float]
    counts: dict[str, int]
    notes: list[str]
    settings: dict[str, Any]
    records: list[dict[str, Any]]
    sample_cider: dict[str, float] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    without_context: list[str] = field(default_factory=list)  # kept with fewer previous clips
    generated_now: int = 0

    @property
    def predictions(self) -> dict[str, str]:
        return {r["uid"]: r["prediction"] for r in self.records}


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
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
            break
        if not isinstance(record, dict) or not {"uid", "prediction"} <= set(record):
            raise UniADError(f"{path}: line {n + 1} lacks 'uid'/'prediction'; "
                             "rerun with --no-resume to start over")
        records.append(record)
    return records


def _append(handle, records: list[dict[str, Any]]) -> None:
    for record in records:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())  # a batch on disk survives a crash of the process or machine


def _check_run(out: Path, generation_settings: dict[str, Any], resume: bool) -> None:
    """Start fresh, or make sure the existing lines came from the same settings."""
    run_file, lines = out / RUN_FILE, out / LINES_FILE
    if not resume:
        lines.unlink(missing_ok=True)
    elif run_file.is_file() and lines.is_file():
        before = json.loads(run_file.read_text(encoding="utf-8"))
        if before != generation_settings:
            changed = sorted(k for k in set(before) | set(generation_settings)
                             if before.get(k) != generation_settings.get(k))
            raise UniADError(f"{lines}: generated with other settings ({', '.join(changed)} "
                             "differ); use another --out or --no-resume")
    run_file.write_text(json.dumps(generation_settings, indent=2) + "\n", encoding="utf-8")


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
    with (out / LINES_FILE).open("a", encoding="utf-8") as handle, \
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
            _append(handle, batch)
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
    from uniad.eval.tokenize import default_tokenizer

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
    truth: dict[str, EventTruth] | None = None,
    references: References | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    resume: bool = True,
    settings: dict[str, Any] | None = None,
) -> EvalResult:
    """Generate for ``dataset`` into ``out_dir``, score, and write the report files.

    ``settings`` (checkpoint, data files, ...) are recorded in ``scores.json`` and
    ``report.md`` beside the decoding and scoring settings.
    """
    from uniad.eval.report import write_outputs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = dataset.features.feature_shape[-1] if dataset.features.feature_shape else None
    if width is not None and width != model.config.model.feature_dim:
        raise UniADError(f"the checkpoint expects features of width {model.config.model.feature_dim} "
                         f"(model.feature_dim) but {dataset.features.path} has width {width}")
    generation = dataclasses.replace(generation or model.config.generation)
    if batch_size is not None:
        generation.batch_size = batch_size
    options = options or ScoreOptions()
    decoding = {k: v for k, v in dataclasses.asdict(generation).items() if k != "batch_size"}
    # What the generated lines depend on; a resume under other values would mix outputs.
    lora = model.config.model.release_lora  # which LoRA semantics generated the lines
    identity = {k: v for k, v in (settings or {}).items() if k not in _NOT_IDENTITY}
    _check_run(out, {"decoding": decoding, "data_settings": dataclasses.asdict(dataset.config),
                     "lora": lora, **identity}, resume)

    records, generated = generate_split(model, dataset, out, generation, limit)
    predictions = {r["uid"]: r["prediction"] for r in records}
    refs = split_references(dataset, list(predictions), references)
    report = score(predictions, refs, options)
    if truth is not None:
        accuracies = synthetic_accuracy(predictions, truth)
        report.scores.update({k: v for k, v in accuracies.items() if not k.endswith(" n")})
        report.counts.update({k: int(v) for k, v in accuracies.items() if k.endswith(" n")})
        report.notes.append("NameAcc/PronounAcc: synthetic-world truth (uniad.eval.synthetic_accuracy)")
    empty = sum(not p.strip() for p in predictions.values())
    report.counts.update({
        "events": len(dataset) + len(dataset.dropped), "dropped by the dataset": len(dataset.dropped),
        "left out by --limit": len(dataset) - len(records), "empty predictions": empty,
        "generated in this run": generated,
        "kept without a previous clip": len(dataset.without_context),
    })
    if dataset.without_context and not dataset.config.drop_without_context:
        report.notes.append(
            f"{len(dataset.without_context)} sample(s) have no previous clip and are scored "
            "without one; the release leaves CMD-AD/TV-AD records without `content` out "
            "(data.drop_without_context=true does the same, for comparable numbers)")
    if empty:
        report.notes.append(f"{empty} empty prediction(s) are scored as they are (they score 0)")
    report.notes.append(f"model.release_lora={lora}: " + LORA_NOTES[lora])
    report.notes.append(f"generation.rules={generation.rules}: " + RULES_NOTES[generation.rules])
    result = EvalResult(
        out_dir=out, scores=report.scores, counts=report.counts, notes=report.notes,
        settings={**(settings or {}), "decoding": decoding, "batch_size": generation.batch_size,
                  "lora": lora, "text_decoder": model.text_decoder.kind,
                  "scoring": dataclasses.asdict(options),
                  "data_settings": dataclasses.asdict(dataset.config)},
        records=records,
        sample_cider=sample_cider(predictions, refs, options.tokenizer),
        dropped=list(dataset.dropped), without_context=list(dataset.without_context),
        generated_now=generated,
    )
    write_outputs(result, judge_all(predictions, truth) if truth is not None else None)
    return result
