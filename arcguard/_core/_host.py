"""The Wasm host: the only module that touches wasmtime.

One compiled module per process (optionally loaded from a precompiled cache
on disk), one store and instance per thread (a wasmtime Store is not
thread-safe), bounded memory and a fuel budget per call (fuel counts work,
not wall-clock time, so a loaded machine does not fire it on ordinary calls).

Calls go through ``wasmtime_func_call_unchecked`` with pre-built argument
arrays: ``Func.__call__`` re-reads the function type on every call, which
costs tens of microseconds; this path costs a few.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi

from .._exceptions import CoreError, RuleError

__all__ = [
    "DEFAULT_FUEL",
    "DEFAULT_MEMORY_LIMIT",
    "Core",
    "CoreSettings",
    "RawResult",
    "cache_dir_from_env",
    "get_core",
]

logger = logging.getLogger("arcguard.core")

#: Instructions-ish of work one decision may use (a typical one uses ~1e5).
DEFAULT_FUEL = 400_000_000
#: Linear memory one instance may grow to.
DEFAULT_MEMORY_LIMIT = 128 * 1024 * 1024

STATUS_OK = 0
STATUS_CONFIG = 1
STATUS_DECODE = 2
STATUS_NO_RULESET = 3

_WASM_NAME = "arcguard_core.wasm"


def _wasmtime_identity() -> str:
    # The precompiled module is only valid for the exact native library that
    # made it; its size and mtime identify it without importlib.metadata's
    # import cost. (wasmtime also refuses an incompatible module itself.)
    try:
        st = os.stat(ffi.dll._name)
    except OSError:  # pragma: no cover
        return "unknown"
    return f"{ffi.dll._name}:{st.st_size}:{st.st_mtime_ns}"


_U32 = struct.Struct("<I")
_RESULT_HEAD = struct.Struct("<BI")

# The C functions themselves, declared without argtypes and called with
# pre-built ctypes values: ctypes' per-call argument conversion through
# wasmtime-py's declarations costs more than the Wasm call itself.
_lib = ctypes.CDLL(ffi.dll._name)
_call_unchecked = _lib.wasmtime_func_call_unchecked
_call_unchecked.restype = ctypes.c_void_p
_set_fuel = _lib.wasmtime_context_set_fuel
_set_fuel.restype = ctypes.c_void_p
_memory_data = _lib.wasmtime_memory_data
_memory_data.restype = ctypes.c_void_p
_memory_size = _lib.wasmtime_memory_data_size
_memory_size.restype = ctypes.c_size_t
_string_at = ctypes.string_at
_memmove = ctypes.memmove
_TWO = ctypes.c_size_t(2)


def _addr(obj: object) -> ctypes.c_void_p:
    return ctypes.c_void_p(ctypes.addressof(obj))  # type: ignore[arg-type]


#: One rule's raw result: conclusion code (0 allow, 1 deny, 2 needs remote,
#: 3 not run, 4 error) and the reason's JSON text.
RawResult = tuple[int, str]


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """How the Wasm core is run.

    Attributes:
        fuel: work budget per call; exhausting it makes that decision ERROR.
        memory_limit: bytes of linear memory per instance.
        cache_dir: where the precompiled module is cached; None disables the cache.
        tiered: without a cached module, start on a module compiled by the
            fast baseline compiler (Winch: a fifth of a second) and swap in the
            optimising compiler's (Cranelift: seconds, and code twice as fast)
            when a background thread has built it. False compiles with
            Cranelift before the first decision.
    """

    fuel: int = DEFAULT_FUEL
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    cache_dir: Path | None = None
    tiered: bool = True


def cache_dir_from_env(environ: Mapping[str, str]) -> Path | None:
    """The precompiled-module cache directory for this environment.

    ``ARCGUARD_CACHE_DIR`` (empty or ``off`` disables), else
    ``$XDG_CACHE_HOME/arcguard``, else ``~/.cache/arcguard``.
    """
    explicit = environ.get("ARCGUARD_CACHE_DIR")
    if explicit is not None:
        return None if explicit.strip() in ("", "off", "0") else Path(explicit)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "arcguard"


def _wasm_bytes() -> bytes:
    return resources.files(__package__).joinpath(_WASM_NAME).read_bytes()


class _Instance:
    """One store + instance, used by one thread only."""

    __slots__ = (
        "_args",
        "_args_p",
        "_base",
        "_buf_cap",
        "_buf_ptr",
        "_ctx",
        "_f_buffer",
        "_f_compile",
        "_f_decide",
        "_f_drop",
        "_fuel",
        "_keep",
        "_limit",
        "_mem",
        "_store",
        "_trap",
        "_trap_p",
        "generation",
        "rulesets",
    )

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module, settings: CoreSettings):
        store = wasmtime.Store(engine)
        store.set_limits(memory_size=settings.memory_limit)
        try:
            instance = wasmtime.Instance(store, module, [])
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise CoreError(f"cannot instantiate the Wasm core: {exc}") from exc
        exports = instance.exports(store)
        mem = exports["memory"]
        if not isinstance(mem, wasmtime.Memory):
            raise CoreError("the Wasm core exports no memory")
        funcs = {}
        for name in ("ag_buffer", "ag_compile", "ag_decide", "ag_drop"):
            f = exports[name]
            if not isinstance(f, wasmtime.Func):
                raise CoreError(f"the Wasm core does not export {name}")
            funcs[name] = f._func
        self._store = store
        # Keep the export structs alive: the raw pointers below point into them.
        self._keep = (mem._memory, funcs)
        self._ctx = ctypes.c_void_p(ctypes.cast(store._context(), ctypes.c_void_p).value)
        self._fuel = ctypes.c_uint64(settings.fuel)
        self._mem = _addr(mem._memory)
        self._f_buffer = _addr(funcs["ag_buffer"])
        self._f_compile = _addr(funcs["ag_compile"])
        self._f_decide = _addr(funcs["ag_decide"])
        self._f_drop = _addr(funcs["ag_drop"])
        self._args = (ffi.wasmtime_val_raw_t * 2)()
        self._args_p = _addr(self._args)
        self._trap = ctypes.c_void_p()
        self._trap_p = _addr(self._trap)
        # Memories never move (Config.memory_may_move = False), so the base
        # address is read once.
        self._base: int = _memory_data(self._ctx, self._mem)
        self._limit = settings.memory_limit
        self._buf_ptr = 0
        self._buf_cap = 0
        #: rule-set configuration text -> id inside this instance
        self.rulesets: dict[str, int] = {}
        #: which module of the core this instance runs (see Core._use)
        self.generation = 0

    def _call(self, func: ctypes.c_void_p) -> None:
        # The raw call: the argument array doubles as the result array.
        err = _set_fuel(self._ctx, self._fuel)
        if err:
            raise CoreError(_error_text(err))
        err = _call_unchecked(self._ctx, func, self._args_p, _TWO, self._trap_p)
        if self._trap.value:
            trap = wasmtime.Trap._from_ptr(
                ctypes.cast(self._trap.value, ctypes.POINTER(ffi.wasm_trap_t))
            )
            self._trap.value = None
            raise CoreError(f"the Wasm core trapped: {_summary(trap.message)}")
        if err:
            raise CoreError(f"the Wasm core failed: {_summary(_error_text(err))}")

    def _write(self, data: bytes) -> int:
        n = len(data)
        if n > self._buf_cap:
            self._args[0].i32 = n
            self._call(self._f_buffer)
            self._buf_ptr = self._args[0].i32 & 0xFFFFFFFF
            self._buf_cap = n
        _memmove(self._base + self._buf_ptr, data, n)
        return n

    def _read_output(self) -> tuple[int, bytes]:
        packed = self._args[0].i64
        ptr, length = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        if length == 0 or ptr + length > _memory_size(self._ctx, self._mem):
            raise CoreError("the Wasm core answered out of bounds")
        out = _string_at(self._base + ptr, length)
        return out[0], out[1:]

    def compile(self, config: str) -> int:
        data = config.encode()
        n = self._write(data)
        self._args[0].i32 = n
        self._call(self._f_compile)
        status, payload = self._read_output()
        if status == STATUS_CONFIG:
            raise _rule_error(payload.decode("utf-8", "replace"))
        if status != STATUS_OK or len(payload) != 4:
            raise CoreError(f"the Wasm core could not compile the rules (status {status})")
        rid: int = _U32.unpack(payload)[0]
        self.rulesets[config] = rid
        return rid

    def decide(self, ruleset: int, request: bytes) -> bytes:
        n = len(request)
        if n > self._buf_cap:
            self._write(request)
        else:
            _memmove(self._base + self._buf_ptr, request, n)
        args = self._args
        args[0].i32 = ruleset
        args[1].i32 = n
        self._call(self._f_decide)
        packed = args[0].i64
        ptr, length = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        # Bounds: the answer lies inside the memory limit we set.
        if length == 0 or ptr + length > self._limit:
            raise CoreError("the Wasm core answered out of bounds")
        out = _string_at(self._base + ptr, length)
        if out[0] != STATUS_OK:
            raise CoreError(
                f"the Wasm core rejected the request: {out[1:].decode('utf-8', 'replace')}"
            )
        return out[1:]

    def drop(self, ruleset: int) -> None:
        self._args[0].i32 = ruleset
        self._call(self._f_drop)


def _summary(message: str) -> str:
    """One line of a wasmtime trap: its cause and the innermost function of ours.

    The full message carries a backtrace of a dozen frames; it goes to the
    debug log, the decision's reason gets the gist.
    """
    logger.debug("Wasm core trap: %s", message)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    cause = lines[-1] if lines else "unknown trap"
    cause = cause.removeprefix("wasm trap: ")
    frames = [_frame_name(line) for line in lines if "!" in line and line[:1].isdigit()]
    ours = [f for f in frames if f.startswith("arcguard_core::")]
    where = f" in {ours[0]}" if ours else ""
    if "unreachable" in cause:  # a Rust panic: name what panicked
        culprit = next((f for f in frames if not f.startswith(_PANIC_MACHINERY)), None)
        if culprit is not None and (not ours or culprit != ours[0]):
            return f"panic: {culprit}{where}"
        return f"panic{where}"
    return f"{cause}{where}"


_PANIC_MACHINERY = (
    "rust_panic",
    "rust_begin_unwind",
    "std::panicking",
    "std::sys_common::backtrace",
    "core::panicking",
    "core::ops::function",
    "core::intrinsics",
)


def _frame_name(line: str) -> str:
    name = line.split("!", 1)[-1]
    return name.rsplit("::h", 1)[0]  # drop the symbol hash


def _error_text(err: int) -> str:
    return str(
        wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))
    )


_CRANELIFT = 1
_WINCH = 2  # wasmtime_strategy_t; wasmtime-py's Config.strategy knows only auto/cranelift


def _engine(strategy: int) -> wasmtime.Engine:
    config = wasmtime.Config()
    ffi.wasmtime_config_strategy_set(config.ptr(), strategy)
    config.consume_fuel = True
    # Memories never move, so an instance reads its base address once.
    config.memory_may_move = False
    return wasmtime.Engine(config)


def _rule_error(text: str) -> RuleError:
    import json

    try:
        d = json.loads(text)
    except ValueError:
        return RuleError(f"invalid rules: {text}")
    idx, kind, option = d.get("rule"), d.get("kind") or "", d.get("option") or ""
    pos, message = d.get("position"), d.get("message") or "invalid"
    where = f"rule {idx} ({kind})" if idx is not None else "rules"
    text = f"{where}: {option}: {message}" if option else f"{where}: {message}"
    if pos is not None and "position" not in message:
        text += f" (at position {pos})"
    return RuleError(text, rule_index=idx, kind=kind, option=option, position=pos)


def decode_results(payload: bytes) -> list[RawResult]:
    """Decodes the core's per-rule results (see core-wasm/core/src/result.rs)."""
    try:
        (count,) = _U32.unpack_from(payload, 0)
        at, out = 4, []
        for _ in range(count):
            code, length = _RESULT_HEAD.unpack_from(payload, at)
            at += 5
            out.append((code, payload[at : at + length].decode("utf-8", "replace")))
            at += length
    except struct.error as exc:
        raise CoreError("the Wasm core returned a truncated result") from exc
    return out


