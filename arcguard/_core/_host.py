"""The Wasm host: the only module that touches wasmtime.

One compiled module per process (optionally loaded from a precompiled cache
on disk), one store and instance per thread (a wasmtime Store is not
thread-safe), bounded memory, and two budgets per call: fuel, which counts
work, not wall-clock time, so a loaded machine does not fire it on ordinary
calls; and a wall-clock bound (epoch interruption, see ``_ticker.py``) sized
for a loaded machine. A decision that exhausts either answers the core's last
checkpoint (cheap rules decided, each shield at its ``on_budget_exhausted``
verdict; see ``ag_provisional`` in core-wasm/wasm/src/lib.rs) and the
instance is replaced.

wasmtime is reached through the dozen functions of its C API this host
needs, declared here with ctypes on the native library the ``wasmtime``
wheel ships. The ``wasmtime`` Python package binds the whole C API when it
is imported, which takes longer (~40 ms) than starting the core from its
cache; its errors (``WasmtimeError``, ``Trap``) would be translated here
anyway. Calls go through ``wasmtime_func_call_unchecked`` with pre-built
argument arrays and no ctypes argument conversion: a few microseconds.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._exceptions import CoreError, RuleError
from .._frozen import Frozen
from ._ticker import Ticker, ticks_for

if TYPE_CHECKING:
    from logging import Logger

__all__ = [
    "DEFAULT_FUEL",
    "DEFAULT_MAX_RULESETS",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIME_LIMIT",
    "Core",
    "CoreSettings",
    "RawResult",
    "cache_dir_from_env",
    "get_core",
]

#: Instructions-ish of work one decision may use (a typical one uses ~1e5).
DEFAULT_FUEL = 400_000_000
#: Linear memory one instance may grow to.
DEFAULT_MEMORY_LIMIT = 128 * 1024 * 1024
#: Compiled rule sets one instance keeps (least recently used dropped first).
#: One takes from a few to ~70 KB of the instance's memory (a case-insensitive
#: regex is the large kind), so 256 stay far inside the memory limit.
DEFAULT_MAX_RULESETS = 256
#: Wall-clock seconds one decision may run. Ordinary decisions take tens of
#: microseconds, but with 8 threads on 2 busy cores a bound of 50 ms stopped
#: 28 in 80,000 of them (descheduled) and 100 ms none (RELIABILITY.md): the
#: bound is five times that.
DEFAULT_TIME_LIMIT = 0.5

STATUS_OK = 0
STATUS_CONFIG = 1
STATUS_DECODE = 2
STATUS_NO_RULESET = 3

_WASM_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "arcguard_core.wasm")


def _logger() -> Logger:
    # logging is imported on the first message, not on the way to the first decision.
    import logging

    return logging.getLogger("arcguard.core")


# -- the wasmtime C API -------------------------------------------------------


def _library_path() -> str:
    """The native library inside the installed ``wasmtime`` wheel.

    Found without importing the ``wasmtime`` package (see the module docstring);
    the layout is the wheel's: ``wasmtime/<platform>-<machine>/<library>``.
    """
    import importlib.util

    spec = importlib.util.find_spec("wasmtime")
    dirs = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not dirs:
        raise ImportError("the wasmtime package is not installed")
    name = {"win32": "_wasmtime.dll", "darwin": "_libwasmtime.dylib"}.get(
        sys.platform, "_libwasmtime.so"
    )
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    machine = os.uname().machine.lower() if hasattr(os, "uname") else ""
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    for base in dirs:
        exact = os.path.join(base, f"{platform}-{machine}", name)
        if os.path.exists(exact):
            return exact
        # A wheel ships one platform directory; take it if the machine name differs.
        found = [
            os.path.join(base, d, name)
            for d in sorted(os.listdir(base))
            if d.startswith(platform + "-") and os.path.exists(os.path.join(base, d, name))
        ]
        if len(found) == 1:
            return found[0]
    raise ImportError(f"no {name} in the wasmtime package at {dirs}")


_lib = ctypes.CDLL(_library_path())
_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)


def _c(name: str, restype: Any, *argtypes: Any) -> Any:
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = argtypes
    return f


class _ByteVec(ctypes.Structure):  # wasm_byte_vec_t, also wasm_name_t and wasm_message_t
    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.POINTER(ctypes.c_char))]


class _Extern(ctypes.Structure):
    """wasmtime_extern_t: a kind byte, then (at offset 8) a 24-byte union.

    The union's members (wasmtime_func_t, wasmtime_memory_t, ...) are opaque
    here: the host only passes their address back to wasmtime.
    """

    _fields_ = [("kind", ctypes.c_uint8), ("of", ctypes.c_uint64 * 3)]


class _InstanceHandle(ctypes.Structure):  # wasmtime_instance_t
    _fields_ = [("store_id", ctypes.c_uint64), ("private", ctypes.c_size_t)]


class _ValRaw(ctypes.Union):  # wasmtime_val_raw_t (16 bytes: v128 is its widest member)
    _fields_ = [("i32", ctypes.c_int32), ("i64", ctypes.c_int64), ("v128", ctypes.c_uint8 * 16)]


_EXTERN_FUNC = 0
_EXTERN_MEMORY = 3
_CRANELIFT = 1
_WINCH = 2  # wasmtime_strategy_t

_config_new = _c("wasm_config_new", _P)
_config_strategy = _c("wasmtime_config_strategy_set", None, _P, ctypes.c_uint8)
_config_fuel = _c("wasmtime_config_consume_fuel_set", None, _P, ctypes.c_bool)
_config_epoch = _c("wasmtime_config_epoch_interruption_set", None, _P, ctypes.c_bool)
_increment_epoch = _c("wasmtime_engine_increment_epoch", None, _P)
_get_fuel = _c("wasmtime_context_get_fuel", _P, _P, ctypes.POINTER(ctypes.c_uint64))
_config_memory_may_move = _c("wasmtime_config_memory_may_move_set", None, _P, ctypes.c_bool)
_config_parallel = _c("wasmtime_config_parallel_compilation_set", None, _P, ctypes.c_bool)
_engine_new = _c("wasm_engine_new_with_config", _P, _P)  # takes the config
_engine_delete = _c("wasm_engine_delete", None, _P)
_module_new = _c("wasmtime_module_new", _P, _P, ctypes.c_char_p, ctypes.c_size_t, _PP)
_module_deserialize_file = _c("wasmtime_module_deserialize_file", _P, _P, ctypes.c_char_p, _PP)
_module_serialize = _c("wasmtime_module_serialize", _P, _P, ctypes.POINTER(_ByteVec))
_module_delete = _c("wasmtime_module_delete", None, _P)
_store_new = _c("wasmtime_store_new", _P, _P, _P, _P)
_store_context = _c("wasmtime_store_context", _P, _P)
_store_limiter = _c(
    "wasmtime_store_limiter",
    None,
    _P,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_int64,
)
_store_delete = _c("wasmtime_store_delete", None, _P)
_instance_new = _c(
    "wasmtime_instance_new",
    _P,
    _P,
    _P,
    _P,
    ctypes.c_size_t,
    ctypes.POINTER(_InstanceHandle),
    _PP,
)
_export_get = _c(
    "wasmtime_instance_export_get",
    ctypes.c_bool,
    _P,
    ctypes.POINTER(_InstanceHandle),
    ctypes.c_char_p,
    ctypes.c_size_t,
    ctypes.POINTER(_Extern),
)
_error_message = _c("wasmtime_error_message", None, _P, ctypes.POINTER(_ByteVec))
_error_delete = _c("wasmtime_error_delete", None, _P)
_trap_message = _c("wasm_trap_message", None, _P, ctypes.POINTER(_ByteVec))
_trap_code = _c("wasmtime_trap_code", ctypes.c_bool, _P, ctypes.POINTER(ctypes.c_uint8))
_trap_delete = _c("wasm_trap_delete", None, _P)
_byte_vec_delete = _c("wasm_byte_vec_delete", None, ctypes.POINTER(_ByteVec))

# The per-call functions are declared without argtypes and called with
# pre-built ctypes values: ctypes' per-call argument conversion costs more
# than the Wasm call itself.
_call_unchecked = _lib.wasmtime_func_call_unchecked
_call_unchecked.restype = _P
_set_fuel = _lib.wasmtime_context_set_fuel
_set_fuel.restype = _P
_set_deadline = _lib.wasmtime_context_set_epoch_deadline
_set_deadline.restype = None
_memory_data = _lib.wasmtime_memory_data
_memory_data.restype = _P
_memory_size = _lib.wasmtime_memory_data_size
_memory_size.restype = ctypes.c_size_t
_string_at = ctypes.string_at
_memmove = ctypes.memmove
_TWO = ctypes.c_size_t(2)


def _take_vec(vec: _ByteVec) -> bytes:
    try:
        return ctypes.string_at(vec.data, vec.size) if vec.size else b""
    finally:
        _byte_vec_delete(ctypes.byref(vec))


def _take_error(err: int) -> str:
    """The message of a ``wasmtime_error_t`` (which is freed)."""
    vec = _ByteVec()
    _error_message(err, ctypes.byref(vec))
    _error_delete(err)
    return _take_vec(vec).decode("utf-8", "replace")


def _take_trap(trap: int) -> str:
    """The message of a ``wasm_trap_t`` (which is freed), backtrace included."""
    vec = _ByteVec()
    _trap_message(trap, ctypes.byref(vec))
    _trap_delete(trap)
    return _take_vec(vec).rstrip(b"\0").decode("utf-8", "replace")


class _WasmtimeError(CoreError):
    """An error reported by wasmtime (compiling, loading, instantiating).

    A CoreError, so that none escapes this module untranslated; the places
    that can fall back (a stale cache file, no baseline compiler) catch it.
    """


class _Exhausted(CoreError):
    """A call ran out of fuel or past its epoch deadline.

    ``payload`` is what an exhausted ``ag_decide`` answers instead (its last
    checkpoint), or None.
    """

    def __init__(self, message: str, payload: bytes | None = None) -> None:
        super().__init__(message)
        self.payload = payload


#: A deadline no epoch reaches.
_NO_DEADLINE = ctypes.c_uint64(2**63)
_TRAP_INTERRUPT = 10  # wasmtime_trap_code_t: the epoch deadline passed
_TRAP_OUT_OF_FUEL = 11
_EXHAUSTED = {_TRAP_INTERRUPT: "time limit", _TRAP_OUT_OF_FUEL: "fuel"}


def _check(err: int | None) -> None:
    if err:
        raise _WasmtimeError(_take_error(err))


#: Advances the epoch of every engine (the wall-clock bound).
_ticker = Ticker(_increment_epoch)


class _Engine:
    """A wasm_engine_t for one compiler, with fuel, epoch interruption and
    non-moving memories."""

    __slots__ = ("__weakref__", "ptr")

    def __init__(self, strategy: int, *, parallel: bool = True) -> None:
        config = _config_new()
        _config_strategy(config, strategy)
        _config_fuel(config, True)
        _config_epoch(config, True)
        # Memories never move, so an instance reads its base address once.
        _config_memory_may_move(config, False)
        _config_parallel(config, parallel)
        ptr = _engine_new(config)  # consumes the config
        if not ptr:
            raise _WasmtimeError("cannot create a wasmtime engine")
        self.ptr: int = ptr
        _ticker.add(self)

    # The deleters are bound as defaults: at interpreter exit the module's
    # globals may already be gone when the last handle is collected.
    def __del__(self, _delete: Any = _engine_delete) -> None:
        if self.ptr:
            _delete(self.ptr)
            self.ptr = 0


class _Module:
    """A compiled wasmtime_module_t. It keeps its engine alive inside wasmtime."""

    __slots__ = ("ptr",)

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr

    @classmethod
    def compile(cls, engine: _Engine, wasm: bytes) -> _Module:
        out = ctypes.c_void_p()
        _check(_module_new(engine.ptr, wasm, len(wasm), ctypes.byref(out)))
        return cls(out.value or 0)

    @classmethod
    def deserialize_file(cls, engine: _Engine, path: str) -> _Module:
        out = ctypes.c_void_p()
        _check(_module_deserialize_file(engine.ptr, os.fsencode(path), ctypes.byref(out)))
        return cls(out.value or 0)

    def serialize(self) -> bytes:
        vec = _ByteVec()
        _check(_module_serialize(self.ptr, ctypes.byref(vec)))
        return _take_vec(vec)

    def __del__(self, _delete: Any = _module_delete) -> None:
        if self.ptr:
            _delete(self.ptr)
            self.ptr = 0


def _wasmtime_identity() -> str:
    # The precompiled module is only valid for the exact native library that
    # made it; its size and mtime identify it without importlib.metadata's
    # import cost. (wasmtime also refuses an incompatible module itself.)
    name: str = _lib._name
    try:
        st = os.stat(name)
    except OSError:  # pragma: no cover
        return "unknown"
    return f"{name}:{st.st_size}:{st.st_mtime_ns}"


def _lower_thread_priority() -> None:
    """Best effort: a nice value of 10 for the calling thread (Linux only).

    On Linux ``setpriority`` with a thread id affects that thread alone; on
    other systems it would renice the whole process, so it is not called.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:  # pragma: no cover - not permitted
            pass


