"""A stateful fuzzer for the session: random clients and engines, rules checked each step.

A voice server's session (audio input, an end-of-turn model, speech output; TEXT or
AUDIO chosen at setup, automatic or manual activity detection, blocking, NON_BLOCKING
and server-side functions) is fed random sequences of client frames, valid and not, and
of engine events. Engine events answer what the session really asked for (the
generations, syntheses, transcriptions, end-of-turn scores and server-side calls seen
in its actions), or name stale and unknown ids. After every step the rules of
:mod:`tests.session.wire_rules` are checked on the observed output; at the end the world
goes quiet (every request answered, the user silent) and no turn may be left open.

The default profile runs a couple of hundred sequences; ``HYPOTHESIS_PROFILE=fuzz``
runs 100 000 (see ``fuzz/README.md``).
"""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from openlive.catalog import ModelCatalog
from openlive.chat import ToolCall, ToolSpec
from openlive.errors import ProtocolError
from openlive.protocol.codec import decode_client_message
from openlive.session.actions import Transcribe
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    ClientMessageReceived,
    EndOfTurnScored,
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
    GenerationMalformedCall,
    GenerationToolCalls,
    ServerToolFinished,
    ShutdownRequested,
    SnapshotSaved,
    SpeechScored,
    SpeechSynthesized,
    SynthesisDrained,
    SynthesisFailed,
    Tick,
    TranscriptionFailed,
    TranscriptReady,
)
from openlive.session.machine import Session
from tests.session.observe import observe
from tests.session.wire_rules import WireRules

RECORD_REPLAYS = False  # thousands of random sessions: not recordings

settings.register_profile(
    "session-default", max_examples=200, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
# OPENLIVE_FUZZ_EXAMPLES splits a long run between processes (each with its own
# --hypothesis-seed), one per core
settings.register_profile(
    "session-fuzz", max_examples=int(os.environ.get("OPENLIVE_FUZZ_EXAMPLES", "100000")),
    stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True)
PROFILE = "session-fuzz" if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else "session-default"

FRAME = 0.032  # seconds of 16 kHz audio per VAD frame
FRAME_BYTES = 1024  # 512 samples of 16-bit PCM
SEARCH = ToolSpec("google_search", "Search the web.",
                  {"type": "object", "properties": {"query": {"type": "string"}}})


def voice_server(*, answer_ahead: bool = False, resumption: bool = False) -> ServerCapabilities:
    """What a voice server offers: audio in and out, end-of-turn model, a search tool."""
    return ServerCapabilities(audio_input=True, audio_output=True, end_of_turn_model=True,
                              server_tools={"googleSearch": (SEARCH,)},
                              answer_ahead=answer_ahead, resumption=resumption)


FUNCTIONS = [
    {"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {
        "city": {"type": "STRING"}}}},
    {"name": "notify", "behavior": "NON_BLOCKING"},
]
NON_BLOCKING = {"notify"}
CALLABLE = ["get_weather", "notify", "google_search"]
MODEL_TEXT = ["Hello", " there.", " It is sunny, mostly.", "", "Sure, one moment,",
              " and the answer is 42.", "\n- first item\n"]
USER_TEXT = ["", "mm-hm", "okay", "hello there", "what is the weather in Paris",
             "I would like a pizza and", "stop", "Tell me a story."]
STEP = st.sampled_from([0.0, 0.001, 0.02, 0.1, 0.5, 2.0])
GID = st.sampled_from(["live", "live", "live", "stale", "unknown"])
GARBAGE = [
    "not json", "[1, 2]", '{"unknownKey": {}}', '{"setup": {"model": "x"}, "clientContent": {}}',
    '{"setup": {"model": "models/gemini-live-2.5-flash-preview"}}',
    '{"realtimeInput": {"activityStart": {}}}', '{"realtimeInput": {"activityEnd": {}}}',
    '{"toolResponse": {"functionResponses": []}}',
    '{"toolResponse": {"functionResponses": [{"id": "never-issued", "response": {}}]}}',
    '{"toolResponse": {"functionResponses": [{"response": {}}]}}',
    '{"realtimeInput": {"audio": {"data": "AAA=", "mimeType": "audio/pcm;rate=16000"}}}',
    '{"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/flac"}}}',
    '{"realtimeInput": {"video": {"data": "AAAA", "mimeType": "image/jpeg"}}}',
]


