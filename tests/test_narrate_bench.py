"""`uniad bench narrate --part deliverables` on a short generated film."""

from __future__ import annotations

import json

from uniad.cli import main


def test_bench_narrate_reports_the_rule_wpm_overflow_and_stages(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "narrate", "--part", "deliverables", "--film-minutes", "0.4",
                 "--voice", "espeak", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["realistic_pass_rate"] == 1.0 and figures["cues"] > 0
    assert 0 < figures["wpm_mean"] <= figures["wpm_max"] <= 180.0
    assert figures["overflow_count"] >= 0 and figures["shot_cuts"] == figures["shot_cuts_made"]
    timed = figures["timed"]  # REFRAMED's timed scores against the film's known events
    assert "skipped" in timed or (timed["raw"]["cues"] == figures["cues"] and timed["events"] > 0
                                  and 0 <= timed["realistic"]["SODA-T"] <= 100.0)
    assert set(figures["seconds_per_stage"]) == {"make_film", "voice_activity", "shot_cuts",
                                                 "describe_and_speak", "deliverables"}
