"""One exception module: every public exception of the SDK is defined in
``arcguard._exceptions``, drawn in its docstring's tree, and still importable
from where it was defined before."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import arcguard
from arcguard import _exceptions


def _sdk_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(arcguard.__path__, "arcguard."):
        if "._proto" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def test_every_public_exception_class_lives_in_the_exception_module() -> None:
    strays = set()
    for name in _sdk_modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("arcguard")
                and not obj.__name__.startswith("_")
                and obj.__module__ != "arcguard._exceptions"
            ):
                strays.add(f"{obj.__module__}.{obj.__name__}")
    assert not strays


def test_the_docstring_tree_names_every_exception() -> None:
    doc = _exceptions.__doc__ or ""
    for name in _exceptions.__all__:
        assert re.search(rf"^[\s│]+([├└]── )?{name}\b", doc, re.MULTILINE), name


def test_the_moved_exceptions_are_importable_from_their_old_homes() -> None:
    from arcguard._endpoint import DiscoveryError as from_endpoint
    from arcguard._endpoint.discovery import DiscoveryError as from_discovery
    from arcguard._engine import StoreUnavailable as from_engine
    from arcguard._engine.store import StoreUnavailable as from_store

    assert from_endpoint is from_discovery is _exceptions.DiscoveryError
    assert from_engine is from_store is _exceptions.StoreUnavailable
    assert issubclass(_exceptions.StoreUnavailable, _exceptions.DecideError)
    assert issubclass(_exceptions.DiscoveryError, _exceptions.ArcGuardError)
