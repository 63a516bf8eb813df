"""Settings: one declaration, read from flags, OPENLIVE_* variables and a TOML file.

Most tests drive ``openlive serve --print-config``, which settles the settings exactly as
``serve`` does and prints them instead of serving.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError

from openlive.cli import main, serve
from openlive.config import (
    Settings,
    env_name,
    flag_name,
    load_settings,
    setting_fields,
    settings_to_toml,
)
from openlive.config_file import read_config_file, toml_value
from openlive.config_reference import render
from openlive.errors import ConfigError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPENLIVE_* variable of the developer's leaks in; a known data directory."""
    import os

    for name in list(os.environ):
        if name.startswith("OPENLIVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def printed(*args: str) -> dict[str, Any]:
    """The settings ``serve`` would run with, as the TOML ``--print-config`` prints."""
    result = run("serve", *args, "--print-config")
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.stdout)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- one source at a time


def test_defaults_come_from_the_declaration(tmp_path: Path) -> None:
    values = printed()
    assert values["port"] == 8080 and values["llm_context"] == 4096
    assert values["connection_lifetime"] == 600.0 and values["resumption_ttl"] == 7200.0
    assert values["data_dir"] == str(tmp_path / "xdg" / "openlive")
    assert "llm_url" not in values  # unset: a comment, as TOML has no null


def test_flags_of_every_kind() -> None:
    values = printed("--port", "9000", "--no-tls", "--llm-vision", "--tls-host", "a",
                     "--tls-host", "b", "--log-level", "debug", "--connection-lifetime", "0")
    assert values["port"] == 9000 and values["tls"] is False and values["llm_vision"] is True
    assert values["tls_hosts"] == ["a", "b"] and values["log_level"] == "debug"
    assert values["connection_lifetime"] == 0.0


def test_flags_are_checked_by_their_declared_type() -> None:
    assert run("serve", "--log-level", "loud", "--print-config").exit_code == 2
    assert run("serve", "--shed-lag-ms", "-1", "--print-config").exit_code == 2
    assert run("serve", "--tls-cert", "/no/such.pem", "--print-config").exit_code == 2


def test_environment_variables_use_the_one_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLIVE_PORT", "9100")
    monkeypatch.setenv("OPENLIVE_TLS", "false")
    monkeypatch.setenv("OPENLIVE_MODEL_ALIASES", "one, two three")
    monkeypatch.setenv("OPENLIVE_LLM_URL", "")  # empty: as if unset
    values = printed()
    assert values["port"] == 9100 and values["tls"] is False
    assert values["model_aliases"] == ["one", "two", "three"] and "llm_url" not in values


def test_the_old_singular_list_variables_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLIVE_SERVER_TOOL", "pkg.mod:make")
    assert printed()["server_tools"] == ["pkg.mod:make"]


def test_a_config_file_keyed_by_setting_name(tmp_path: Path) -> None:
    config = write(tmp_path / "openlive.toml",
                   'port = 9000\nllm_context = 8192\ntls_hosts = ["lan.example", "10.0.0.2"]\n'
                   'connection_lifetime = 300\nvoice = false\n')
    values = printed("--config", str(config))
    assert values["port"] == 9000 and values["llm_context"] == 8192
    assert values["tls_hosts"] == ["lan.example", "10.0.0.2"]
    assert values["connection_lifetime"] == 300.0 and values["voice"] is False


def test_openlive_config_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENLIVE_CONFIG", str(write(tmp_path / "c.toml", "port = 9001\n")))
    assert printed()["port"] == 9001


# --- precedence: flag, environment, file, default


def test_a_flag_beats_the_environment_which_beats_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write(tmp_path / "c.toml", "port = 1001\nhost = '0.0.0.0'\nllm_context = 2048\n"
                   "tls = false\n")
    monkeypatch.setenv("OPENLIVE_PORT", "1002")
    monkeypatch.setenv("OPENLIVE_HOST", "::1")
    monkeypatch.setenv("OPENLIVE_TLS", "false")
    values = printed("--config", str(config), "--port", "1003", "--tls")
    assert values["port"] == 1003  # flag over variable over file
    assert values["host"] == "::1"  # variable over file
    assert values["llm_context"] == 2048  # file over default
    assert values["tls"] is True  # a boolean flag counts even when it says the default
    assert values["max_sessions"] == 0  # the default, under nothing


