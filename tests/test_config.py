"""Configuration resolution: preset <- file <- ``--set`` overrides, typed as the dataclasses say."""

from __future__ import annotations

from pathlib import Path

import pytest

from uniad.config import load_config
from uniad.errors import UniADError


@pytest.mark.parametrize("written", ["2e-3", "2.0e-3", "0.002"])
def test_a_learning_rate_is_a_float_however_it_is_written(written: str) -> None:
    # PyYAML reads "2e-3" as a string; AdamW would fail on it much later.
    assert load_config("demo", None, [f"train.lr={written}"]).train.lr == pytest.approx(0.002)


def test_integers_become_floats_and_none_stays_none(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  character_threshold: 1\ntrain:\n  grad_clip: null\n")
    config = load_config("demo", path)
    assert isinstance(config.data.character_threshold, float)
    assert config.train.grad_clip is None
    assert config.train.batch_size == 8 and isinstance(config.train.batch_size, int)


def test_bad_values_and_keys_are_named() -> None:
    with pytest.raises(UniADError, match="'lr' expects a number, got 'fast'"):
        load_config("demo", None, ["train.lr=fast"])
    with pytest.raises(UniADError, match="unknown setting 'learning_rate'"):
        load_config("demo", None, ["train.learning_rate=1"])