def _blake2b_hex(data: bytes) -> str:
    try:  # hashlib's own import loads OpenSSL, which costs more than hashing here
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - not CPython
        from hashlib import blake2b
    return blake2b(data, digest_size=16).hexdigest()


_DIGEST_MEMO = "arcguard-core-wasm.digest"
#: A digest is memoised only for a file unchanged for this long when it was
#: hashed: a rewrite within the same timestamp tick would not change its identity.
_MEMO_SETTLE_NS = 2_000_000_000


def _wasm_digest(cache_dir: str) -> tuple[str, bytes | None]:
    """The digest of the Wasm module's bytes, and the bytes if they were read.

    Reading and hashing the 1 MB module took more of a cached start than
    loading the precompiled module, so the digest is memoised in the cache
    directory under the file's identity (device, inode, size, mtime, ctime):
    writing or replacing the file changes its ctime, which no tool can set.
    """
    st = os.stat(_WASM_PATH)
    ident = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    memo = os.path.join(cache_dir, _DIGEST_MEMO)
    try:
        with open(memo, encoding="ascii") as f:
            known, digest = f.read().split()
        if known == ident and len(digest) == 32:
            return digest, None
    except (OSError, ValueError):
        pass
    wasm = _wasm_bytes()
    digest = _blake2b_hex(wasm)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _MEMO_SETTLE_NS:
        _write_atomically(memo, f"{ident} {digest}\n".encode("ascii"))
    return digest, wasm


