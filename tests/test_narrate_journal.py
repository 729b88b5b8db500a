"""No lost describer work: `uniad narrate` killed (kill -9) after half the slots were
described by an OpenAI-compatible server, then run again, asks the server nothing twice
and writes the same deliverables as an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uniad.narrate.describe.journal import JOURNAL_FILE
from uniad.testing.openai_stub import StubChatServer
from uniad.world.sample_media import make_sample_media

SRC = Path(__file__).resolve().parents[1] / "src"
ANSWERS = [f"Anna looks at clock number {i}." for i in range(200)]


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return make_sample_media(tmp_path_factory.mktemp("journal") / "media", 30.0)


def _narrate(film, url: str, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "uniad.cli", "narrate", str(film.video), "--cast", str(film.cast),
         "--subtitles", str(film.subtitles), "--describer", f"openai:{url}",
         "--describer-model", "stub", "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _deliverables(out: Path) -> dict[str, object]:
    ads = json.loads((out / "ad.json").read_text())["ads"]
    return {"srt": (out / "ad.srt").read_text(), "vtt": (out / "ad.vtt").read_text(),
            "ads": ads}


def test_a_killed_narration_reruns_without_asking_the_describer_again(film, tmp_path):
    with StubChatServer(ANSWERS) as stub:
        _finish(_narrate(film, stub.url, tmp_path / "reference"))
    asked = len(stub.answered)
    assert asked >= 4
    reference = _deliverables(tmp_path / "reference")
    assert len((tmp_path / "reference" / JOURNAL_FILE).read_text().splitlines()) == asked

    out, half = tmp_path / "out", asked // 2
    with StubChatServer(ANSWERS, hold_after=half) as stub:
        proc = _narrate(film, stub.url, out)
        deadline = time.monotonic() + 300
        # Requests come one at a time: the one held at the stub was sent after the answer
        # before it was journaled.
        while len(stub.requests) <= half and proc.poll() is None:
            assert time.monotonic() < deadline, "the narration never reached half its slots"
            time.sleep(0.05)
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.communicate(timeout=60)
        assert proc.returncode == -9
        journal = (out / JOURNAL_FILE).read_text().splitlines()
        assert len(journal) == half and not (out / "ad.json").exists()
        stub.release()
        _finish(_narrate(film, stub.url, out))
    bodies = [json.dumps(r["body"], sort_keys=True) for r in stub.answered]
    assert len(bodies) == asked and len(set(bodies)) == asked  # no describer call repeated
    assert _deliverables(out) == reference
    assert len((out / JOURNAL_FILE).read_text().splitlines()) == asked