def _setup(data: st.DataObject, resumption: bool) -> dict[str, Any]:
    """A voice setup with random choices that change how turns run."""
    body: dict[str, Any] = {
        "model": "models/gemini-live-2.5-flash-preview",
        "generationConfig": {"responseModalities": [data.draw(st.sampled_from(["AUDIO", "TEXT"]))]},
    }
    realtime: dict[str, Any] = {}
    vad = data.draw(st.sampled_from(["semantic", "window", "manual"]))
    if vad == "manual":
        realtime["automaticActivityDetection"] = {"disabled": True}
    elif vad == "window":
        realtime["automaticActivityDetection"] = {"silenceDurationMs": 300}
    if data.draw(st.booleans()):
        realtime["activityHandling"] = "NO_INTERRUPTION"
    if data.draw(st.booleans()):
        realtime["turnCoverage"] = "TURN_INCLUDES_ALL_INPUT"
    if realtime:
        body["realtimeInputConfig"] = realtime
    tools: list[dict[str, Any]] = [{"functionDeclarations": FUNCTIONS}]
    if data.draw(st.booleans()):
        tools.append({"googleSearch": {}})
    body["tools"] = tools
    for key in ("inputAudioTranscription", "outputAudioTranscription"):
        if data.draw(st.booleans()):
            body[key] = {}
    if data.draw(st.booleans()):
        body["contextWindowCompression"] = {"slidingWindow": {}}
    if resumption and data.draw(st.booleans()):
        body["sessionResumption"] = {}
    return {"setup": body}


