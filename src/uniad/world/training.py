"""Train and evaluate UniAD on a synthetic world: the steps `uniad demo` and `uniad bench
learn` share.

A world folder (:func:`uniad.world.synthetic.make_world`) holds the real file formats, so
these steps are the ones `uniad train` and `uniad evaluate` run, called in-process: the
training split trains, the held-out movies (unseen name-face pairs) evaluate, and the
world's truth adds the character-name and pronoun accuracies to CIDEr.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from uniad.config import UniADConfig, load_config
from uniad.data.dataset import ADDataset, collate_samples
from uniad.world.synthetic import (
    BANK_FILE, ENCODER_FOLDER, EVAL_FILE, FEATURES_FILE, TRAIN_FILE, load_world,
    load_world_truth,
)
from uniad.data.splits import open_split
from uniad.errors import UniADError
from uniad.eval.evaluate import evaluate
from uniad.eval.report import EvalResult
from uniad.eval.scoring import ScoreOptions
from uniad.world.accuracy import WorldScorer
from uniad.model.uniad import UniAD
from uniad.runtime import retune_threads
from uniad.train.data import build_for_training
from uniad.train.loop import TrainResult, train
from uniad.train.monitor import write_run_info

# Settings per LLM on top of the demo preset. The random "tiny" LLM knows no language, so
# all of it trains (LoRA on a frozen random base stays at chance, see model.train_llm),
# and at twice the demo's learning rate it leaves the loss plateau of a lookup not yet
# learned sooner (measured: 0.025 vs 0.18 after 6000 vs 3000 steps).
LLM_SETTINGS: dict[str, list[str]] = {
    "tiny": ["model.llm=tiny", "model.train_llm=true", "train.lr=2e-3"],
    "smollm2": ["model.llm=smollm2"],
}


def world_config(llm: str, overrides: list[str] | None = None,
                 world: Path | None = None) -> UniADConfig:
    """The demo preset for ``llm`` ("tiny" or "smollm2") plus ``overrides``; with a
    ``world`` folder, training refines characters at that world's recognition threshold
    (a rendered world's cosines are on another scale than the vector world's)."""
    if llm not in LLM_SETTINGS:
        raise UniADError(f"llm must be one of {', '.join(sorted(LLM_SETTINGS))}, got {llm!r}")
    from_world = []
    if world is not None:
        threshold = load_world(world)["parameters"]["refine_threshold"]
        from_world = [f"data.character_threshold={threshold}"]
    return load_config("demo", None, [*LLM_SETTINGS[llm], *from_world, *(overrides or [])])


def open_world_split(world: Path, config: UniADConfig, split: str) -> ADDataset:
    """The ``"train"`` or ``"eval"`` split of a world folder as an :class:`ADDataset`."""
    annotations = world / (TRAIN_FILE if split == "train" else EVAL_FILE)
    return open_split(annotations, world / FEATURES_FILE, world / BANK_FILE, config.data,
                      training=split == "train", seed=config.train.seed)


@dataclass
class WorldTraining:
    """A model trained on a world (handed back in evaluation mode), with where its run folder
    is and how long it took."""

    model: UniAD
    result: TrainResult
    seconds: float
    train_samples: int


def train_on_world(world: Path, config: UniADConfig, run_dir: Path) -> WorldTraining:
    """Train a fresh UniAD on the world's training split into ``run_dir`` (as `uniad train`).
    A rendered world's features come from its fitted encoder, which exists nowhere else, so
    the run's ``final/`` carries a copy of it (``visual_encoder/``): `uniad narrate` needs
    no ``--visual-encoder`` for it."""
    started = time.perf_counter()
    model, train_set = build_for_training(world / TRAIN_FILE, world / FEATURES_FILE,
                                          world / BANK_FILE, config)
    data = {"world": str(world)}
    if (world / ENCODER_FOLDER).is_dir():  # a rendered world: the folder narration loads
        data["visual_encoder_folder"] = str(world / ENCODER_FOLDER)
        model.bundle_visual_encoder(world / ENCODER_FOLDER)
    write_run_info(run_dir, model.config, data)
    retune_threads()  # the demo often starts right after setup's pip and apt: count again now
    result = train(model, train_set, config.train, run_dir, collate_fn=collate_samples)
    model.eval()  # only generation follows: one mode switch here instead of one per call
    return WorldTraining(model, result, time.perf_counter() - started, len(train_set))


def evaluate_on_world(
    model: UniAD,
    world: Path,
    out_dir: Path,
    metrics: tuple[str, ...] = ("cider",),
    limit: int | None = None,
) -> EvalResult:
    """Generate for the held-out movies (the first ``limit`` ADs) and score them, with the
    world's name/pronoun truth."""
    eval_set = open_world_split(world, model.config, "eval")
    return evaluate(model, eval_set, out_dir, options=ScoreOptions(metrics=metrics),
                    scorers=[WorldScorer(load_world_truth(world))], resume=False, limit=limit,
                    settings={"world": str(world)})


def chance_name_accuracy(world: Path) -> float:
    """Name accuracy (percent) of guessing uniformly among each held-out movie's cast: the
    level a model without the character bank should not beat."""
    record = load_world(world)
    cast_size = {m: len(v["cast"]) for m, v in record["movies"].items() if v["split"] == "eval"}
    naming = [e for e in record["events"].values()
              if e["movie_id"] in cast_size and not e["uses_pronoun"]]
    if not naming:
        return float("nan")
    return 100.0 * sum(1 / cast_size[e["movie_id"]] for e in naming) / len(naming)
