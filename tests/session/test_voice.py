"""Voice turns through the session machine: scores in, transcripts and paced audio out."""

from __future__ import annotations

import base64

from openlive.chat import SpokenReply
from openlive.errors import CloseCode
from openlive.session.actions import (
    BargeIn,
    CancelGeneration,
    CancelSynthesis,
    EndSynthesis,
    IngestAudio,
    PlayAudio,
    PlaybackFlushed,
    Prefill,
    ScoreEndOfTurn,
    Synthesize,
    Transcribe,
    WakeAt,
)
from openlive.session.bargein import CONFIRM_SECONDS
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    EndOfTurnScored,
    SpeechScored,
    SpeechSynthesized,
    SynthesisDrained,
    Tick,
    TranscriptReady,
)
from openlive.session.listening import (
    CONFIDENT_END_OF_TURN,
    MIN_END_SILENCE,
    SHORT_END_SILENCE,
)
from openlive.session.speaking import LEAD_SECONDS
from tests.session.conversation import Conversation, closes, sent, starts

VOICE = ServerCapabilities(audio_output=True, audio_input=True, end_of_turn_model=True)
FRAME = 0.032
PCM_100MS = b"\x01\x00" * 1600


def audio_frame(rate: int = 16000, data: bytes = PCM_100MS) -> dict:
    return {"realtimeInput": {"audio": {"mimeType": f"audio/pcm;rate={rate}",
                                        "data": base64.b64encode(data).decode()}}}


def voice(**setup: object) -> Conversation:
    c = Conversation(VOICE)
    c.setup(generationConfig={"responseModalities": ["AUDIO"]}, **setup)
    return c


def speak(c: Conversation, start: float, seconds: float, p: float) -> list:
    actions = []
    t = start
    while t < start + seconds - 1e-9:
        t += FRAME
        actions += c.feed(SpeechScored(round(t, 3), p))
    return actions


def of(kind: type, actions: list) -> list:
    return [a for a in actions if isinstance(a, kind)]


def hear(c: Conversation, actions: list, words: str) -> list:
    """Answer the barge-in check among ``actions`` with ``words``; the new actions."""
    [check] = [t for t in of(Transcribe, actions) if t.turn_id < 0]
    return c.feed(TranscriptReady(check.turn_id, words, end=check.end))


def test_audio_is_validated_and_ingested_at_its_rate() -> None:
    c = voice()
    [ingest] = of(IngestAudio, c.client(audio_frame(24000)))
    assert ingest.rate == 24000 and ingest.pcm == PCM_100MS
    [close] = closes(c.client({"realtimeInput": {"audio": {"mimeType": "audio/wav",
                                                           "data": "AAAA"}}}))
    assert close.code == CloseCode.INVALID_ARGUMENT and "audio/wav" in close.reason


def test_odd_byte_count_closes_1007() -> None:
    c = voice()
    [close] = closes(c.client(audio_frame(data=b"\x00\x01\x02")))
    assert close.code == CloseCode.INVALID_ARGUMENT


def test_silence_window_ends_turn_then_transcript_starts_reply() -> None:
    c = voice(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 300}})
    speak(c, 0.0, 1.0, 0.9)
    actions = speak(c, 1.0, 0.4, 0.01)
    [transcribe] = of(Transcribe, actions)
    assert transcribe.start <= 0.1 and 0.95 <= transcribe.end <= 1.05
    actions = c.feed(TranscriptReady(transcribe.turn_id, "what time is it", end=transcribe.end))
    [start] = starts(actions)
    assert start.request.messages[-1].content == "what time is it"
    assert not start.speculative  # the turn has ended: the user waits for this answer


def done(c: Conversation, turn_id: int, pause: float, probability: float = 0.95) -> list:
    """The end-of-turn model says "done" about the pause that began at ``pause``, 0.25 s
    into it (as :func:`pause_words` leaves it); the actions up to the end of the silence
    that the verdict waits out (MIN_END_SILENCE)."""
    now = pause + 0.25
    return c.feed(EndOfTurnScored(turn_id, probability)) + speak(
        c, now, pause + MIN_END_SILENCE + FRAME - now, 0.01)


def pause_words(c: Conversation, words: str, start: float = 1.0) -> tuple[list, Transcribe]:
    """Pause at ``start``; the pause's transcript comes back as ``words``. Returns the
    actions that brought, and the transcription asked for."""
    actions = speak(c, start, 0.25, 0.01)
    [spec] = of(Transcribe, actions)
    return c.feed(TranscriptReady(spec.turn_id, words, end=spec.end)), spec


def test_pause_transcribes_then_asks_the_end_of_turn_model() -> None:
    c = voice()  # silenceDurationMs unset: semantic end of turn
    speak(c, 0.0, 1.0, 0.9)
    actions = speak(c, 1.0, 0.25, 0.01)
    [spec] = of(Transcribe, actions)  # started at the pause, before any decision
    assert spec.kind == "partial"  # the user may go on: revisable, not yet waited for
    assert spec.end <= 1.05 and of(ScoreEndOfTurn, actions) == []  # the words come first
    actions = c.feed(TranscriptReady(spec.turn_id, "what time is it", end=spec.end))
    [score] = of(ScoreEndOfTurn, actions)  # they could end a sentence: ask the model
    assert (score.start, score.end) == (spec.start, spec.end)
    assert starts(actions) == []  # nothing is answered yet
    assert of(ScoreEndOfTurn, speak(c, 1.25, 0.4, 0.01)) == []  # once per pause
    actions = c.feed(EndOfTurnScored(score.turn_id, 0.93))
    assert starts(actions) == []  # "done", but the pause is shorter than MIN_END_SILENCE
    actions += speak(c, 1.65, 1.0 + MIN_END_SILENCE + FRAME - 1.65, 0.01)
    assert of(Transcribe, actions) == []  # no second transcription
    [start] = starts(actions)  # answered from the speculative transcript
    assert start.request.messages[-1].content == "what time is it"


