"""``voiceActivity``: where the user started and stopped speaking, through the session.

Frames are 32 ms; :func:`~tests.session.test_voice.speak` feeds a frame ending at each
multiple of 32 ms after its start, so speech fed from 0.96 s has its onset at 0.96 s.
"""

from __future__ import annotations

from typing import Any

from openlive.session.actions import CancelGeneration, SpeechActivity, Transcribe
from openlive.session.events import SpeechScored, TranscriptReady
from openlive.session.voice_activity import VoiceActivityReport
from tests.session.conversation import Conversation, sent
from tests.session.test_voice import (
    audio_frame,
    checks,
    of,
    speak,
    start_speaking,
    turn_transcriptions,
    voice,
)

SILENCE_300 = {"automaticActivityDetection": {"silenceDurationMs": 300}}
SPEECH, QUIET = 0.95, 0.01


def activity(actions: list) -> list[tuple[str, str]]:
    """The voiceActivity messages among ``actions``: (type, audioOffset)."""
    return [(m["voiceActivity"]["type"], m["voiceActivity"]["audioOffset"])
            for m in sent(actions) if "voiceActivity" in m]


def kinds(actions: list) -> list[str]:
    """What the client is told, in order, by kind: the voiceActivity type, or the
    serverContent field that matters here."""
    out = []
    for message in sent(actions):
        if "voiceActivity" in message:
            out.append(message["voiceActivity"]["type"])
        content: dict[str, Any] = message.get("serverContent", {})
        for key in ("interrupted", "turnComplete", "inputTranscription",
                    "interimInputTranscription"):
            if key in content:
                finished = key == "inputTranscription" and content[key].get("finished")
                out.append(f"{key}(finished)" if finished else key)
    return out


def answer(c: Conversation, transcribe: Transcribe, words: str) -> list:
    return c.feed(TranscriptReady(transcribe.turn_id, words, end=transcribe.end))


def test_a_spoken_turn_reports_where_speech_started_and_ended() -> None:
    c = voice(inputAudioTranscription={}, realtimeInputConfig=SILENCE_300)
    assert activity(speak(c, 0.0, 0.96, QUIET)) == []
    # the start is committed two frames in (prefixPaddingMs 64), reported at the onset
    started = speak(c, 0.96, 0.96, SPEECH)
    assert activity(started) == [("ACTIVITY_START", "0.96s")]
    assert kinds(started) == ["ACTIVITY_START"]  # at once, before anything else is said
    # the pause: its transcript comes back before the silence window runs out
    pause = speak(c, 1.92, 0.16, QUIET)
    [partial] = of(Transcribe, pause)
    heard = answer(c, partial, "what time is it")
    assert kinds(heard) == ["interimInputTranscription"]
    ended = speak(c, 2.08, 0.32, QUIET)
    # the endpoint: END where the silence began, before the turn's finished transcription
    assert activity(ended) == [("ACTIVITY_END", "1.92s")]
    assert kinds(ended) == ["ACTIVITY_END", "inputTranscription(finished)"]
    assert activity(speak(c, 2.4, 0.96, QUIET)) == []  # once


def test_the_end_comes_before_a_transcription_that_arrives_later() -> None:
    c = voice(inputAudioTranscription={}, realtimeInputConfig=SILENCE_300)
    out = speak(c, 0.0, 0.64, SPEECH) + speak(c, 0.64, 0.48, QUIET)
    assert activity(out) == [("ACTIVITY_START", "0s"), ("ACTIVITY_END", "0.64s")]
    [transcribe] = of(Transcribe, out)
    assert kinds(answer(c, transcribe, "hello")) == ["inputTranscription(finished)"]


def test_offsets_follow_the_audio_and_every_turn_is_reported() -> None:
    c = voice(realtimeInputConfig=SILENCE_300)
    reports = []
    for start in (0.32, 2.24, 4.8):
        reports += activity(speak(c, start - 0.32, 0.32, QUIET) + speak(c, start, 0.64, SPEECH)
                            + speak(c, start + 0.64, 0.64, QUIET))
        c.now += 1.0
    assert reports == [("ACTIVITY_START", "0.32s"), ("ACTIVITY_END", "0.96s"),
                       ("ACTIVITY_START", "2.24s"), ("ACTIVITY_END", "2.88s"),
                       ("ACTIVITY_START", "4.8s"), ("ACTIVITY_END", "5.44s")]


