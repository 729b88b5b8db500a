"""The ffmpeg binary, run quietly: speech tempo, the extended video, generated test media.

A subprocess rather than PyAV here because these are whole filter graphs (``atempo``,
``tpad``/``concat``, ``lavfi`` sources) that ffmpeg's command line states in one line.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from uniad.errors import UniADError


def require_ffmpeg() -> None:
    """Refuse early, with the install hint, when the ffmpeg binary is missing."""
    if shutil.which("ffmpeg") is None:
        raise UniADError("this step needs the ffmpeg binary (e.g. apt install ffmpeg; "
                         "scripts/setup.sh installs it)")


def run_ffmpeg(args: Sequence[str]) -> None:
    """Run ``ffmpeg -y`` quietly; a failure raises with ffmpeg's own last words."""
    require_ffmpeg()
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines() or ["no message"]
        raise UniADError(f"ffmpeg failed ({said[-1]}): ffmpeg {' '.join(args)}")
