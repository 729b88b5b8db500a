"""Command-line options shared by several commands, declared once.

Settings are not re-declared per command: ``--preset/--config/--set`` resolve through
:func:`uniad.config.load_config`, and a config section becomes flags with
:func:`add_section_flags` (``NarrateConfig.min_gap`` -> ``--min-gap``), whose values go
through the same converter and range checks as ``--set``.
"""

from __future__ import annotations

import argparse
from typing import Any

from uniad.config import PRESETS, section_flags


def add_config_options(parser: argparse.ArgumentParser, *, preset: bool = True,
                       set_help: str = "override one setting (repeatable)") -> None:
    """``--preset`` and ``--config`` (when ``preset``) and the repeatable ``--set``."""
    if preset:
        parser.add_argument("--preset", choices=PRESETS, default=None, help="settings preset")
        parser.add_argument("--config", default=None, help="YAML file overriding the preset")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help=set_help)


def add_section_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the config section ``cls``; values stay text until
    :func:`section_overrides` hands them to the config's converter."""
    for flag, name, help_text in section_flags(cls):
        parser.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=help_text)


def section_overrides(args: argparse.Namespace, cls: type, section: str) -> list[str]:
    """``--set``-style overrides for the section flags the user gave."""
    out = []
    for _, name, _ in section_flags(cls):
        value: Any = getattr(args, name, None)
        if value is not None:
            out.append(f"{section}.{name}={value}")
    return out


def positive_int(text: str) -> int:
    """argparse type for counts (``--limit``): a usage error, not a traceback, otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
