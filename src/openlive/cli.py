"""The ``openlive`` command: serve, and manage API keys.

Every setting of ``serve`` is declared once, in :mod:`openlive.config`, and has one name
across flag, config-file key and environment variable: ``--port`` / ``port`` /
``OPENLIVE_PORT``. The options here are made from that declaration.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from openlive import __version__
from openlive.cli_options import SettingsCommand, given_flags, setting_option, settings_options
from openlive.config import load_settings, settings_to_toml
from openlive.errors import ConfigError
from openlive.logs import configure_logging

if TYPE_CHECKING:
    from openlive.store.base import ApiKey, KeyUsage, Store


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "OPENLIVE"}
)
@click.version_option(__version__, prog_name="openlive")
def main() -> None:
    """openlive: a self-hosted server for programs written against the Gemini Live API.

    Point an unmodified google-genai or @google/genai program at it with
    GOOGLE_GEMINI_BASE_URL and an openlive API key.
    """


SERVE_EPILOG = """Each option is also a variable, OPENLIVE_ and its setting name in capitals
(OPENLIVE_PORT, OPENLIVE_TLS_HOSTS), and a key of the --config file (port = 9000,
tls_hosts = ["a", "b"]). A flag wins over the variable, the variable over the file.
docs/configuration.md lists them all."""

# The commands beside serve build no Settings: these options read their variable themselves.
data_dir_option = setting_option("data_dir", read_env=True)
store_option = setting_option("store", read_env=True)


@main.command(cls=SettingsCommand, epilog=SERVE_EPILOG)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), envvar="OPENLIVE_CONFIG",
              help="A TOML file of settings, keyed by setting name (port = 9000).")
@click.option("--print-config", is_flag=True, allow_from_autoenv=False,
              help="Print the effective settings as TOML (secrets masked) and exit.")
@settings_options
@click.pass_context
def serve(ctx: click.Context, /, config_file: Path | None, print_config: bool,
          **options: Any) -> None:
    """Start the server on the embedded default stack (or the backends you name)."""
    try:
        settings = load_settings(given_flags(ctx, options), config_file)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    if print_config:
        click.echo(settings_to_toml(settings), nl=False)
        return
    configure_logging(settings.log_level, settings.log_format)
    from openlive.server.run import run_server

    try:
        asyncio.run(run_server(settings))
    except KeyboardInterrupt:
        pass


@main.group()
def keys() -> None:
    """Create, list, limit and revoke API keys.

    A key may carry caps on the session time and the tokens of the sessions it opens
    (with ephemeral tokens it created too), per UTC day, per UTC month or in total; the
    server refuses and ends sessions over them with 1008.
    """


def _store(data_dir: Path, store: str | None) -> Any:
    from openlive.store.factory import open_store

    return open_store(store or str(data_dir / "openlive.db"))


def cap_options(
    unset_cap: str, unset_period: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--max-session-minutes``, ``--max-tokens`` and ``--period``; ``unset_*`` end their
    help (what leaving them out means)."""
    options = [
        click.option(
            "--max-session-minutes", type=click.FloatRange(min=0),
            help="Cap on the connected minutes of all sessions opened with the key or its "
                 f"ephemeral tokens, per period (fractions allowed); 0 = no cap. {unset_cap}"),
        click.option(
            "--max-tokens", type=click.IntRange(min=0),
            help="Cap on the prompt + response tokens those sessions report in "
                 f"usageMetadata, per period; 0 = no cap. {unset_cap}"),
        click.option(
            "--period", type=click.Choice(["day", "month", "total"]),
            help="When usage starts again from zero: day (00:00 UTC), month (the 1st, "
                 f"00:00 UTC) or total (never). {unset_period}"),
    ]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _cap_seconds(minutes: float) -> float | None:
    return None if minutes == 0 else round(minutes * 60, 3)


def _describe_key(key: ApiKey, usage: KeyUsage) -> str:
    """One ``keys list`` line: id, name, state, session time, tokens, period."""
    state = "revoked" if key.revoked else "active"
    caps = key.caps
    minutes = f"session {usage.session_seconds / 60:.1f}"
    if caps.max_session_seconds is not None:
        minutes += f" of {caps.max_session_seconds / 60:g}"
    tokens = f"tokens {usage.tokens}"
    if caps.max_tokens is not None:
        tokens += f" of {caps.max_tokens}"
    period = "in total" if caps.period == "total" else f"per {caps.period} ({usage.window})"
    return f"{key.id}\t{key.name}\t{state}\t{minutes} min\t{tokens}\t{period}"


def _key_line(opened: Store, key: ApiKey) -> str:
    import time

    from openlive.store.base import usage_window

    return _describe_key(key, opened.get_usage(key.id, usage_window(key.caps.period, time.time())))


