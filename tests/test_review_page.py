"""`uniad review`'s page in a real headless Chromium, driven by the keyboard only.

One browser session walks the describer's loop on a narrated generated film: move to a
cue and rewrite it, move another over dialogue, see the verdicts, undo, render, and audit
the page with axe-core. Set UNIAD_SCREENSHOT=PATH to keep the page's picture (the README's
screenshot is made this way).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import srt
from PIL import Image
from review_film import narrated_folder

from uniad.narrate.deliver.authoring.server import ReviewServer
from uniad.narrate.deliver.authoring.session import open_session
from uniad.testing.browser import browser_missing, headless_chromium
from uniad.narrate.timeline.timing import word_count

AXE = Path(__file__).resolve().parents[1] / ".node" / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))


def wait_for(check, what: str, timeout: float = 30.0):
    """Poll ``check()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ads(folder: Path) -> list[dict]:
    return json.loads((folder / "ad.json").read_text())["ads"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder, film = narrated_folder(tmp_path_factory.mktemp("review-page"))
    session = open_session(folder)
    with ReviewServer(session) as server:
        yield server, folder, film
    session.close()


def test_the_describers_loop_by_keyboard_only(served):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    server, folder, film = served
    original = ads(folder)
    with headless_chromium() as browser:
        browser.get(server.url)
        status = lambda: browser.find_element("id", "status").text  # noqa: E731
        wait_for(lambda: status().startswith("Loaded"), "the page to load")
        rows = browser.find_elements("css selector", "#cues tbody tr")
        assert len(rows) == len(original) >= 3

        def keys(*sequence: str) -> None:
            ActionChains(browser).send_keys(*sequence).perform()

        def ctrl(key: str) -> None:
            ActionChains(browser).key_down(Keys.CONTROL).send_keys(key).key_up(
                Keys.CONTROL).perform()

        def retype(text: str, then: str) -> None:
            ctrl("a")
            keys(text, then)

        def cell(i: int, kind: str) -> str:
            return browser.find_element("css selector", f"#cue-{i} td.{kind}").text

        def active() -> str:
            return browser.switch_to.active_element.get_attribute("id")

        # N moves to the first cue and seeks the video to it; E edits its text
        keys("n")
        assert active() == "cue-0-goto"
        seek = browser.execute_script("return document.getElementById('video').currentTime")
        assert seek == pytest.approx(original[0]["start"], abs=0.05)
        keys("e")
        assert active() == "cue-0-text"
        inode = (folder / "ad.json").stat().st_ino
        new_text = "Anna looks up from her letter at Tom."
        retype(new_text, Keys.ENTER)
        wait_for(lambda: status().startswith("Saved text of cue 1"), "the text to save")
        # the file was replaced whole (a rename: new inode), never written in place
        assert (folder / "ad.json").stat().st_ino != inode
        assert not list(folder.glob(".ad.*.tmp*"))
        edited = ads(folder)
        assert edited[0]["text"] == new_text and edited[0]["meta"]["edited"] is True
        span = edited[0]["end"] - edited[0]["start"]
        wpm = browser.find_element("css selector", "#cue-0 td:nth-child(6)").text
        words = word_count(new_text)  # PTB tokens, the full stop included
        assert float(wpm) == pytest.approx(words * 60 / span, abs=0.1)
        assert float(wpm) > 300 and "fails" in cell(0, "rule") and "WPM" in cell(0, "rule")
        assert f"{words} words" in status() and "fails" in status()  # announced too

        # Escape leaves the field; P/N move between cues; T edits the times
        keys(Keys.ESCAPE)
        assert active() == "cue-0-goto"
        keys("n", "t")
        assert active() == "cue-1-start"
        a, b = film.speech[1]  # "Out.": move cue 2 onto that line of dialogue
        retype(f"{a - 0.2:.2f}", Keys.TAB)
        retype(f"{b + 0.5:.2f}", Keys.ENTER)
        wait_for(lambda: status().startswith("Saved times of cue 2"), "the times to save")
        moved = ads(folder)[1]
        assert (moved["start"], moved["end"]) == (round(a - 0.2, 2), round(b + 0.5, 2))
        assert "over dialogue" in cell(1, "rule")
        assert "bad" in browser.find_element(
            "css selector", "#timeline .ad[data-i='1']").get_attribute("class")

        # Ctrl+Z (outside a field) undoes the move, on disk too
        keys(Keys.ESCAPE)
        ctrl("z")
        wait_for(lambda: status().startswith("Undid times of cue 2"), "the undo")
        assert ads(folder)[1] == original[1]
        assert cell(1, "rule") == "passes"

        # S speaks the cue (synthesised by the server); C plays it in context: the video
        # from 2 s before, its soundtrack ducked by the run's duck_db while the cue speaks
        keys("s")
        wait_for(lambda: status().startswith("Playing cue 2:"), "Play cue")
        played = "const v = document.getElementById('voice');" \
                 "return v.src.startsWith('blob:') && (!v.paused || v.ended)"
        wait_for(lambda: browser.execute_script(played), "the cue's speech to play")
        keys("c")
        wait_for(lambda: "cue 2 in context" in status(), "Play in context")
        ducked = browser.execute_script("return Math.pow(10, -state.duck_db / 20)")
        volume = "return document.getElementById('video').volume"
        wait_for(lambda: browser.execute_script(volume) == pytest.approx(ducked), "the duck",
                 timeout=10)
        at = browser.execute_script("return document.getElementById('video').currentTime")
        assert at >= original[1]["start"]  # ducked only once the cue begins
        keys("k")  # pause
        wait_for(lambda: status() == "Paused.", "the pause")

        # a page with an old revision (another tab) is refused, then shows the newest
        browser.execute_script("state.revision -= 1")
        keys("e")
        retype("Tom walks out.", Keys.ENTER)
        wait_for(lambda: "changed elsewhere" in status(), "the stale revision to show")
        assert ads(folder)[1] == original[1]

        # A adds a cue at the playhead (its text field focused); its Delete button, pressed
        # with Enter, removes it again
        keys(Keys.ESCAPE)
        before = ads(folder)
        keys("a")
        wait_for(lambda: status().startswith("Saved new cue at"), "the new cue")
        added = [c for c in ads(folder) if c["meta"].get("added")]
        assert len(added) == 1 and len(ads(folder)) == len(before) + 1
        new_row = browser.switch_to.active_element.get_attribute("data-i")
        assert active() == f"cue-{new_row}-text"
        keys(Keys.ESCAPE)
        browser.find_element("css selector", f"#cue-{new_row} button[data-act='delete']") \
            .send_keys(Keys.ENTER)
        wait_for(lambda: status().startswith(f"Saved deletion of cue {int(new_row) + 1}"),
                 "the deletion")
        assert ads(folder) == before

        # with a mouse: dragging a description on the timeline moves it (an undoable edit)
        bar = browser.find_element("css selector", "#timeline .ad[data-i='2']")
        width = browser.find_element("id", "timeline").size["width"]
        ActionChains(browser).drag_and_drop_by_offset(bar, -width // 24, 0).perform()
        wait_for(lambda: status().startswith("Saved times of cue 3"), "the drag")
        dragged = ads(folder)[2]
        shift = dragged["start"] - before[2]["start"]
        assert shift == pytest.approx(-12.0 / 24, abs=0.1)  # the bar's share of the film
        assert dragged["end"] - dragged["start"] == pytest.approx(
            before[2]["end"] - before[2]["start"], abs=2e-3)
        ctrl("z")
        wait_for(lambda: status().startswith("Undid times of cue 3"), "the drag's undo")
        assert ads(folder) == before

        # an accessibility audit of the edited page: nothing serious or critical
        if not AXE.is_file():
            pytest.fail(f"{AXE} missing: run scripts/setup.sh (it installs npm's axe-core)")
        browser.execute_script(AXE.read_text())
        found = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document).then(r => done(r.violations.map("
            "v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))));")
        assert [v for v in found if v["impact"] in ("serious", "critical")] == [], found

        shot = os.environ.get("UNIAD_SCREENSHOT")
        if shot:
            keys(Keys.ESCAPE, "p")
            browser.execute_script("window.scrollTo(0, 0)")
            browser.save_screenshot(shot + ".full.png")
            Image.open(shot + ".full.png").convert("RGB").quantize(colors=64).save(
                shot, optimize=True)
            os.unlink(shot + ".full.png")

        # Render rebuilds the deliverables from the edits: the SRT says what the table says
        browser.find_element("id", "render").send_keys(Keys.ENTER)
        wait_for(lambda: status().startswith("Rendered"), "the render", timeout=120)
        texts = [c.content for c in srt.parse((folder / "ad.srt").read_text())]
        assert texts == [c["text"] for c in ads(folder)]
        assert texts[0] == new_text and texts[1:] == [c["text"] for c in original[1:]]
        starts = [c.start.total_seconds() for c in srt.parse((folder / "ad.srt").read_text())]
        assert starts == pytest.approx([c["start"] for c in original], abs=1e-3)
        assert (folder / "ad.wav").is_file() and (folder / "ad.html").is_file()
        rows = browser.find_elements("css selector", "#cues tbody tr")
        assert len(rows) == len(texts)
