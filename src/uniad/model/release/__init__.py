"""The published UniAD checkpoints <-> our run folders.

- :mod:`.reading`: a release ``.pt`` read without running code (``weights_only=True``);
- :mod:`.placement`: the one key-placement routine every path uses;
- :mod:`.mad` and :mod:`.cmdtv`: the two release layouts' key names (MAD.pt and
  LLaMA_AD_pretrain.pt; CMDAD_TVAD.pt);
- :mod:`.convert`: whole files (``uniad import-release`` / ``export-release``).

``uniad train --init`` places a file's keys through the same routine
(:mod:`uniad.train.init`).
"""

from uniad.model.release.convert import export_release, import_release
from uniad.model.release.mad import release_key_to_ours, release_to_ours
from uniad.model.release.reading import load_release_state

__all__ = ["export_release", "import_release", "load_release_state", "release_key_to_ours",
           "release_to_ours"]
