"""``ad.html``: one self-contained page to review an AD track before signing it off.

The video (with the AD mix when there is one) carries the track as
``<track kind="descriptions">``, so a browser or screen reader reads the cues; beside it
the cue list (time, text, words per minute, fit status; a click seeks the video) and a
timeline of dialogue against AD. Everything but the video and the WebVTT file is inline
(no script or style from elsewhere), so the page opens from a folder or an archive.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from uniad.io import write_text
from uniad.narrate.core import Interval, NarratedAD


_STYLE = """
body{font:15px system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
video{width:100%;max-height:360px;background:#000}
table{border-collapse:collapse;width:100%;margin-top:1em}
td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
tr.cue{cursor:pointer} tr.cue:hover{background:#f3f6ff} tr.cue.active{background:#fff3c4}
.fit-dropped,.fit-extended{color:#a40} .num{text-align:right;white-space:nowrap}
#timeline{position:relative;height:44px;background:#f5f5f5;margin-top:1em}
#timeline div{position:absolute;height:18px}
.dialogue{top:2px;background:#9bb7d4} .ad{top:24px;background:#e0a040}
.reference{top:46px;background:#6a6} #timeline.with-reference{height:66px}
#playhead{top:0;height:100%!important;width:2px;background:#c00}
.legend span{display:inline-block;width:1em;height:.8em;margin:0 .3em 0 1em}
"""

_SCRIPT = """
const video = document.getElementById('video');
const playhead = document.getElementById('playhead');
const duration = parseFloat(document.getElementById('timeline').dataset.duration);
video.addEventListener('timeupdate', () => {
  playhead.style.left = (100 * video.currentTime / duration) + '%';
});
for (const row of document.querySelectorAll('tr.cue')) {
  row.addEventListener('click', () => {
    video.currentTime = parseFloat(row.dataset.start);
    for (const r of document.querySelectorAll('tr.active')) r.classList.remove('active');
    row.classList.add('active');
  });
}
"""


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:06.3f}"


def _bar(kind: str, start: float, end: float, duration: float, title: str) -> str:
    left, width = 100 * start / duration, max(0.2, 100 * (end - start) / duration)
    return (f'<div class="{kind}" style="left:{left:.3f}%;width:{width:.3f}%" '
            f'title="{html.escape(title)}"></div>')


def write_review_page(
    ads: Sequence[NarratedAD],
    path: str | Path,
    video: str,
    vtt: str,
    duration: float,
    dialogue: Sequence[Interval] = (),
    title: str = "Audio description review",
    reference: Sequence[NarratedAD] = (),
) -> Path:
    """``path`` (``ad.html``); ``video`` and ``vtt`` are relative to it. ``reference``, a
    true AD track (e.g. a synthetic film's), gets a third timeline row and its own list, so
    the generated and true cues are compared on one timeline."""
    ads = sorted(ads, key=lambda a: a.start)
    rows = "\n".join(
        f'<tr class="cue" data-start="{ad.start:.3f}"><td class="num">{_clock(ad.start)}</td>'
        f'<td class="num">{ad.end - ad.start:.2f} s</td><td>{html.escape(ad.text)}</td>'
        f'<td class="num">{ad.meta.get("wpm", "")}</td>'
        f'<td class="fit-{html.escape(str(ad.meta.get("fit", "")))}">'
        f'{html.escape(str(ad.meta.get("fit", "")))}</td></tr>'
        for ad in ads
    )
    span = max(duration, 1e-3)
    bars = "".join(_bar("dialogue", a, b, span, f"dialogue {_clock(a)}") for a, b in dialogue)
    bars += "".join(_bar("ad", ad.start, ad.end, span, ad.text) for ad in ads)
    bars += "".join(_bar("reference", r.start, r.end, span, f"true: {r.text}") for r in reference)
    summary = {"cues": len(ads), "duration_s": round(duration, 3)}
    legend, timeline_class, true_list = "", "", ""
    if reference:
        summary["reference_cues"] = len(reference)
        legend, timeline_class = '<span class="reference"></span>true AD', ' class="with-reference"'
        true_rows = "\n".join(f'<tr><td class="num">{_clock(r.start)}</td>'
                               f'<td>{html.escape(r.text)}</td></tr>' for r in reference)
        true_list = (f'<h2>True AD track</h2><table id="reference"><thead><tr><th>time</th>'
                     f'<th>description</th></tr></thead><tbody>\n{true_rows}\n</tbody></table>')
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<video id="video" controls preload="metadata" src="{html.escape(video)}">
<track kind="descriptions" src="{html.escape(vtt)}" srclang="en" label="Audio description" default>
</video>
<p class="legend">Timeline:<span class="dialogue"></span>dialogue<span class="ad"></span>AD{legend}</p>
<div id="timeline"{timeline_class} data-duration="{span:.3f}">{bars}<div id="playhead"></div></div>
<table id="cues"><thead><tr><th>time</th><th>length</th><th>description</th><th>WPM</th>
<th>fit</th></tr></thead><tbody>
{rows}
</tbody></table>
{true_list}
<script type="application/json" id="summary">{json.dumps(summary)}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
    return write_text(path, page)
