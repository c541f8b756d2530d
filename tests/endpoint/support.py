"""Real parts for the endpoint tests: a delaying TCP proxy, health servers, dnsmasq.

Everything binds to 127.0.0.1 only. Used by ``conftest.py`` and by
``benchmarks/bench_endpoint.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

__all__ = [
    "DOMAIN",
    "Backend",
    "DecideServiceServer",
    "DelayProxy",
    "Dnsmasq",
    "PlainHealthServer",
    "free_port",
    "start_health_server",
]

LOOPBACK = "127.0.0.1"

#: The discovery domain the DNS tests serve (``.test`` is reserved, RFC 2606).
DOMAIN = "arcguard.test"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delivers every chunk *delay_ms* after it arrived.

    Each direction is delayed, so a request/response round trip gains about
    ``2 * delay_ms``. Chunks are queued with their due time, not slept on one
    by one, so the proxy adds latency without limiting throughput.
    """

    def __init__(self, upstream_port: int, delay_ms: float, *, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.delay = delay_ms / 1000.0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, port))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            self._sockets.add(sock)
            return True

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._track(client):
                client.close()
                return
            try:
                upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=1.0)
            except OSError:
                self._drop(client)  # backend down: the client sees a reset/EOF
                continue
            if not self._track(upstream):
                upstream.close()
                self._drop(client)
                return
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, upstream)
            self._pipe(upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        queue: list[tuple[float, int, bytes]] = []
        ready = threading.Condition()
        sequence = iter(range(1 << 62))

        def read() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                with ready:
                    heapq.heappush(queue, (time.monotonic() + self.delay, next(sequence), data))
                    ready.notify()
                if not data:
                    return

        def write() -> None:
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    due, _, data = queue[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        ready.wait(wait)
                        continue
                    heapq.heappop(queue)
                if not data:
                    self._drop(sink)
                    self._drop(source)
                    return
                try:
                    sink.sendall(data)
                except OSError:
                    self._drop(source)
                    self._drop(sink)
                    return

        self._spawn(read)
        self._spawn(write)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def close(self) -> None:
        """Stop accepting, cut every connection, and wait for the proxy's threads."""
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(2.0)


class DecideServiceServer:
    """The real decide service (``decide_service.create_server``) on 127.0.0.1.

    The factory builds a ``grpc.aio`` server; it runs on an event loop in a
    thread of its own so that these threaded tests can use it.
    """

    def __init__(
        self,
        server: Any,
        port: int,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        shutdown: Callable[[Any, float], Any],
    ) -> None:
        self.server = server
        self.port = port
        self._loop = loop
        self._thread = thread
        self._shutdown = shutdown

    @classmethod
    def start(cls) -> DecideServiceServer | None:
        """Start it, or return None while the factory does not exist or cannot start."""
        try:
            from decide_service import Settings, create_server, shutdown
        except ImportError:
            return None
        known = {f.name for f in dataclasses.fields(Settings)}
        wanted = {"host": LOOPBACK, "port": 0, "metrics_port": None, "no_auth": True}
        settings = Settings(**{k: v for k, v in wanted.items() if k in known})
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            server, port = asyncio.run_coroutine_threadsafe(create_server(settings), loop).result(
                30
            )
        except Exception:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()
            return None
        return cls(server, int(port), loop, thread, shutdown)

    def set_serving(self, serving: bool) -> None:
        """Make its health service answer SERVING or NOT_SERVING."""
        from decide_service import app_for

        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        health_servicer = app_for(self.server).health
        asyncio.run_coroutine_threadsafe(health_servicer.set("", status), self._loop).result(10)

    def stop(self) -> None:
        """Stop the server (decide_service.shutdown, no grace) and its loop."""
        asyncio.run_coroutine_threadsafe(self._shutdown(self.server, 0), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class PlainHealthServer:
    """A ``grpc.server`` with the standard HealthServicer on 127.0.0.1.

    Stands in for the decide service when its factory is missing or fails:
    probes only speak grpc.health.v1, which both serve the same way.
    """

    def __init__(self, port: int = 0) -> None:
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-health")
        self.server = grpc.server(self._executor, options=(("grpc.so_reuseport", 1),))
        self._servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, self.server)
        self.port = self.server.add_insecure_port(f"{LOOPBACK}:{port}")
        if self.port == 0:
            self._executor.shutdown(wait=False)
            raise OSError(f"could not bind 127.0.0.1:{port}")
        self.server.start()

    def set_serving(self, serving: bool) -> None:
        """Make the health service answer SERVING or NOT_SERVING."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        self._servicer.set("", status)

    def stop(self) -> None:
        """Stop at once and release the worker threads."""
        self.server.stop(None).wait()
        self._executor.shutdown(wait=True)


def start_health_server() -> DecideServiceServer | PlainHealthServer:
    """The real decide service when its factory works, else a plain health server."""
    return DecideServiceServer.start() or PlainHealthServer()


class Backend:
    """A health server behind a :class:`DelayProxy`, killable and restartable on one port.

    The server is the real decide service when ``decide_service.create_server``
    works, else a plain grpc.health.v1 server (see :func:`start_health_server`).
    """

    def __init__(self, name: str, delay_ms: float) -> None:
        self.name = name
        self.delay_ms = delay_ms
        self._server = start_health_server()
        self._proxy: DelayProxy | None = DelayProxy(self._server.port, delay_ms)
        self.port = self._proxy.port
        self.alive = True

    @property
    def target(self) -> str:
        """``127.0.0.1:<proxy port>``: what clients dial."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def kind(self) -> str:
        """``"decide_service"`` or ``"plain"``."""
        return "decide_service" if isinstance(self._server, DecideServiceServer) else "plain"

    def set_status(self, serving: bool) -> None:
        """Make the health service answer SERVING or NOT_SERVING."""
        self._server.set_serving(serving)

    def kill(self) -> None:
        """Stop the server and its proxy at once, cutting open connections."""
        if not self.alive:
            return
        self.alive = False
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        self._server.stop()

    def restart(self) -> None:
        """Start a new server, and a new proxy on the same proxy port."""
        if self.alive:
            return
        self._server = start_health_server()
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self._proxy = DelayProxy(self._server.port, self.delay_ms, port=self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.alive = True

    def close(self) -> None:
        """Kill, for teardown."""
        self.kill()


@dataclass
class Dnsmasq:
    """A dnsmasq process serving SRV/TXT/A/AAAA/MX/PTR records on 127.0.0.1:<port> (UDP and TCP)."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: str

    @classmethod
    @contextlib.contextmanager
    def running(
        cls,
        *,
        local_domains: Sequence[str],
        srv: Sequence[tuple[str, str, int, int, int]] = (),
        txt: Sequence[tuple[str, str]] = (),
        hosts: Sequence[tuple[str, str]] = (),
        mx: Sequence[tuple[str, str, int]] = (),
        ptr: Sequence[tuple[str, str]] = (),
        rr: Sequence[tuple[str, int, str]] = (),
        local_ttl: int | None = None,
        args: Sequence[str] = (),
    ) -> Iterator[Dnsmasq]:
        """Start dnsmasq; stop it on exit.

        Parameters:
            local_domains: domains answered only locally (NXDOMAIN for unknown names).
            srv: ``(name, target, port, priority, weight)`` records.
            txt: ``(name, text)`` records.
            hosts: ``(name, address)`` A (IPv4) or AAAA (IPv6) records, with
                their PTR records.
            mx: ``(name, exchange, preference)`` MX records.
            ptr: ``(reverse name, target)`` PTR records (``4.3.2.1.in-addr.arpa``).
            rr: ``(name, type number, hex data)`` records of any type
                (e.g. a null MX: ``(name, 15, "000000")``).
            local_ttl: the TTL of every answer (dnsmasq's default is 0).
            args: further dnsmasq options (an ``--auth-zone``, a ``--server``...).
        """
        binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(binary):
            raise FileNotFoundError("dnsmasq not installed (apt-get install dnsmasq-base)")
        workdir = tempfile.mkdtemp(prefix="arcguard-dnsmasq-")
        last_error = ""
        for _ in range(5):
            port = free_port(socket.SOCK_DGRAM)
            argv = [
                binary,
                "--no-daemon",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                f"--port={port}",
                f"--listen-address={LOOPBACK}",
                "--bind-interfaces",
                f"--pid-file={workdir}/dnsmasq.pid",
                "--user=root" if os.geteuid() == 0 else f"--user={os.getuid()}",
                "--log-facility=-",
            ]
            argv += [f"--local=/{domain}/" for domain in local_domains]
            argv += [f"--srv-host={n},{t},{p},{pr},{w}" for n, t, p, pr, w in srv]
            argv += [f"--txt-record={n},{text}" for n, text in txt]
            argv += [f"--host-record={n},{a}" for n, a in hosts]
            argv += [f"--mx-host={n},{x},{p}" for n, x, p in mx]
            argv += [f"--ptr-record={n},{t}" for n, t in ptr]
            argv += [f"--dns-rr={n},{t},{h}" for n, t, h in rr]
            if local_ttl is not None:
                argv.append(f"--local-ttl={local_ttl}")
            argv += args
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if cls._wait_ready(process, port, local_domains[0]):
                instance = cls(process, port, workdir)
                try:
                    yield instance
                finally:
                    instance.stop()
                return
            process.kill()
            out, _ = process.communicate(timeout=5)
            last_error = out.decode(errors="replace")
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"dnsmasq did not start: {last_error}")

    @staticmethod
    def _wait_ready(process: subprocess.Popen[bytes], port: int, domain: str) -> bool:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [LOOPBACK]
        resolver.port = port
        resolver.lifetime = 0.2
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                resolver.resolve(domain, "SOA", raise_on_no_answer=False)
                return True
            except dns.resolver.NXDOMAIN:
                return True
            except dns.exception.DNSException:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Terminate the process and remove its files."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate(timeout=5)
        else:
            self.process.communicate(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)