def test_a_flag_left_at_its_default_does_not_hide_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENLIVE_LLM_CONTEXT", "2048")
    assert printed()["llm_context"] == 2048
    assert printed("--llm-context", "4096")["llm_context"] == 4096


def test_load_settings_layers_the_same_way(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = 1\nasr = 'mine:asr'\n")
    monkeypatch.setenv("OPENLIVE_PORT", "2")
    settings = load_settings({"tts": "kokoro"}, config)
    assert (settings.port, settings.asr, settings.tts) == (2, "mine:asr", "kokoro")


# --- errors name the setting and where it was given


def test_an_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = 1\nllm-context = 8192\n")
    result = run("serve", "--config", str(config), "--print-config")
    assert result.exit_code == 2
    assert f"unknown setting 'llm-context' in {config} (did you mean llm_context?)" in \
        result.output
    with pytest.raises(ConfigError, match="unknown setting 'server'"):
        read_config_file(write(tmp_path / "t.toml", "[server]\nport = 1\n"),
                         Settings.model_fields)


def test_a_wrong_value_names_where_it_came_from(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = 'eighty'\n")
    with pytest.raises(ConfigError, match=rf"^port in {re.escape(str(config))}: .*integer"):
        load_settings(config_file=config)
    monkeypatch.setenv("OPENLIVE_MAX_SESSIONS", "-3")
    with pytest.raises(ConfigError, match=r"^OPENLIVE_MAX_SESSIONS: .*greater than or equal"):
        load_settings()
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=write(tmp_path / "bad.toml", "port = \n"))


def test_rules_across_settings_keep_their_messages(tmp_path: Path) -> None:
    cert = write(tmp_path / "cert.pem", "x")
    cases = {
        ("--tls-cert", str(cert)): "--tls-cert and --tls-key go together.",
        ("--llm", "openai"): "--llm openai needs --llm-url (e.g. http://127.0.0.1:8000/v1).",
        ("--port", "70000"): "--port 70000 is not a TCP port.",
        ("--asr", "openai"): "--asr openai needs --asr-url (e.g. http://127.0.0.1:8000/v1).",
        ("--tts", "openai"): "--tts openai needs --tts-url (e.g. http://127.0.0.1:8880/v1).",
    }
    for args, message in cases.items():
        result = run("serve", *args, "--print-config")
        assert result.exit_code == 2 and message in result.output
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_settings({args[0].removeprefix("--").replace("-", "_"): args[1]})


# --- --print-config


def test_print_config_round_trips(tmp_path: Path) -> None:
    first = run("serve", "--port", "9000", "--tls-host", 'we"ird\\host', "--no-voice",
                "--llm-threads", "3", "--shed-lag-ms", "0.5", "--print-config").stdout
    config = write(tmp_path / "printed.toml", first)
    assert run("serve", "--config", str(config), "--print-config").stdout == first
    assert load_settings(config_file=config) == load_settings(
        {"port": 9000, "tls_hosts": ('we"ird\\host',), "voice": False, "llm_threads": 3,
         "shed_lag_ms": 0.5})


def test_print_config_masks_secrets() -> None:
    result = run("serve", "--llm", "openai", "--llm-url", "http://x/v1",
                 "--llm-api-key", "sk-secret", "--print-config")
    assert 'llm_api_key = "***"' in result.stdout and "sk-secret" not in result.stdout
    settings = load_settings({"llm_api_key": "sk-secret"})
    assert "sk-secret" not in repr(settings)


def test_remote_voice_keys_are_masked_and_reach_the_engines_options() -> None:
    result = run("serve", "--asr", "openai", "--asr-url", "http://asr/v1", "--asr-api-key",
                 "sk-asr", "--tts", "openai", "--tts-url", "http://tts/v1", "--tts-api-key",
                 "sk-tts", "--tts-voice", "Puck=onyx", "--tts-voice", "nova", "--print-config")
    assert 'asr_api_key = "***"' in result.stdout and 'tts_api_key = "***"' in result.stdout
    assert "sk-asr" not in result.stdout and "sk-tts" not in result.stdout
    settings = load_settings({"asr": "openai", "asr_url": "http://asr/v1", "asr_api_key": "k1",
                              "tts": "openai", "tts_url": "http://tts/v1", "tts_api_key": "k2",
                              "tts_voices": "Puck=onyx, nova", "tts_format": "wav"})
    assert "k1" not in repr(settings) and "k2" not in repr(settings)
    assert settings.asr_options() == {"url": "http://asr/v1", "model": None, "api_key": "k1"}
    assert settings.tts_options() == {"url": "http://tts/v1", "model": None, "api_key": "k2",
                                      "response_format": "wav", "voice": ("Puck=onyx", "nova"),
                                      "languages": ()}
    wyoming = load_settings({"asr": "wyoming://h:1", "tts": "wyoming://h:2",
                             "tts_languages": "en-US es-ES"})
    assert wyoming.asr_options() == {"model": None}
    assert wyoming.tts_options() == {"voice": (), "languages": ("en-US", "es-ES")}
    assert Settings().asr_options() == {} and Settings().tts_options() == {}


def test_every_setting_is_printed() -> None:
    text = settings_to_toml(Settings())
    for name, _, _ in setting_fields():
        assert re.search(rf"^(# )?{name} ", text, re.MULTILINE), name


@pytest.mark.parametrize("value", [
    "plain", 'quote " and \\ backslash', "tab\tnew\nline", "\x01\x1f\x7f control",
    "ünïcødé ☃ 🎉", "", 0, -7, 2**40, 0.5, 1e-5, 1e300, 600.0, True, False,
    ("a", "b c"), (),
])
def test_toml_values_read_back_unchanged(value: object) -> None:
    read = tomllib.loads(f"v = {toml_value(value)}")["v"]
    assert read == (list(value) if isinstance(value, tuple) else value)
    assert type(read) is (list if isinstance(value, tuple) else type(value))


def test_toml_floats_that_are_not_numbers() -> None:
    assert tomllib.loads(f"v = {toml_value(math.inf)}")["v"] == math.inf
    assert math.isnan(tomllib.loads(f"v = {toml_value(math.nan)}")["v"])


# --- --help and docs/configuration.md


def test_help_lists_every_setting_with_its_default() -> None:
    help_text = " ".join(run("serve", "--help").output.split())
    ctx = click.Context(serve)
    records = {param.name: param.get_help_record(ctx) for param in serve.params}
    for name, info, _ in setting_fields():
        flag = flag_name(name)
        assert flag in help_text, flag
        record = records[name]
        assert record is not None and info.description, name
        assert "[default: " in record[1], (name, record)
    for heading in ("Server:", "TLS:", "Language model:", "Voice:", "Sessions:"):
        assert heading in help_text
    assert "[default: 4096; x>=1]" in help_text and "--tls / --no-tls" in help_text


def test_the_configuration_reference_is_up_to_date() -> None:
    assert DOCS.read_text() == render(), (
        "docs/configuration.md is stale: PYTHONPATH=src python -m openlive.config_reference "
        "> docs/configuration.md")
    for name, _, _ in setting_fields():
        assert f"`{env_name(name)}`" in DOCS.read_text()


# --- the Settings object


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_zero_limits_are_no_limits() -> None:
    settings = Settings(connection_lifetime=0, audio_session_limit=0, go_away_before=5)
    limits = settings.connection_limits()
    assert limits.lifetime is None and limits.audio_session is None
    assert limits.go_away_before == 5 and limits.video_session == 120.0


def test_llm_options_by_backend() -> None:
    llamacpp = Settings(llm_model="m.gguf", llm_context=2048, llm_threads=2).llm_options()
    assert llamacpp == {"model_path": "m.gguf", "n_ctx": 2048, "n_threads": 2}
    openai = Settings(llm="openai", llm_url="http://x/v1", llm_api_key="k").llm_options()
    assert openai == {"base_url": "http://x/v1", "model": "default", "api_key": "k",
                      "vision": False}