def test_speculative_transcript_is_dropped_when_the_user_goes_on() -> None:
    c = voice(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 600}})
    speak(c, 0.0, 1.0, 0.9)
    [spec] = of(Transcribe, speak(c, 1.0, 0.25, 0.01))
    speak(c, 1.25, 1.0, 0.9)  # not done after all
    assert starts(c.feed(TranscriptReady(spec.turn_id, "I would like", end=spec.end))) == []
    actions = speak(c, 2.25, 0.8, 0.01)
    final = [t for t in of(Transcribe, actions) if t.end > 2.0]
    assert final, actions
    # the turn ended at this pause, whose (revisable) transcript was already asked for
    assert final[-1].kind == "partial"
    [start] = starts(c.feed(TranscriptReady(final[-1].turn_id, "I would like tea",
                                            end=final[-1].end)))
    assert start.request.messages[-1].content == "I would like tea"


def test_mid_sentence_pause_keeps_listening() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "what time")
    [score] = of(ScoreEndOfTurn, actions)
    assert of(Transcribe, c.feed(EndOfTurnScored(score.turn_id, 0.1))) == []
    speak(c, 1.25, 0.5, 0.9)  # the user goes on


def test_reply_is_spoken_piece_by_piece_and_paced() -> None:
    c = voice(outputAudioTranscription={})
    [start] = starts(c.client({"realtimeInput": {"text": "hi"}}))
    gid = start.generation_id
    actions = c.delta(gid, "Hello there, my good friend. ")
    [piece] = of(Synthesize, actions)
    assert piece.voice == "Puck" and piece.text.startswith("Hello there")
    one_second = b"\x00\x00" * 24000
    c.now = 10.0
    out = c.feed(SpeechSynthesized(gid, piece.piece_id, one_second))
    wire = sent(out)
    # words go out in step with the audio: one second covers only part of the piece
    first_words = wire[0]["serverContent"]["outputTranscription"]["text"]
    assert piece.text.startswith(first_words) and first_words != piece.text
    assert wire[1]["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["mimeType"] == (
        "audio/pcm;rate=24000")
    # the next second of audio is not due yet: the session asks to be woken
    out = c.feed(SpeechSynthesized(gid, piece.piece_id, one_second))
    [wake] = of(WakeAt, out)
    assert sent(out) == [] and abs(wake.at - (10.0 + 1.0 - LEAD_SECONDS)) < 0.05
    assert of(EndSynthesis, c.finish(gid)) == [EndSynthesis(gid)]
    c.feed(SynthesisDrained(gid))
    c.now = wake.at
    out = c.session.handle(Tick(), wake.at)
    wire = sent(out)
    transcribed = first_words + "".join(
        m["serverContent"]["outputTranscription"]["text"] for m in wire
        if "outputTranscription" in m["serverContent"])
    assert transcribed == piece.text  # all of it by the end, nothing twice
    assert any("modelTurn" in m["serverContent"] for m in wire)
    assert wire[-2] == {"serverContent": {"generationComplete": True}}
    assert wire[-1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IDLE"}


def test_barge_in_stops_audio_and_truncates_history_to_what_was_heard() -> None:
    c = voice(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 300}})
    [start] = starts(c.client({"realtimeInput": {"text": "tell me a story"}}))
    gid = start.generation_id
    # the first clause is spoken on its own, to start speaking sooner
    first, second = of(Synthesize, c.delta(gid, "Once upon a time, there was a king. "))
    assert first.text == "Once upon a time,"
    c.now = 5.0
    c.feed(SpeechSynthesized(gid, first.piece_id, b"\x00\x00" * 24000))
    c.feed(SpeechSynthesized(gid, second.piece_id, b"\x00\x00" * 24000))  # queued, not sent
    actions = speak(c, 0.0, 0.5, 0.95)  # the user talks over the answer
    actions = hear(c, actions, "wait, tell me about the queen")  # words: an interruption
    assert CancelGeneration(gid) in actions and CancelSynthesis(gid) in actions
    assert {"serverContent": {"interrupted": True}} in sent(actions)
    assert c.session.history.messages(None)[-1].content == first.text
    # the cancelled reply's late audio goes nowhere
    assert c.feed(SpeechSynthesized(gid, second.piece_id, b"\x00\x00" * 2400)) == []


def test_a_barge_in_is_reported_and_the_interruption_names_its_cause() -> None:
    """The runtime counts barge-ins and interruptions from these (metrics.py)."""
    c = vad_voice()
    gid = start_speaking(c)
    heard = speak(c, 0.0, 0.5, 0.95)  # the user talks over the answer
    [barge] = of(BargeIn, heard)
    assert 0.0 < barge.onset < 0.5
    [check] = checks(heard)
    actions = c.feed(TranscriptReady(check.turn_id, "wait, one more thing", end=check.end))
    assert CancelGeneration(gid) in actions
    assert [flushed.cause for flushed in of(PlaybackFlushed, actions)] == ["speech"]
    # a text turn over the next reply interrupts too, for its own reason
    gid = start_speaking(c)
    [flushed] = of(PlaybackFlushed, c.client({"clientContent": {
        "turns": [{"role": "user", "parts": [{"text": "never mind"}]}], "turnComplete": True}}))
    assert flushed.cause == "client_content"


