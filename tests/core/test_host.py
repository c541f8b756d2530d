"""The Wasm host: compile once, raw calls, traps, budgets, threads, cache."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from arcguard import RequestDetails, RuleError
from arcguard._core import Core, CoreSettings, decode_results
from arcguard._exceptions import CoreError

EMPTY = json.dumps({"rules": []})
BOT = json.dumps({"rules": [{"kind": "bot", "mode": "LIVE", "deny": ["CATEGORY:HTTP_LIBRARY"]}]})


def request(ua: str = "curl/8.4.0", **kw: object) -> bytes:
    return RequestDetails(ip="198.51.100.4", headers={"user-agent": ua}, **kw).encode()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def core() -> Core:
    return Core(CoreSettings(tiered=False))


def test_empty_rule_set_gives_no_results(core: Core) -> None:
    core.compile(EMPTY)
    assert core.evaluate(EMPTY, request()) == []


def test_bot_rule_denies_curl_and_allows_a_browser(core: Core) -> None:
    core.compile(BOT)
    [(code, reason)] = core.evaluate(BOT, request())
    assert code == 1
    assert json.loads(reason)["type"] == "BOT"
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
    [(code, _)] = core.evaluate(BOT, request(firefox))
    assert code == 0


def test_unknown_rule_kind_names_the_rule(core: Core) -> None:
    with pytest.raises(RuleError) as info:
        core.compile(
            json.dumps(
                {"rules": [{"kind": "bot", "mode": "LIVE", "deny": ["CURL"]}, {"kind": "nonsense"}]}
            )
        )
    assert info.value.rule_index == 1
    assert "nonsense" in str(info.value)


def test_invalid_json_config_is_a_rule_error(core: Core) -> None:
    with pytest.raises(RuleError):
        core.compile("{not json")


def test_garbage_request_bytes_give_a_core_error_not_a_crash(core: Core) -> None:
    core.compile(EMPTY)
    with pytest.raises(CoreError):
        core.evaluate(EMPTY, b"\xff\xff\xff\xff\xff\xff\xff\xff\x00")
    # and the instance still works afterwards
    assert core.evaluate(EMPTY, request()) == []


def test_exhausted_fuel_is_a_core_error_and_the_instance_is_replaced() -> None:
    core = Core(CoreSettings(fuel=2_000, tiered=False))
    with pytest.raises(CoreError, match=r"fuel|trap"):
        core.compile(BOT)
    assert core.failures == 1


def test_memory_limit_traps_instead_of_growing() -> None:
    core = Core(CoreSettings(memory_limit=4 * 1024 * 1024))
    core.compile(EMPTY)
    big = request(body=b"x" * (8 * 1024 * 1024))
    with pytest.raises(CoreError):
        core.evaluate(EMPTY, big)
    assert core.failures == 1
    assert core.evaluate(EMPTY, request()) == []  # a fresh instance took over


def test_eight_threads_hammering_one_core_agree(core: Core) -> None:
    core.compile(BOT)
    failures_before = core.failures
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        try:
            barrier.wait()
            for n in range(300):
                ua = (
                    "curl/8"
                    if (i + n) % 2
                    else "Mozilla/5.0 (Windows NT 10.0; rv:126.0) Firefox/126.0"
                )
                [(code, _)] = core.evaluate(BOT, request(ua, path=f"/t{i}/{n}"))
                if code != ((i + n) % 2):
                    raise AssertionError(f"thread {i} call {n}: got {code}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert core.failures == failures_before


def test_precompiled_module_cache_is_written_then_used(tmp_path: Path) -> None:
    first = Core(CoreSettings(cache_dir=tmp_path / "c"))
    assert first.cache_hit is False
    # The baseline module is cached at once (a short-lived process may exit
    # before the optimiser finishes), the optimised one when it is ready.
    assert [f.name.rsplit("-", 1)[1] for f in (tmp_path / "c").glob("*.cwasm")] == [
        "baseline.cwasm"
    ]
    second = Core(CoreSettings(cache_dir=tmp_path / "c"))
    assert (second.cache_hit, second.tier) == (True, "baseline")
    assert first.wait_optimized(60)
    assert len(list((tmp_path / "c").glob("*-optimized.cwasm"))) == 1
    third = Core(CoreSettings(cache_dir=tmp_path / "c"))
    assert (third.cache_hit, third.tier) == (True, "optimized")
    third.compile(BOT)
    assert third.evaluate(BOT, request())[0][0] == 1
    assert second.wait_optimized(60)


def test_a_corrupt_cache_file_falls_back_to_compiling(tmp_path: Path) -> None:
    Core(CoreSettings(cache_dir=tmp_path, tiered=False))
    [f] = tmp_path.glob("*.cwasm")
    f.write_bytes(b"not a module")
    core = Core(CoreSettings(cache_dir=tmp_path))
    assert core.cache_hit is False
    core.compile(EMPTY)
    assert core.evaluate(EMPTY, request()) == []


def test_a_world_writable_cache_dir_is_not_trusted(tmp_path: Path) -> None:
    d = tmp_path / "shared"
    Core(CoreSettings(cache_dir=d, tiered=False))
    d.chmod(0o777)
    assert Core(CoreSettings(cache_dir=d)).cache_hit is False


def test_decode_results_rejects_truncated_payloads() -> None:
    with pytest.raises(CoreError):
        decode_results(b"\x02\x00\x00\x00\x00\x05\x00")


def test_tiered_start_serves_from_the_baseline_module_then_swaps_in_the_optimised_one() -> None:
    core = Core(CoreSettings(tiered=True))
    assert core.tier == "baseline"
    core.compile(BOT)
    before = core.evaluate(BOT, request())
    assert core.wait_optimized(60)
    assert core.tier == "optimized"
    # the thread's instance is replaced on its next call, rule sets recompiled lazily
    assert core.evaluate(BOT, request()) == before
    assert (
        core.evaluate(BOT, request("Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Firefox/126.0"))[0][0]
        == 0
    )


def test_untiered_start_compiles_the_optimised_module_first() -> None:
    assert Core(CoreSettings(tiered=False)).tier == "optimized"


def test_exhausted_fuel_traps_on_the_baseline_module_too() -> None:
    core = Core(CoreSettings(fuel=2_000, tiered=True))
    assert core.tier == "baseline"
    with pytest.raises(CoreError, match=r"fuel|trap"):
        core.compile(BOT)


def test_the_wasm_digest_is_memoised_under_the_file_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcguard._core import _host

    wasm = tmp_path / "core.wasm"
    wasm.write_bytes(b"first module bytes")
    monkeypatch.setattr(_host, "_WASM_PATH", str(wasm))
    monkeypatch.setattr(_host, "_MEMO_SETTLE_NS", 0)
    cache = str(tmp_path / "c")
    digest, read = _host._wasm_digest(cache)
    assert read == b"first module bytes"
    assert _host._wasm_digest(cache) == (digest, None)  # from the memo, file not read
    # Rewritten (same size): the identity changes with the file, so it is hashed again.
    wasm.write_bytes(b"other module bytes")
    os.utime(wasm, ns=(10**9, 10**9))
    changed, read = _host._wasm_digest(cache)
    assert read == b"other module bytes"
    assert changed != digest
