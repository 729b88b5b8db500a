"""`uniad review` without a browser: the draft's history on disk, the verdicts, the HTTP
gate (token, folder, revisions) and the command's refusals."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from review_film import narrated_folder

from uniad.cli import main
from uniad.errors import UniADError
from uniad.narrate.deliver.authoring.checks import names_outside_cast
from uniad.narrate.deliver.authoring.draft import Draft, EditError, StaleRevision
from uniad.narrate.deliver.authoring.server import ReviewServer
from uniad.narrate.deliver.authoring.session import open_session


@pytest.fixture(scope="module")
def narrated(tmp_path_factory):
    return narrated_folder(tmp_path_factory.mktemp("review-server"))


@pytest.fixture
def folder(narrated, tmp_path) -> Path:
    """A fresh copy of the narration output for each test (edits change it)."""
    return Path(shutil.copytree(narrated[0], tmp_path / "out"))


def on_disk(folder: Path) -> list[dict]:
    return json.loads((folder / "ad.json").read_text())["ads"]


def test_every_edit_is_saved_and_the_history_outlives_the_editor(folder):
    original = on_disk(folder)
    draft = Draft(folder, duration=12.0)
    steps = [("text", dict(index=0, text="Anna  smiles. She waves.")),
             ("times", dict(index=1, start=5.6, end=7.4)),
             ("split", dict(index=0)),
             ("merge", dict(index=2)),
             ("add", dict(start=3.0, end=4.0, text="A clock ticks.")),
             ("extended", dict(index=0, on=True)),
             ("delete", dict(index=1))]
    seen = [original]
    for op, args in steps:
        draft.apply(draft.revision, op, **args)
        assert on_disk(folder) == draft.cues  # written at once, every time
        seen.append(on_disk(folder))
    first, added = seen[3][:2]  # after the split: at the sentence end, time by word share
    assert (first["text"], added["text"]) == ("Anna smiles.", "She waves.")
    assert first["end"] == added["start"] and "wpm" not in first["meta"]
    assert seen[4][2]["text"] == "Tom leaves the room. The door shuts."  # merged
    assert [c["text"] for c in seen[5]][2] == "A clock ticks."  # kept in time order
    assert seen[6][0]["meta"]["extended"] is True and len(seen[7]) == len(seen[6]) - 1
    revision = draft.revision
    draft.close()

    reopened = Draft(folder, duration=12.0)  # a closed tab or a crash: nothing lost
    assert reopened.revision == revision and reopened.cues == seen[-1]
    for expected in reversed(seen[:-1]):
        reopened.step(reopened.revision, back=True)
        assert on_disk(folder) == expected
    assert not reopened.can_undo and on_disk(folder) == original
    with pytest.raises(EditError, match="nothing to undo"):
        reopened.step(reopened.revision, back=True)
    reopened.step(reopened.revision, back=False)
    assert on_disk(folder) == seen[1]
    reopened.apply(reopened.revision, "delete", index=0)  # a new edit drops the redo branch
    assert not reopened.can_redo
    reopened.close()


def test_a_crash_between_the_writes_loses_nothing(folder):
    draft = Draft(folder, duration=12.0)
    draft.apply(draft.revision, "text", index=0, text="Anna sits.")
    draft.close()
    # a crash after the snapshot, before ad.json: an orphan snapshot, ad.json as it was
    (folder / ".review" / f"snap-{draft.revision + 1:06d}.json").write_text("{}")
    reopened = Draft(folder, duration=12.0)
    assert reopened.revision == draft.revision and reopened.cues[0]["text"] == "Anna sits."
    reopened.apply(reopened.revision, "text", index=0, text="Anna stands.")  # reuses the name
    reopened.close()
    # a crash after ad.json, before the history index: ad.json wins, as a new version
    history = (folder / ".review" / "history.json").read_text()
    payload = json.loads((folder / "ad.json").read_text())
    payload["ads"][0]["text"] = "Anna runs."
    (folder / "ad.json").write_text(json.dumps(payload))
    (folder / ".review" / "history.json").write_text(history)
    again = Draft(folder, duration=12.0)
    assert again.cues[0]["text"] == "Anna runs." and again.entries[-1].label == "changed on disk"
    again.step(again.revision, back=True)
    assert on_disk(folder)[0]["text"] == "Anna stands."
    again.close()


def test_the_history_keeps_the_newest_versions_only(folder):
    draft = Draft(folder, duration=12.0, keep=3)
    for word in ("one", "two", "three", "four"):
        draft.apply(draft.revision, "text", index=0, text=f"Anna counts {word}.")
    assert [e.label for e in draft.entries] == ["text of cue 1"] * 3
    assert len(list((folder / ".review").glob("snap-*.json"))) == 3
    draft.step(draft.revision, back=True)
    draft.step(draft.revision, back=True)
    assert on_disk(folder)[0]["text"] == "Anna counts two." and not draft.can_undo
    draft.close()


def test_edits_that_cannot_apply_change_nothing(folder):
    draft = Draft(folder, duration=12.0)
    before = (folder / "ad.json").read_bytes()
    for op, args, message in [("times", dict(index=0, start=3.0, end=2.0), "start < end"),
                              ("times", dict(index=0, start=11.0, end=13.0), "video's length"),
                              ("text", dict(index=0, text="  "), "needs text"),
                              ("text", dict(index=9, text="x"), "no cue 9"),
                              ("merge", dict(index=2), "the last"),
                              ("rotate", dict(index=0), "unknown edit")]:
        with pytest.raises(EditError, match=message):
            draft.apply(draft.revision, op, **args)
    assert (folder / "ad.json").read_bytes() == before
    draft.close()


def test_a_stale_revision_a_second_editor_and_a_hand_edit_are_each_caught(folder):
    draft = Draft(folder, duration=12.0)
    old = draft.revision
    draft.apply(old, "text", index=0, text="Anna sits.")
    with pytest.raises(StaleRevision, match="changed elsewhere"):  # the other tab
        draft.apply(old, "text", index=0, text="Anna stands.")
    assert on_disk(folder)[0]["text"] == "Anna sits."
    with pytest.raises(UniADError, match="already open"):
        Draft(folder, duration=12.0)
    payload = json.loads((folder / "ad.json").read_text())  # someone edits the file by hand
    payload["ads"][0]["text"] = "Anna lies down."
    (folder / "ad.json").write_text(json.dumps(payload))
    with pytest.raises(StaleRevision):
        draft.apply(draft.revision, "text", index=0, text="Anna runs.")
    assert draft.entries[-1].label == "changed on disk" and draft.cues[0]["text"] == "Anna lies down."
    draft.step(draft.revision, back=True)  # the hand edit is undoable like any other
    assert on_disk(folder)[0]["text"] == "Anna sits."
    draft.close()


def test_verdicts_flag_dialogue_speed_overlap_speech_and_cast(folder, narrated):
    film = narrated[1]
    session = open_session(folder)
    try:
        state = session.state()
        assert all(c["realistic"] and not c["over_dialogue"] for c in state["cues"])
        a, b = film.speech[2]  # "Sit down." as spoken
        session.draft.apply(session.draft.revision, "times", index=1, start=a - 0.3, end=b)
        session.draft.apply(session.draft.revision, "text", index=0,
                            text="Bob hands Anna and Tom a letter from Paris.")
        cues = session.state()["cues"]
        assert cues[1]["over_dialogue"] and "over dialogue" in " ".join(cues[1]["problems"])
        # a render gives a moved cue the free time up to the next cue, 1.2 s here: too
        # little for its five words, so it would be cut; the page says so beforehand
        assert cues[1]["room_s"] == pytest.approx(cues[2]["start"] - (a - 0.3), abs=1e-3)
        assert cues[1]["spoken"] == "Tom leaves." and "render shortens it" in cues[1]["problems"]
        assert cues[0]["wpm"] > 300 and not cues[0]["under_wpm"] and not cues[0]["realistic"]
        assert cues[0]["not_in_cast"] == ["Bob", "Paris"]
        session.draft.apply(session.draft.revision, "times", index=1, start=2.0, end=3.0)
        assert not session.state()["cues"][1]["after_previous"]  # starts inside cue 1
    finally:
        session.close()
    cast = frozenset({"anna", "tom"})
    assert names_outside_cast("Then Anna's brother Jim waves.", ["Tom"], cast) == ["Jim"]


def test_only_edited_cues_are_synthesised(folder, monkeypatch):
    session = open_session(folder)
    said: list[str] = []
    engine = session.speech.voice.engine
    real = engine.synthesize
    monkeypatch.setattr(engine, "synthesize", lambda text, rate: said.append(text) or real(text, rate))
    try:
        narrated = session.state()["cues"]  # the fits the narration recorded: no synthesis
        assert said == [] and [c["fit"] for c in narrated] == ["fits"] * len(narrated)
        session.draft.apply(session.draft.revision, "text", index=1, text="Tom runs off.")
        edited = session.state()["cues"]
        assert set(said) == {"Tom runs off."} and edited[1]["fit"] == "fits"
        assert edited[1]["rate_wpm"] == narrated[1]["rate_wpm"] == 170
    finally:
        session.close()


def fetch(url: str, data: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(data).encode() if data is not None else None,
        headers={"Content-Type": "application/json"}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_server_answers_only_with_its_token_and_only_inside_the_folder(folder, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (folder / "link.txt").symlink_to(secret)
    session = open_session(folder)
    try:
        with ReviewServer(session) as server:
            base = f"http://127.0.0.1:{server.port}/"
            assert server.url.startswith(base) and len(server.token) >= 24
            assert fetch(server.url + "api/state")[0] == 200
            assert fetch(base + "api/state")[0] == 403
            wrong = ("A" if server.token[0] != "A" else "B") + server.token[1:]
            assert fetch(base + wrong + "/api/state")[0] == 403
            assert fetch(base + "video")[0] == 403
            assert fetch(server.url + "files/ad.srt")[0] == 200
            for escape in ("files/..%2F..%2Fsecret.txt", "files/%2Fetc%2Fpasswd",
                           "files/link.txt"):
                status, body = fetch(server.url + escape)
                assert status == 403 and b"outside the folder" in body, escape
            revision = json.loads(fetch(server.url + "api/state")[1])["revision"]
            status, body = fetch(server.url + "api/edit",
                                 {"revision": revision, "op": "text", "index": 0,
                                  "text": "Anna waits."})
            assert status == 200 and json.loads(body)["state"]["cues"][0]["text"] == "Anna waits."
            status, body = fetch(server.url + "api/edit", {"revision": revision, "op": "delete",
                                                           "index": 0})
            assert status == 409 and json.loads(body)["revision"] == revision + 1
            assert fetch(server.url + "api/edit", {"op": "delete"})[0] == 400
            status, body = fetch(server.url + "api/edit",
                                 {"revision": revision + 1, "op": "delete", "index": 7})
            assert status == 422 and b"no cue 7" in body
            status, wav = fetch(server.url + "api/speech/0")
            assert status == 200 and wav[:4] == b"RIFF" and len(wav) > 10_000
            assert "Anna waits." in fetch(server.url + "track.vtt")[1].decode()
    finally:
        session.close()


def test_the_command_prints_its_address_serves_and_stops_on_ctrl_c(folder):
    command = [sys.executable, "-m", "uniad.cli", "review", str(folder), "--no-browser"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as server:
        try:
            lines = [server.stdout.readline() for _ in range(3)]
            url = lines[1].strip()
            assert url.startswith("http://127.0.0.1:") and url.endswith("/"), lines
            status, body = fetch(url + "api/state")
            assert status == 200 and len(json.loads(body)["cues"]) == len(on_disk(folder))
        finally:
            server.send_signal(signal.SIGINT)
            out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "every edit is saved" in out


def test_the_command_refuses_bad_folders_videos_and_ports(folder, tmp_path, capsys):
    def refused(args: list[str], *expected: str) -> None:
        assert main(["review", "--no-browser", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        for word in expected:
            assert word in err, err

    empty = tmp_path / "empty"
    empty.mkdir()
    refused([str(empty)], "not a narration output", "ad.json")
    refused([str(tmp_path / "nowhere")], "folder not found")
    refused([str(folder), "--video", str(tmp_path / "gone.mp4")], "gone.mp4",
            "video file not found")
    payload = json.loads((folder / "ad.json").read_text())
    payload["info"]["video"] = str(tmp_path / "moved.mp4")
    moved = Path(shutil.copytree(folder, tmp_path / "moved"))
    (moved / "ad.json").write_text(json.dumps(payload))
    refused([str(moved)], "moved.mp4", "--video")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        refused([str(folder), "--port", str(busy.getsockname()[1])], "in use", "--port")
    with pytest.raises(SystemExit) as usage:  # argparse's usage error: exit 2 too
        main(["review", str(folder), "--port", "70000"])
    assert usage.value.code == 2 and "0..65535" in capsys.readouterr().err


def test_render_rebuilds_the_deliverables_and_keeps_a_cue_marked_extended(folder):
    long = "Unquestionably extraordinary reconstructions materialise simultaneously everywhere."
    session = open_session(folder)
    try:
        draft = session.draft
        draft.apply(draft.revision, "text", index=0, text=long)
        draft.apply(draft.revision, "extended", index=0, on=True)
        draft.apply(draft.revision, "times", index=2, start=10.5, end=11.2)  # a short room
        draft.apply(draft.revision, "text", index=2, text="The door shuts with a bang.")
        foreseen = [(c["spoken"], c["fit"]) for c in session.state()["cues"]]
        assert foreseen[2] == ("The door shuts.", "fits")  # cut to what 1.5 s holds
        paths = session.render()  # what `uniad render` runs, into the same folder
        assert draft.entries[-1].label == "render" and draft.cues == on_disk(folder)
    finally:
        session.close()
    rendered = on_disk(folder)
    assert [(c["text"], c["meta"]["fit"]) for c in rendered] == foreseen  # as the page said
    marked = rendered[0]
    assert marked["text"] == long and marked["meta"]["fit"] == "extended"
    assert marked["meta"]["extended"] is True and marked["meta"]["pause_s"] > 0
    assert {"extended_video", "pausing_vtt", "video", "srt", "dapt"} <= set(paths)
    assert long not in paths["srt"].read_text()  # the normal track has no room for it
    assert long in paths["pausing_vtt"].read_text()
