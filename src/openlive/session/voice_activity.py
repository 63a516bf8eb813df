"""What the client is told of the user's voice: ``voiceActivity`` START and END.

Pure. The Live API reports where in the user's audio its automatic activity detection
heard speech start (``ACTIVITY_START``) and stop (``ACTIVITY_END``), e.g. for a
voice-activity indicator or to handle barge-in on the client. Here:

- *Start* is the activity detector's committed start of a user turn
  (:class:`~openlive.session.activity.SpeechStarted`), reported at its onset: the start
  of the first speech frame, not the commit one to seven frames later nor the preroll the
  recognizer is given. A frame the echo guard scores as the model's own voice never
  starts one (:mod:`~openlive.session.hearing` hears it as silence).
- *End* is the endpoint of that turn (:class:`~openlive.session.listening.UserTurnEnded`),
  reported where the silence began: the same moment the session starts answering, so
  the client hears END before (or with) the turn's finished ``inputTranscription``.
- Offsets are seconds of audio received on this connection (16 kHz stream time, which is
  the client's own audio time at any rate it declares), at the VAD's 32 ms resolution.
- Nothing is reported under manual activity (``automaticActivityDetection.disabled``):
  the client itself said where the turn starts and ends.

Speech over the model's reply is the exception. When it starts, the session cannot yet
tell the user's words from a cough, a click, an "mm-hm" or its own voice coming back:
the barge-in judge (:mod:`~openlive.session.bargein`) pauses the reply and asks the
recognizer, and for all but words the reply plays on. A client that stopped playback on
ACTIVITY_START would cut what the server goes on with, so over a reply the report is
*held* until the session has decided what the speech is, and goes out with the onset's
offset all the same: when the judge hears words, just before ``interrupted``; or, when
the turn's final words are answered, START and END together before its
``inputTranscription``. Speech whose turn has no words, or words that leave the reply
the floor, is never reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.session.actions import SpeechActivity


@dataclass(slots=True)
class _Held:
    """A start not reported yet, and its end once the speech ended."""

    onset: float
    end: float | None = None


class VoiceActivityReport:
    """The ``voiceActivity`` reports of one session's user turns, by turn id.

    Reports go out in the order of the turns, so their offsets never go back: a turn
    reported reports the held turns before it first. ``enabled`` is False under manual
    activity (nothing is ever reported).
    """

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._held: dict[int, _Held] = {}  # turns whose start waits for a verdict
        self._open: dict[int, float] = {}  # turns whose start went out (its offset), not their end
        self._last = 0.0  # the offset of the latest report
        self._active = False  # the latest report was a START

    def started(self, turn_id: int, onset: float, *, held: bool) -> list[SpeechActivity]:
        """User turn ``turn_id`` began at ``onset``; ``held``: over a reply (see above)."""
        if not self._enabled:
            return []
        if held:
            self._held[turn_id] = _Held(onset)
            return []
        out = self._release_through(turn_id)  # whatever was held before it, first
        self._open[turn_id] = onset
        return [*out, *self._report("ACTIVITY_START", onset)]

    def ended(self, turn_id: int, end: float, *, heard: bool = True) -> list[SpeechActivity]:
        """User turn ``turn_id`` ended at ``end`` (where the silence began); ``heard`` is
        False for a turn with no audio in it (no words will decide a held one: dropped)."""
        held = self._held.get(turn_id)
        if held is not None:
            if heard:
                held.end = max(end, held.onset)
            else:
                del self._held[turn_id]
            return []
        onset = self._open.pop(turn_id, None)
        if onset is None:
            return []
        return self._report("ACTIVITY_END", max(end, onset))

    def release(self, turn_id: int) -> list[SpeechActivity]:
        """Turn ``turn_id``'s speech is the user's: report it if it was held (its start,
        and its end if it came), after any held turn before it."""
        return self._release_through(turn_id)

    def release_all(self) -> list[SpeechActivity]:
        """The speech in progress is the user's (the barge-in judge heard words): report
        it, after any held turn before it."""
        return self._release_through(max(self._held, default=0))

    def drop(self, turn_id: int) -> None:
        """Turn ``turn_id`` is not the user's (no words, or words that leave the reply
        the floor): never report it."""
        self._held.pop(turn_id, None)

    def _release_through(self, turn_id: int) -> list[SpeechActivity]:
        out: list[SpeechActivity] = []
        for earlier in sorted(t for t in self._held if t <= turn_id):
            held = self._held.pop(earlier)
            out += self._report("ACTIVITY_START", held.onset)
            if held.end is None:
                self._open[earlier] = held.onset
            else:
                out += self._report("ACTIVITY_END", held.end)
        return out

    def _report(self, kind: str, offset: float) -> list[SpeechActivity]:
        """One report, kept in step with the ones before: STARTs and ENDs alternate and
        offsets never go back, whatever order the turns' signals came in (a turn ended by
        ``audioStreamEnd`` before the VAD scored its last frames, a held turn released
        after a later one): a START while one is open first ends it, an END with none
        open is left out, an offset before the latest is moved up to it."""
        out: list[SpeechActivity] = []
        starts = kind == "ACTIVITY_START"
        if starts and self._active:
            out.append(SpeechActivity("ACTIVITY_END", self._last))
        elif not starts and not self._active:
            return []
        self._last = max(offset, self._last)
        self._active = starts
        out.append(SpeechActivity("ACTIVITY_START" if starts else "ACTIVITY_END", self._last))
        return out