def test_manual_activity_marks_turns() -> None:
    c = voice(realtimeInputConfig={"automaticActivityDetection": {"disabled": True}})
    c.client({"realtimeInput": {"activityStart": {}}})
    c.client(audio_frame())
    c.client(audio_frame())
    [transcribe] = of(Transcribe, c.client({"realtimeInput": {"activityEnd": {}}}))
    assert (transcribe.start, round(transcribe.end, 3)) == (0.0, 0.2)
    assert transcribe.kind == "final"
    # scores are ignored when detection is disabled
    assert of(Transcribe, speak(c, 0.2, 1.0, 0.9) + speak(c, 1.2, 2.0, 0.0)) == []


def test_activity_start_with_automatic_detection_is_refused() -> None:
    c = voice()
    [close] = closes(c.client({"realtimeInput": {"activityStart": {}}}))
    assert close.code == CloseCode.INVALID_ARGUMENT


def test_audio_stream_end_flushes_the_pending_utterance() -> None:
    c = voice()
    for _ in range(10):
        c.client(audio_frame())
    speak(c, 0.0, 1.0, 0.9)
    [transcribe] = of(Transcribe, c.client({"realtimeInput": {"audioStreamEnd": True}}))
    assert transcribe.end > 0.5
    assert transcribe.kind == "final"  # the turn has ended: the user waits for it


def test_input_transcription_and_empty_transcript() -> None:
    c = voice(inputAudioTranscription={},
              realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 100}})
    speak(c, 0.0, 0.5, 0.9)
    [t] = of(Transcribe, speak(c, 0.5, 0.3, 0.0))
    out = c.feed(TranscriptReady(t.turn_id, " hello ", end=t.end))
    assert sent(out)[0] == {"serverContent": {"inputTranscription": {"text": "hello",
                                                                     "finished": True}}}
    speak(c, 1.0, 0.5, 0.9)
    [t2] = of(Transcribe, speak(c, 1.5, 0.3, 0.0))
    assert c.feed(TranscriptReady(t2.turn_id, "   ", end=t2.end)) == []  # noise: nothing to answer


def test_unknown_voice_closes_1007_and_audio_without_engines_1008() -> None:
    c = Conversation(VOICE)
    [close] = closes(c.setup(generationConfig={
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Nobody"}}}}))
    assert close.code == CloseCode.INVALID_ARGUMENT and "Nobody" in close.reason
    c = Conversation()
    c.setup()
    [close] = closes(c.client(audio_frame()))
    assert close.code == CloseCode.POLICY_VIOLATION


def test_all_thirty_voices_and_language_are_accepted() -> None:
    from openlive.catalog.voices import VOICE_NAMES

    assert len(VOICE_NAMES) == 30
    for name in VOICE_NAMES:
        c = Conversation(VOICE)
        c.setup(generationConfig={"responseModalities": ["AUDIO"], "speechConfig": {
            "voice_config": {"prebuilt_voice_config": {"voice_name": name.lower()}},
            "language_code": "en-GB"}})
        assert c.session.config is not None and c.session.config.voice == name
        assert c.session.config.language == "en-GB"


def test_a_language_no_voice_speaks_is_refused_at_setup() -> None:
    """As the hosted API refuses it up front, not with 1011 in the middle of a reply."""
    english = ServerCapabilities(audio_output=True, audio_input=True,
                                 speech_languages=frozenset({"en-US", "en-GB"}))
    c = Conversation(english)
    [close] = closes(c.setup(generationConfig={
        "responseModalities": ["AUDIO"], "speechConfig": {"languageCode": "de-DE"}}))
    assert close.code == CloseCode.POLICY_VIOLATION
    assert "de-DE" in close.reason and "en-GB, en-US" in close.reason
    # the same language is fine for a TEXT session: it only narrows recognition
    c = Conversation(english)
    c.setup(generationConfig={"responseModalities": ["TEXT"],
                              "speechConfig": {"languageCode": "de-DE"}})
    assert c.session.config is not None and c.session.config.language == "de-DE"
    c = Conversation(english)
    c.setup(generationConfig={"responseModalities": ["AUDIO"],
                              "speechConfig": {"languageCode": "en-gb"}})
    assert c.session.config is not None and c.session.config.language == "en-GB"


def test_a_voice_the_synthesizer_lacks_is_refused_at_setup() -> None:
    few = ServerCapabilities(audio_output=True, speech_voices=frozenset({"Puck", "Charon"}))
    c = Conversation(few)
    [close] = closes(c.setup(generationConfig={"responseModalities": ["AUDIO"], "speechConfig": {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}}))
    assert close.code == CloseCode.POLICY_VIOLATION and "'Kore'" in close.reason
    c = Conversation(few)
    c.setup(generationConfig={"responseModalities": ["AUDIO"], "speechConfig": {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "charon"}}}})
    assert c.session.config is not None and c.session.config.voice == "Charon"


def start_speaking(c: Conversation, text: str = "Once upon a time, there was a king. "):
    """A reply whose first piece is playing and whose second is queued."""
    [start] = starts(c.client({"realtimeInput": {"text": "tell me a story"}}))
    gid = start.generation_id
    first, second = of(Synthesize, c.delta(gid, text))
    c.now = 5.0
    c.feed(SpeechSynthesized(gid, first.piece_id, b"\x00\x00" * 24000))
    c.feed(SpeechSynthesized(gid, second.piece_id, b"\x00\x00" * 24000))
    return gid


def vad_voice() -> Conversation:
    return voice(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 300}})


