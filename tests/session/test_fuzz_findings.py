"""Bugs the session fuzzer found, kept as conversations so that they stay fixed."""

from __future__ import annotations

import base64

from openlive.session.actions import Transcribe
from openlive.session.events import SpeechScored, Tick, TranscriptReady
from tests.session.conversation import sent
from tests.session.test_voice import of, start_speaking, vad_voice


def test_noise_that_ends_as_an_empty_turn_over_the_reply_lets_it_play_on() -> None:
    """A user turn with no words while a barge-in has paused the reply (audioStreamEnd
    right after the onset) used to leave the reply paused for good."""
    c = vad_voice()
    start_speaking(c)
    audio = base64.b64encode(b"\x00\x00" * 1024).decode()
    c.client({"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": audio}}})
    c.feed(SpeechScored(0.032, 0.95))
    c.feed(SpeechScored(0.064, 0.95))  # the onset is committed: the reply pauses
    ended = c.client({"realtimeInput": {"audioStreamEnd": True}})  # the mic closes at once
    [final] = [t for t in of(Transcribe, ended) if t.turn_id > 0]
    c.feed(TranscriptReady(final.turn_id, "", end=final.end))  # it was noise
    c.now = 20.0  # long after the queued audio was due
    out = sent(c.session.handle(Tick(), c.now))
    assert any("modelTurn" in m.get("serverContent", {}) for m in out), "the reply stalled"
