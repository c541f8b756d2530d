"""The public face: users import from ``arcguard`` only."""

import arcguard


def test_all_is_sorted_and_complete() -> None:
    exported = arcguard.__all__
    assert exported == sorted(exported, key=lambda n: (n.startswith("_"), n)) or exported == sorted(
        exported
    )
    public = {n for n in dir(arcguard) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(arcguard, n)).__name__ == "module"}
    assert public - modules == set(exported) - {"__version__"}


def test_every_public_symbol_has_a_docstring() -> None:
    for name in arcguard.__all__:
        obj = getattr(arcguard, name)
        if callable(obj):
            assert obj.__doc__, f"arcguard.{name} has no docstring"