def test_speech_onset_pauses_audio_at_once() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    speak(c, 0.0, 0.1, 0.95)  # onset committed: paused, not yet interrupted
    c.now = 20.0  # long after the queued audio was due
    assert sent(c.session.handle(Tick(), c.now)) == []
    assert c.session.reply is not None and c.session.reply.generation_id == gid


def test_cough_resumes_the_reply_without_interrupting() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    actions = speak(c, 0.0, 0.15, 0.95) + speak(c, 0.15, 0.1, 0.0)
    assert CancelGeneration(gid) not in actions
    c.now = 20.0
    out = sent(c.session.handle(Tick(), c.now))
    assert any("modelTurn" in m.get("serverContent", {}) for m in out)  # playing again
    [t] = of(Transcribe, actions + speak(c, 0.25, 0.4, 0.0))
    assert CancelGeneration(gid) not in c.feed(TranscriptReady(t.turn_id, "", end=t.end))


def checks(actions: list) -> list[Transcribe]:
    return [t for t in of(Transcribe, actions) if t.turn_id < 0]


def turn_transcriptions(actions: list) -> list[Transcribe]:
    return [t for t in of(Transcribe, actions) if t.turn_id > 0]


def test_backchannel_does_not_interrupt_but_a_short_command_does() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    # a short sound over the reply is heard before the reply goes on
    heard = speak(c, 0.0, 0.3, 0.95) + speak(c, 0.3, 0.1, 0.0)
    [check] = checks(heard)
    actions = c.feed(TranscriptReady(check.turn_id, "Mm-hm.", end=check.end))
    assert CancelGeneration(gid) not in actions
    [t] = turn_transcriptions(heard + speak(c, 0.4, 0.3, 0.0))
    actions = c.feed(TranscriptReady(t.turn_id, "Mm-hm.", end=t.end))
    assert CancelGeneration(gid) not in actions and starts(actions) == []
    # a short command interrupts as soon as it is heard, before the turn ends
    heard = speak(c, 1.0, 0.3, 0.95) + speak(c, 1.3, 0.1, 0.0)
    [check] = checks(heard)
    actions = c.feed(TranscriptReady(check.turn_id, "Stop.", end=check.end))
    assert CancelGeneration(gid) in actions
    assert {"serverContent": {"interrupted": True}} in sent(actions)
    [t] = turn_transcriptions(heard + speak(c, 1.4, 0.3, 0.0))
    [new] = starts(c.feed(TranscriptReady(t.turn_id, "Stop.", end=t.end)))
    assert new.request.messages[-1].content == "Stop."


def test_a_reply_that_ended_while_paused_completes_when_it_resumes() -> None:
    """Found by the session fuzzer: the reply's last audio came, and its generation and
    synthesis ended, while a barge-in check held it paused; "mm-hm" let it go on, the
    held audio went out, and the turn never completed."""
    c = vad_voice()
    [start] = starts(c.client({"realtimeInput": {"text": "tell me a story"}}))
    gid = start.generation_id
    [piece] = of(Synthesize, c.delta(gid, "Once upon a time.") + c.finish(gid))
    heard = speak(c, 0.0, 0.3, 0.95)  # over the reply: paused before its audio came
    c.feed(SpeechSynthesized(gid, piece.piece_id, b"\x00\x00" * 4800))
    assert sent(c.feed(SynthesisDrained(gid))) == []  # all there, held by the pause
    heard += speak(c, 0.3, 0.1, 0.0)
    [check] = checks(heard)
    wire = sent(c.feed(TranscriptReady(check.turn_id, "Mm-hm.", end=check.end)))
    assert any("modelTurn" in m.get("serverContent", {}) for m in wire)  # the held audio
    assert wire[-2] == {"serverContent": {"generationComplete": True}}, wire
    assert wire[-1]["serverContent"]["turnComplete"] is True, wire


def test_a_click_resumes_at_once_without_a_check() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    actions = speak(c, 0.0, 0.1, 0.95) + speak(c, 0.1, 0.1, 0.0)
    assert checks(actions) == [] and CancelGeneration(gid) not in actions
    assert c.session.reply is not None and c.session.reply.paused_at is None