class Core:
    """The compiled Wasm core of this process, with one instance per thread.

    Example::

        core = get_core()
        rules = core.compile('{"rules": [{"kind": "bot", "mode": "LIVE", "deny": ["CURL"]}]}')
        results = core.evaluate(rules, encoded_request)
    """

    _current: tuple[wasmtime.Engine, wasmtime.Module, int, str]

    def __init__(self, settings: CoreSettings | None = None) -> None:
        self.settings = settings or CoreSettings()
        self._local = threading.local()
        self._traps = 0
        self._lock = threading.Lock()
        self._optimized = threading.Event()
        self._compiler_pid = 0
        self._engine = _engine(_CRANELIFT)
        wasm = _wasm_bytes()
        self._wasm = wasm
        self._cache_file = self._cache_path(wasm, "optimized")
        module = self._load_cached(self._engine, self._cache_file)
        self.cache_hit = module is not None
        if module is not None:
            self._use(self._engine, module, "optimized")
            return
        if self.settings.tiered:
            quick = self._baseline(wasm)
            if quick is not None:
                self._use(quick[0], quick[1], "baseline")
                self._start_optimizer()
                return
        self._use(self._engine, self._compile_optimized(), "optimized")

    def _baseline(self, wasm: bytes) -> tuple[wasmtime.Engine, wasmtime.Module] | None:
        """The Winch module, from the cache or compiled (and then cached).

        The baseline module is cached too: a short-lived process (a CLI run, a
        serverless invocation) often exits before the optimiser finishes, and
        the next one should not compile again. Whichever process lives long
        enough caches the optimised module, which is preferred from then on.
        """
        try:
            engine = _engine(_WINCH)
        except wasmtime.WasmtimeError as exc:
            logger.debug("no baseline compiler, compiling with Cranelift: %s", exc)
            return None
        path = self._cache_path(wasm, "baseline")
        module = self._load_cached(engine, path)
        if module is not None:
            self.cache_hit = True
            return engine, module
        try:
            module = wasmtime.Module(engine, wasm)
        except wasmtime.WasmtimeError as exc:
            logger.debug("no baseline compiler, compiling with Cranelift: %s", exc)
            return None
        if path is not None:
            self._store_cache(path, module)
        return engine, module

    @property
    def tier(self) -> str:
        """``"optimized"`` (Cranelift) or ``"baseline"`` (Winch, until the swap)."""
        return self._current[3]

    def wait_optimized(self, timeout: float | None = None) -> bool:
        """Waits for the optimised module (tiered start); True once it is in use."""
        return self._optimized.wait(timeout)

    def _use(self, engine: wasmtime.Engine, module: wasmtime.Module, tier: str) -> None:
        generation = (self._current[2] + 1) if hasattr(self, "_current") else 1
        # One tuple, swapped atomically: threads notice the new generation and
        # replace their instance on their next call.
        self._current = (engine, module, generation, tier)
        if tier == "optimized":
            self._optimized.set()

    def _start_optimizer(self) -> None:
        self._compiler_pid = os.getpid()
        t = threading.Thread(target=self._optimize, name="arcguard-core-compile", daemon=True)
        t.start()

    def _optimize(self) -> None:
        try:
            module = self._compile_optimized()
        except CoreError as exc:  # keep serving from the baseline module
            logger.warning("optimising compile of the Wasm core failed: %s", exc)
            return
        self._use(self._engine, module, "optimized")
        logger.debug("Wasm core: optimised module in use")

    # -- module loading -------------------------------------------------------

    def _cache_path(self, wasm: bytes, tier: str) -> Path | None:
        d = self.settings.cache_dir
        if d is None:
            return None
        key = hashlib.sha256(wasm + _wasmtime_identity().encode()).hexdigest()[:32]
        return d / f"arcguard-core-{key}-{tier}.cwasm"

    @staticmethod
    def _cache_dir_is_safe(d: Path) -> bool:
        # A precompiled module is native code: only trust a directory that is
        # ours and not writable by others.
        try:
            st = d.stat()
        except OSError:
            return False
        return st.st_uid == os.getuid() and not (st.st_mode & 0o022)

    def _load_cached(self, engine: wasmtime.Engine, path: Path | None) -> wasmtime.Module | None:
        if path is None or not path.exists() or not self._cache_dir_is_safe(path.parent):
            return None
        try:
            return wasmtime.Module.deserialize_file(engine, str(path))
        except wasmtime.WasmtimeError as exc:
            logger.info("ignoring stale precompiled core %s: %s", path, exc)
            return None

    def _compile_optimized(self) -> wasmtime.Module:
        try:
            module = wasmtime.Module(self._engine, self._wasm)
        except wasmtime.WasmtimeError as exc:
            raise CoreError(f"cannot compile the Wasm core: {exc}") from exc
        if self._cache_file is not None:
            self._store_cache(self._cache_file, module)
        return module

    def _store_cache(self, path: Path, module: wasmtime.Module) -> None:
        import tempfile

        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self._cache_dir_is_safe(path.parent):
                return
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(module.serialize())
            os.replace(tmp, path)
        except OSError as exc:
            logger.info("cannot cache the precompiled core in %s: %s", path.parent, exc)

    # -- per-thread instances -------------------------------------------------

    def _instance(self) -> _Instance:
        inst: _Instance | None = getattr(self._local, "instance", None)
        current = self._current
        if inst is None or inst.generation != current[2]:
            if not self._optimized.is_set() and self._compiler_pid != os.getpid():
                with self._lock:  # forked before the optimiser finished: restart it here
                    if self._compiler_pid != os.getpid():
                        self._start_optimizer()
            inst = _Instance(current[0], current[1], self.settings)
            inst.generation = current[2]
            self._local.instance = inst
        return inst

    def _replace_instance(self, exc: CoreError) -> None:
        self._local.instance = None
        with self._lock:
            self._traps += 1
            first = self._traps == 1
        if first:
            logger.warning("Wasm core failure, instance replaced: %s", exc)
        else:
            logger.debug("Wasm core failure, instance replaced: %s", exc)

    @property
    def failures(self) -> int:
        """How many times an instance trapped or ran out of budget and was replaced."""
        return self._traps

    def compile(self, config: str) -> str:
        """Compiles a rule-set configuration (JSON) in this thread's instance.

        Returns a handle (the configuration itself) for :meth:`evaluate`; other
        threads compile it lazily on first use.

        Raises:
            RuleError: naming the rule, option and position of a problem.
        """
        inst = self._instance()
        if config not in inst.rulesets:
            try:
                inst.compile(config)
            except CoreError as exc:
                self._replace_instance(exc)
                raise
        return config

    def evaluate(self, config: str, request: bytes) -> list[RawResult]:
        """Evaluates every rule of a compiled configuration on an encoded request.

        Raises:
            CoreError: the core trapped or ran out of fuel (the instance is replaced).
        """
        return decode_results(self.evaluate_raw(config, request))

    def evaluate_raw(self, config: str, request: bytes) -> bytes:
        """Like :meth:`evaluate`, returning the undecoded result payload."""
        inst = self._instance()
        try:
            rid = inst.rulesets.get(config)
            if rid is None:
                rid = inst.compile(config)
            return inst.decide(rid, request)
        except CoreError as exc:
            self._replace_instance(exc)
            raise
        except RuleError as exc:  # cannot happen for a config compiled before
            raise CoreError(str(exc)) from exc


_default: Core | None = None
_default_lock = threading.Lock()


def get_core(settings: CoreSettings | None = None) -> Core:
    """The process-wide core (compiled once). ``settings`` apply on first call only."""
    global _default
    core = _default
    if core is None:
        with _default_lock:
            if _default is None:
                _default = Core(settings or CoreSettings(cache_dir=cache_dir_from_env(os.environ)))
            core = _default
    return core