def _write_atomically(path: str, data: bytes) -> None:
    """Writes a file of the cache directory (created private), or does nothing."""
    import tempfile

    d = os.path.dirname(path)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        if not _cache_dir_is_safe(d):
            return
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        _logger().info("cannot write %s: %s", path, exc)


def _cache_dir_is_safe(d: str) -> bool:
    # A precompiled module is native code: only trust a directory that is
    # ours and not writable by others.
    try:
        st = os.stat(d)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not (st.st_mode & 0o022)


_U32 = struct.Struct("<I")
_RESULT_HEAD = struct.Struct("<BI")


def _addr(obj: object) -> ctypes.c_void_p:
    return ctypes.c_void_p(ctypes.addressof(obj))  # type: ignore[arg-type]


#: One rule's raw result: conclusion code (0 allow, 1 deny, 2 needs remote,
#: 3 not run, 4 error) and the reason's JSON text.
RawResult = tuple[int, str]


class CoreSettings(Frozen):
    """How the Wasm core is run (immutable).

    Attributes:
        fuel: work budget per call.
        time_limit: wall-clock seconds per call (epoch interruption, to
            :data:`~arcguard._core._ticker.TICK`); None for no bound.
            A decision that exhausts either budget inside a shield answers
            every cheap rule's own result and the shield's
            ``on_budget_exhausted`` verdict (deny by default); one that
            exhausts it elsewhere is an ERROR.
        memory_limit: bytes of linear memory per instance.
        cache_dir: where the precompiled module is cached; None disables the cache.
        tiered: without a cached module, start on a module compiled by the
            fast baseline compiler (Winch: a fifth of a second) and swap in the
            optimising compiler's (Cranelift: seconds, and code twice as fast)
            when a background thread has built it. False compiles with
            Cranelift before the first decision.
        max_rulesets: compiled rule sets one instance keeps; the least
            recently used is dropped from the instance beyond that (and
            compiled again if it is used again).

    Raises:
        ValueError: ``max_rulesets`` or ``fuel`` is below 1, or ``time_limit``
            is neither None nor positive seconds.
    """

    # A Frozen (plain __slots__) class, not a dataclass: the dataclass
    # decorator's code generation costs more import time than the rest of
    # this module.
    __slots__ = ("cache_dir", "fuel", "max_rulesets", "memory_limit", "tiered", "time_limit")
    _fields = ("fuel", "memory_limit", "cache_dir", "tiered", "max_rulesets", "time_limit")

    fuel: int
    memory_limit: int
    cache_dir: str | os.PathLike[str] | None
    tiered: bool
    max_rulesets: int
    time_limit: float | None

    def __init__(
        self,
        fuel: int = DEFAULT_FUEL,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        cache_dir: str | os.PathLike[str] | None = None,
        tiered: bool = True,
        max_rulesets: int = DEFAULT_MAX_RULESETS,
        time_limit: float | None = DEFAULT_TIME_LIMIT,
    ) -> None:
        if isinstance(max_rulesets, bool) or not isinstance(max_rulesets, int) or max_rulesets < 1:
            raise ValueError(f"max_rulesets must be a positive integer, got {max_rulesets!r}")
        if isinstance(fuel, bool) or not isinstance(fuel, int) or fuel < 1:
            raise ValueError(f"fuel must be a positive integer, got {fuel!r}")
        if time_limit is not None and (
            isinstance(time_limit, bool)
            or not isinstance(time_limit, (int, float))
            or not 0 < time_limit < 86_400
        ):
            raise ValueError(f"time_limit must be None or seconds > 0, got {time_limit!r}")
        set_ = object.__setattr__
        set_(self, "fuel", fuel)
        set_(self, "time_limit", time_limit)
        set_(self, "memory_limit", memory_limit)
        set_(self, "cache_dir", cache_dir)
        set_(self, "tiered", tiered)
        set_(self, "max_rulesets", max_rulesets)