def test_never_stalls_over_many_interrupted_turns() -> None:
    c = vad_voice()
    t = 0.0
    for i in range(25):
        [start] = starts(c.client({"realtimeInput": {"text": f"question {i}"}}))
        gid = start.generation_id
        [piece, *_] = of(Synthesize, c.delta(gid, "Well, let me think about that. "))
        c.now += 1.0
        c.feed(SpeechSynthesized(gid, piece.piece_id, b"\x00\x00" * 4800))
        actions = hear(c, speak(c, t, 0.6, 0.95), "no wait")  # barge in
        assert CancelGeneration(gid) in actions, i
        [tr] = of(Transcribe, speak(c, t + 0.6, 0.4, 0.0))
        t += 1.0
        [answer] = starts(c.feed(TranscriptReady(tr.turn_id, f"new question {i}", end=tr.end)))
        agid = answer.generation_id
        c.delta(agid, "Sure.")
        [piece] = of(Synthesize, c.finish(agid))  # the chunker flushes the last piece
        c.now += 1.0
        out = c.feed(SpeechSynthesized(agid, piece.piece_id, b"\x00\x00" * 4800))
        out += c.feed(SynthesisDrained(agid))
        wire = sent(out)
        assert wire[-2] == {"serverContent": {"generationComplete": True}}, i
        assert wire[-1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IDLE"}, i
    assert c.session.state.value == "idle"
    assert len(c.session.usage) == 25  # every answer completed, none stalled


def test_own_voice_transcribed_back_does_not_interrupt() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    heard = speak(c, 0.0, 0.3, 0.95) + speak(c, 0.3, 0.1, 0.0)
    [check] = checks(heard)
    actions = c.feed(TranscriptReady(check.turn_id, "upon a time there was", end=check.end))
    assert CancelGeneration(gid) not in actions
    [t] = turn_transcriptions(heard + speak(c, 0.4, 0.3, 0.0))
    actions = c.feed(TranscriptReady(t.turn_id, "upon a time there was", end=t.end))
    assert CancelGeneration(gid) not in actions and starts(actions) == []


def test_words_that_are_the_answer_coming_back_never_take_the_floor() -> None:
    """The echo guard misses an echo's first words while it looks for the delay; the
    runtime then judges the whole stretch (``echo``): heard as "Let's", the answer's own
    "Tell" coming back keeps the reply going and is not the user's turn, while the same
    words with little echo in them interrupt."""
    for echo, interrupts in ((0.93, False), (0.4, True)):
        c = vad_voice()
        gid = start_speaking(c)
        heard = speak(c, 0.0, 0.45, 0.95)  # long enough to be judged as it goes on
        [check] = checks(heard)
        actions = c.feed(TranscriptReady(check.turn_id, "Let's", end=check.end, echo=echo))
        assert (CancelGeneration(gid) in actions) is interrupts, echo
        if interrupts:
            continue
        [t] = turn_transcriptions(speak(c, 0.45, 0.4, 0.0))
        actions = c.feed(TranscriptReady(t.turn_id, "Let's", end=t.end, echo=echo))
        assert CancelGeneration(gid) not in actions and starts(actions) == [], echo
        assert c.session.reply is not None and c.session.reply.paused_at is None


def test_frames_scored_as_echo_do_not_start_a_turn() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    actions = []
    for i in range(30):
        actions += c.feed(SpeechScored(round(0.032 * (i + 1), 3), 0.95, echo=0.95))
    assert CancelGeneration(gid) not in actions
    assert c.session.reply is not None and c.session.reply.paused_at is None


def test_turn_coverage_all_input_reaches_back_to_the_previous_turn() -> None:
    def second_turn(coverage: str) -> Transcribe:
        c = voice(realtimeInputConfig={"turnCoverage": coverage,
                                       "automaticActivityDetection": {"silenceDurationMs": 300}})
        speak(c, 0.0, 1.0, 0.9)
        [first] = of(Transcribe, speak(c, 1.0, 0.4, 0.0))
        c.feed(TranscriptReady(first.turn_id, "", end=first.end))  # noise: no reply
        speak(c, 1.4, 2.0, 0.0)  # quiet (or sounds the VAD does not call speech)
        speak(c, 3.4, 1.0, 0.9)
        [second] = of(Transcribe, speak(c, 4.4, 0.4, 0.0))
        return second

    only_activity = second_turn("TURN_INCLUDES_ONLY_ACTIVITY")
    all_input = second_turn("TURN_INCLUDES_ALL_INPUT")
    assert only_activity.start > 2.9  # from the onset (minus padding)
    assert all_input.start < 1.1  # from the end of the previous turn


def test_audio_session_limit_without_compression() -> None:
    c = voice()
    c.now = 10.0
    [wake] = [a for a in c.client(audio_frame()) if isinstance(a, WakeAt)]
    assert wake.key == "session-limit" and abs(wake.at - (10.01 + 900)) < 1e-6
    [close] = closes(c.session.handle(Tick(), wake.at))
    assert close.code == CloseCode.NORMAL and "15-minute" in close.reason
    c = voice(contextWindowCompression={"slidingWindow": {}})
    assert [a for a in c.client(audio_frame()) if isinstance(a, WakeAt)] == []


def test_speech_that_resumes_after_a_dip_is_judged_again() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    speak(c, 0.0, 0.2, 0.95)  # onset: paused
    actions = speak(c, 0.2, 0.064, 0.0)  # a dip (or a frame taken for echo): resumed
    actions += speak(c, 0.264, 0.8, 0.95)  # the user goes on talking
    actions = hear(c, actions, "actually I have a question")
    assert CancelGeneration(gid) in actions  # interrupted after all


def test_a_pause_transcript_is_sent_as_an_interim_input_transcription() -> None:
    c = voice(inputAudioTranscription={})
    speak(c, 0.0, 1.0, 0.9)
    [spec] = of(Transcribe, speak(c, 1.0, 0.25, 0.01))
    actions = c.feed(TranscriptReady(spec.turn_id, " what time ", end=spec.end))
    out = sent(actions)
    assert out == [{"serverContent": {"interimInputTranscription": {"text": "what time"}}}]
    [first] = of(ScoreEndOfTurn, actions)
    c.feed(EndOfTurnScored(first.turn_id, 0.2))  # not done
    # the user goes on: the final transcript is the whole turn, once, as inputTranscription
    speak(c, 1.25, 1.0, 0.9)
    actions, _ = pause_words(c, "what time is it", start=2.25)
    [score] = of(ScoreEndOfTurn, actions)
    final = sent(done(c, score.turn_id, 2.25))
    assert {"serverContent": {"inputTranscription": {"text": "what time is it",
                                                     "finished": True}}} in final


def test_no_interim_transcription_unless_asked() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    [spec] = of(Transcribe, speak(c, 1.0, 0.25, 0.01))
    assert sent(c.feed(TranscriptReady(spec.turn_id, "what time", end=spec.end))) == []


def test_words_that_stop_mid_sentence_are_not_put_to_the_end_of_turn_model() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "I would like a pizza and")
    assert of(ScoreEndOfTurn, actions) == [] and starts(actions) == []  # not over
    assert of(ScoreEndOfTurn, speak(c, 1.25, 0.4, 0.01)) == []  # nor at the next report
    speak(c, 1.65, 0.6, 0.9)  # "... a large salad please"
    actions, _ = pause_words(c, "I would like a pizza and a salad", start=2.25)
    [score2] = of(ScoreEndOfTurn, actions)
    [start] = starts(done(c, score2.turn_id, 2.25, 0.97))
    assert start.request.messages[-1].content == "I would like a pizza and a salad"