class SessionFuzz(RuleBasedStateMachine):
    """One session, its clock, what it asked for, and the rules its output keeps."""

    def __init__(self) -> None:
        super().__init__()
        self.rules = WireRules(non_blocking=frozenset(NON_BLOCKING))
        self.now = 0.0
        self.audio_frames = 0  # VAD frames of audio the client has sent
        self.scored_frames = 0  # of those, scored (SpeechScored fed)
        self.manual = False
        self.speaking_manually = False  # activityStart sent without activityEnd
        self.next_call = 0
        self.hostile = False
        self.search = False  # the setup declared googleSearch (run server-side)
        # the engines' contract: a generation's calls come at most once, before it ends
        self.ended: set[int] = set()  # generations the fuzzer finished
        self.called: set[int] = set()  # generations that asked for calls (or failed to)
        self.session = Session(session_id="fuzz", catalog=ModelCatalog(),
                               capabilities=voice_server())

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, event: Event, step: float = 0.0, *, stale: bool = False) -> list[Any]:
        """Feed one event at the clock advanced by ``step``; check the output."""
        self.now += step
        try:
            actions = self.session.handle(event, self.now)
        except ProtocolError as err:  # handle closes on these itself; tolerate the driver's way
            actions = self.session.abort(err)
        view = observe(actions)
        self.rules.check(type(event).__name__, view, stale_event=stale)
        # The view rounds times; the runtime reports a transcript's end exactly as the
        # session asked (a rounded end would be a stale transcript to it).
        for action in actions:
            if isinstance(action, Transcribe) and action.turn_id in self.rules.asked.transcriptions:
                self.rules.asked.transcriptions[action.turn_id] = action.end
        return view

    def frame(self, frame: str | dict[str, Any], step: float = 0.0) -> list[Any]:
        """A client frame, decoded as the transport would; a bad one aborts the session."""
        raw = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
        try:
            message = decode_client_message(raw)
        except ProtocolError as err:
            view = observe(self.session.abort(err))
            self.rules.check("abort", view)
            return view
        return self.feed(ClientMessageReceived(message), step)

    def generation(self, data: st.DataObject, which: str) -> tuple[int, bool]:
        """(generation id, stale): the live one, a stale one, or one never started."""
        rules = self.rules
        stale = sorted(g for g in rules.started if rules.is_stale(g))
        if which == "live" and rules.live is not None:
            return rules.live, False
        if which == "stale" and stale:
            return data.draw(st.sampled_from(stale)), True
        return max(rules.started, default=0) + 1000, True

    # -- setup -----------------------------------------------------------------------------

    @initialize(data=st.data(), ahead=st.booleans(), resumption=st.booleans(),
                hostile=st.booleans())
    def setup(self, data: st.DataObject, ahead: bool, resumption: bool, hostile: bool) -> None:
        # half the sessions also get bad frames and failing engines, which end them
        self.hostile = hostile
        self.session = Session(session_id="fuzz", catalog=ModelCatalog(),
                               capabilities=voice_server(answer_ahead=ahead,
                                                         resumption=resumption))
        frame = _setup(data, resumption)
        realtime = frame["setup"].get("realtimeInputConfig", {})
        self.search = {"googleSearch": {}} in frame["setup"]["tools"]
        self.manual = realtime.get("automaticActivityDetection", {}).get("disabled", False)
        self.frame(frame)

    # -- the client --------------------------------------------------------------------------

    @rule(texts=st.lists(st.sampled_from(USER_TEXT), max_size=2), complete=st.booleans(),
          realtime=st.booleans(), step=STEP)
    def user_text(self, texts: list[str], complete: bool, realtime: bool, step: float) -> None:
        """Typed input: ``clientContent`` (with or without turnComplete) or realtime text."""
        if realtime:
            self.frame({"realtimeInput": {"text": texts[0] if texts else ""}}, step)
            return
        turns = [{"role": "user", "parts": [{"text": t}]} for t in texts]
        self.frame({"clientContent": {"turns": turns, "turnComplete": complete}}, step)

    @rule(frames=st.integers(1, 8), step=STEP)
    def audio(self, frames: int, step: float) -> None:
        self.audio_frames += frames
        data = base64.b64encode(bytes(FRAME_BYTES * frames)).decode()
        self.frame({"realtimeInput": {"audio": {"data": data,
                                                 "mimeType": "audio/pcm;rate=16000"}}}, step)

    @precondition(lambda self: self.manual)
    @rule(step=STEP)
    def activity(self, step: float) -> None:
        key = "activityEnd" if self.speaking_manually else "activityStart"
        self.speaking_manually = not self.speaking_manually
        self.frame({"realtimeInput": {key: {}}}, step)

    @rule(step=STEP)
    def audio_stream_end(self, step: float) -> None:
        self.frame({"realtimeInput": {"audioStreamEnd": True}}, step)

    @precondition(lambda self: self.rules.issued)
    @rule(data=st.data(), step=STEP)
    def tool_response(self, data: st.DataObject, step: float) -> None:
        ids = sorted(self.rules.issued)
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3))
        names = {**self.rules.asked.client_calls}
        responses = []
        finals = []
        for call_id in chosen:
            name = names.get(call_id) or _name_of(call_id)
            response: dict[str, Any] = {"id": call_id, "name": name,
                                        "response": {"result": "ok"}}
            scheduling = data.draw(st.sampled_from([None, "INTERRUPT", "WHEN_IDLE", "SILENT"]))
            if scheduling:
                response["scheduling"] = scheduling
            if name in NON_BLOCKING and data.draw(st.booleans()):
                response["willContinue"] = True
            else:
                finals.append(call_id)
            responses.append(response)
        for call_id in finals:  # before: the session may end the turn on them
            self.rules.client_answered(call_id)
        self.frame({"toolResponse": {"functionResponses": responses}}, step)

    @rule(data=st.data(), step=STEP)
    def context_update(self, data: st.DataObject, step: float) -> None:
        text = data.draw(st.sampled_from(["Be brief.", "Speak like a pirate."]))
        self.frame({"contextUpdate": {"systemInstruction": {"parts": [{"text": text}]}}}, step)

    @precondition(lambda self: self.hostile)
    @rule(frame=st.sampled_from(GARBAGE), step=STEP)
    def invalid_frame(self, frame: str, step: float) -> None:
        self.frame(frame, step)

    # -- the engines -------------------------------------------------------------------------

    @rule(data=st.data(), which=GID, text=st.sampled_from(MODEL_TEXT), step=STEP)
    def generation_delta(self, data: st.DataObject, which: str, text: str, step: float) -> None:
        gid, stale = self.generation(data, which)
        if gid in self.ended:
            return  # no text after the end
        self.feed(GenerationDelta(gid, text), step, stale=stale)

    @rule(data=st.data(), which=GID, prompt=st.integers(0, 5000), step=STEP)
    def generation_finished(self, data: st.DataObject, which: str, prompt: int,
                            step: float) -> None:
        gid, stale = self.generation(data, which)
        if gid in self.ended:
            return  # an engine finishes a generation once
        self.ended.add(gid)
        self.feed(GenerationFinished(gid, prompt, 7), step, stale=stale)
        if gid in self.rules.asked.generations:
            self.rules.asked.generations[gid] = True

    @rule(data=st.data(), which=GID,
          names=st.lists(st.sampled_from(CALLABLE), min_size=1, max_size=3), step=STEP)
    def generation_tool_calls(self, data: st.DataObject, which: str, names: list[str],
                              step: float) -> None:
        gid, stale = self.generation(data, which)
        if gid in self.ended or gid in self.called:
            return
        self.called.add(gid)
        calls = []
        for name in names:
            if name == "google_search" and not self.search:
                name = "get_weather"  # the engine only lets the model call declared tools
            self.next_call += 1
            calls.append(ToolCall(f"function-call-{self.next_call}-{name}", name,
                                  {"city": "Paris"} if name == "get_weather" else {}))
        self.feed(GenerationToolCalls(gid, tuple(calls)), step, stale=stale)

    @rule(data=st.data(), which=GID)
    def generation_malformed(self, data: st.DataObject, which: str) -> None:
        gid, stale = self.generation(data, which)
        if gid in self.ended or gid in self.called:
            return
        self.called.add(gid)
        self.feed(GenerationMalformedCall(gid, ("bad arguments",)), stale=stale)

    @precondition(lambda self: self.rules.asked.pieces)
    @rule(data=st.data(), samples=st.sampled_from([1, 480, 2400, 12000]), step=STEP)
    def speech_synthesized(self, data: st.DataObject, samples: int, step: float) -> None:
        pieces = self.rules.asked.pieces
        gid = data.draw(st.sampled_from(sorted({g for g, _ in pieces})))
        piece = min(p for g, p in pieces if g == gid)  # pieces are spoken in order
        stale = self.rules.is_stale(gid)
        if data.draw(st.booleans()):  # a piece comes in more than one chunk
            del self.rules.asked.pieces[(gid, piece)]
        self.feed(SpeechSynthesized(gid, piece, bytes(2 * samples)), step, stale=stale)

    @rule(data=st.data(), which=GID, step=STEP)
    def synthesis_drained(self, data: st.DataObject, which: str, step: float) -> None:
        spoken = {g for g, _ in self.rules.asked.pieces}
        ends = sorted(self.rules.asked.synthesis_ends - spoken)  # drained after the audio
        if which == "live" and ends:
            gid = data.draw(st.sampled_from(ends))
            self.rules.asked.synthesis_ends.discard(gid)
            self.feed(SynthesisDrained(gid), step, stale=self.rules.is_stale(gid))
            return
        gid, stale = self.generation(data, "stale")
        self.feed(SynthesisDrained(gid), step, stale=stale)

    @precondition(lambda self: self.scored_frames < self.audio_frames)
    @rule(probability=st.sampled_from([0.0, 0.3, 0.6, 0.99]),
          echo=st.sampled_from([0.0, 0.0, 0.9]), frames=st.integers(1, 12))
    def speech_scored(self, probability: float, echo: float, frames: int) -> None:
        for _ in range(min(frames, self.audio_frames - self.scored_frames)):
            self.scored_frames += 1
            self.feed(SpeechScored(self.scored_frames * FRAME, probability, echo), FRAME / 4)

    @precondition(lambda self: self.rules.asked.transcriptions)
    @rule(data=st.data(), text=st.sampled_from(USER_TEXT), step=STEP)
    def transcript_ready(self, data: st.DataObject, text: str, step: float) -> None:
        asked = self.rules.asked.transcriptions
        turn_id = data.draw(st.sampled_from(sorted(asked)))
        end = asked[turn_id]
        if data.draw(st.integers(0, 3)) == 0:
            end += 0.5  # not the audio it was asked about: a stale transcript
        else:
            del asked[turn_id]  # answered
        self.feed(TranscriptReady(turn_id, text, "en", end), step)

    @precondition(lambda self: self.rules.asked.end_of_turn)
    @rule(data=st.data(), probability=st.sampled_from([0.1, 0.9]), step=STEP)
    def end_of_turn_scored(self, data: st.DataObject, probability: float, step: float) -> None:
        turn_id = data.draw(st.sampled_from(sorted(self.rules.asked.end_of_turn)))
        self.rules.asked.end_of_turn.discard(turn_id)
        self.feed(EndOfTurnScored(turn_id, probability), step)

    @precondition(lambda self: self.rules.server_issued)
    @rule(data=st.data(), step=STEP)
    def server_tool_finished(self, data: st.DataObject, step: float) -> None:
        call_id = data.draw(st.sampled_from(sorted(self.rules.server_issued)))
        self.rules.server_tool_finished(call_id)
        self.feed(ServerToolFinished(call_id, '{"result": "found"}'), step)

    @rule(data=st.data())
    def tick(self, data: st.DataObject) -> None:
        timers = sorted(self.rules.asked.wake_at.items())
        if data.draw(st.integers(0, 5)) != 5:  # mostly the playout timer
            timers = [(key, at) for key, at in timers if key == "playout"]
        if timers:
            key, at = data.draw(st.sampled_from(timers))
            del self.rules.asked.wake_at[key]
            self.now = max(self.now, at)
        self.feed(Tick())

    @rule(jump=st.sampled_from([1.0, 5.0, 30.0, 60.0, 560.0]), shutdown=st.booleans())
    def time_passes(self, jump: float, shutdown: bool) -> None:
        """Time goes by; in hostile sessions to goAway and beyond, or a shutdown."""
        if not self.hostile:
            jump, shutdown = min(jump, 60.0), False
        self.feed(ShutdownRequested(5.0) if shutdown else Tick(), jump)

    @precondition(lambda self: not self.manual)
    @rule(segments=st.lists(st.tuples(st.sampled_from([0.99, 0.0, 0.6, 0.3]),
                                      st.integers(1, 30)), min_size=1, max_size=4),
          echo=st.sampled_from([0.0, 0.0, 0.0, 0.9]))
    def speak(self, segments: list[tuple[float, int]], echo: float) -> None:
        """Audio and its VAD scores: speech and silence the way a user makes them."""
        for probability, frames in segments:
            self.audio(frames, 0.0)
            for _ in range(frames):
                if self.rules.closed:
                    return
                self.scored_frames += 1
                self.feed(SpeechScored(self.scored_frames * FRAME, probability, echo), FRAME)

    @precondition(lambda self: self.rules.asked.snapshots)
    @rule()
    def snapshot_saved(self) -> None:
        self.rules.asked.snapshots -= 1
        self.feed(SnapshotSaved(f"handle-{self.rules.asked.snapshots}"))

    @precondition(lambda self: self.hostile)
    @rule(data=st.data(), kind=st.sampled_from(["generation", "synthesis", "transcription"]))
    def engine_failed(self, data: st.DataObject, kind: str) -> None:
        gid, stale = self.generation(data, data.draw(GID))
        if kind == "generation":
            self.feed(GenerationFailed(gid, "boom"), stale=stale)
        elif kind == "synthesis":
            self.feed(SynthesisFailed(gid, "boom"), stale=stale)
        else:
            self.feed(TranscriptionFailed(1, "boom"))

    # -- the end: everything answered, the user silent ---------------------------------------

    def teardown(self) -> None:
        if self.rules.closed:
            return
        self._silence()
        for _ in range(40):
            if self.rules.closed or not self._quiet_round():
                break
        self.rules.check_quiet()

    def _silence(self) -> None:
        """The user stops: any turn in progress ends."""
        if self.manual:
            if self.speaking_manually:
                self.speaking_manually = False
                self.frame({"realtimeInput": {"activityEnd": {}}})
            return
        self.audio(60, 0.0)  # two seconds of silence
        while self.scored_frames < self.audio_frames and not self.rules.closed:
            self.scored_frames += 1
            self.feed(SpeechScored(self.scored_frames * FRAME, 0.0), FRAME)

    def _quiet_round(self) -> bool:
        """Answer everything asked so far; True when something was fed."""
        asked, fed = self.rules.asked, False
        for turn_id, end in sorted(asked.transcriptions.items()):
            del asked.transcriptions[turn_id]
            self.feed(TranscriptReady(turn_id, "", "en", end))
            fed = True
        for turn_id in sorted(asked.end_of_turn):
            asked.end_of_turn.discard(turn_id)
            self.feed(EndOfTurnScored(turn_id, 0.0))
            fed = True
        return self._answer_engines() or fed

    def _answer_engines(self) -> bool:
        asked, fed = self.rules.asked, False
        for call_id in sorted(asked.server_calls):
            self.rules.server_tool_finished(call_id)
            self.feed(ServerToolFinished(call_id, '{"result": "found"}'))
            fed = True
        if asked.client_calls:
            ids = sorted(asked.client_calls.items())
            responses = [{"id": i, "name": n, "response": {}} for i, n in ids]
            for call_id, _ in ids:
                self.rules.client_answered(call_id)
            self.frame({"toolResponse": {"functionResponses": responses}})
            fed = True
        live = self.rules.live
        if live is not None and live not in self.ended:
            asked.generations[live] = True
            self.ended.add(live)
            self.feed(GenerationDelta(live, "Fine."))
            self.feed(GenerationFinished(live, 10, 2))
            fed = True
        for (gid, piece) in sorted(asked.pieces):
            del asked.pieces[(gid, piece)]
            self.feed(SpeechSynthesized(gid, piece, bytes(4800)), stale=self.rules.is_stale(gid))
            fed = True
        for gid in sorted(asked.synthesis_ends):
            asked.synthesis_ends.discard(gid)
            self.feed(SynthesisDrained(gid), stale=self.rules.is_stale(gid))
            fed = True
        playout = asked.wake_at.pop("playout", None)
        if playout is not None:
            self.now = max(self.now, playout)
            self.feed(Tick())
            fed = True
        return fed and not self.rules.closed


def _name_of(call_id: str) -> str:
    """The function a fuzzer-made call id was for (``function-call-<n>-<name>``)."""
    return call_id.split("-", 3)[3]


SessionFuzz.TestCase.settings = settings.get_profile(PROFILE)
TestSessionFuzz = SessionFuzz.TestCase
