"""UniAD: contextual audio description from an interleaved multimodal sequence.

The public API is what :data:`__all__` lists; everything else is internal and may move.
Names load on first use (PEP 562), so ``import uniad`` and ``uniad --help`` stay fast and
torch is imported only by what needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    # settings
    "UniADConfig": "uniad.config", "load_config": "uniad.config",
    "NarrationConfig": "uniad.config", "ScreenTextConfig": "uniad.config",
    "DescriberConfig": "uniad.config",
    # data
    "ADEvent": "uniad.data.schema", "Character": "uniad.data.schema", "Sample": "uniad.data.schema",
    "read_annotations": "uniad.data.formats", "FeatureStore": "uniad.data.features",
    "CharacterBank": "uniad.data.charbank", "ADDataset": "uniad.data.dataset",
    "open_split": "uniad.data.splits",
    # model
    "UniAD": "uniad.model.uniad",
    # training, evaluation, narration
    "train": "uniad.train.loop", "evaluate": "uniad.eval.evaluate", "score": "uniad.eval.scoring",
    "narrate": "uniad.narrate.run",
    # errors: every one a UniADError
    "UniADError": "uniad.errors", "ConfigError": "uniad.errors", "DataError": "uniad.errors",
    "DataErrors": "uniad.errors", "CheckpointError": "uniad.errors", "OutputError": "uniad.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'uniad' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