def test_no_words_no_end_of_turn_model() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "  ")  # a breath, a noise: the silence window decides
    assert of(ScoreEndOfTurn, actions) == []


def test_a_done_verdict_is_dropped_when_the_user_talks_again() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "what time")
    [score] = of(ScoreEndOfTurn, actions)
    speak(c, 1.25, 0.3, 0.9)  # talking again before the verdict
    assert starts(c.feed(EndOfTurnScored(score.turn_id, 0.97))) == []


def test_a_verdict_about_an_older_pause_does_not_end_the_turn_at_a_newer_one() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "what time")
    [score] = of(ScoreEndOfTurn, actions)
    speak(c, 1.25, 0.3, 0.9)  # talking again; then a new pause whose words are back
    actions, _ = pause_words(c, "what time is it", start=1.55)
    assert of(ScoreEndOfTurn, actions) == []  # one check at a time
    out = c.feed(EndOfTurnScored(score.turn_id, 0.97))  # about the old pause: not an end
    assert starts(out) == []
    [score2] = of(ScoreEndOfTurn, out)  # the new pause is asked about now
    [start] = starts(done(c, score2.turn_id, 1.55, 0.97))
    assert start.request.messages[-1].content == "what time is it"


def test_a_done_verdict_waits_out_the_minimum_silence() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "please set a timer for")  # 0.25 s into the pause
    [score] = of(ScoreEndOfTurn, actions)
    assert starts(c.feed(EndOfTurnScored(score.turn_id, 0.96))) == []  # too soon
    assert starts(speak(c, 1.25, MIN_END_SILENCE - 0.25 - FRAME, 0.01)) == []
    [start] = starts(speak(c, 1.0 + MIN_END_SILENCE - FRAME, 2 * FRAME, 0.01))
    assert start.request.messages[-1].content == "please set a timer for"


def test_a_done_verdict_is_dropped_when_the_user_talks_within_the_minimum_silence() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "please set a timer for")
    [score] = of(ScoreEndOfTurn, actions)
    c.feed(EndOfTurnScored(score.turn_id, 0.96))
    assert starts(speak(c, 1.25, 0.4, 0.9)) == []  # "... ten minutes"
    # silence again: the old verdict does not end the turn; the new pause is asked about
    actions = speak(c, 1.65, MIN_END_SILENCE - 0.1, 0.01)
    assert starts(actions) == []
    [spec] = [t for t in of(Transcribe, actions) if t.end > 1.6]
    actions = c.feed(TranscriptReady(spec.turn_id, "please set a timer for ten minutes",
                                     end=spec.end))
    [score2] = of(ScoreEndOfTurn, actions)
    [start] = starts(c.feed(EndOfTurnScored(score2.turn_id, 0.96)) + speak(c, 2.35, 0.2, 0.01))
    assert start.request.messages[-1].content == "please set a timer for ten minutes"


def test_a_verdict_after_the_minimum_silence_ends_the_turn_at_once() -> None:
    c = voice()
    speak(c, 0.0, 1.0, 0.9)
    actions, _ = pause_words(c, "what time is it")
    [score] = of(ScoreEndOfTurn, actions)
    speak(c, 1.25, MIN_END_SILENCE, 0.01)  # a slow model: the silence has passed
    [start] = starts(c.feed(EndOfTurnScored(score.turn_id, 0.9)))
    assert start.request.messages[-1].content == "what time is it"


def test_sounds_unfinished() -> None:
    from openlive.session.listening import sounds_unfinished

    for text in ("I would like a pizza and", "Book a table for the", "Well,", "to go to",
                 "um"):
        assert sounds_unfinished(text), text
    for text in ("What time is it?", "Where are you from", "I think so", "", "Thank you."):
        assert not sounds_unfinished(text), text


def test_long_speech_over_the_reply_is_heard_before_it_interrupts() -> None:
    c = vad_voice()
    gid = start_speaking(c)
    actions = speak(c, 0.0, 0.5, 0.95)
    assert CancelGeneration(gid) not in actions  # paused, and being heard
    [check] = [t for t in of(Transcribe, actions) if t.turn_id < 0]
    assert check.start == 0.0 and check.end >= CONFIRM_SECONDS  # the speech so far, with pre-roll
    assert CancelGeneration(gid) in hear(c, actions, "tell me about Berlin instead")


