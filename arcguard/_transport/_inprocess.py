"""Local dev mode: the decide engine embedded in this process, no network."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._engine import Engine, MemoryStore
from ._base import RawResult, Transport

if TYPE_CHECKING:
    from .._core import Core
    from .._engine import EngineDecision
    from .._request import RequestDetails
    from .._rules import Rule
    from .._signup.dns import DnsChecker

__all__ = ["InProcessTransport"]

logger = logging.getLogger("arcguard.transport")


class InProcessTransport(Transport):
    """The engine the decide service runs, in-process with a memory store.

    Answers exactly as the service does (same core, same engine, same store
    semantics), so every rule works on a laptop with no service.

    Parameters:
        engine: the engine; default ``Engine(MemoryStore(), core=core)``.
        core: the Wasm core for the default engine (default: the process's).
        dns: the default engine's DNS checker (sign-up rules).

    Example::

        transport = InProcessTransport()
        outcome = transport.decide(details, rules)
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        core: Core | None = None,
        dns: DnsChecker | None = None,
    ) -> None:
        self.engine = engine if engine is not None else Engine(MemoryStore(), core=core, dns=dns)

    def decide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[RawResult] | None = None,
    ) -> EngineDecision:
        """See :meth:`Transport.decide`; never raises TransportError."""
        return self.engine.decide(details, rules, requested=requested, local=local)

    async def adecide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[RawResult] | None = None,
    ) -> EngineDecision:
        """See :meth:`Transport.adecide`. The memory store needs no awaiting; the
        DNS checks of the sign-up rules are awaited."""
        return await self.engine.adecide(details, rules, requested=requested, local=local)

    def report(
        self, details: RequestDetails, rules: Sequence[Rule], results: Sequence[RawResult]
    ) -> None:
        """Records the decision in the engine at once (memory store: microseconds)."""
        try:
            self.engine.record(details, rules, results)
        except Exception as exc:  # a report must never fail a request
            logger.debug("in-process report failed: %s", exc)

    def close(self) -> None:
        """Nothing to release beyond the memory store."""

    def __repr__(self) -> str:
        return "InProcessTransport()"
