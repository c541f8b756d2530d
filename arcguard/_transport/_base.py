"""The transport interface: how the guard reaches a decide engine.

Two implementations share it: :class:`~._inprocess.InProcessTransport` (local
dev mode: the engine in this process, no network) and
:class:`~._grpc.GrpcTransport` (the decide service over gRPC). The guard only
sees this interface, so tests can swap one for the other.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._engine import EngineDecision
    from .._request import RequestDetails
    from .._rules import Rule

__all__ = ["RawResult", "Transport"]

#: A core result: (code, reason JSON text); codes ALLOW 0, DENY 1,
#: NEEDS_REMOTE 2, NOT_RUN 3, ERROR 4.
RawResult = tuple[int, str]


class Transport(abc.ABC):
    """Decides requests that need shared state, and takes reports of local decisions.

    ``decide``/``adecide`` raise :class:`~arcguard.TransportError` (or a
    subclass: ``TransportTimeout``, ``Unavailable``, ``Unauthenticated``) when no
    answer could be had; the guard turns that into an ERROR decision.
    ``report`` never blocks and never raises.
    """

    @abc.abstractmethod
    def decide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[RawResult] | None = None,
    ) -> EngineDecision:
        """Decides one request against ``rules`` (one outcome per rule, in order).

        Parameters:
            details: the request.
            rules: the guard's rules.
            requested: what the request costs rate limits.
            local: the SDK core's results for these rules, if already computed.

        Raises:
            TransportError: no answer (timeout, unreachable, refused key, bad answer).
        """

    @abc.abstractmethod
    async def adecide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[RawResult] | None = None,
    ) -> EngineDecision:
        """The asyncio face of :meth:`decide`."""

    @abc.abstractmethod
    def report(
        self, details: RequestDetails, rules: Sequence[Rule], results: Sequence[RawResult]
    ) -> None:
        """Records a decision made locally (for shield counting and metrics). Never blocks."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flushes reports and releases connections."""

    async def aclose(self) -> None:
        """Like :meth:`close`, also closing this event loop's asyncio resources."""
        self.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