@keys.command("create")
@data_dir_option
@store_option
@click.option("--name", default="default", show_default=True, help="A label for the key.")
@cap_options("[default: no cap]", "[default: total]")
def keys_create(data_dir: Path, store: str | None, name: str,
                max_session_minutes: float | None, max_tokens: int | None,
                period: str | None) -> None:
    """Create a key and print it (it is shown only this once).

    \b
    Example: at most one hour of sessions and 200000 tokens a day:
      openlive keys create --name web --max-session-minutes 60 --max-tokens 200000 \\
          --period day
    """
    from openlive.store.base import KeyCaps, Period

    caps = KeyCaps(max_session_seconds=_cap_seconds(max_session_minutes or 0),
                   max_tokens=max_tokens or None, period=Period(period or "total"))
    key, secret = _store(data_dir, store).create_key(name, caps)
    click.echo(secret)
    click.echo(f"created key {key.id} ({key.name})", err=True)


@keys.command("limit")
@data_dir_option
@store_option
@click.argument("key_id")
@cap_options("Left out: unchanged.", "Left out: unchanged.")
def keys_limit(data_dir: Path, store: str | None, key_id: str,
               max_session_minutes: float | None, max_tokens: int | None,
               period: str | None) -> None:
    """Change the caps of the key with this id.

    Running sessions pick the new caps up within 15 seconds. Usage counted so far stays;
    a new --period starts counting from zero.

    \b
    Examples:
      openlive keys limit 1a2b3c4d --max-tokens 50000
      openlive keys limit 1a2b3c4d --max-session-minutes 0   # no time cap
    """
    from dataclasses import replace

    from openlive.store.base import Period

    if max_session_minutes is None and max_tokens is None and period is None:
        raise click.UsageError("nothing to change: give --max-session-minutes, --max-tokens "
                               "or --period.")
    opened = _store(data_dir, store)
    key = opened.get_key(key_id)
    if key is None:
        click.echo(f"no key with id {key_id}", err=True)
        sys.exit(1)
    caps = key.caps
    if max_session_minutes is not None:
        caps = replace(caps, max_session_seconds=_cap_seconds(max_session_minutes))
    if max_tokens is not None:
        caps = replace(caps, max_tokens=max_tokens or None)
    if period is not None:
        caps = replace(caps, period=Period(period))
    key = opened.set_key_caps(key_id, caps)
    if key is None:  # revoked and gone meanwhile
        click.echo(f"no key with id {key_id}", err=True)
        sys.exit(1)
    click.echo(_key_line(opened, key))


@keys.command("list")
@data_dir_option
@store_option
def keys_list(data_dir: Path, store: str | None) -> None:
    """List keys: id, name, state, session minutes and tokens used (of the cap, if any)
    in the current period, and the period (secrets are not stored)."""
    opened = _store(data_dir, store)
    for key in opened.list_keys():
        click.echo(_key_line(opened, key))


@keys.command("revoke")
@data_dir_option
@store_option
@click.argument("key_id")
def keys_revoke(data_dir: Path, store: str | None, key_id: str) -> None:
    """Revoke the key with this id (and the tokens it made)."""
    if not _store(data_dir, store).revoke_key(key_id):
        click.echo(f"no key with id {key_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked {key_id}")


@main.group()
def tokens() -> None:
    """Create, list and revoke ephemeral tokens (as POST /v1alpha/auth_tokens does)."""


@tokens.command("create")
@data_dir_option
@store_option
@click.option("--key-id", required=True, help="The API key the token acts for.")
@click.option("--uses", default=1, show_default=True, type=int,
              help="Sessions it may open (0 = unlimited).")
@click.option("--expire-in", default=1800, show_default=True, type=int,
              help="Seconds until it stops working altogether (at most 20 h).")
@click.option("--new-session-in", default=60, show_default=True, type=int,
              help="Seconds during which it may open new sessions.")
@click.option("--setup", "setup_json", help="bidiGenerateContentSetup JSON to lock.")
@click.option("--lock", help="Comma-separated fields to lock (default: the whole setup).")
def tokens_create(data_dir: Path, store: str | None, key_id: str, uses: int, expire_in: int,
                  new_session_in: int, setup_json: str | None, lock: str | None) -> None:
    """Create a token and print its name (the secret a browser uses as its key)."""
    import json
    import time

    from openlive.errors import InvalidArgument
    from openlive.server.tokens import parse_request

    now = time.time()
    body: dict[str, Any] = {"uses": uses}
    try:
        if setup_json:
            body["bidiGenerateContentSetup"] = json.loads(setup_json)
        if lock:
            body["fieldMask"] = lock
        from openlive.server.tokens import rfc3339

        body["expireTime"] = rfc3339(now + expire_in)
        body["newSessionExpireTime"] = rfc3339(now + new_session_in)
        request = parse_request(json.dumps(body).encode(), now)
    except (ValueError, InvalidArgument) as err:
        raise click.UsageError(str(err)) from None
    token, name = _store(data_dir, store).create_token(
        key_id, now=now, expire_time=request.expire_time,
        new_session_expire_time=request.new_session_expire_time, uses=request.uses,
        setup_constraints=request.setup, field_mask=request.field_mask)
    click.echo(name)
    click.echo(f"created token {token.id} for key {key_id}", err=True)


