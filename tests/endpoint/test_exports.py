"""The endpoint package's public face."""

from __future__ import annotations

import importlib

import arcguard._endpoint as endpoint

MODULES = ["address", "cli", "discovery", "platform", "probe", "selector", "settings"]


def test_all_names_exist() -> None:
    for name in endpoint.__all__:
        assert hasattr(endpoint, name), name


def test_every_module_declares_all_and_exports_only_what_it_defines() -> None:
    for module_name in MODULES:
        module = importlib.import_module(f"arcguard._endpoint.{module_name}")
        assert isinstance(module.__all__, list), module_name
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.{name}"


def test_public_symbols_have_docstrings() -> None:
    for name in endpoint.__all__:
        value = getattr(endpoint, name)
        if callable(value):
            assert value.__doc__, name
