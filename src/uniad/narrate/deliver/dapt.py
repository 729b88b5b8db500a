"""The AD script as W3C DAPT (Dubbing and Audio description Profiles of TTML2).

DAPT (a W3C Candidate Recommendation) is TTML2 with a ``daptm:`` vocabulary: the document
says what it represents (``daptm:scriptRepresents="visual.nonText"``: descriptions of
what is seen) and how far along it is (``daptm:scriptType``: ``preRecording`` for a script
still to be voiced, ``asRecorded`` once its audio exists); each description is a Script
Event, a ``<div>`` with an ``xml:id`` and ``begin``/``end`` times, whose Text is a ``<p>``
in the document's language; an as-recorded script links each text to its Audio Recording
(an ``<audio>`` in the ``<span>``, clipped from the narration WAV).

Written with the standard library's ElementTree: the document is small and flat, no
TTML writing library exists on PyPI (ttconv reads TTML but writes its own model, without
the ``daptm:`` attributes), and :func:`dapt_problems` checks the DAPT rules that apply to
what we write, so a reader (and the tests, with ttconv as an independent TTML parser) can
rely on them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from uniad.io import write_bytes
from uniad.narrate.core import NarratedAD

TT = "http://www.w3.org/ns/ttml"
TTP = "http://www.w3.org/ns/ttml#parameter"
TTM = "http://www.w3.org/ns/ttml#metadata"
DAPTM = "http://www.w3.org/ns/ttml/profile/dapt#metadata"
XML = "http://www.w3.org/XML/1998/namespace"
CONTENT_PROFILE = "http://www.w3.org/ns/ttml/profile/dapt1.0/content"
SCRIPT_TYPES = ("originalTranscript", "translatedTranscript", "preRecording", "asRecorded")

for prefix, uri in (("", TT), ("ttp", TTP), ("ttm", TTM), ("daptm", DAPTM)):
    ET.register_namespace(prefix, uri)


def _t(seconds: float) -> str:
    """TTML offset time in seconds (``12.345s``), media time base."""
    return f"{seconds:.3f}s"


def write_dapt(
    ads: Sequence[NarratedAD], path: str | Path, language: str = "en",
    audio: str | None = None, title: str = "Audio description",
) -> Path:
    """``path`` as a DAPT script of ``ads``; with ``audio`` (the narration WAV's file name,
    relative to ``path``) the script is ``asRecorded`` and each text links its clip."""
    root = ET.Element(f"{{{TT}}}tt", {
        f"{{{TTP}}}contentProfiles": CONTENT_PROFILE,
        f"{{{TTP}}}timeBase": "media",
        f"{{{XML}}}lang": language,
        f"{{{DAPTM}}}scriptRepresents": "visual.nonText",
        f"{{{DAPTM}}}scriptType": "asRecorded" if audio else "preRecording",
    })
    head = ET.SubElement(root, f"{{{TT}}}head")
    ET.SubElement(ET.SubElement(head, f"{{{TT}}}metadata"), f"{{{TTM}}}title").text = title
    body = ET.SubElement(root, f"{{{TT}}}body")
    for i, ad in enumerate(sorted(ads, key=lambda a: a.start)):
        div = ET.SubElement(body, f"{{{TT}}}div", {
            f"{{{XML}}}id": f"ad{i + 1}", "begin": _t(ad.start), "end": _t(ad.end),
            f"{{{DAPTM}}}represents": "visual.nonText",
        })
        span = ET.SubElement(ET.SubElement(div, f"{{{TT}}}p"), f"{{{TT}}}span")
        span.text = ad.text
        if audio:
            ET.SubElement(span, f"{{{TT}}}audio", {
                "src": audio, "clipBegin": _t(ad.start), "clipEnd": _t(ad.end),
            })
    tree = ET.ElementTree(root)
    ET.indent(tree)
    for p in body.iter(f"{{{TT}}}p"):  # no layout whitespace inside the text itself
        p.text = None
        for node in p.iter():
            if node is not p:
                node.tail = None
    return write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _seconds(value: str | None) -> float | None:
    if value is None or not value.endswith("s"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def dapt_problems(path: str | Path) -> list[str]:
    """What breaks the DAPT rules that apply to an AD script of timed descriptions:
    root ``tt`` in the TTML namespace with ``xml:lang``, the DAPT content profile,
    ``daptm:scriptRepresents`` and a known ``daptm:scriptType``; each Script Event a
    ``div`` child of ``body`` with a unique ``xml:id`` and ``begin`` < ``end``; an
    ``asRecorded`` script's texts each with an ``audio`` recording."""
    problems: list[str] = []
    root = ET.parse(path).getroot()
    if root.tag != f"{{{TT}}}tt":
        return [f"root element is {root.tag}, not tt in {TT}"]
    if not root.get(f"{{{XML}}}lang"):
        problems.append("tt has no xml:lang")
    if CONTENT_PROFILE not in (root.get(f"{{{TTP}}}contentProfiles") or "").split():
        problems.append(f"ttp:contentProfiles does not list {CONTENT_PROFILE}")
    if not root.get(f"{{{DAPTM}}}scriptRepresents"):
        problems.append("tt has no daptm:scriptRepresents")
    script_type = root.get(f"{{{DAPTM}}}scriptType")
    if script_type not in SCRIPT_TYPES:
        problems.append(f"daptm:scriptType {script_type!r} is not one of {SCRIPT_TYPES}")
    body = root.find(f"{{{TT}}}body")
    ids: set[str] = set()
    for i, div in enumerate(body.findall(f"{{{TT}}}div") if body is not None else []):
        where = f"script event {i + 1}"
        event_id = div.get(f"{{{XML}}}id")
        if not event_id or event_id in ids:
            problems.append(f"{where}: missing or duplicate xml:id {event_id!r}")
        ids.add(event_id or "")
        begin, end = _seconds(div.get("begin")), _seconds(div.get("end"))
        if begin is None or end is None or not begin < end:
            problems.append(f"{where}: begin {div.get('begin')!r} must precede end "
                            f"{div.get('end')!r}")
        texts = div.findall(f"{{{TT}}}p")
        if not texts:
            problems.append(f"{where}: no text (p)")
        if script_type == "asRecorded" and div.find(f".//{{{TT}}}audio") is None:
            problems.append(f"{where}: asRecorded script event without an audio recording")
    return problems