@tokens.command("list")
@data_dir_option
@store_option
@click.option("--key-id", help="Only the tokens of this key.")
def tokens_list(data_dir: Path, store: str | None, key_id: str | None) -> None:
    """List tokens: id, key, uses, expiry, state."""
    from openlive.server.tokens import rfc3339

    for token in _store(data_dir, store).list_tokens(key_id):
        uses = "unlimited" if token.uses == 0 else f"{token.used}/{token.uses}"
        state = "revoked" if token.revoked else "active"
        click.echo(f"{token.id}\t{token.key_id}\t{uses}\t{rfc3339(token.expire_time)}\t{state}")


@tokens.command("revoke")
@data_dir_option
@store_option
@click.argument("token")
def tokens_revoke(data_dir: Path, store: str | None, token: str) -> None:
    """Revoke a token by its id or its name."""
    if not _store(data_dir, store).revoke_token(token):
        click.echo(f"no token {token}", err=True)
        sys.exit(1)
    click.echo(f"revoked {token}")


TALK_EPILOG = """Configured like the SDKs: GOOGLE_GEMINI_BASE_URL (default: Google's endpoint),
GEMINI_API_KEY (an API key, or an ephemeral token auth_tokens/...), SSL_CERT_FILE (the CA
of a server with its own certificate), GOOGLE_GENAI_API_VERSION.

\b
Examples, against a local openlive:
  export GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8080 GEMINI_API_KEY=...
  openlive talk                                     # microphone and speaker
  openlive talk --input question.wav --output answer.wav
  echo "What is the capital of France?" | openlive talk --text"""


@main.command(epilog=TALK_EPILOG)
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Say this WAV file (any rate), at real-time pace, instead "
              "of listening to the microphone.")
@click.option("--output", "output_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the spoken answers to this WAV file (24 kHz) instead of playing them.")
@click.option("--text", "text_mode", is_flag=True,
              help="Answers in text; without --input, each line typed (or piped) is a turn.")
@click.option("--model", help="Live model id. [default: "
              "gemini-2.5-flash-native-audio-preview-12-2025, or with --text "
              "gemini-live-2.5-flash-preview]")
@click.option("--voice", help="Prebuilt voice name (Puck, Kore, Charon…).")
@click.option("--language", help="speechConfig.languageCode, e.g. en-US.")
@click.option("--system", help="System instruction.")
@click.option("--api-version", help="v1beta, v1alpha or v1 [default: $GOOGLE_GENAI_API_VERSION "
              "or v1beta]")
@click.option("--timeout", type=click.FloatRange(min=0), default=0,
              help="Give up after this many seconds; 0 = never. [default: 0]")
def talk(input_file: Path | None, output_file: Path | None, text_mode: bool,
         model: str | None, voice: str | None, language: str | None, system: str | None,
         api_version: str | None, timeout: float) -> None:
    """Talk to a Live API endpoint (openlive or Google's) from the terminal.

    Speak into the microphone (or send --input FILE.wav) and hear the answer (or save it
    with --output); transcripts and each turn's latency (end of speech to first audio,
    measured here) are printed. Needs `pip install 'openlive[talk]'` and PortAudio for the
    sound card; files need neither.
    """
    from openlive.talk import audio, wire
    from openlive.talk.session import Sink, Source
    from openlive.talk.session import talk as run_talk

    modality = "TEXT" if text_mode else "AUDIO"
    default_model = ("gemini-live-2.5-flash-preview" if text_mode
                     else "gemini-2.5-flash-native-audio-preview-12-2025")
    options = wire.SessionOptions(model=model or default_model, modality=modality,
                                  voice=voice, language=language, system=system)
    sink: Sink | None = None
    try:
        target = wire.target_from_env(api_version=api_version)
        if input_file is not None:
            source = Source(pcm=audio.read_wav(input_file))
        elif text_mode:
            source = Source(lines=sys.stdin)
        else:
            source = Source()  # the microphone, opened once connected
        if output_file is not None:
            sink = audio.WavWriter(output_file)
        elif not text_mode:
            sink = audio.Speaker()
        asyncio.run(run_talk(target, options, source, sink, timeout=timeout or None))
    except wire.TalkError as err:
        click.echo(f"openlive talk: {err}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        if sink is not None:
            sink.close()
    if output_file is not None:
        click.echo(f"answer saved to {output_file}", err=True)
