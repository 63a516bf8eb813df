"""The Live API's voice names as a remote speech server's voices.

A remote server has voices of its own: OpenAI's ``alloy``, ``onyx``...; a Wyoming Piper
server's ``en_US-lessac-medium``. The operator maps Live names to them with
``--tts-voice``: ``NAME=VOICE`` pairs (``Puck=onyx``), and at most one bare ``VOICE``
for every name not listed. Without a bare voice, names not listed go to
``fallback(name)``: for the OpenAI kind a table by Google's gender of the name; for
Wyoming nothing, so that the server speaks with its own default voice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from openlive.catalog.languages import LIVE_LANGUAGES, live_language
from openlive.catalog.voices import VOICE_NAMES, live_voice
from openlive.errors import ConfigError, InvalidArgument

# OpenAI's voices by the gender its docs and listeners give them; each Live name goes to
# one of its gender's in turn, so that neighbouring names sound different.
_OPENAI_FEMALE = ("nova", "shimmer", "coral", "sage")
_OPENAI_MALE = ("onyx", "echo", "ash", "fable")


def openai_voice(name: str) -> str:
    """The OpenAI voice a Live voice name gets when the operator did not choose one."""
    voice = live_voice(name)
    same = [v.name for v in (live_voice(n) for n in VOICE_NAMES) if v.gender == voice.gender]
    table = _OPENAI_FEMALE if voice.gender == "female" else _OPENAI_MALE
    return table[same.index(voice.name) % len(table)]


class VoiceMap:
    """Live voice name -> the remote server's voice (None: the server's default)."""

    def __init__(self, spec: Iterable[str] | Mapping[str, str] = (),
                 fallback: Callable[[str], str | None] = lambda _: None) -> None:
        pairs = spec.items() if isinstance(spec, Mapping) else _pairs(spec)
        self._by_name: dict[str, str] = {}
        self._default: str | None = None
        for name, voice in pairs:
            if name is None:
                if self._default is not None:
                    raise ConfigError(f"--tts-voice: two default voices, {self._default!r} "
                                      f"and {voice!r}; map other names as NAME=VOICE")
                self._default = voice
                continue
            try:
                self._by_name[live_voice(name).name] = voice
            except InvalidArgument:
                raise ConfigError(f"--tts-voice {name}={voice}: {name!r} is not a Live voice "
                                  f"name; they are {', '.join(VOICE_NAMES)}") from None
        self._fallback = fallback

    def remote(self, name: str | None) -> str | None:
        """The server's voice for the Live voice ``name`` (``None``: the Live default)."""
        live = live_voice(name).name
        if live in self._by_name:
            return self._by_name[live]
        if self._default is not None:
            return self._default
        return self._fallback(live)


def _pairs(words: Iterable[str]) -> Iterable[tuple[str | None, str]]:
    for word in words:
        name, sep, voice = word.partition("=")
        if not sep:
            yield None, word.strip()
        elif not name.strip() or not voice.strip():
            raise ConfigError(f"--tts-voice {word!r}: write NAME=VOICE or VOICE")
        else:
            yield name.strip(), voice.strip()


def spoken_languages(codes: Iterable[str]) -> frozenset[str]:
    """The Live language codes a remote synthesizer offers: those the operator listed
    (``--tts-language``), or every Live language, since the server's voices are not known
    here and a session asking for one they lack is the operator's to prevent."""
    chosen = set()
    for code in codes:
        try:
            chosen.add(live_language(code).code)
        except InvalidArgument:
            raise ConfigError(f"--tts-language {code!r} is not a Live languageCode") from None
    return frozenset(chosen or LIVE_LANGUAGES)
