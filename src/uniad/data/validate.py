"""``uniad data validate``: check annotation, feature and character-bank files before a run.

Every check runs and every problem is listed, one ``file: record N: field 'x': message``
line each, so a user fixes a dataset in one pass instead of meeting one crash per launch
(the release failed on the first bad record, hours into a job). Besides each file's own
checks, annotations are cross-checked against a feature store (does every video have
features?) and a character bank (does every character the model reads have an exemplar?).
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from uniad.data import formats
from uniad.data.features import FeatureStore, clip_key, validate_feature_store
from uniad.errors import DataError, Problem, UniADError

FEATURE_SUFFIXES = (".h5", ".hdf5")
BANK_SUFFIXES = (".safetensors", ".pth.tar", ".pth", ".pt", ".tar")
ACCEPTED = (
    "annotation JSON (MAD training list, MAD eval {movie_id: [...]}, "
    '{"tvad"|"cmdad": [...]}), HDF5 features (.h5, .hdf5) or a character bank '
    "(.safetensors, legacy .pth.tar, cast .json {tt-id: [{id, role, name}]})"
)
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# The record field naming a video, and the character list the model reads, per format.
_VIDEO_FIELD = {formats.MAD_TRAIN: "movie_id", formats.MAD_EVAL: "movie_id",
                "tvad": "key_name", "cmdad": "key_name"}
_READ_CHARACTERS = {formats.MAD_TRAIN: ("ad_chars_in_chars", "named_candidates"),
                    formats.MAD_EVAL: ("prob", "refined"),
                    "tvad": ("prob", "refined"), "cmdad": ("prob", "refined")}


@dataclass
class FileReport:
    """The outcome for one file: its kind, every problem, and a summary when clean."""

    path: str
    kind: str  # an annotation format, "features", "bank", or "unknown"
    problems: list[Problem] = field(default_factory=list)
    summary: str = ""
    warnings: list[Problem] = field(default_factory=list)  # reported, not failing

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """What the command prints: one line per problem, or one OK line."""
        notes = [f"warning: {w}" for w in self.warnings]
        if self.problems:
            return [str(p) for p in self.problems] + notes
        return notes + [f"{self.path}: OK ({self.summary})"]


def file_kind(path: Path) -> str:
    """"features", "bank", "json" or "unknown", from the name, else from the first bytes."""
    name = path.name.lower()
    if name.endswith(FEATURE_SUFFIXES):
        return "features"
    if name.endswith(BANK_SUFFIXES):
        return "bank"
    if name.endswith(".json"):
        return "json"  # annotations or a cast list: told apart by content
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(_HDF5_MAGIC):
        return "features"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    return "unknown"


def _features_report(path: Path, fps: float) -> tuple[FileReport, FeatureStore | None]:
    report = FileReport(str(path), "features", validate_feature_store(path))
    if report.problems:
        return report, None
    try:
        store = FeatureStore(path, fps=fps)
    except DataError as err:
        report.problems.append(err.problem)
        return report, None
    report.summary = (f"features, {len(store.video_ids())} videos, layout {store.layout}, "
                      f"frame shape {store.feature_shape}")
    return report, store


def _bank_report(path: Path) -> tuple[FileReport, Any]:
    from uniad.data.charbank import CharacterBank, validate_bank  # imports torch

    report = FileReport(str(path), "bank", validate_bank(path))
    if report.problems:
        return report, None
    try:
        bank = CharacterBank.load(path)
    except DataError as err:
        report.problems.append(err.problem)
        return report, None
    report.summary = (f"character bank, {len(bank)} exemplars, "
                      f"{len(bank.cast_ids)} cast lists")
    return report, bank


def missing_features(scan: formats.AnnotationScan, store: FeatureStore) -> list[Problem]:
    """Records whose video has no features in ``store``.

    MAD files name a movie in many records: one problem per missing movie, at its first
    record, with the count. CMD-AD / TV-AD keys are per clip, so one problem per record.
    """
    video_field = _VIDEO_FIELD[scan.format]
    per_clip = scan.format in formats.CLIP_DATASETS
    present: dict[str, bool] = {}
    first: dict[str, int | str] = {}
    count: Counter[str] = Counter()
    for label, event in zip(scan.labels, scan.events):
        key = clip_key(event.video_id, event.start, event.end) if per_clip else event.video_id
        if key not in present:
            present[key] = store.has(key)
        if not present[key]:
            first.setdefault(key, label)
            count[key] += 1
    return [
        Problem(scan.path, f"no features for {'clip' if per_clip else 'movie'} {key!r} in "
                f"{store.path}" + (f" ({count[key]} records)" if count[key] > 1 else ""),
                label, video_field)
        for key, label in first.items()
    ]


def missing_exemplars(scan: formats.AnnotationScan, bank: Any) -> list[Problem]:
    """Characters the model reads (MAD ``ad_chars_in_chars``, eval ``prob``) that have no
    exemplar in ``bank``. A names-only bank (cast JSON) has none to check."""
    if len(bank) == 0:
        return []
    key, attr = _READ_CHARACTERS[scan.format]
    problems = []
    for label, event in zip(scan.labels, scan.events):
        for i, char in enumerate(getattr(event, attr) or ()):
            if bank.exemplar(event.video_id, char.id) is None:
                problems.append(Problem(
                    scan.path, f"no exemplar for {char.id} ({char.role or char.name}) of "
                    f"{event.video_id!r} in {bank.source}", label, f"{key}[{i}].id"))
    return problems


def _is_mapping(data: Any) -> bool:
    """The release's metric-side JSONs: ``*_ttmapping.json`` {AD text: tt-id} and
    ``*_chars_mapping.json`` {nm-id: {name, role, char_in_ad}}."""
    return isinstance(data, dict) and bool(data) and (
        all(isinstance(v, str) for v in data.values())
        or all(isinstance(v, dict) and "char_in_ad" in v for v in data.values())
    )


def _mapping_report(path: Path, data: dict[str, Any]) -> FileReport:
    if all(isinstance(v, str) for v in data.values()):
        return FileReport(str(path), "ttmapping", [],
                          f"AD-to-title mapping, {len(data)} entries")
    from uniad.data.charbank import read_chars_mapping

    try:
        read_chars_mapping(path)
    except DataError as err:
        return FileReport(str(path), "chars_mapping", [err.problem])
    return FileReport(str(path), "chars_mapping", [], f"character mapping, {len(data)} actors")


def _annotations_report(path: Path, data: Any, store: FeatureStore | None,
                        bank: Any) -> FileReport:
    scan = formats.scan_json(str(path), data)
    report = FileReport(str(path), scan.format or "unknown", list(scan.problems),
                        warnings=list(scan.warnings))
    if scan.format in formats.FORMATS:
        if store is not None:
            report.problems += missing_features(scan, store)
        if bank is not None:
            report.problems += missing_exemplars(scan, bank)
    videos = len({e.video_id for e in scan.events})
    report.summary = f"{scan.format}, {scan.records} records, {videos} videos"
    return report


def validate_file(path: str | Path, store: FeatureStore | None = None, bank: Any = None,
                  fps: float = 5.0) -> FileReport:
    """Checks one file of any accepted kind; never raises for a bad file."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, expected a file" if path.is_dir() else "file not found"
        return FileReport(str(path), "unknown", [Problem(str(path), what)])
    try:
        kind = file_kind(path)
        if kind == "features":
            report, opened = _features_report(path, fps)
            if opened is not None:
                opened.close()
            return report
        if kind == "bank":
            return _bank_report(path)[0]
        if kind == "json":
            data = formats.load_json(path)
            if formats.detect_format(data) == formats.CAST:
                return _bank_report(path)[0]
            if _is_mapping(data):
                return _mapping_report(path, data)
            return _annotations_report(path, data, store, bank)
    except (UniADError, OSError) as err:
        problem = err.problem if isinstance(err, DataError) else Problem(str(path), str(err))
        return FileReport(str(path), "unknown", [problem])
    return FileReport(str(path), "unknown",
                      [Problem(str(path), f"unrecognised file type; expected {ACCEPTED}")])


def validate_paths(paths: Iterable[str | Path], features: str | Path | None = None,
                   bank: str | Path | None = None, fps: float = 5.0) -> list[FileReport]:
    """Checks every file; annotations are cross-checked against ``features`` and ``bank``
    (themselves checked first). Files named twice are checked once."""
    reports: list[FileReport] = []
    done: set[Path] = set()
    with ExitStack() as stack:
        store = bank_obj = None
        if features is not None:
            report, store = _features_report(Path(features), fps)
            if store is not None:
                stack.callback(store.close)
            reports.append(report)
            done.add(Path(features).resolve())
        if bank is not None:
            report, bank_obj = _bank_report(Path(bank))
            reports.append(report)
            done.add(Path(bank).resolve())
        for path in map(Path, paths):
            if path.resolve() in done:
                continue
            done.add(path.resolve())
            reports.append(validate_file(path, store, bank_obj, fps))
    return reports
