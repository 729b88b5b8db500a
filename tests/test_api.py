"""The public API: what ``uniad`` exports resolves, and every error is a UniADError."""

from __future__ import annotations

import inspect
import pkgutil

import uniad
from uniad.errors import UniADError


def test_every_exported_name_resolves():
    for name in uniad.__all__:
        assert getattr(uniad, name) is not None, name


def test_every_error_class_is_a_uniad_error():
    import importlib

    found = []
    for info in pkgutil.walk_packages(uniad.__path__, "uniad."):
        if ".bench" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__.startswith("uniad"):
                found.append(cls)
                assert issubclass(cls, UniADError), f"{cls.__module__}.{cls.__name__}"
    assert len(found) >= 6  # errors.py's own kinds at least