def test_a_backchannel_or_an_echo_lets_the_reply_go_on() -> None:
    for words in ("mm-hm", "", "Once upon a time"):  # the last: the model's own voice
        c = vad_voice()
        gid = start_speaking(c)
        actions = speak(c, 0.0, 0.5, 0.95)
        out = hear(c, actions, words)
        assert CancelGeneration(gid) not in out, words
        assert of(PlayAudio, out) or of(WakeAt, out), words  # the paused audio flows again
        assert {"serverContent": {"interrupted": True}} not in sent(out), words
        # the rest of that speech is not judged again
        later = speak(c, 0.5, 0.6, 0.95)
        assert not [t for t in of(Transcribe, later) if t.turn_id < 0], words
        assert CancelGeneration(gid) not in later, words



SILENCE_300 = {"automaticActivityDetection": {"silenceDurationMs": 300}}


def one_turn(c: Conversation, start: float, words: str, language: str | None) -> Transcribe:
    """A spoken turn ended by the silence window, heard as ``words`` in ``language``;
    returns the transcription it asked for."""
    speak(c, start, 1.0, 0.9)
    [transcribe] = of(Transcribe, speak(c, start + 1.0, 0.4, 0.01))
    c.feed(TranscriptReady(transcribe.turn_id, words, language, end=transcribe.end))
    return transcribe


def test_the_session_language_sticks_once_heard() -> None:
    spanish = ServerCapabilities(audio_output=True, audio_input=True,
                                 speech_languages=frozenset({"en-US", "es-US", "es-ES"}))
    c = Conversation(spanish)
    c.setup(generationConfig={"responseModalities": ["AUDIO"]}, realtimeInputConfig=SILENCE_300)
    first = one_turn(c, 0.0, "¿qué hora es?", "es")
    assert first.language is None and first.expected is None  # nothing heard yet: detect
    reply = c.session.reply
    assert reply is not None and reply.voicing is not None
    assert reply.voicing.language == "es-US"  # answered in Spanish: a voice speaks it
    second = one_turn(c, 5.0, "gracias", "es")  # (over the reply: a barge-in check)
    assert second.language is None and second.expected == "es"  # detection expects it
    third = one_turn(c, 10.0, "", "en")  # noise says nothing about the language
    fourth = one_turn(c, 15.0, "adiós", "es")
    assert third.expected == "es" and fourth.expected == "es"


def test_english_speakers_keep_the_voice_s_own_language() -> None:
    c = voice(realtimeInputConfig=SILENCE_300)
    one_turn(c, 0.0, "what time is it", "en")
    reply = c.session.reply
    assert reply is not None and reply.voicing is not None and reply.voicing.language is None
    assert one_turn(c, 5.0, "thanks", "en").expected == "en"


def test_a_language_code_is_never_replaced_by_what_was_heard() -> None:
    c = Conversation(VOICE)
    c.setup(generationConfig={"responseModalities": ["AUDIO"],
                              "speechConfig": {"languageCode": "en-US"}},
            realtimeInputConfig=SILENCE_300)
    one_turn(c, 0.0, "hola", "es")
    later = one_turn(c, 5.0, "hello", "en")
    assert later.language == "en-US" and later.expected is None


BOUNDED = ServerCapabilities(audio_output=True, audio_input=True, spoken_answer_chars=240)


def test_a_spoken_answer_is_bounded_unless_max_output_tokens_is_set() -> None:
    c = Conversation(BOUNDED)
    c.setup(generationConfig={"responseModalities": ["AUDIO"]})
    [start] = starts(c.client({"realtimeInput": {"text": "Tell me about Paris"}}))
    assert start.request.spoken == SpokenReply(None, bound_chars=240)
    assert start.request.sampling.max_tokens == 120  # the hard stop for a runaway

    c = Conversation(BOUNDED)
    c.setup(generationConfig={"responseModalities": ["AUDIO"], "maxOutputTokens": 500})
    [start] = starts(c.client({"realtimeInput": {"text": "Tell me about Paris"}}))
    assert start.request.spoken == SpokenReply(None, bound_chars=None)
    assert start.request.sampling.max_tokens == 500


def test_a_text_answer_is_neither_spoken_nor_bounded() -> None:
    c = Conversation(BOUNDED)
    c.setup(generationConfig={"responseModalities": ["TEXT"]})
    [start] = starts(c.client({"realtimeInput": {"text": "Tell me about Paris"}}))
    assert start.request.spoken is None
    assert start.request.sampling.max_tokens is None


def test_the_spoken_reply_names_the_language_asked_for_or_heard() -> None:
    c = Conversation(BOUNDED)
    c.setup(generationConfig={"responseModalities": ["AUDIO"],
                              "speechConfig": {"languageCode": "en-GB"}})
    [start] = starts(c.client({"realtimeInput": {"text": "Hello"}}))
    assert start.request.spoken is not None and start.request.spoken.language == "en-GB"

    c = Conversation(BOUNDED)
    c.setup(generationConfig={"responseModalities": ["AUDIO"]},
            realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 100}})
    speak(c, 0.0, 0.5, 0.9)
    [t] = of(Transcribe, speak(c, 0.5, 0.3, 0.0))
    [start] = starts(c.feed(TranscriptReady(t.turn_id, "¿Dónde está la estación?",
                                            end=t.end, language="es")))
    assert start.request.spoken is not None and start.request.spoken.language == "es"


