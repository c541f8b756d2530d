"""The endpoint selector: which decide-service endpoint the transport talks to now.

Order of choice, fixed at construction (misconfiguration raises there):

1. An explicit endpoint (``endpoint=`` / ``ARCGUARD_ENDPOINT``) is the only
   endpoint: nothing is discovered, probed in the background or failed over to.
2. Else a detected platform with a template (see :mod:`.platform`) names the
   *preferred* endpoint: it is used from the first request, and kept whenever a
   probe finds it healthy, because a platform's own endpoint is the right one
   even when latency routing would pick another. Discovered or configured
   candidates are still probed in the background as fallbacks.
3. Else the configured candidates (``ARCGUARD_CANDIDATES``) or, without them,
   the DNS SRV candidates of the discovery domain, probed in the background;
   until the first probe round ends the first candidate, or the default
   endpoint (template ``default``, ``{base}``; the discovery domain itself
   when no base domain is set), is used.

There is no built-in endpoint or domain: with none of an endpoint, candidates,
a discovery domain or a base domain configured the selector raises
:class:`~arcguard.ConfigurationError` (the API key would have nowhere of the
user's own to go), and platform templates apply only under a base domain the
user set.
4. Probes rank healthy candidates by median round trip (ties keep SRV order).

Keeping it right:

* :meth:`EndpointSelector.current` is a read of one attribute: no lock, no I/O.
* :meth:`~EndpointSelector.report_failure` counts consecutive failures of an
  endpoint; at the threshold (or at once when the transport's circuit is open)
  the next endpoint of the ranked list that is not known to be down takes
  over, and a probe round is started right away.
* A background daemon thread re-probes every ``probe_interval`` seconds ±
  ``probe_jitter``. A probe that finds an endpoint healthy clears its "down"
  mark; the best healthy endpoint is taken (back) when it beats the current one
  by more than ``switch_margin`` or when the current one is down, and the
  platform's preferred endpoint is always taken back when healthy.
* Every change is logged on ``arcguard.endpoint`` with its reason, kept in
  :meth:`~EndpointSelector.choice`, and passed to the :meth:`on_change`
  callbacks (in order; a stale change is never delivered after a newer one).
* Fork safety: the child of a fork gets fresh locks, and the background thread
  is started again, lazily, on the next report or :meth:`~EndpointSelector.ranked`
  call in the child.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

import grpc

from .._exceptions import ConfigurationError
from .address import Candidate, HostAllowList, parse_endpoint
from .discovery import DiscoveryError, discover
from .platform import Platform, detect_platform, resolve_template
from .probe import ProbeResult, probe, rank
from .settings import EndpointSettings

__all__ = [
    "SOURCES",
    "EndpointChange",
    "EndpointChoice",
    "EndpointSelector",
    "RankedEndpoint",
]

logger = logging.getLogger("arcguard.endpoint")

#: Where an endpoint came from, as found in :attr:`RankedEndpoint.source`.
SOURCES = ("explicit", "platform", "configured", "discovered", "default")

Prober = Callable[[Sequence[Candidate]], list[ProbeResult]]
Discoverer = Callable[[], list[Candidate]]


@dataclass(frozen=True, slots=True)
class RankedEndpoint:
    """One entry of the ranked list, as :meth:`EndpointSelector.ranked` shows it.

    Attributes:
        target: ``host:port``.
        candidate: the candidate (SRV priority, weight, region).
        source: one of :data:`SOURCES`.
        probe: the last probe result, or None before any probe.
        down: whether fail-over or the last probe found it failing.
        failures: its current count of consecutive failures.
    """

    target: str
    candidate: Candidate
    source: str
    probe: ProbeResult | None
    down: bool
    failures: int


@dataclass(frozen=True, slots=True)
class EndpointChange:
    """A change of the current endpoint, passed to :meth:`EndpointSelector.on_change` callbacks.

    Attributes:
        previous: the target before.
        current: the target now.
        reason: why, in words (also logged).
        generation: increases by one with every change.
    """

    previous: str
    current: str
    reason: str
    generation: int


@dataclass(frozen=True, slots=True)
class EndpointChoice:
    """The current choice and why it was made.

    Attributes:
        target: ``host:port`` now in use.
        source: one of :data:`SOURCES`.
        reason: why it was chosen.
        platform: the detected platform, if any.
        generation: the number of changes so far (0 for the initial choice).
        at: wall-clock time of the choice (``time.time()``).
    """

    target: str
    source: str
    reason: str
    platform: Platform | None
    generation: int
    at: float


class _Entry:
    __slots__ = ("candidate", "down", "failures", "probe", "source", "target")

    def __init__(self, candidate: Candidate, source: str) -> None:
        self.candidate = candidate
        self.source = source
        self.target = candidate.target
        self.probe: ProbeResult | None = None
        self.down = False
        self.failures = 0

    def snapshot(self) -> RankedEndpoint:
        return RankedEndpoint(
            self.target, self.candidate, self.source, self.probe, self.down, self.failures
        )


def _after_fork_in_child(ref: weakref.ref[EndpointSelector]) -> None:
    selector = ref()
    if selector is not None:
        selector._reset_after_fork()


class EndpointSelector:
    """Chooses the decide-service endpoint and keeps the choice right. Thread-safe.

    Parameters:
        settings: the settings; None reads them from *environ*.
        environ: the environment mapping, for platform detection (and settings).
        credentials: TLS credentials for probes; None probes in plaintext.
        health_service: the grpc.health.v1 service name probes ask about.
        prober: replaces the gRPC probe (``candidates -> results``), for tests.
        discoverer: replaces DNS discovery (``() -> candidates``), for tests.
        rng: randomness for the probe interval jitter.

    Raises:
        ConfigurationError: nothing to choose from is configured (see the
            module docstring), or the explicit endpoint, a candidate or the
            detected platform's endpoint is malformed or outside the allowed hosts.

    Example::

        selector = EndpointSelector(EndpointSettings.from_environ(os.environ), environ=os.environ)
        selector.on_change(lambda change: transport.rebuild(change.current))
        selector.start()
        target = selector.current()          # per request: O(1), never blocks
        selector.report_success(target)      # or report_failure(target)
        selector.close()
    """

    def __init__(
        self,
        settings: EndpointSettings | None = None,
        *,
        environ: Mapping[str, str],
        credentials: grpc.ChannelCredentials | None = None,
        health_service: str = "",
        prober: Prober | None = None,
        discoverer: Discoverer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = (
            settings if settings is not None else EndpointSettings.from_environ(environ)
        )
        self._settings.check_configured()
        if (
            self._settings.dns_nameserver is not None
            and self._settings.endpoint is None
            and not self._settings.candidates
            and environ.get("GRPC_DNS_RESOLVER", "").strip().lower() == "native"
        ):
            # gRPC's native resolver (getaddrinfo) ignores the nameserver in a
            # dns://server/host target and asks the system's resolver instead.
            raise ConfigurationError(
                "ARCGUARD_DNS_NAMESERVER needs gRPC's own DNS resolver to reach the "
                "discovered endpoints through that server; GRPC_DNS_RESOLVER=native "
                "would resolve them with the system's: unset GRPC_DNS_RESOLVER"
            )
        self._allow: HostAllowList = self._settings.allow_list()
        self._credentials = credentials
        self._health_service = health_service
        self._prober = prober
        self._discoverer = discoverer
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._platform = detect_platform(environ) if self._settings.detect_platform else None

        s = self._settings
        self._pinned = s.endpoint is not None
        self._preferred: str | None = None
        entries: list[_Entry] = []
        platform = self._platform
        reason = ""
        if s.endpoint is not None:
            entries.append(_Entry(self._candidate(s.endpoint), "explicit"))
            reason = "explicit endpoint"
        else:
            if platform is not None:
                resolved = resolve_template(
                    s.templates.get(platform.name, ""),
                    base=s.base_domain,
                    region=platform.region,
                    platform=platform.name,
                )
                if resolved is not None:
                    host, port = parse_endpoint(resolved, default_port=s.default_port)
                    self._allow.check(host, what=f"{platform.name} platform endpoint")
                    entry = _Entry(Candidate(host, port, region=platform.region), "platform")
                    self._preferred = entry.target
                    entries.append(entry)
                    reason = (
                        f"platform {platform.name} detected from "
                        f"{', '.join(platform.markers)} (region {platform.region})"
                    )
            entries += [_Entry(self._candidate(c), "configured") for c in s.candidates]
            if not entries:
                entries.append(self._default_entry())
            if reason:
                pass
            elif entries[0].source == "configured":
                reason = "first configured candidate, before probes"
            else:
                reason = "default endpoint, before discovery and probes"
        self._entries: tuple[_Entry, ...] = _dedupe(entries)
        self._by_target: dict[str, _Entry] = {e.target: e for e in self._entries}
        first = self._entries[0]
        self._current: str = first.target
        self._choice = EndpointChoice(
            first.target, first.source, reason, self._platform, 0, time.time()
        )
        self._generation = 0
        self._notified = 0
        self._probed_once = False
        self._callbacks: list[Callable[[EndpointChange], None]] = []

        self._lock = threading.Lock()
        self._notify_lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self._pid = os.getpid()
        os.register_at_fork(
            after_in_child=functools.partial(_after_fork_in_child, weakref.ref(self))
        )
        logger.info("endpoint %s chosen: %s", self._current, reason)

    # -- reading -----------------------------------------------------------------

    def current(self) -> str:
        """The endpoint to use now, ``host:port``.

        A read of one attribute: no lock, no I/O, never blocks, safe from any
        thread. The first call, before any probe, returns the explicit,
        platform, first configured or default endpoint.
        """
        return self._current

    def ranked(self) -> list[RankedEndpoint]:
        """The endpoints in rank order (best first), with their last probe and state."""
        self._check_fork()
        with self._lock:
            return [entry.snapshot() for entry in self._entries]

    def choice(self) -> EndpointChoice:
        """The current choice with its source and reason."""
        return self._choice

    @property
    def platform(self) -> Platform | None:
        """The detected platform, or None."""
        return self._platform

    @property
    def settings(self) -> EndpointSettings:
        """The settings this selector was built with."""
        return self._settings

    # -- feedback from the transport ------------------------------------------------

    def report_success(self, target: str) -> None:
        """Record that a call to *target* succeeded (resets its failure count).

        Cheap when nothing failed before: a dictionary read and a compare.
        """
        self._check_fork()
        entry = self._by_target.get(target)
        if entry is None or (entry.failures == 0 and not entry.down):
            return
        with self._lock:
            entry.failures = 0
            entry.down = False

    def report_failure(self, target: str, *, circuit_open: bool = False) -> None:
        """Record that a call to *target* failed.

        After ``failover_threshold`` consecutive failures of the current
        endpoint, or at once when *circuit_open* is true, the next endpoint in
        the ranked list that is not down takes over (the list wraps around, so
        some endpoint is always chosen: the SDK then fails open per decision,
        never by having no endpoint) and a background probe round is started.
        Failures of an endpoint that is no longer current are counted only.

        Parameters:
            target: the endpoint the failed call went to.
            circuit_open: the transport's circuit breaker for *target* is open.
        """
        self._check_fork()
        change: EndpointChange | None = None
        with self._lock:
            entry = self._by_target.get(target)
            if entry is None:
                return
            entry.failures += 1
            if target != self._current:
                return
            if not circuit_open and entry.failures < self._settings.failover_threshold:
                return
            entry.down = True
            why = "circuit open" if circuit_open else f"{entry.failures} consecutive failures"
            successor = self._successor(entry)
            if successor is None:
                logger.warning("endpoint %s failing (%s); no other endpoint known", target, why)
            else:
                change = self._switch_locked(successor, f"fail-over from {target}: {why}")
        self._wake.set()
        if change is not None:
            self._notify(change)

    def on_change(self, callback: Callable[[EndpointChange], None]) -> Callable[[], None]:
        """Call *callback* with an :class:`EndpointChange` whenever the endpoint changes.

        Callbacks run in the thread that caused the change (a request thread on
        fail-over, the probe thread otherwise), one at a time, in order of the
        changes; an exception in one is logged and does not stop the others.

        Returns:
            A function that removes the callback.
        """
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    # -- probing -----------------------------------------------------------------

    def probe_now(self) -> list[ProbeResult]:
        """Discover and probe the candidates in this thread, then apply the result.

        Returns:
            The probe results, ranked best first.
        """
        self._check_fork()
        gathered = self._gather()
        candidates = [candidate for candidate, _ in gathered]
        sources = {candidate.target: source for candidate, source in gathered}
        if self._prober is not None:
            results = self._prober(candidates)
        else:
            results = probe(
                candidates,
                samples=self._settings.probe_samples,
                timeout=self._settings.probe_timeout,
                credentials=self._credentials,
                service=self._health_service,
            )
        ranked = self._rank(results)
        for result in ranked:
            logger.debug(
                "probe %s: samples=%s median=%s error=%s",
                result.candidate.target,
                [round(v, 2) for v in result.samples_ms],
                result.median_ms,
                result.error,
            )
        change = self._apply(ranked, sources)
        if change is not None:
            self._notify(change)
        return ranked

    def start(self) -> None:
        """Start the background probe thread (a daemon); a no-op when running.

        With an explicit endpoint there is nothing to choose and no thread is
        started.

        Raises:
            RuntimeError: the selector is closed.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("EndpointSelector is closed")
            self._started = True
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            if self._pinned:
                return
            self._thread = threading.Thread(
                target=self._run, name="arcguard-endpoint-probe", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float | None = None) -> None:
        """Stop the background thread and wait for it (a probe round in flight ends first).

        Parameters:
            timeout: most seconds to wait; None waits as long as one probe round can take.
        """
        with self._lock:
            self._closed = True
            thread = self._thread
            self._thread = None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            s = self._settings
            bound = 2 * s.dns_timeout + (s.probe_samples + 1) * s.probe_timeout + 1.0
            thread.join(bound if timeout is None else timeout)

    def __enter__(self) -> EndpointSelector:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EndpointSelector current={self._current!r} source={self._choice.source!r}>"

    # -- internals ---------------------------------------------------------------

    def _candidate(self, endpoint: str) -> Candidate:
        host, port = parse_endpoint(endpoint, default_port=self._settings.default_port)
        return Candidate(host, port)

    def _default_entry(self) -> _Entry:
        s = self._settings
        template = s.templates.get("default", "") or "{base}"
        resolved = resolve_template(template, base=s.base_domain, region=None, platform="")
        # check_configured() holds: without an endpoint or candidates (the
        # only callers' case) a base or a discovery domain is set.
        fallback = s.effective_discovery_domain or ""
        host, port = parse_endpoint(resolved or fallback, default_port=s.default_port)
        self._allow.check(host, what="default endpoint")
        return _Entry(Candidate(host, port), "default")

    def _gather(self) -> list[tuple[Candidate, str]]:
        """The candidates of one probe round, with their sources (I/O: DNS)."""
        s = self._settings
        if self._pinned:
            return [(e.candidate, e.source) for e in self._entries]
        found: list[tuple[Candidate, str]] = []
        if self._preferred is not None:
            found.append((self._by_target[self._preferred].candidate, "platform"))
        if s.candidates:
            found += [(self._candidate(c), "configured") for c in s.candidates]
        else:
            found += self._discovered()
        if len(found) == (1 if self._preferred else 0):
            found.append((self._default_entry().candidate, "default"))
        return found

    def _discovered(self) -> list[tuple[Candidate, str]]:
        s = self._settings
        domain = s.effective_discovery_domain
        try:
            if self._discoverer is not None:
                candidates = self._discoverer()
            elif domain is None:
                return []  # only an endpoint or candidates are configured
            else:
                candidates = discover(
                    domain,
                    nameserver=s.dns_nameserver,
                    port=s.dns_port,
                    timeout=s.dns_timeout,
                )
        except DiscoveryError as exc:
            previous = [(e.candidate, e.source) for e in self._entries if e.source == "discovered"]
            logger.warning("discovery failed (%s); keeping %d known candidates", exc, len(previous))
            return previous
        kept: list[tuple[Candidate, str]] = []
        for candidate in candidates:
            if self._allow.allows(candidate.host):
                kept.append((candidate, "discovered"))
            else:
                logger.warning(
                    "discovered endpoint %s ignored: host not in allowed hosts %s",
                    candidate.target,
                    list(self._allow.entries),
                )
        return kept

    def _rank(self, results: list[ProbeResult]) -> list[ProbeResult]:
        ranked = rank(results)
        if self._preferred is not None:
            preferred = [r for r in ranked if r.candidate.target == self._preferred and r.ok]
            if preferred:
                ranked = preferred + [r for r in ranked if r is not preferred[0]]
        return ranked

    def _apply(
        self, ranked: list[ProbeResult], sources: Mapping[str, str]
    ) -> EndpointChange | None:
        """Install a probe round's ranking and choose; returns the change, if any."""
        with self._lock:
            old = self._by_target
            entries: list[_Entry] = []
            for result in ranked:
                target = result.candidate.target
                entry = _Entry(result.candidate, sources.get(target, "discovered"))
                previous = old.get(target)
                # Failures are counted by real calls; a healthy probe does not
                # clear them (a server can pass health checks and refuse calls).
                entry.failures = previous.failures if previous is not None else 0
                entry.probe = result
                entry.down = not result.ok
                entries.append(entry)
            if self._pinned or not entries:
                # The explicit endpoint stays; only its probe is recorded.
                for entry in entries:
                    if entry.target in old:
                        old[entry.target].probe = entry.probe
                self._probed_once = True
                return None
            current = self._current
            by_target = {e.target: e for e in entries}
            mine = by_target.get(current)
            healthy = [e for e in entries if e.probe is not None and e.probe.ok]
            chosen: _Entry | None = None
            reason = ""
            if not healthy:
                logger.warning("no candidate answered the probes; keeping %s", current)
            elif healthy[0].target != current:
                best = healthy[0]
                best_ms = best.probe.median_ms if best.probe is not None else None
                if self._preferred is not None and best.target == self._preferred:
                    chosen, reason = best, "platform endpoint healthy again"
                elif not self._probed_once:
                    chosen, reason = best, f"lowest median round trip ({best_ms:.2f} ms)"
                elif mine is None or mine.probe is None or not mine.probe.ok:
                    chosen, reason = best, f"{current} unhealthy or gone; best healthy endpoint"
                else:
                    ours = mine.probe.median_ms or 0.0
                    theirs = best_ms or 0.0
                    if theirs < ours * (1.0 - self._settings.switch_margin):
                        chosen, reason = best, f"faster: {theirs:.2f} ms against {ours:.2f} ms"
            if chosen is None and mine is None:
                # Keep the endpoint still in use in the list, for fail-over bookkeeping.
                entries.append(old[current])
            self._entries = tuple(entries)
            self._by_target = {e.target: e for e in self._entries}
            change = self._switch_locked(chosen, reason) if chosen is not None else None
            self._probed_once = True
            return change

    def _successor(self, entry: _Entry) -> _Entry | None:
        entries = self._entries
        if len(entries) < 2:
            return None
        start = entries.index(entry)
        ring = [entries[(start + i) % len(entries)] for i in range(1, len(entries))]
        for candidate in ring:
            if not candidate.down:
                return candidate
        return ring[0]

    def _switch_locked(self, entry: _Entry, reason: str) -> EndpointChange:
        previous = self._current
        entry.failures = 0
        self._generation += 1
        self._current = entry.target
        self._choice = EndpointChoice(
            entry.target, entry.source, reason, self._platform, self._generation, time.time()
        )
        logger.info("endpoint %s -> %s: %s", previous, entry.target, reason)
        return EndpointChange(previous, entry.target, reason, self._generation)

    def _notify(self, change: EndpointChange) -> None:
        with self._notify_lock:
            if change.generation <= self._notified:
                return  # a newer change was already delivered
            self._notified = change.generation
            with self._lock:
                callbacks = list(self._callbacks)
            for callback in callbacks:
                try:
                    callback(change)
                except Exception:
                    logger.exception("endpoint change callback %r failed", callback)

    def _next_delay(self) -> float:
        s = self._settings
        return s.probe_interval * self._rng.uniform(1.0 - s.probe_jitter, 1.0 + s.probe_jitter)

    def _run(self) -> None:
        first = True
        while not self._closed:
            if not first:
                self._wake.wait(self._next_delay())
                if self._closed:
                    break
            first = False
            self._wake.clear()
            try:
                self.probe_now()
            except Exception:
                # The thread must outlive any one bad round; the next one may work.
                logger.exception("endpoint probe round failed")

    def _check_fork(self) -> None:
        if self._pid != os.getpid() and self._started and not self._closed:
            self.start()

    def _reset_after_fork(self) -> None:
        # Locks may have been held by threads that do not exist in the child.
        self._lock = threading.Lock()
        self._notify_lock = threading.RLock()
        self._wake = threading.Event()
        self._thread = None


def _dedupe(entries: list[_Entry]) -> tuple[_Entry, ...]:
    seen: set[str] = set()
    kept: list[_Entry] = []
    for entry in entries:
        if entry.target not in seen:
            seen.add(entry.target)
            kept.append(entry)
    return tuple(kept)
