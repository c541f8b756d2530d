"""The Wasm core host (private). See ``_host.py``."""

from ._host import (
    DEFAULT_FUEL,
    DEFAULT_MAX_RULESETS,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIME_LIMIT,
    Core,
    CoreSettings,
    RawResult,
    cache_dir_from_env,
    decode_results,
    get_core,
)

__all__ = [
    "DEFAULT_FUEL",
    "DEFAULT_MAX_RULESETS",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIME_LIMIT",
    "Core",
    "CoreSettings",
    "RawResult",
    "cache_dir_from_env",
    "decode_results",
    "get_core",
]