def test_nothing_is_reported_under_manual_activity() -> None:
    c = voice(inputAudioTranscription={},
              realtimeInputConfig={"automaticActivityDetection": {"disabled": True}})
    out = c.client({"realtimeInput": {"activityStart": {}}})
    for _ in range(10):
        out += c.client(audio_frame())  # scores are ignored: the client marks the turn
    out += speak(c, 0.0, 0.96, SPEECH) + speak(c, 0.96, 1.6, QUIET)
    out += c.client({"realtimeInput": {"activityEnd": {}}})
    [transcribe] = of(Transcribe, out)
    out += answer(c, transcribe, "what time is it")
    assert activity(out) == [] and "inputTranscription(finished)" in kinds(out)


def test_echo_never_starts_an_activity() -> None:
    c = voice(realtimeInputConfig=SILENCE_300)
    start_speaking(c)
    out = [action for i in range(30)
           for action in c.feed(SpeechScored(round(0.032 * (i + 1), 3), SPEECH, echo=0.95))]
    assert activity(out) == []


def test_words_over_the_reply_are_reported_just_before_the_interruption() -> None:
    c = voice(inputAudioTranscription={}, realtimeInputConfig=SILENCE_300)
    gid = start_speaking(c)
    heard = speak(c, 0.0, 0.96, QUIET) + speak(c, 0.96, 0.48, SPEECH)
    assert activity(heard) == []  # held: a cough would let the reply go on
    [check] = checks(heard)
    out = c.feed(TranscriptReady(check.turn_id, "wait, tell me about the queen", end=check.end))
    assert CancelGeneration(gid) in out
    # the onset's offset, though it is sent only now
    assert activity(out) == [("ACTIVITY_START", "0.96s")]
    assert kinds(out) == ["ACTIVITY_START", "interrupted", "turnComplete"]
    out = speak(c, 1.44, 0.48, QUIET)
    assert activity(out) == [("ACTIVITY_END", "1.44s")]
    [transcribe] = turn_transcriptions(out)
    assert kinds(answer(c, transcribe, "wait, tell me about the queen")) == [
        "inputTranscription(finished)"]


def test_a_cough_or_a_backchannel_over_the_reply_is_never_reported() -> None:
    c = voice(realtimeInputConfig=SILENCE_300)
    gid = start_speaking(c)
    out = []
    # a click: the reply goes on at once, and the turn it opened has no words
    out += speak(c, 0.0, 0.096, SPEECH) + speak(c, 0.096, 0.48, QUIET)
    [transcribe] = turn_transcriptions(out)
    out += answer(c, transcribe, "")
    # "mm-hm", judged by the recognizer and then by the turn's words
    heard = speak(c, 0.64, 0.32, SPEECH) + speak(c, 0.96, 0.096, QUIET)
    [check] = checks(heard)
    out += heard + c.feed(TranscriptReady(check.turn_id, "Mm-hm.", end=check.end))
    turn = speak(c, 1.056, 0.384, QUIET)
    [transcribe] = turn_transcriptions(turn)
    out += turn + answer(c, transcribe, "Mm-hm.")
    assert CancelGeneration(gid) not in out
    assert activity(out) == []
    # words after them are the user's: reported from their own onset
    heard = speak(c, 1.6, 0.48, SPEECH)
    [check] = checks(heard)
    out = c.feed(TranscriptReady(check.turn_id, "Stop.", end=check.end))
    assert activity(out) == [("ACTIVITY_START", "1.6s")]


def test_words_heard_only_at_the_end_of_the_turn_are_reported_then() -> None:
    """Speech judged harmless while it went on ("mm-hm") whose turn turns out to be a
    question: START and END together, before the interruption the question causes."""
    c = voice(inputAudioTranscription={}, realtimeInputConfig=SILENCE_300)
    gid = start_speaking(c)
    heard = speak(c, 0.0, 0.48, SPEECH)
    [check] = checks(heard)
    assert activity(c.feed(TranscriptReady(check.turn_id, "Mm-hm.", end=check.end))) == []
    out = speak(c, 0.48, 0.48, QUIET)
    assert activity(out) == []  # the turn ended: still held
    [transcribe] = turn_transcriptions(out)
    out = answer(c, transcribe, "Mm-hm, but what about the queen?")
    assert CancelGeneration(gid) in out
    assert activity(out) == [("ACTIVITY_START", "0s"), ("ACTIVITY_END", "0.48s")]
    assert kinds(out) == ["ACTIVITY_START", "ACTIVITY_END", "interrupted", "turnComplete",
                          "inputTranscription(finished)"]