def cache_dir_from_env(environ: Mapping[str, str]) -> str | None:
    """The precompiled-module cache directory for this environment.

    ``ARCGUARD_CACHE_DIR`` (empty or ``off`` disables), else
    ``$XDG_CACHE_HOME/arcguard``, else ``~/.cache/arcguard``.
    """
    explicit = environ.get("ARCGUARD_CACHE_DIR")
    if explicit is not None:
        return None if explicit.strip() in ("", "off", "0") else explicit
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "arcguard")


def _wasm_bytes() -> bytes:
    with open(_WASM_PATH, "rb") as f:
        return f.read()


_EXPORTS = (b"ag_buffer", b"ag_compile", b"ag_decide", b"ag_drop", b"ag_provisional")


class _Instance:
    """One store + instance, used by one thread only."""

    __slots__ = (
        "_args",
        "_args_p",
        "_base",
        "_buf_cap",
        "_buf_ptr",
        "_ctx",
        "_exports",
        "_f_buffer",
        "_f_compile",
        "_f_decide",
        "_f_drop",
        "_f_provisional",
        "_fuel",
        "_limit",
        "_max_rulesets",
        "_mem",
        "_module",
        "_store",
        "_ticks",
        "_trap",
        "_trap_p",
        "generation",
        "recent",
        "rulesets",
    )

    def __init__(self, module: _Module, settings: CoreSettings, engine: _Engine):
        self._store = 0
        store = _store_new(engine.ptr, None, None)
        if not store:
            raise CoreError("cannot create a wasmtime store")
        self._store = store
        self._module = module  # outlives the instance made from it
        ctx = _store_context(store)
        _store_limiter(store, settings.memory_limit, -1, -1, -1, -1)
        handle = _InstanceHandle()
        trap = ctypes.c_void_p()
        err = _instance_new(ctx, module.ptr, None, 0, ctypes.byref(handle), ctypes.byref(trap))
        if err:
            raise CoreError(f"cannot instantiate the Wasm core: {_take_error(err)}")
        if trap.value:
            raise CoreError(f"cannot instantiate the Wasm core: {_take_trap(trap.value)}")
        # The export structs stay alive in this object: the raw pointers point into them.
        mem = _Extern()
        if not _export_get(ctx, handle, b"memory", 6, mem) or mem.kind != _EXTERN_MEMORY:
            raise CoreError("the Wasm core exports no memory")
        funcs = []
        for name in _EXPORTS:
            f = _Extern()
            if not _export_get(ctx, handle, name, len(name), f) or f.kind != _EXTERN_FUNC:
                raise CoreError(f"the Wasm core does not export {name.decode()}")
            funcs.append(f)
        self._exports = (mem, funcs)
        self._ctx = ctypes.c_void_p(ctx)
        self._fuel = ctypes.c_uint64(settings.fuel)
        limit = settings.time_limit
        self._ticks = _NO_DEADLINE if limit is None else ctypes.c_uint64(ticks_for(limit))
        self._mem = _addr(mem.of)
        self._f_buffer, self._f_compile, self._f_decide, self._f_drop, self._f_provisional = (
            _addr(f.of) for f in funcs
        )
        self._args = (_ValRaw * 2)()
        self._args_p = _addr(self._args)
        self._trap = ctypes.c_void_p()
        self._trap_p = _addr(self._trap)
        # Memories never move (memory_may_move is off), so the base address is
        # read once.
        self._base: int = _memory_data(self._ctx, self._mem)
        self._limit = settings.memory_limit
        self._buf_ptr = 0
        self._buf_cap = 0
        #: rule-set configuration text -> id inside this instance, least
        #: recently used first; bounded by ``settings.max_rulesets``
        self.rulesets: OrderedDict[str, int] = OrderedDict()
        #: the configuration used last: already the most recent, not reordered
        self.recent: str | None = None
        self._max_rulesets = settings.max_rulesets
        #: which module of the core this instance runs (see Core._use)
        self.generation = 0

    def __del__(self, _delete: Any = _store_delete) -> None:
        if self._store:
            _delete(self._store)
            self._store = 0

    def _call(self, func: ctypes.c_void_p, ticks: ctypes.c_uint64 | None = _NO_DEADLINE) -> None:
        # The raw call: the argument array doubles as the result array.
        # Only decisions have a wall-clock bound: compiling is work the
        # configuration asks for (bounded by fuel), not a request.
        err = _set_fuel(self._ctx, self._fuel)
        if err:
            raise CoreError(_take_error(err))
        if ticks is not None:
            _set_deadline(self._ctx, ticks)
        err = _call_unchecked(self._ctx, func, self._args_p, _TWO, self._trap_p)
        trap = self._trap.value
        if trap:
            self._trap.value = None
            code = ctypes.c_uint8()
            exhausted = _EXHAUSTED.get(code.value) if _trap_code(trap, code) else None
            message = _summary(_take_trap(trap))
            if exhausted is not None:
                raise _Exhausted(f"the Wasm core exceeded its {exhausted}: {message}")
            raise CoreError(f"the Wasm core trapped: {message}")
        if err:
            raise CoreError(f"the Wasm core failed: {_summary(_take_error(err))}")

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
        rulesets = self.rulesets
        rulesets[config] = rid
        self.recent = config
        while len(rulesets) > self._max_rulesets:
            # ag_drop frees the rule set inside the instance, whose allocator
            # reuses the memory: distinct rule sets without end never reach
            # the memory limit (they trapped there, and the instance with
            # every compiled rule set was replaced).
            self.drop(rulesets.popitem(last=False)[1])
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
        if not _ticker.running:
            _ticker.start()
        try:
            self._call(self._f_decide, self._ticks)
        except _Exhausted as exc:
            exc.payload = self._provisional()
            raise
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

    def fuel_used(self) -> int:
        """Fuel the last call used."""
        left = ctypes.c_uint64()
        _check(_get_fuel(self._ctx, ctypes.byref(left)))
        return self._fuel.value - left.value

    def _provisional(self) -> bytes | None:
        """The last checkpoint of an ``ag_decide`` stopped by a budget, or None."""
        try:
            self._call(self._f_provisional)
        except CoreError:
            return None
        packed = self._args[0].i64
        ptr, length = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        if length == 0 or ptr + length > _memory_size(self._ctx, self._mem):
            return None
        return _string_at(self._base + ptr, length)

    def drop(self, ruleset: int) -> None:
        self._args[0].i32 = ruleset
        self._call(self._f_drop)


