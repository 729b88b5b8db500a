"""COCO metrics: our scores equal pycocoevalcap's, and the Python tokenizer equals the jar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uniad import text as tokenize
from uniad.eval import coco, scoring, spice
from uniad.eval.inputs import References
from uniad.text import JavaPTBTokenizer, PythonPTBTokenizer, python_ptb_tokenize

TVAD = Path("/work/shared/data/tvad_sample/tvad_char_refine_eval.sample.json")
if not TVAD.is_file():  # the sample also lives in the repo's shared/ folder on other machines
    TVAD = Path(__file__).resolve().parents[1] / "shared/data/tvad_sample/tvad_char_refine_eval.sample.json"
needs_java = pytest.mark.skipif(not tokenize.java_available(), reason=tokenize.JAVA_MISSING)
needs_sample = pytest.mark.skipif(not TVAD.is_file(), reason=f"TV-AD sample not found at {TVAD}")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return json.loads(TVAD.read_text())["tvad"]


@pytest.fixture(scope="module")
def baseline(records) -> tuple[dict[str, str], dict[str, list[str]]]:
    """'Repeat the previous AD': records without ``content`` (91 of 300) have no prediction."""
    preds = {str(i): r["content"]["ad"] for i, r in enumerate(records) if r.get("content")}
    refs = {i: [records[int(i)]["ad"]] for i in preds}
    return preds, refs


def _pycocoevalcap_direct(preds, refs) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in refs[i]] for i in refs})
    res = tok.tokenize({i: [{"caption": preds[i]}] for i in preds})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"BLEU-{n + 1}": 100 * b for n, b in enumerate(bleu)}
    out["ROUGE-L"] = 100 * Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = 100 * Cider().compute_score(gts, res)[0]
    return out, gts, res


@needs_java
@needs_sample
def test_scores_equal_pycocoevalcap_on_real_tvad(baseline):
    preds, refs = baseline
    assert len(preds) == 209  # 91 records without a previous AD are left out
    direct, gts, res = _pycocoevalcap_direct(preds, refs)
    ours = coco.coco_scores(preds, refs, JavaPTBTokenizer())
    for name, value in direct.items():
        assert ours[name] == pytest.approx(value, abs=1e-9), name
    assert direct["CIDEr"] > 1.0  # a real, non-degenerate comparison
    from pycocoevalcap.meteor.meteor import Meteor

    assert ours["METEOR"] == pytest.approx(100 * Meteor().compute_score(gts, res)[0], abs=1e-9)


@needs_java
@needs_sample
def test_python_tokenizer_matches_java_token_for_token(records):
    sentences = [r["ad"] for r in records] + [r["content"]["ad"] for r in records if r.get("content")]
    assert len(sentences) == 509
    java = JavaPTBTokenizer().tokenize(sentences)
    python = PythonPTBTokenizer().tokenize(sentences)
    mismatches = [(s, j, p) for s, j, p in zip(sentences, java, python) if j != p]
    assert not mismatches, mismatches[:5]


HARD_CASES = [
    "He doesn't know. She can't go, won't stay; they'll see it's Joey's.",
    '"Hello," says Mr. Smith (the boss) [quietly] {loudly} at 5 p.m. on Dec. 3.',
    "It costs $5.50 or 1,000 dollars -- 50% off... and/or 3*4 & more!",
    "Rachel’s friend “Monica” waves — then leaves – quickly.",
    "Joey's gonna wanna gotta cannot I'm you're we've he'd.",
    "The U.S. team wins. Ross' bag is here. Kevin S. Bright smiles.",
    "A t-shirt, a well-known man; e-mail him at joe@x.com or www.x.com.",
    "Dr. Ross Geller and St. Mary's. Mrs. Geller, Ms. Green vs. Mr. Bing etc.",
    "Chandler-- looks away. It's 10:30. Rock 'n' roll.",
    "A line\rbreak and\u2028another inside one AD.",  # must not shift the following lines
    "Last sentence.",
]


@needs_java
def test_python_tokenizer_matches_java_on_hard_cases():
    assert PythonPTBTokenizer().tokenize(HARD_CASES) == JavaPTBTokenizer().tokenize(HARD_CASES)


def test_python_tokenizer_ptb_conventions():
    # PTB splits clitics and negation; brackets become -lrb-/-rrb- after lower-casing and,
    # as in pycocoevalcap, are not removed (its list has the upper-case forms only).
    assert python_ptb_tokenize("He doesn't see Joey's (red) cap.") == "he does n't see joey 's -lrb- red -rrb- cap"
    assert python_ptb_tokenize("Mr. Geller leaves at 5 p.m., etc.") == "mr. geller leaves at 5 p.m. etc."


def test_coco_with_python_tokenizer_scores_identity_as_perfect():
    refs = {"a": ["Rachel opens the door."], "b": ["Ross sits down on the couch."]}
    preds = {k: v[0] for k, v in refs.items()}
    scores = coco.coco_scores(preds, refs, PythonPTBTokenizer(), ("bleu", "rouge"))
    assert scores["BLEU-1"] == pytest.approx(100.0)
    assert scores["ROUGE-L"] == pytest.approx(100.0)


def test_meteor_reported_unavailable_without_java(monkeypatch):
    monkeypatch.setattr(tokenize, "java_available", lambda: False)
    refs = References({"a": ["Rachel opens the door."]}, {"": ["a"]}, "json")
    report = scoring.score({"a": "Rachel opens a door."}, refs,
                           scoring.ScoreOptions(metrics=("bleu", "meteor")))
    assert "METEOR" not in report.scores and "BLEU-1" in report.scores
    assert "tokenizer: python-ptb" in report.notes
    assert any("METEOR unavailable: Java not installed" in n for n in report.notes)


def test_spice_needs_corenlp_models_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(spice, "spice_lib", lambda: tmp_path)
    reason = spice.spice_unavailable_reason()
    if not tokenize.java_available():
        assert "Java not installed" in reason
    else:
        assert "stanford-corenlp-3.6.0-models.jar" in reason and str(tmp_path) in reason
    for jar in spice.CORENLP_JARS:
        (tmp_path / jar).write_bytes(b"")
    assert (spice.spice_unavailable_reason() is None) == tokenize.java_available()
