"""The flags `uniad narrate` and `uniad render` share: those of
:class:`~uniad.config.NarrationConfig` (gaps, timing, voice, fitting, mixing)."""

from __future__ import annotations

import argparse
import dataclasses

from uniad.commands.options import add_section_flags, section_from_flags
from uniad.config import NarrationConfig

#: fields that only matter where gaps are found (not in `uniad render`)
GAP_FIELDS = frozenset(f.name for f in dataclasses.fields(NarrationConfig) if f.metadata.get("gaps"))


def add_narration_options(parser: argparse.ArgumentParser, gaps: bool = True) -> None:
    """The flags of :class:`NarrationConfig` (``gaps``: also those of gap finding)."""
    add_section_flags(parser, NarrationConfig, skip=() if gaps else GAP_FIELDS)


def settings_from(args: argparse.Namespace) -> NarrationConfig:
    """The settings the parsed flags ask for; errors name the flags."""
    return section_from_flags(args, NarrationConfig)
