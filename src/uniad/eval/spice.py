"""SPICE through pycocoevalcap, only when its Stanford CoreNLP 3.6.0 jars are installed.

pycocoevalcap downloads those jars (~1 GB) the first time SPICE runs; UniAD never
downloads, so it checks for them first and says how to install them when they are missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from uniad.errors import UniADError
from uniad.text import JAVA_MISSING, java_available

CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


def spice_lib() -> Path | None:
    spec = importlib.util.find_spec("pycocoevalcap")
    for root in (spec.submodule_search_locations or []) if spec else []:
        lib = Path(root) / "spice" / "lib"
        if lib.is_dir():
            return lib
    return None


def spice_unavailable_reason() -> str | None:
    """None when SPICE can run offline, else why not (and what to do)."""
    if not java_available():
        return f"SPICE unavailable: {JAVA_MISSING}"
    lib = spice_lib()
    if lib is None:
        return "SPICE unavailable: pycocoevalcap's spice folder not found"
    missing = [j for j in CORENLP_JARS if not (lib / j).is_file()]
    if missing:
        return (f"SPICE unavailable: Stanford CoreNLP models missing ({', '.join(missing)} in "
                f"{lib}); run `python -m pycocoevalcap.spice.get_stanford_models` once online")
    return None


def spice_score(gts: dict[str, list[str]], res: dict[str, list[str]]) -> dict[str, float]:
    """SPICE F-score x100 on tokenised captions (pycocoevalcap's scorer)."""
    reason = spice_unavailable_reason()
    if reason:
        raise UniADError(reason)
    from pycocoevalcap.spice.spice import Spice

    return {"SPICE": 100.0 * float(Spice().compute_score(gts, res)[0])}
