"""Make the README's screenshot of ``ad.html``: a generated 20 s film, narrated with a stub
describer and Piper, rendered in headless Chromium, saved as a small palette PNG.

Usage: ``.venv/bin/python scripts/review_screenshot.py docs/review-page.png``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from uniad.config import NarrationConfig
from uniad.narrate.core import Description
from uniad.narrate.deliver.deliverables import write_deliverables
from uniad.narrate.deliver.plan import plan_cues
from uniad.narrate.deliver.speech import make_engine
from uniad.narrate.media.shots import shot_cuts
from uniad.narrate.media.video import probe
from uniad.narrate.timeline.gaps import find_gaps, speech_spans
from uniad.testing.browser import headless_chromium
from uniad.world.sample_media import make_dialogue_film

LINES = ((1.0, "Where were you last night?"), (6.0, "I was out with Tom."),
         (12.5, "Sit down, please."), (17.0, "Who called?"))
TEXTS = ("Anna opens the door.", "Tom hangs up his wet coat.", "",
         "Rain runs down the window.", "Anna turns off the lamp.", "Tom sits.")


def main(out: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        film = make_dialogue_film(Path(tmp) / "media", LINES, 20.0, cuts=(4.0, 9.5, 15.0))
        settings = NarrationConfig()
        info = probe(film.video)
        dialogue = speech_spans(film.video, info, settings)
        gaps = find_gaps(dialogue, info.duration, settings, shot_cuts(film.video))
        texts = iter(TEXTS)
        plan = plan_cues(gaps, lambda slot, n, prev: Description(next(texts, "")), settings,
                         make_engine("piper"))
        paths = write_deliverables(plan, film.video, Path(tmp) / "out", info.duration,
                                   dialogue, settings, {"video": film.video.name})
        with headless_chromium() as browser:
            browser.get(paths["html"].as_uri())
            time.sleep(1.0)
            browser.find_elements("css selector", "tr.cue")[3].click()  # a testsrc shot
            time.sleep(0.5)
            shot = Path(tmp) / "shot.png"
            browser.save_screenshot(str(shot))
        image = Image.open(shot).convert("RGB").quantize(colors=64)
        image.save(out, optimize=True)
    print(f"{out}: {out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "review-page.png")))