def test_transcription_language_codes_narrow_recognition() -> None:
    c = voice(inputAudioTranscription={"languageCodes": ["es-ES", "pt", "es-US"]},
              realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 100}})
    speak(c, 0.0, 0.5, 0.9)
    [t] = of(Transcribe, speak(c, 0.5, 0.3, 0.0))
    assert t.languages == ("es-ES", "pt-BR", "es-US") and t.language is None
    c = Conversation(VOICE)
    [close] = closes(c.setup(generationConfig={"responseModalities": ["AUDIO"]},
                             inputAudioTranscription={"languageCodes": ["klingon"]}))
    assert close.code == CloseCode.INVALID_ARGUMENT and "klingon" in close.reason


EARLY = ServerCapabilities(audio_output=True, audio_input=True, end_of_turn_model=True,
                           interim_every=1.0, prefill=True)


def test_setup_prefills_the_instructions() -> None:
    c = Conversation(EARLY)
    actions = c.setup(generationConfig={"responseModalities": ["AUDIO"]},
                      systemInstruction={"parts": [{"text": "You are a pirate."}]})
    [prefill] = of(Prefill, actions)
    assert [m.role for m in prefill.request.messages] == ["system"]
    assert prefill.request.messages[0].content == "You are a pirate."
    assert prefill.request.spoken is not None  # the same request the answer will make
    assert of(Prefill, Conversation(VOICE).setup()) == []  # a model that cannot: nothing


def test_words_are_recognized_while_the_user_speaks_and_the_settled_ones_prefilled() -> None:
    c = Conversation(EARLY)
    c.setup(generationConfig={"responseModalities": ["AUDIO"]}, inputAudioTranscription={})
    actions = speak(c, 0.0, 1.6, 0.9)
    [first] = of(Transcribe, actions)
    assert first.kind == "interim" and first.end - first.start >= 1.0
    assert of(Transcribe, speak(c, 1.6, 1.0, 0.9)) == []  # one decode at a time
    out = c.feed(TranscriptReady(first.turn_id, "What is the cap", end=first.end))
    # one decode settles nothing yet; the client sees it as the interim transcript
    assert sent(out) == [{"serverContent": {"interimInputTranscription": {
        "text": "What is the cap"}}}]
    assert of(Prefill, out) == []
    [second] = of(Transcribe, speak(c, 2.6, 0.1, 0.9))
    assert second.end > first.end
    out = c.feed(TranscriptReady(second.turn_id, "What is the capital of", end=second.end))
    [prefill] = of(Prefill, out)
    assert prefill.request.messages[-1].content == "What is the"  # two decodes agree
    assert sent(out) == [{"serverContent": {"interimInputTranscription": {
        "text": "What is the capital of"}}}]


def test_a_late_decode_of_an_ended_turn_is_dropped() -> None:
    c = Conversation(EARLY)
    c.setup(generationConfig={"responseModalities": ["AUDIO"]},
            realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 100}})
    [partial] = of(Transcribe, speak(c, 0.0, 1.6, 0.9))
    [final] = of(Transcribe, speak(c, 1.6, 0.3, 0.0))
    assert final.kind == "final"
    assert c.feed(TranscriptReady(partial.turn_id, "What is", end=partial.end)) == []
    [start] = starts(c.feed(TranscriptReady(final.turn_id, "What is up?", end=final.end)))
    assert start.request.messages[-1].content == "What is up?"


def test_the_models_last_reply_is_the_recognizers_context() -> None:
    c = Conversation(VOICE)  # spoken questions, written answers
    c.setup(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 100}})
    speak(c, 0.0, 0.5, 0.9)
    [t] = of(Transcribe, speak(c, 0.5, 0.3, 0.0))
    assert t.prompt is None  # nothing said yet
    [start] = starts(c.feed(TranscriptReady(t.turn_id, "Pick a card.", end=t.end)))
    c.delta(start.generation_id, "The ten of clubs.")
    c.finish(start.generation_id)
    speak(c, 5.0, 0.5, 0.9)
    [t2] = of(Transcribe, speak(c, 5.5, 0.3, 0.0))
    assert t2.prompt == "The ten of clubs."


def test_a_completed_turn_is_prefilled_as_the_history_now_holds_it() -> None:
    c = Conversation(EARLY)
    c.setup(generationConfig={"responseModalities": ["TEXT"]})
    [start] = starts(c.client({"realtimeInput": {"text": "Hi"}}))
    c.delta(start.generation_id, "Hello there!")
    [prefill] = of(Prefill, c.finish(start.generation_id))
    assert [(m.role, m.content) for m in prefill.request.messages] == [
        ("user", "Hi"), ("assistant", "Hello there!")]


def test_a_confident_done_on_a_question_ends_after_the_short_silence() -> None:
    assert SHORT_END_SILENCE < MIN_END_SILENCE
    for probability, words, silence in ((CONFIDENT_END_OF_TURN, "What time is it?",
                                         SHORT_END_SILENCE),
                                        (CONFIDENT_END_OF_TURN - 0.05, "What time is it?",
                                         MIN_END_SILENCE),
                                        (0.99, "Please set a timer for.", MIN_END_SILENCE)):
        c = voice()
        speak(c, 0.0, 1.0, 0.9)
        actions, _ = pause_words(c, words)  # 0.25 s into the pause
        [score] = of(ScoreEndOfTurn, actions)
        assert starts(c.feed(EndOfTurnScored(score.turn_id, probability))) == []
        assert starts(speak(c, 1.25, silence - 0.25 - FRAME, 0.01)) == [], words
        [start] = starts(speak(c, 1.0 + silence - FRAME, 2 * FRAME, 0.01))
        assert start.request.messages[-1].content == words

