"""Service settings: defaults, environment, flags, and the unsafe combinations refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from arcguard._exceptions import ConfigurationError
from decide_service import (
    DEFAULT_PORT,
    Settings,
    add_dev_arguments,
    add_serve_arguments,
    settings_from_args,
)


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_serve_arguments(p)
    return p.parse_args(list(argv))


def test_defaults_listen_on_loopback_with_a_key() -> None:
    s = Settings(api_keys=("k",))
    assert (s.host, s.port, s.redis_url, s.log_format) == ("127.0.0.1", DEFAULT_PORT, None, "text")
    assert s.auth_required


def test_refuses_to_start_without_keys_unless_no_auth() -> None:
    with pytest.raises(ConfigurationError, match="no API keys"):
        Settings()
    assert Settings(no_auth=True).auth_required is False


def test_no_auth_is_refused_on_a_non_loopback_host() -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        Settings(host="0.0.0.0", no_auth=True, tls_cert="c", tls_key="k")


def test_plaintext_on_a_non_loopback_host_needs_allow_insecure() -> None:
    with pytest.raises(ConfigurationError, match="plaintext"):
        Settings(host="10.0.0.5", api_keys=("k",))
    assert Settings(host="10.0.0.5", api_keys=("k",), allow_insecure=True).host == "10.0.0.5"
    assert Settings(host="::1", api_keys=("k",)).address == "[::1]:7443"


def test_tls_needs_both_cert_and_key() -> None:
    with pytest.raises(ConfigurationError, match="both"):
        Settings(api_keys=("k",), tls_cert="cert.pem")


@pytest.mark.parametrize("key", ["", " padded", "has space", "tab\there", "é"])
def test_malformed_api_keys_are_refused(key: str) -> None:
    with pytest.raises(ConfigurationError):
        Settings(api_keys=(key,))


def test_environment_is_read_from_the_mapping(tmp_path: Path) -> None:
    keyfile = tmp_path / "keys"
    keyfile.write_text("# comment\nak_file_1\n\nak_file_2\n")
    s = Settings.from_env(
        {
            "ARCGUARD_PORT": "9000",
            "ARCGUARD_API_KEYS": "ak_env_1, ak_env_2",
            "ARCGUARD_API_KEY_FILE": str(keyfile),
            "ARCGUARD_LOG_FORMAT": "json",
            "ARCGUARD_METRICS_PORT": "-1",
            "ARCGUARD_REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    assert s.port == 9000 and s.log_format == "json" and s.metrics_port is None
    assert s.api_keys == ("ak_env_1", "ak_env_2", "ak_file_1", "ak_file_2")
    assert s.redis_url == "redis://127.0.0.1:1/0"


def test_bad_environment_values_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="ARCGUARD_PORT"):
        Settings.from_env({"ARCGUARD_PORT": "http", "ARCGUARD_API_KEYS": "k"})
    with pytest.raises(ConfigurationError, match="ARCGUARD_NO_AUTH"):
        Settings.from_env({"ARCGUARD_NO_AUTH": "maybe"})


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    keyfile = tmp_path / "keys"
    keyfile.write_text("ak_flag\n")
    args = parse("--port", "0", "--api-key-file", str(keyfile), "--log-format", "json")
    s = settings_from_args(args, {"ARCGUARD_PORT": "9000", "ARCGUARD_LOG_FORMAT": "text"})
    assert s.port == 0 and s.log_format == "json" and s.api_keys == ("ak_flag",)


def test_missing_key_file_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot read API key file"):
        settings_from_args(parse("--api-key-file", "/nonexistent/keys"), {})


def test_dev_flag_gives_loopback_no_auth_memory_text_logs() -> None:
    s = settings_from_args(parse("--dev", "--port", "0"), {"ARCGUARD_REDIS_URL": "redis://x"})
    assert s.dev and s.no_auth and s.redis_url is None and s.host == "127.0.0.1"
    assert s.metrics_port is None


def test_dev_arguments_parse() -> None:
    p = argparse.ArgumentParser()
    add_dev_arguments(p)
    assert p.parse_args(["--port", "0"]).port == 0


def test_event_loop_is_chosen_by_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from decide_service import _server
    from decide_service import _settings as settings_module

    assert Settings(no_auth=True).event_loop == "auto"
    env = {"ARCGUARD_NO_AUTH": "1", "ARCGUARD_EVENT_LOOP": "asyncio"}
    s = settings_from_args(parse(), env)
    assert s.event_loop == "asyncio"
    assert _server.loop_factory(s) is None  # asyncio's own loop
    assert settings_from_args(parse("--event-loop", "auto"), env).event_loop == "auto"
    with pytest.raises(ConfigurationError, match="event loop"):
        Settings(no_auth=True, event_loop="tokio")
    # auto falls back to asyncio's loop without uvloop; asking for it by name is refused.
    monkeypatch.setattr(settings_module, "uvloop_available", lambda: False)
    monkeypatch.setattr(_server, "uvloop_available", lambda: False)
    assert _server.loop_factory(Settings(no_auth=True)) is None
    with pytest.raises(ConfigurationError, match="uvloop is not installed"):
        Settings(no_auth=True, event_loop="uvloop")


def test_uvloop_runs_the_service_when_installed() -> None:
    pytest.importorskip("uvloop")
    import asyncio

    from decide_service import _server

    factory = _server.loop_factory(Settings(no_auth=True))
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()
