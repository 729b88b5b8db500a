"""The synthetic world: small movies in which each of UniAD's ideas is *necessary*.

Real benchmark features and weights cannot be shipped, so the project carries a world it
generates in seconds and writes in the real on-disk formats (MAD JSON, HDF5 features at
5 fps, a character bank), see DESIGN.md "The synthetic world". It is built so that:

- **naming needs the character bank**: a global pool of identities (faces) is cast into
  many movies, and every movie re-draws its characters' names, so the same face is "Anna"
  in one movie and "Lucy" in the next. Only matching the frames against the movie's
  exemplars (identity + noise) tells the name; held-out movies have unseen name-face pairs;
- **context matters**: when the previous AD's subject is the same character, the AD uses a
  pronoun ("She opens the door."), as real AD does; from the current clip alone the model
  cannot know whether to name or not;
- **refinement is recognition**: as in the paper, the characters the prompt lists are the
  *recognised* ones, those whose exemplar matches the clip (``refined``, the MAD eval
  ``prob`` list: cosine of the clip's mean frame and the exemplar >= ``refine_threshold``);
  training refines the scored ``char`` list with the same threshold (the demo preset's
  ``data.character_threshold``). The name is still only in the bank: another movie gives
  the same face another name;
- **the video matters**: each AD is "<Name> <action> <object>." and its frames mix the
  subject's identity vector (sometimes a bystander's, weaker), an action vector, an object
  vector and noise; the gaps between ADs hold noise only.

The **rendered world** (``render=True``, what `uniad demo` uses) keeps the same story and
draws it instead (:mod:`uniad.world.render`): each identity has its own look, the subject
acts on the object in a clip at 5 fps, the gaps show the empty set, and each identity has
two cast photos. Frames and photos go through a CLIP tower fitted on such pictures
(:mod:`uniad.world.encoder_fit`, saved in ``encoder/``) by narration's own encoder and bank
code (:mod:`uniad.world.pictures`), so the features are what `uniad narrate` computes from
the same pictures. Actions and objects are then the drawable :data:`RENDERED_ACTIONS` and
:data:`RENDERED_OBJECTS`.

Everything is drawn from ``numpy.random.default_rng`` seeded by the world seed (the pool)
and by ``(seed, movie index)`` (each movie), so a seed always gives identical files.
``world.json`` records the parameters, the casts and each event's ground truth (subject,
gender, pronoun use) for the character-name and pronoun metrics.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uniad.data.charbank import CharacterBank
from uniad.data.features import write_feature_store
from uniad.data.formats import write_mad_eval, write_mad_train
from uniad.data.schema import ADEvent, Character
from uniad.errors import DataError
from uniad.io import refuse_existing_file, write_json
from uniad.world.render import RENDERED_ACTIONS, RENDERED_OBJECTS

log = logging.getLogger(__name__)

WORLD_FILE = "world.json"
TRAIN_FILE = "train.json"
EVAL_FILE = "eval.json"
FEATURES_FILE = "features.h5"
BANK_FILE = "charbank.safetensors"
ENCODER_FOLDER = "encoder"  # a rendered world's fitted visual encoder (a CLIP model folder)
WORLD_FORMAT = "uniad-synthetic-world"
WORLD_VERSION = 2  # 2: refined = recognised characters (was: the whole cast)

# Common single-word first names, so that a name is one or two tokens for any tokenizer.
FEMALE_NAMES = (
    "Anna", "Emma", "Sarah", "Kate", "Lucy", "Mary", "Alice", "Julia", "Laura", "Rose",
    "Grace", "Helen", "Jane", "Claire", "Nina", "Eva", "Lisa", "Amy", "Ruth", "Sophie",
    "Maria", "Ella", "Clara", "Diana", "Olivia", "Hannah", "Leah", "Zoe", "Ivy", "Nora",
)
MALE_NAMES = (
    "Tom", "John", "David", "Mark", "Paul", "Peter", "James", "Mike", "Sam", "Jack",
    "Ben", "Daniel", "Adam", "Luke", "Chris", "Nick", "Max", "Leo", "Alex", "Ryan",
    "Eric", "Oscar", "Henry", "Frank", "Carl", "Victor", "Simon", "Hugo", "Owen", "Ray",
)
SURNAMES = (
    "Berg", "Stone", "Hale", "Reed", "Fox", "Lane", "Ward", "Cole", "Grant", "Blake",
    "Shaw", "Hart", "Price", "Moore", "Quinn", "Frost", "Wells", "Burke", "Hayes", "Nash",
)
# Actors keep their (fixed) name across movies, like IMDb names; initials + a surname
# list disjoint from the role surnames, so an actor name is never a valid AD name.
ACTOR_SURNAMES = (
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Ferreira", "Kowalski", "Haddad",
    "Ivanova", "Castillo", "Nakamura", "Osei", "Bianchi", "Larsen", "Mendez", "Petrov",
    "Dubois", "Kaur", "Silva", "Yilmaz", "Jansen", "Horvat", "Rossi", "Sato",
)
ACTIONS = (
    "opens", "closes", "picks up", "puts down", "looks at", "reaches for", "holds",
    "drops", "grabs", "examines", "carries", "pushes", "pulls", "throws", "hides",
    "finds", "cleans", "fixes", "touches", "lifts", "turns", "studies", "wipes",
    "unwraps", "checks", "shakes", "hands over", "points at", "sets down", "inspects",
)
OBJECTS = (
    "the door", "a letter", "the window", "a cup", "the phone", "a book", "the car keys",
    "a bag", "the lamp", "a knife", "the box", "a photograph", "the map", "a bottle",
    "the drawer", "a coat", "an envelope", "the laptop", "a candle", "the suitcase",
    "a ring", "the newspaper", "a flower", "the mirror", "a glass", "the camera",
    "a notebook", "the radio", "a key", "the curtain",
)
PRONOUNS = {"female": "She", "male": "He"}
# The rendered world of `uniad demo` and `uniad bench learn`: 2-6 s events with 0.6-1.2 s
# between them, refined at the fitted encoder's cosine 0.34 (measured on the demo world's
# 296 training events: 0.34 keeps the subject for 99.3 % of them, a bystander for 2.1 %,
# any other cast member for 0.1 %).
RENDERED_WORLD = {"render": True, "events_min": 20, "events_max": 30, "duration_frames": (8, 16),
                  "gap_frames": (3, 6), "refine_threshold": 0.34}


@dataclass(frozen=True)
class WorldParams:
    """Everything that shapes a world; recorded in ``world.json``.

    Feature scales: a frame is ``identity_scale * identity(subject)
    [+ bystander_scale * identity(bystander)] + action_scale * action + object_scale *
    object + noise``, with unit-norm component vectors and noise of expected norm
    ``frame_noise``. The defaults keep the subject recoverable from a handful of frames
    (the task is learnable) while single frames are noisy and bystanders compete (it is
    not trivial).
    """

    movies: int = 20
    seed: int = 0
    dim: int = 64
    eval_movies: int | None = None  # held out; None: 20% of the movies, at least 1
    identities: int = 12  # the pool of faces, about 3x a cast
    cast_min: int = 3
    cast_max: int = 5
    events_min: int = 40
    events_max: int = 80
    repeat_subject: float = 0.5  # P(an AD has the previous AD's subject -> pronoun)
    # Previous ADs each annotation lists as its context (nearest first, as MAD's files):
    # a pronoun after a pronoun is only resolvable by reading further back.
    context_events: int = 3
    fps: float = 5.0
    duration_frames: tuple[int, int] = (10, 30)  # an AD lasts 2-6 s at 5 fps
    gap_frames: tuple[int, int] = (5, 15)  # 1-3 s of noise between ADs
    identity_scale: float = 1.0
    bystander_prob: float = 0.3
    bystander_scale: float = 0.4
    action_scale: float = 1.0
    object_scale: float = 1.0
    frame_noise: float = 1.5
    exemplar_noise: float = 0.3
    # Character refinement (the paper thresholds its recognition scores at 0.5; these
    # scores are cosines on another scale: subject median 0.55, bystander 0.22, others
    # 0.0). 0.35 keeps the subject for 98.6% of ADs and only the subject for 95%.
    refine_threshold: float = 0.35
    # Rendered world: frames and cast photos are drawn (uniad.world.render) and go through
    # a visual encoder fitted on such pictures (uniad.world.encoder_fit); the actions and
    # objects are the drawable ones. dim is then the encoder's width, and the *_scale and
    # *_noise fields above do not apply (the pictures carry their own variation).
    render: bool = False
    encoder_pictures: int = 3000  # rendered pictures the encoder's projection is fitted on

    @property
    def actions(self) -> tuple[str, ...]:
        return RENDERED_ACTIONS if self.render else ACTIONS

    @property
    def objects(self) -> tuple[str, ...]:
        return RENDERED_OBJECTS if self.render else OBJECTS

    @property
    def held_out(self) -> int:
        if self.eval_movies is not None:
            return self.eval_movies
        return max(1, round(0.2 * self.movies))

    def check(self) -> None:
        """Refuse parameter combinations that cannot make a valid world."""
        problems = []
        if self.movies < 2:
            problems.append("movies must be at least 2 (one to train on, one held out)")
        if not 1 <= self.held_out < self.movies:
            problems.append(f"eval_movies must be between 1 and movies-1, got {self.held_out}")
        if not 2 <= self.cast_min <= self.cast_max:
            problems.append("need 2 <= cast_min <= cast_max")
        if self.cast_max > self.identities:
            problems.append("cast_max exceeds the identity pool")
        if self.cast_max > min(len(FEMALE_NAMES), len(MALE_NAMES), len(SURNAMES)):
            problems.append("cast_max exceeds the name lists")
        if not 1 <= self.events_min <= self.events_max:
            problems.append("need 1 <= events_min <= events_max")
        if self.dim < 2:
            problems.append("dim must be at least 2")
        if self.render and self.dim < self.identities + 1 + len(self.actions) + len(self.objects):
            problems.append("a rendered world needs dim >= identities + 1 + actions + objects "
                            "(one encoder direction each)")
        if self.identities > len(ACTOR_SURNAMES) * len(string.ascii_uppercase):
            problems.append("identities exceeds the actor names available")
        if problems:
            raise DataError("synthetic world", "; ".join(problems), field="parameters")


@dataclass(frozen=True)
class EventTruth:
    """What an AD is about, for metrics that check names and pronouns."""

    uid: str
    movie_id: str
    subject_id: str
    subject_name: str  # the short name the AD would use when naming
    gender: str
    uses_pronoun: bool
    action: str
    object: str
    bystander_id: str | None


@dataclass(frozen=True)
class WorldSummary:
    """What :func:`make_world` wrote, for the CLI and the demo to print."""

    out_dir: Path
    train_movies: tuple[str, ...]
    eval_movies: tuple[str, ...]
    train_events: int
    eval_events: int
    pronoun_events: int
    files: tuple[Path, ...]
    seconds: float

    @property
    def events(self) -> int:
        return self.train_events + self.eval_events


@dataclass
class _Movie:
    """One generated movie before it is written out."""

    movie_id: str
    cast: list[Character]
    identities: list[int]
    events: list[ADEvent]
    truths: list[EventTruth]
    features: np.ndarray
    exemplars: dict[str, np.ndarray]


def _unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _actor_names(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct actor names ("Q. Jansen"), fixed per identity for the whole world."""
    every = [f"{initial}. {surname}" for surname in ACTOR_SURNAMES
             for initial in string.ascii_uppercase]
    return [every[i] for i in rng.choice(len(every), size=n, replace=False)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def draw_cast(
    rng: np.random.Generator, params: WorldParams, genders: list[str], actors: list[str]
) -> tuple[list[Character], list[int]]:
    """A cast of distinct identities, each given a first name drawn anew for this movie."""
    size = int(rng.integers(params.cast_min, params.cast_max + 1))
    idents = sorted(int(i) for i in rng.choice(params.identities, size=size, replace=False))
    surnames = rng.choice(len(SURNAMES), size=size, replace=False)
    names = {
        "female": list(rng.choice(FEMALE_NAMES, size=size, replace=False)),
        "male": list(rng.choice(MALE_NAMES, size=size, replace=False)),
    }
    cast = []
    for k, ident in enumerate(idents):
        gender = genders[ident]
        first = str(names[gender].pop())
        cast.append(Character(
            id=f"id{ident:02d}", name=actors[ident], role=f"{first} {SURNAMES[surnames[k]]}",
            short_name=first, gender=gender,
        ))
    return cast, idents


@dataclass(frozen=True)
class Scene:
    """One AD event's story: its frames (inclusive) and who does what to what, as indices
    into the movie's cast and the world's action and object lists."""

    first: int
    last: int
    subject: int
    action: int
    obj: int
    bystander: int | None
    same: bool  # the previous AD's subject again: the reference uses a pronoun


def draw_timing(rng: np.random.Generator, params: WorldParams) -> tuple[np.ndarray, np.ndarray, int]:
    """Event starts and durations (frames) and the movie's length, gaps around each event."""
    n_events = int(rng.integers(params.events_min, params.events_max + 1))
    lo_d, hi_d = params.duration_frames
    lo_g, hi_g = params.gap_frames
    durations = rng.integers(lo_d, hi_d + 1, size=n_events)
    gaps = rng.integers(lo_g, hi_g + 1, size=n_events + 1)
    starts = gaps[0] + np.concatenate(([0], np.cumsum(durations[:-1] + gaps[1:-1])))
    return starts, durations, int(starts[-1] + durations[-1] + gaps[-1] + 1)


def draw_scenes(rng: np.random.Generator, params: WorldParams, cast_size: int,
                spans: list[tuple[int, int]]) -> list[Scene]:
    """Who does what in each ``(first, last)`` span: the subject repeats with
    ``repeat_subject`` (then the AD says a pronoun), a bystander joins with
    ``bystander_prob``."""
    scenes = []
    subject = int(rng.integers(cast_size))
    for n, (first, last) in enumerate(spans):
        same = n > 0 and rng.random() < params.repeat_subject
        if n > 0 and not same:
            subject = int((subject + rng.integers(1, cast_size)) % cast_size)
        action = int(rng.integers(len(params.actions)))
        obj = int(rng.integers(len(params.objects)))
        bystander = None
        if rng.random() < params.bystander_prob:
            bystander = int((subject + rng.integers(1, cast_size)) % cast_size)
        scenes.append(Scene(first, last, subject, action, obj, bystander, same))
    return scenes


def scene_text(scene: Scene, cast: list[Character], params: WorldParams) -> str:
    """The reference AD of a scene: "<Name|He|She> <action> <object>."."""
    who = cast[scene.subject]
    head = PRONOUNS[who.gender] if scene.same else who.short_name
    return f"{head} {params.actions[scene.action]} {params.objects[scene.obj]}."


def _vector_features(
    rng: np.random.Generator, params: WorldParams, pool: dict[str, Any], idents: list[int],
    num_frames: int, cast: list[Character],
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The vector world's gap noise, exemplars and identity vectors (signals are added per
    scene by the caller)."""
    id_vecs = pool["identities"][idents]
    sigma = params.frame_noise / math.sqrt(params.dim)
    features = rng.standard_normal((num_frames, params.dim)) * sigma  # gaps: noise only
    exemplars = {
        c.id: (id_vecs[k] + rng.standard_normal(params.dim) * params.exemplar_noise
               / math.sqrt(params.dim))
        for k, c in enumerate(cast)
    }
    return features, exemplars, id_vecs


def _make_movie(index: int, params: WorldParams, pool: dict[str, Any],
                pictures: Any = None) -> _Movie:
    """Cast, AD events, frame features and exemplars of one movie; ``pictures`` (a
    :class:`uniad.world.pictures.MoviePictures`) renders and encodes a rendered world's."""
    rng = np.random.default_rng([params.seed, index])
    movie_id = f"movie{index:03d}"
    cast, idents = draw_cast(rng, params, pool["genders"], pool["actors"])
    starts, durations, num_frames = draw_timing(rng, params)
    spans = [(int(a), int(a + d)) for a, d in zip(starts, durations)]
    if pictures is None:
        features, exemplars, id_vecs = _vector_features(rng, params, pool, idents,
                                                        num_frames, cast)
        scenes = draw_scenes(rng, params, len(cast), spans)
        for sc in scenes:
            signal = (params.identity_scale * id_vecs[sc.subject]
                      + params.action_scale * pool["actions"][sc.action]
                      + params.object_scale * pool["objects"][sc.obj])
            if sc.bystander is not None:
                signal = signal + params.bystander_scale * id_vecs[sc.bystander]
            features[sc.first:sc.last + 1] += signal
    else:
        scenes = draw_scenes(rng, params, len(cast), spans)
        features, exemplars = pictures.movie(movie_id, index, cast, idents, scenes, num_frames)
    events, truths = _events(movie_id, cast, scenes, features, exemplars, params)
    return _Movie(movie_id, cast, idents, events, truths, features, exemplars)


def _events(movie_id: str, cast: list[Character], scenes: list[Scene], features: np.ndarray,
            exemplars: dict[str, np.ndarray], params: WorldParams
            ) -> tuple[list[ADEvent], list[EventTruth]]:
    """The AD events (with recognition scores against the exemplars) and their truth."""
    events: list[ADEvent] = []
    truths: list[EventTruth] = []
    for n, sc in enumerate(scenes):
        who = cast[sc.subject]
        mean_frame = features[sc.first:sc.last + 1].mean(axis=0)
        candidates = tuple(
            dataclasses.replace(c, score=round(_cosine(mean_frame, exemplars[c.id]), 4))
            for c in cast
        )
        recognised = tuple(c for c in candidates if c.score >= params.refine_threshold)
        named = () if sc.same else (who,)
        uid = f"{movie_id}#{n}"
        earlier = events[::-1][:params.context_events]
        events.append(ADEvent(
            video_id=movie_id,
            start=round(sc.first / params.fps, 3),
            end=round(sc.last / params.fps, 3),
            text=scene_text(sc, cast, params),
            candidates=candidates,
            refined=recognised,
            named=named,
            named_candidates=named,
            context=tuple(dataclasses.replace(e, context=()) for e in earlier),
            uid=uid,
        ))
        truths.append(event_truth(uid, movie_id, sc, cast, params))
    return events, truths


def event_truth(uid: str, movie_id: str, sc: Scene, cast: list[Character],
                params: WorldParams) -> EventTruth:
    who = cast[sc.subject]
    return EventTruth(
        uid=uid, movie_id=movie_id, subject_id=who.id, subject_name=who.short_name,
        gender=who.gender or "", uses_pronoun=sc.same, action=params.actions[sc.action],
        object=params.objects[sc.obj],
        bystander_id=None if sc.bystander is None else cast[sc.bystander].id,
    )


def make_pool(params: WorldParams) -> dict[str, Any]:
    """The identities, genders, actor names, action and object vectors shared by all movies."""
    rng = np.random.default_rng(params.seed)
    genders = ["female" if i % 2 == 0 else "male" for i in range(params.identities)]
    return {
        "identities": _unit_vectors(rng, params.identities, params.dim),
        "genders": [genders[i] for i in rng.permutation(params.identities)],
        "actors": _actor_names(rng, params.identities),
        "actions": _unit_vectors(rng, len(ACTIONS), params.dim),
        "objects": _unit_vectors(rng, len(OBJECTS), params.dim),
    }


def _world_record(params: WorldParams, movies: list[_Movie], held_out: set[str]) -> dict:
    """The JSON-ready description of the world: parameters, casts, per-event truth."""
    return {
        "format": WORLD_FORMAT,
        "version": WORLD_VERSION,
        "seed": params.seed,
        "parameters": dataclasses.asdict(params),
        "files": {"train": TRAIN_FILE, "eval": EVAL_FILE, "features": FEATURES_FILE,
                  "bank": BANK_FILE, **({"encoder": ENCODER_FOLDER} if params.render else {})},
        "movies": {
            m.movie_id: {
                "split": "eval" if m.movie_id in held_out else "train",
                "num_frames": int(m.features.shape[0]),
                "cast": [
                    {"id": c.id, "name": c.name, "role": c.role, "short_name": c.short_name,
                     "gender": c.gender, "identity": ident}
                    for c, ident in zip(m.cast, m.identities)
                ],
            }
            for m in movies
        },
        "events": {
            t.uid: {k: v for k, v in dataclasses.asdict(t).items() if k != "uid"}
            for m in movies for t in m.truths
        },
    }


def _pictures(out: Path, params: WorldParams):
    """The renderer + fitted encoder of a rendered world (imported here: the vector world
    needs neither PIL drawing nor transformers)."""
    from uniad.world.encoder_fit import fit_encoder
    from uniad.world.pictures import MoviePictures

    encoder = fit_encoder(out / ENCODER_FOLDER, params.identities, params.dim, params.seed,
                          pictures=params.encoder_pictures)
    return MoviePictures(out, encoder, params.identities, params.seed, params.actions,
                         params.objects)


def make_world(
    out_dir: str | Path,
    movies: int = 20,
    seed: int = 0,
    dim: int = 64,
    eval_movies: int | None = None,
    **overrides: Any,
) -> WorldSummary:
    """Generate a world and write it into ``out_dir``; ``overrides`` set other
    :class:`WorldParams` fields (``events_min=10``, ``frame_noise=2.0``, ...).

    Files: ``train.json`` (MAD training format), ``eval.json`` (MAD eval format, the
    last ``eval_movies`` movies, ``prob`` = the recognised characters), ``features.h5``
    (float16, timeline layout, ``fps`` attribute), ``charbank.safetensors`` (one
    ``(1, dim)`` exemplar per ``"<movie>/<character id>"`` plus the casts) and
    ``world.json`` (ground truth).
    """
    t0 = time.perf_counter()
    params = WorldParams(movies=movies, seed=seed, dim=dim, eval_movies=eval_movies, **overrides)
    params.check()
    out = Path(out_dir)
    refuse_existing_file(out, "--out")
    out.mkdir(parents=True, exist_ok=True)

    pool = make_pool(params)
    pictures, encoder_name = None, "synthetic"
    if params.render:
        pictures = _pictures(out, params)
        encoder_name = pictures.encoder.name
    world = [_make_movie(i, params, pool, pictures) for i in range(params.movies)]
    held_out = {m.movie_id for m in world[-params.held_out:]}
    train_movies = [m for m in world if m.movie_id not in held_out]
    eval_world = [m for m in world if m.movie_id in held_out]

    files = [out / TRAIN_FILE, out / EVAL_FILE, out / FEATURES_FILE, out / BANK_FILE,
             out / WORLD_FILE]
    write_mad_train(files[0], [e for m in train_movies for e in m.events])
    write_mad_eval(files[1], [e for m in eval_world for e in m.events])
    write_feature_store(files[2], {m.movie_id: m.features for m in world}, fps=params.fps,
                        layout="timeline", dtype="float16", encoder=encoder_name)
    bank = CharacterBank.from_tensors(
        {f"{m.movie_id}/{cid}": torch.from_numpy(vec.astype(np.float32)).unsqueeze(0)
         for m in world for cid, vec in m.exemplars.items()},
        cast={m.movie_id: list(m.cast) for m in world},
    )
    bank.save(files[3])
    write_json(files[4], _world_record(params, world, held_out), indent=1)

    summary = WorldSummary(
        out_dir=out,
        train_movies=tuple(m.movie_id for m in train_movies),
        eval_movies=tuple(m.movie_id for m in eval_world),
        train_events=sum(len(m.events) for m in train_movies),
        eval_events=sum(len(m.events) for m in eval_world),
        pronoun_events=sum(t.uses_pronoun for m in world for t in m.truths),
        files=tuple(files),
        seconds=time.perf_counter() - t0,
    )
    log.info("synthetic world: %d movies (%d held out), %d events, written to %s in %.2f s",
             params.movies, params.held_out, summary.events, out, summary.seconds)
    return summary


def load_world(directory: str | Path) -> dict[str, Any]:
    """The parsed ``world.json`` of a world directory, checked to be one."""
    path = Path(directory) / WORLD_FILE
    if not path.is_file():
        raise DataError(path, "not found: is this a directory written by `uniad synth`?")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(path, f"not valid JSON ({err})") from err
    if not isinstance(record, dict) or record.get("format") != WORLD_FORMAT:
        raise DataError(path, f"not a synthetic world description (format != {WORLD_FORMAT!r})",
                        field="format")
    return record


def world_params(record: dict[str, Any]) -> WorldParams:
    """The :class:`WorldParams` a parsed ``world.json`` was made with."""
    fields = {f.name: f for f in dataclasses.fields(WorldParams)}
    values = {k: tuple(v) if isinstance(v, list) else v
              for k, v in record["parameters"].items() if k in fields}
    return WorldParams(**values)


def load_world_truth(directory: str | Path) -> dict[str, EventTruth]:
    """Per-event ground truth keyed by uid (``"<movie_id>#<n>"``, as the readers assign)."""
    record = load_world(directory)
    path = Path(directory) / WORLD_FILE
    names = {f.name for f in dataclasses.fields(EventTruth)} - {"uid"}
    truths = {}
    for uid, fields in record.get("events", {}).items():
        if not isinstance(fields, dict) or set(fields) != names:
            raise DataError(path, f"expected the fields {sorted(names)}", record=uid,
                            field="events")
        truths[uid] = EventTruth(uid=uid, **fields)
    return truths
