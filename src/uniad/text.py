"""PTB tokenisation for the COCO caption metrics, with or without Java.

Every captioning paper (and the UniAD release) scores sentences after the Stanford
PTBTokenizer of the COCO caption code: lower-cased, split PTB-style, punctuation tokens
removed. That tokenizer is a Java program. :class:`JavaPTBTokenizer` runs the very jar
pycocoevalcap ships, with the same command line (so scores match pycocoevalcap exactly),
but writes its temporary file to the system temp folder instead of the package folder
(a release weak spot: read-only installs broke). :func:`python_ptb_tokenize` is a
hand-written stand-in for machines without Java; it exists only because the reference
tokenizer is Java, and a test proves token-for-token parity with the jar on real TV-AD
sentences. Its known limits: it mimics the PTB lexer for ordinary English prose
(contractions, possessives, abbreviations with a period, numbers, brackets, quotes,
dashes); exotic input (SGML, emoticons, phone numbers, non-Latin scripts) may differ, and
a single letter before a period ("an A.") always keeps the period as an initial, while the
jar sometimes splits it depending on the words around it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol

from uniad.errors import UniADError

# pycocoevalcap's list; the jar lower-cases "-LRB-" to "-lrb-", so brackets survive removal
# there, and we reproduce that rather than "fix" it (scores must match the COCO code).
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
     ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
JAVA_MISSING = "Java not installed (scripts/setup.sh installs it)"
_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x85\u2028\u2029]")


class Tokenizer(Protocol):
    """Turns raw sentences into the space-joined, punctuation-free token strings COCO scores."""

    name: str

    def tokenize(self, sentences: list[str]) -> list[str]: ...


def java_available() -> bool:
    return shutil.which("java") is not None


def _corenlp_jar() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pycocoevalcap")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        jar = Path(root) / "tokenizer" / "stanford-corenlp-3.4.1.jar"
        if jar.is_file():
            return jar
    raise UniADError("pycocoevalcap's stanford-corenlp-3.4.1.jar not found: reinstall pycocoevalcap")


def _drop_punctuation(line: str) -> str:
    return " ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS)


class JavaPTBTokenizer:
    """The Stanford PTBTokenizer of pycocoevalcap, one Java call per batch of sentences."""

    name = "java-ptb"

    def tokenize(self, sentences: list[str]) -> list[str]:
        if not sentences:
            return []
        if not java_available():
            raise UniADError(JAVA_MISSING)
        # one sentence per line: any character Java may read as a line break becomes a space
        text = "\n".join(_LINE_BREAKS.sub(" ", s) for s in sentences)
        with tempfile.TemporaryDirectory(prefix="uniad-ptb-") as tmp:
            path = Path(tmp) / "sentences.txt"
            path.write_text(text, encoding="utf-8")
            cmd = ["java", "-cp", str(_corenlp_jar()), "edu.stanford.nlp.process.PTBTokenizer",
                   "-preserveLines", "-lowerCase", str(path)]
            proc = subprocess.run(cmd, capture_output=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
        if proc.returncode != 0:
            raise UniADError(f"Java PTBTokenizer failed: {proc.stderr.decode(errors='replace')[-500:]}")
        lines = proc.stdout.decode("utf-8").split("\n")
        if len(lines) < len(sentences):
            raise UniADError(f"Java PTBTokenizer returned {len(lines)} lines for {len(sentences)} sentences")
        return [_drop_punctuation(line) for line in lines[: len(sentences)]]


# --- pure-Python PTB lexer -------------------------------------------------------------
# Abbreviations that keep their period (subset of the PTB lexer's ABBREV1/ABBREV2 lists).
_ABBREV = (
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|Mon|Tue|Tues|Wed|Thu|Thurs|Fri"
    r"|Mr|Mrs|Ms|Drs?|Profs?|Sens?|Reps?|Lt|Col|Gen|Gov|Adm|Rev|Maj|Sgt|Cpl|Pvt|Capt|Ste?"
    r"|Ave|Pres|Hon|Det|Mme|Mlle|Inc|Corp|Ltd|Co|Dept|Univ|Jr|Sr|Bros|Blvd|Rd|Esq"
    r"|etc|al|vs|Calif|Mass|Penn|Tex|Wash|Fla"
)
_TOKEN = re.compile(
    r"""
    (?P<url>(?:https?://|www\.)\S+?(?=[.,;:!?)]*(?:\s|$))|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)
  | (?P<abbrev>\b(?:""" + _ABBREV + r""")\.(?=\s|$|[,;:!?"')]))
  | (?P<acro>\b(?:[A-Za-z](?:\.[A-Za-z])+|[A-WYZa-wyz])\.)
  | (?P<clitic>'(?:n'|[tT](?=is\b)|em\b))
  | (?P<num>\d+(?:[,.:/]\d+)*)
  | (?P<word>\w+(?:(?:[-&/]|'(?=[A-Za-z]))\w+)*)
  | (?P<ellipsis>\.\.\.|…)
  | (?P<dash>--+|[—–])
  | (?P<punct>[^\w\s])
    """,
    re.VERBOSE,
)
# Words the PTB lexer splits in two (PTB treebank convention).
_SPLIT_WORDS = {"cannot": ("can", "not"), "gonna": ("gon", "na"), "wanna": ("wan", "na"),
                "gotta": ("got", "ta")}
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_QUOTES = {"’": "'", "‘": "'", "“": '"', "”": '"'}


def _split_word(word: str) -> list[str]:
    """PTB word splits: clitics ("Joey's" -> Joey 's, "can't" -> ca n't) and gonna-type words."""
    if word.lower() in _SPLIT_WORDS:
        return list(_SPLIT_WORDS[word.lower()])
    m = re.fullmatch(r"(.+?)('(?:s|re|ve|ll|m|d)|n't)", word, flags=re.IGNORECASE)
    return [m.group(1), m.group(2)] if m else [word]


def python_ptb_tokenize(sentence: str) -> str:
    """One sentence as pycocoevalcap's Java PTBTokenizer + punctuation removal returns it."""
    return " ".join(t.lower() for t in ptb_tokens(sentence) if t not in PUNCTUATIONS and t != '"')


def ptb_tokens(sentence: str) -> list[str]:
    """PTB tokens of one sentence, case and punctuation kept (the REFRAMED AD-timing rule
    counts words this way: punctuation tokens included)."""
    for fancy, plain in _QUOTES.items():
        sentence = sentence.replace(fancy, plain)
    tokens: list[str] = []
    for m in _TOKEN.finditer(sentence):
        text, kind = m.group(0), m.lastgroup
        if kind == "punct":
            tokens.append(_BRACKETS.get(text, text))
        elif kind == "dash":
            tokens.append("--")
        elif kind == "ellipsis":
            tokens.append("...")
        elif kind == "word":
            tokens.extend(_split_word(text))
        else:
            tokens.append(text)
    return tokens


class PythonPTBTokenizer:
    """Pure-Python stand-in for the Java tokenizer (no Java needed)."""

    name = "python-ptb"

    def tokenize(self, sentences: list[str]) -> list[str]:
        return [python_ptb_tokenize(s) for s in sentences]


def default_tokenizer(prefer: str = "auto") -> Tokenizer:
    """``auto``: Java when installed (exact COCO behaviour), else the Python stand-in."""
    if prefer == "java" or (prefer == "auto" and java_available()):
        return JavaPTBTokenizer()
    if prefer in ("auto", "python"):
        return PythonPTBTokenizer()
    raise UniADError(f"unknown tokenizer {prefer!r}: use auto, java or python")