def _summary(message: str) -> str:
    """One line of a wasmtime trap: its cause and the innermost function of ours.

    The full message carries a backtrace of a dozen frames; it goes to the
    debug log, the decision's reason gets the gist.
    """
    _logger().debug("Wasm core trap: %s", message)
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

    _current: tuple[_Engine, _Module, int, str]

    def __init__(self, settings: CoreSettings | None = None) -> None:
        self.settings = settings or CoreSettings()
        self._local = threading.local()
        self._traps = 0
        self._lock = threading.Lock()
        self._optimized = threading.Event()
        self._compiler_pid = 0
        self._engine = _Engine(_CRANELIFT)
        d = self.settings.cache_dir
        self._cache_dir = None if d is None else os.fspath(d)
        self._cache_key = ""
        self._wasm_read: bytes | None = None
        if self._cache_dir is not None:
            digest, self._wasm_read = _wasm_digest(self._cache_dir)
            # (The engine's settings are part of the compiled code: epoch checks.)
            self._cache_key = _blake2b_hex(f"{digest}:{_wasmtime_identity()}:epoch".encode())
        self._cache_file = self._cache_path("optimized")
        module = self._load_cached(self._engine, self._cache_file)
        self.cache_hit = module is not None
        if module is not None:
            self._use(self._engine, module, "optimized")
            return
        if self.settings.tiered:
            quick = self._baseline(self._wasm)
            if quick is not None:
                self._use(quick[0], quick[1], "baseline")
                self._start_optimizer()
                return
        self._use(self._engine, self._compile_optimized(), "optimized")

    def _baseline(self, wasm: bytes) -> tuple[_Engine, _Module] | None:
        """The Winch module, from the cache or compiled (and then cached).

        The baseline module is cached too: a short-lived process (a CLI run, a
        serverless invocation) often exits before the optimiser finishes, and
        the next one should not compile again. Whichever process lives long
        enough caches the optimised module, which is preferred from then on.
        """
        try:
            engine = _Engine(_WINCH)
        except _WasmtimeError as exc:
            _logger().debug("no baseline compiler, compiling with Cranelift: %s", exc)
            return None
        path = self._cache_path("baseline")
        module = self._load_cached(engine, path)
        if module is not None:
            self.cache_hit = True
            return engine, module
        try:
            module = _Module.compile(engine, wasm)
        except _WasmtimeError as exc:
            _logger().debug("no baseline compiler, compiling with Cranelift: %s", exc)
            return None
        if path is not None:
            self._store_cache(path, module)
        return engine, module

    @property
    def _wasm(self) -> bytes:
        """The module's bytes, read when something is compiled."""
        if self._wasm_read is None:
            self._wasm_read = _wasm_bytes()
        return self._wasm_read

    @property
    def tier(self) -> str:
        """``"optimized"`` (Cranelift) or ``"baseline"`` (Winch, until the swap)."""
        return self._current[3]

    def wait_optimized(self, timeout: float | None = None) -> bool:
        """Waits for the optimised module (tiered start); True once it is in use."""
        return self._optimized.wait(timeout)

    def _use(self, engine: _Engine, module: _Module, tier: str) -> None:
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
        # The baseline module is serving requests meanwhile (the first one
        # among them): the compile takes one core, at a lower priority, rather
        # than every core at the app's.
        _lower_thread_priority()
        try:
            engine = _Engine(_CRANELIFT, parallel=False)
            module = self._compile_optimized(engine)
        except CoreError as exc:  # keep serving from the baseline module
            _logger().warning("optimising compile of the Wasm core failed: %s", exc)
            return
        self._use(engine, module, "optimized")
        _logger().debug("Wasm core: optimised module in use")

    # -- module loading -------------------------------------------------------

    def _cache_path(self, tier: str) -> str | None:
        if self._cache_dir is None:
            return None
        return os.path.join(self._cache_dir, f"arcguard-core-{self._cache_key}-{tier}.cwasm")

    def _load_cached(self, engine: _Engine, path: str | None) -> _Module | None:
        if (
            path is None
            or not os.path.exists(path)
            or not _cache_dir_is_safe(os.path.dirname(path))
        ):
            return None
        try:
            return _Module.deserialize_file(engine, path)
        except _WasmtimeError as exc:
            _logger().info("ignoring stale precompiled core %s: %s", path, exc)
            return None

    def _compile_optimized(self, engine: _Engine | None = None) -> _Module:
        try:
            module = _Module.compile(engine or self._engine, self._wasm)
        except _WasmtimeError as exc:
            raise CoreError(f"cannot compile the Wasm core: {exc}") from exc
        if self._cache_file is not None:
            self._store_cache(self._cache_file, module)
        return module

    def _store_cache(self, path: str, module: _Module) -> None:
        try:
            data = module.serialize()
        except _WasmtimeError as exc:
            _logger().info("cannot serialise the compiled core: %s", exc)
            return
        _write_atomically(path, data)

    # -- per-thread instances -------------------------------------------------

    def _instance(self) -> _Instance:
        inst: _Instance | None = getattr(self._local, "instance", None)
        current = self._current
        if inst is None or inst.generation != current[2]:
            if not self._optimized.is_set() and self._compiler_pid != os.getpid():
                with self._lock:  # forked before the optimiser finished: restart it here
                    if self._compiler_pid != os.getpid():
                        self._start_optimizer()
            inst = _Instance(current[1], self.settings, current[0])
            inst.generation = current[2]
            self._local.instance = inst
        return inst

    def _replace_instance(self, exc: CoreError) -> None:
        self._local.instance = None
        with self._lock:
            self._traps += 1
            first = self._traps == 1
        if first:
            _logger().warning("Wasm core failure, instance replaced: %s", exc)
        else:
            _logger().debug("Wasm core failure, instance replaced: %s", exc)

    def fuel_used(self) -> int:
        """Fuel the last call in this thread used (for measurements: fuel counts
        work, the same on a loaded machine as on a quiet one)."""
        return self._instance().fuel_used()

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
        elif config is not inst.recent:
            inst.rulesets.move_to_end(config)
            inst.recent = config
        return config

    def evaluate(self, config: str, request: bytes) -> list[RawResult]:
        """Evaluates every rule of a compiled configuration on an encoded request.

        Raises:
            CoreError: the core trapped, or exhausted its fuel or time outside
                the shield (the instance is replaced).
        """
        return decode_results(self.evaluate_raw(config, request))

    def evaluate_raw(self, config: str, request: bytes) -> bytes:
        """Like :meth:`evaluate`, returning the undecoded result payload.

        A decision that exhausts the fuel or time budget inside an expensive
        rule (the shield) returns the core's last checkpoint: every cheap
        rule's own result and the shield's ``on_budget_exhausted`` verdict.
        """
        inst = self._instance()
        try:
            rid = inst.rulesets.get(config)
            if rid is None:
                rid = inst.compile(config)
            elif config is not inst.recent:  # least-recently-used order
                inst.rulesets.move_to_end(config)
                inst.recent = config
            return inst.decide(rid, request)
        except CoreError as exc:
            self._replace_instance(exc)
            if isinstance(exc, _Exhausted) and exc.payload is not None:
                return exc.payload
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