def test_without_interruption_speech_over_the_reply_is_reported_at_once() -> None:
    c = voice(realtimeInputConfig={**SILENCE_300, "activityHandling": "NO_INTERRUPTION"})
    start_speaking(c)
    assert activity(speak(c, 0.0, 0.48, SPEECH)) == [("ACTIVITY_START", "0s")]
    assert activity(speak(c, 0.48, 0.48, QUIET)) == [("ACTIVITY_END", "0.48s")]


def test_the_report_on_its_own() -> None:
    report = VoiceActivityReport(enabled=True)
    assert report.started(1, 0.5, held=False) == [SpeechActivity("ACTIVITY_START", 0.5)]
    assert report.ended(1, 1.5) == [SpeechActivity("ACTIVITY_END", 1.5)]
    assert report.ended(1, 1.5) == []  # once
    # held: over a reply, until the session knows what the speech is
    assert report.started(2, 2.0, held=True) == []
    assert report.ended(2, 2.5) == []
    assert report.started(3, 3.0, held=True) == []
    report.drop(2)
    assert report.release(2) == [] and report.ended(2, 2.5) == []
    assert report.release_all() == [SpeechActivity("ACTIVITY_START", 3.0)]
    assert report.ended(3, 3.5) == [SpeechActivity("ACTIVITY_END", 3.5)]
    assert VoiceActivityReport(enabled=False).started(1, 0.5, held=False) == []


def test_reports_keep_the_order_of_the_turns() -> None:
    """A turn reported reports the held turns before it first: offsets never go back."""
    report = VoiceActivityReport(enabled=True)
    report.started(1, 1.0, held=True)
    report.ended(1, 1.5)
    report.started(2, 2.0, held=True)
    report.ended(2, 2.5)
    assert report.release(2) == [
        SpeechActivity("ACTIVITY_START", 1.0), SpeechActivity("ACTIVITY_END", 1.5),
        SpeechActivity("ACTIVITY_START", 2.0), SpeechActivity("ACTIVITY_END", 2.5)]
    assert report.release(1) == []  # already out
    report.started(3, 3.0, held=True)
    report.ended(3, 3.5)
    # the reply is gone: the next turn is reported at once, and the held one before it
    assert report.started(4, 4.0, held=False) == [
        SpeechActivity("ACTIVITY_START", 3.0), SpeechActivity("ACTIVITY_END", 3.5),
        SpeechActivity("ACTIVITY_START", 4.0)]


def test_a_turn_with_no_audio_in_it_still_ends() -> None:
    report = VoiceActivityReport(enabled=True)
    report.started(1, 1.0, held=False)
    # audioStreamEnd at the very onset: a zero-length activity, never an unended one
    assert report.ended(1, 0.9, heard=False) == [SpeechActivity("ACTIVITY_END", 1.0)]
    report.started(2, 2.0, held=True)
    assert report.ended(2, 2.0, heard=False) == []
    assert report.release_all() == []  # no words will ever decide it: dropped


def test_reports_alternate_and_never_go_back_whatever_order_the_turns_end_in() -> None:
    """Found by the session fuzzer: a turn ended by ``audioStreamEnd`` before the VAD
    scored its last frames let the next turn's onset (0.448 s) come before the end just
    reported (0.544 s), and a turn could report its end twice."""
    report = VoiceActivityReport(enabled=True)
    assert report.started(1, 0.32, held=False) == [SpeechActivity("ACTIVITY_START", 0.32)]
    assert report.ended(1, 0.544) == [SpeechActivity("ACTIVITY_END", 0.544)]
    assert report.ended(1, 0.6) == []  # already ended
    assert report.started(2, 0.448, held=False) == [SpeechActivity("ACTIVITY_START", 0.544)]
    # a held turn released while another is open: the open one ends first
    report.started(3, 0.7, held=True)
    assert report.release(3) == [SpeechActivity("ACTIVITY_END", 0.544),
                                 SpeechActivity("ACTIVITY_START", 0.7)]
