"""The activity detector, fed synthetic speech probabilities: each knob changes behaviour.

Frames are 32 ms; frame ``i`` (from 0) ends at ``(i + 1) * 0.032`` s.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlive.errors import InvalidArgument
from openlive.protocol.client import AutomaticActivityDetection
from openlive.session.activity import (
    ActivityConfig,
    ActivityDetector,
    ActivityEvent,
    PauseDetected,
    Sensitivity,
    SpeechEnded,
    SpeechStarted,
)

FRAME = 0.032
SPEECH = 0.95  # a clearly voiced frame
QUIET = 0.02  # a clearly silent frame


def seg(probability: float, ms: int) -> list[float]:
    """``ms`` of frames (a multiple of 32 ms) all scoring ``probability``."""
    assert ms % 32 == 0, ms
    return [probability] * (ms // 32)


def run(probabilities: list[float], detector: ActivityDetector | None = None) -> list[ActivityEvent]:
    detector = detector or ActivityDetector()
    events: list[ActivityEvent] = []
    for i, probability in enumerate(probabilities):
        events += detector.feed(round((i + 1) * FRAME, 6), probability)
    return events


def detector(**config: object) -> ActivityDetector:
    return ActivityDetector(ActivityConfig(**config))  # type: ignore[arg-type]


def kinds(events: list[ActivityEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


def starts(events: list[ActivityEvent]) -> list[SpeechStarted]:
    return [e for e in events if isinstance(e, SpeechStarted)]


def ends(events: list[ActivityEvent]) -> list[SpeechEnded]:
    return [e for e in events if isinstance(e, SpeechEnded)]


def no_pauses(events: list[ActivityEvent]) -> list[ActivityEvent]:
    return [e for e in events if not isinstance(e, PauseDetected)]


# --- the default conversation -------------------------------------------------------------


def test_one_utterance_with_defaults() -> None:
    events = run(seg(QUIET, 640) + seg(SPEECH, 960) + seg(QUIET, 1600))
    # speech from 0.640 s; a start needs 64 ms of speech (the default prefixPaddingMs)
    assert no_pauses(events) == [
        SpeechStarted(at=pytest.approx(0.704), audio_from=pytest.approx(0.340),
                      onset=pytest.approx(0.640)),
        SpeechEnded(at=pytest.approx(1.600 + 1.504), speech_end=pytest.approx(1.600)),
    ]
    # unset silenceDurationMs: 1500 ms fallback (47 frames), pauses reported on the way
    pauses = [e for e in events if isinstance(e, PauseDetected)]
    assert [p.silence_ms for p in pauses] == [128, 448, 768, 1088, 1408]  # 4 frames, then every 10


def test_unset_silence_duration_means_semantic_end_of_turn() -> None:
    assert detector().semantic_end_of_turn
    assert not detector(silence_duration_ms=500).semantic_end_of_turn
    assert not detector(disabled=True).semantic_end_of_turn


# --- startOfSpeechSensitivity ---------------------------------------------------------------


@pytest.mark.parametrize("ms", [64, 128, 192])
def test_start_sensitivity_low_ignores_a_cough(ms: int) -> None:
    cough = seg(QUIET, 320) + seg(SPEECH, ms) + seg(QUIET, 640)
    assert len(starts(run(cough, detector(start_sensitivity="HIGH")))) == 1
    assert run(cough, detector(start_sensitivity="LOW")) == []


def test_start_sensitivity_low_needs_clearer_speech() -> None:
    mumble = seg(QUIET, 320) + seg(0.6, 1280) + seg(QUIET, 320)
    assert len(starts(run(mumble, detector(start_sensitivity="HIGH")))) == 1
    assert run(mumble, detector(start_sensitivity="LOW")) == []


def test_start_sensitivity_sets_how_soon_a_start_is_declared() -> None:
    talk = seg(QUIET, 320) + seg(SPEECH, 640)
    (high,) = starts(run(talk, detector(start_sensitivity="HIGH")))
    (low,) = starts(run(talk, detector(start_sensitivity="LOW")))
    assert high.at == pytest.approx(0.320 + 0.064)
    assert low.at == pytest.approx(0.320 + 0.224)


# --- prefixPaddingMs ---------------------------------------------------------------------------


def test_prefix_padding_is_the_speech_required_before_a_start() -> None:
    talk = seg(QUIET, 320) + seg(SPEECH, 960)
    (short,) = starts(run(talk, detector(prefix_padding_ms=64)))
    (long,) = starts(run(talk, detector(prefix_padding_ms=480)))
    assert short.at == pytest.approx(0.320 + 0.064)
    assert long.at == pytest.approx(0.320 + 0.480)


def test_prefix_padding_decides_whether_a_short_burst_is_a_start() -> None:
    burst = seg(QUIET, 320) + seg(SPEECH, 288) + seg(QUIET, 640)
    assert len(starts(run(burst, detector(prefix_padding_ms=200)))) == 1
    assert run(burst, detector(prefix_padding_ms=400)) == []


def test_prefix_padding_rounds_up_to_whole_frames() -> None:
    talk = seg(QUIET, 320) + seg(SPEECH, 320)
    (first,) = starts(run(talk, detector(prefix_padding_ms=20)))  # the captured setup's value
    (second,) = starts(run(talk, detector(prefix_padding_ms=100)))
    assert first.at == pytest.approx(0.320 + 0.032)  # one frame
    assert second.at == pytest.approx(0.320 + 0.128)  # 100 ms needs four frames


def test_prefix_padding_sets_how_much_audio_before_the_onset_is_kept() -> None:
    talk = seg(QUIET, 1600) + seg(SPEECH, 1280)
    by_padding = {
        padding: starts(run(talk, detector(prefix_padding_ms=padding)))[0].audio_from
        for padding in (0, 500, 1000)
    }
    assert by_padding[0] == pytest.approx(1.600 - 0.300)  # the server's pre-roll floor
    assert by_padding[500] == pytest.approx(1.600 - 0.500)
    assert by_padding[1000] == pytest.approx(1.600 - 1.000)


def test_audio_from_never_reaches_before_the_stream_or_the_previous_turn() -> None:
    (first,) = starts(run(seg(QUIET, 96) + seg(SPEECH, 640), detector(prefix_padding_ms=500)))
    assert first.audio_from == pytest.approx(0.0)
    two_turns = seg(SPEECH, 320) + seg(QUIET, 352) + seg(SPEECH, 320)
    events = run(two_turns, detector(silence_duration_ms=320, prefix_padding_ms=64))
    first_end = ends(events)[0]
    second_start = starts(events)[1]
    assert second_start.audio_from == pytest.approx(first_end.at)


def test_low_start_sensitivity_keeps_its_floor_under_a_small_prefix_padding() -> None:
    talk = seg(QUIET, 320) + seg(SPEECH, 640)
    (low,) = starts(run(talk, detector(start_sensitivity="LOW", prefix_padding_ms=20)))
    assert low.at == pytest.approx(0.320 + 0.224)


# --- endOfSpeechSensitivity -------------------------------------------------------------------


def test_end_sensitivity_sets_what_counts_as_silence() -> None:
    # speech trails off into breathy, quiet sound scoring 0.3
    talk = seg(QUIET, 320) + seg(SPEECH, 640) + seg(0.3, 1600)
    high = run(talk, detector(end_sensitivity="HIGH", silence_duration_ms=500))
    low = run(talk, detector(end_sensitivity="LOW", silence_duration_ms=500))
    assert ends(high) == [SpeechEnded(at=pytest.approx(0.960 + 0.512), speech_end=0.960)]
    assert ends(low) == []  # still the user's turn


def test_end_sensitivity_sets_what_cancels_a_running_silence_window() -> None:
    # after speech: silence with a one-frame click every 320 ms for 1.6 s, then silence
    clicks = (seg(QUIET, 288) + [SPEECH]) * 5
    talk = seg(SPEECH, 640) + clicks + seg(QUIET, 1280)
    high = ends(run(talk, detector(end_sensitivity="HIGH", silence_duration_ms=640)))
    low = ends(run(talk, detector(end_sensitivity="LOW", silence_duration_ms=640)))
    # HIGH: a click does not keep the turn open; the window runs from the end of speech
    assert high == [SpeechEnded(at=pytest.approx(0.640 + 0.640), speech_end=0.640)]
    # LOW: every click restarts the window; the turn ends 640 ms after the last click
    last_click_end = 0.640 + 1.600
    assert low == [
        SpeechEnded(
            at=pytest.approx(last_click_end + 0.640), speech_end=pytest.approx(last_click_end)
        )
    ]


# --- silenceDurationMs ------------------------------------------------------------------------


def test_silence_duration_decides_whether_a_pause_ends_the_turn() -> None:
    talk = seg(SPEECH, 640) + seg(QUIET, 512) + seg(SPEECH, 640) + seg(QUIET, 1280)
    short = no_pauses(run(talk, detector(silence_duration_ms=300)))
    long = no_pauses(run(talk, detector(silence_duration_ms=800)))
    assert kinds(short) == ["SpeechStarted", "SpeechEnded", "SpeechStarted", "SpeechEnded"]
    assert kinds(long) == ["SpeechStarted", "SpeechEnded"]


@pytest.mark.parametrize(("window_ms", "frames"), [(0, 1), (300, 10), (800, 25), (2000, 63)])
def test_silence_duration_is_the_time_from_end_of_speech_to_end_of_turn(
    window_ms: int, frames: int
) -> None:
    talk = seg(SPEECH, 640) + seg(QUIET, 3200)
    (end,) = ends(run(talk, detector(silence_duration_ms=window_ms)))
    assert end.speech_end == pytest.approx(0.640)
    assert end.at == pytest.approx(0.640 + frames * FRAME)


def test_unset_silence_duration_falls_back_to_the_server_window() -> None:
    (end,) = ends(run(seg(SPEECH, 640) + seg(QUIET, 3200)))
    assert end.at == pytest.approx(0.640 + 47 * FRAME)  # 1500 ms


# --- disabled ----------------------------------------------------------------------------------


def test_disabled_never_fires() -> None:
    det = detector(disabled=True)
    talk = seg(QUIET, 320) + seg(SPEECH, 1280) + seg(QUIET, 3200)
    assert run(talk, det) == []
    assert det.end_turn_now(5.0) is None
    assert len(starts(run(talk))) == 1  # the same audio with detection on


# --- pauses and semantic end of turn -------------------------------------------------------------


def test_pause_is_reported_after_128_ms_and_again_while_the_window_runs() -> None:
    events = run(seg(SPEECH, 640) + seg(QUIET, 1280), detector(silence_duration_ms=1000))
    assert [(e.at, e.silence_ms) for e in events if isinstance(e, PauseDetected)] == [
        (pytest.approx(0.640 + 0.128), 128),
        (pytest.approx(0.640 + 0.448), 448),
        (pytest.approx(0.640 + 0.768), 768),
    ]
    assert isinstance(events[-1], SpeechEnded)


def test_no_pause_when_the_window_is_shorter_than_a_pause() -> None:
    events = run(seg(SPEECH, 640) + seg(QUIET, 640), detector(silence_duration_ms=100))
    assert kinds(events) == ["SpeechStarted", "SpeechEnded"]


def test_speech_after_a_pause_rearms_the_pause_report() -> None:
    talk = seg(SPEECH, 640) + seg(QUIET, 256) + seg(SPEECH, 320) + seg(QUIET, 256)
    pauses = [e for e in run(talk, detector(silence_duration_ms=1000)) if isinstance(e, PauseDetected)]
    assert [p.speech_end for p in pauses] == [pytest.approx(0.640), pytest.approx(1.216)]


def test_end_turn_now_ends_the_turn_at_a_pause() -> None:
    det = detector()
    events = run(seg(SPEECH, 640) + seg(QUIET, 224), det)
    assert isinstance(events[-1], PauseDetected)
    assert det.end_turn_now(0.870) == SpeechEnded(at=0.870, speech_end=pytest.approx(0.640))
    assert not det.in_turn
    assert det.end_turn_now(0.900) is None  # nothing left to end
    # the rest of the silence does not end it again; new speech is a new turn
    more = [det.feed(round(0.864 + (i + 1) * FRAME, 6), QUIET) for i in range(60)]
    assert all(batch == [] for batch in more)


def test_end_turn_now_during_speech_ends_at_once() -> None:
    det = detector()
    run(seg(SPEECH, 640), det)
    assert det.end_turn_now(0.640) == SpeechEnded(at=0.640, speech_end=0.640)


# --- hysteresis: no flapping -----------------------------------------------------------------------


def test_a_score_hovering_around_the_threshold_does_not_flap() -> None:
    hover = [0.52, 0.47, 0.55, 0.46, 0.51, 0.48] * 30  # 5.8 s around 0.5
    events = run(seg(SPEECH, 320) + hover + seg(QUIET, 1600), detector(silence_duration_ms=500))
    assert kinds(no_pauses(events)) == ["SpeechStarted", "SpeechEnded"]
    hover_end = 0.320 + len(hover) * FRAME
    pauses = [e for e in events if isinstance(e, PauseDetected)]
    assert pauses and all(e.speech_end == pytest.approx(hover_end) for e in pauses)


def test_short_dips_between_words_do_not_end_or_restart_the_turn() -> None:
    word = seg(SPEECH, 256)
    dip = seg(0.1, 96)
    talk = seg(QUIET, 320) + (word + dip) * 8 + seg(QUIET, 960)
    events = run(talk, detector(silence_duration_ms=500))
    assert kinds(no_pauses(events)) == ["SpeechStarted", "SpeechEnded"]


def test_an_uncertain_score_alone_never_starts_a_turn() -> None:
    assert run(seg(0.48, 3200) + seg(0.3, 3200)) == []


def test_long_uncertain_dip_drops_a_pending_start() -> None:
    # LOW needs 7 speech frames; an uncertain stretch longer than 64 ms resets the count
    talk = (seg(SPEECH, 128) + seg(0.6, 128)) * 6
    assert run(talk, detector(start_sensitivity="LOW")) == []


# --- reading the setup --------------------------------------------------------------------------------


def test_from_wire_reads_every_knob() -> None:
    wire = AutomaticActivityDetection.model_validate(
        {
            "disabled": False,
            "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
            "endOfSpeechSensitivity": "END_SENSITIVITY_LOW",
            "prefixPaddingMs": 20,
            "silenceDurationMs": 100,
        }
    )
    assert ActivityConfig.from_wire(wire) == ActivityConfig(
        disabled=False,
        start_sensitivity="LOW",
        end_sensitivity="LOW",
        prefix_padding_ms=20,
        silence_duration_ms=100,
    )
    assert ActivityConfig.from_wire(None) == ActivityConfig()
    unspecified = AutomaticActivityDetection.model_validate(
        {"startOfSpeechSensitivity": "START_SENSITIVITY_UNSPECIFIED"}
    )
    assert ActivityConfig.from_wire(unspecified).start_sensitivity == "HIGH"
    assert ActivityConfig.from_wire(AutomaticActivityDetection(disabled=True)).disabled


@pytest.mark.parametrize("field", ["prefix_padding_ms", "silence_duration_ms"])
def test_from_wire_refuses_negative_durations(field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        ActivityConfig.from_wire(AutomaticActivityDetection(**{field: -1}))
    assert caught.value.close_code == 1007


# --- invariants over any input ----------------------------------------------------------------------


sensitivities: st.SearchStrategy[Sensitivity] = st.sampled_from(["HIGH", "LOW"])


@settings(max_examples=200, deadline=None)
@given(
    probabilities=st.lists(st.floats(0.0, 1.0), max_size=300),
    start=sensitivities,
    end=sensitivities,
    padding=st.none() | st.integers(0, 1000),
    window=st.none() | st.integers(0, 2000),
)
def test_events_always_form_well_nested_turns(
    probabilities: list[float],
    start: Sensitivity,
    end: Sensitivity,
    padding: int | None,
    window: int | None,
) -> None:
    config = ActivityConfig(
        start_sensitivity=start,
        end_sensitivity=end,
        prefix_padding_ms=padding,
        silence_duration_ms=window,
    )
    in_turn = False
    last_at = 0.0
    for event in run(probabilities, ActivityDetector(config)):
        assert event.at >= last_at
        last_at = event.at
        match event:
            case SpeechStarted():
                assert not in_turn
                assert event.audio_from <= event.onset + 1e-9 and event.onset < event.at
                in_turn = True
            case PauseDetected():
                assert in_turn and event.speech_end < event.at
            case SpeechEnded():
                assert in_turn and event.speech_end <= event.at
                in_turn = False
