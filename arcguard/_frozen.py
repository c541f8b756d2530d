"""The base of ArcGuard's small immutable value classes (rules, reasons,
settings).

A plain ``__slots__`` class rather than frozen dataclasses: importing
``dataclasses`` (it imports inspect, ast, dis, tokenize) and generating each
class's methods used to be over half of ``import arcguard``. Subclasses name
their fields in ``_fields``, in constructor order, and set them in
``__init__`` with ``object.__setattr__``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Frozen"]


class Frozen:
    """An immutable value: equal when of the same class with equal fields,
    hashable when its fields are, a repr showing every field, picklable."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, f) for f in self._fields])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        args = ", ".join([f"{f}={getattr(self, f)!r}" for f in self._fields])
        return f"{type(self).__qualname__}({args})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())
