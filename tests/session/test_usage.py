"""Usage: token counts of turns, and the context's size against the model's window."""

from __future__ import annotations

import base64

import pytest

from openlive.chat import ChatMessage
from openlive.errors import InternalError
from openlive.protocol.server import UsageMetadata
from openlive.session.actions import Synthesize
from openlive.session.compression import SlidingWindow
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    GenerationFinished,
    SpeechSynthesized,
    SynthesisDrained,
    Tick,
)
from openlive.session.history import History
from openlive.session.usage import TurnUsage, Usage, usage_metadata
from tests.session.conversation import Conversation, sent, starts


def test_a_turn_sums_its_generations_and_reports_them_once_complete() -> None:
    usage = Usage()
    usage.new_turn()
    usage.count(GenerationFinished(1, prompt_tokens=10, completion_tokens=3))
    usage.count(GenerationFinished(2, prompt_tokens=20, completion_tokens=4))  # after calls
    metadata = usage.end_turn()
    assert metadata.prompt_token_count == 30 and metadata.response_token_count == 7
    assert metadata.total_token_count == 37
    assert usage.turns == [TurnUsage(30, 7)]
    assert usage.context_tokens == 24  # the newest generation's count
    usage.new_turn()
    assert usage.end_turn().total_token_count == 0  # a turn that generated nothing


def history_of(turns: int) -> History:
    history = History()
    for n in range(turns):
        history.append(ChatMessage("user" if n % 2 == 0 else "assistant", "x" * 100))
    return history


def test_without_compression_outgrowing_the_window_ends_the_session() -> None:
    usage = Usage()
    usage.count(GenerationFinished(1, prompt_tokens=90, completion_tokens=10))
    assert usage.fits(history_of(2), None, context_window=101)
    assert not usage.fits(history_of(2), None, context_window=100)
    with pytest.raises(InternalError, match="outgrew the model's context window"):
        usage.fit(history_of(2), None, context_window=100)


def test_with_compression_the_oldest_turns_are_dropped() -> None:
    usage, history = Usage(), history_of(6)
    window = SlidingWindow(trigger_tokens=500, target_tokens=300)
    usage.count(GenerationFinished(1, prompt_tokens=550, completion_tokens=50))
    assert not usage.fits(history, window, context_window=4096)
    usage.fit(history, window, context_window=4096)
    assert len(history) < 6 and history.turns()[0].role == "user"
    assert usage.context_tokens == 0  # unknown until the next turn reports it


# -- per modality ----------------------------------------------------------------------------


def details(metadata: UsageMetadata, which: str) -> dict[str, int]:
    entries = getattr(metadata, f"{which}_tokens_details") or []
    return {entry.modality: entry.token_count for entry in entries}


def test_audio_counts_32_tokens_a_second_once_and_the_reply_is_audio() -> None:
    usage = Usage(audio_reply=True)
    usage.new_turn()
    usage.heard(2.5)
    usage.count(GenerationFinished(1, prompt_tokens=40, completion_tokens=9))
    usage.spoke(1.25)
    metadata = usage.end_turn()
    assert details(metadata, "prompt") == {"TEXT": 40, "AUDIO": 80}
    assert details(metadata, "response") == {"AUDIO": 40}  # the words are not counted
    assert metadata.prompt_token_count == 120 and metadata.response_token_count == 40
    assert metadata.total_token_count == 160
    # the next turn counts only the audio that came after
    usage.new_turn()
    usage.heard(3.0)
    usage.count(GenerationFinished(2, prompt_tokens=60, completion_tokens=5))
    metadata = usage.end_turn()
    assert details(metadata, "prompt") == {"TEXT": 60, "AUDIO": 16}
    assert details(metadata, "response") == {"AUDIO": 0}  # nothing was said


def test_media_of_a_turn_that_reports_no_usage_is_counted_by_the_next_one() -> None:
    usage = Usage(audio_reply=True, image_tokens=64)
    usage.new_turn()
    usage.heard(1.0)
    usage.saw(1)  # then the turn is interrupted: its turnComplete carries no usage
    usage.new_turn()
    usage.heard(1.5)
    usage.saw(2)
    metadata = usage.end_turn()
    assert details(metadata, "prompt") == {"TEXT": 0, "AUDIO": 48, "IMAGE": 192}


def test_cached_and_thought_tokens() -> None:
    usage = Usage()
    usage.new_turn()
    usage.count(GenerationFinished(1, prompt_tokens=100, completion_tokens=10,
                                   cached_tokens=90, thoughts_tokens=25))
    metadata = usage.end_turn()
    assert metadata.cached_content_token_count == 90
    assert details(metadata, "cache") == {"TEXT": 90}
    assert metadata.thoughts_token_count == 25
    assert metadata.response_token_count == 10
    assert metadata.total_token_count == 135  # thoughts count in the total, as Gemini's do
    plain = usage_metadata(TurnUsage(5, 2))
    assert plain.cached_content_token_count is None and plain.thoughts_token_count is None
    assert plain.cache_tokens_details is None


@pytest.mark.parametrize(("resolution", "tokens"), [
    ("MEDIA_RESOLUTION_LOW", 64), ("MEDIA_RESOLUTION_MEDIUM", 256),
    ("MEDIA_RESOLUTION_HIGH", 256), (None, 258),
])
def test_an_image_counts_what_its_media_resolution_says(resolution: str | None,
                                                         tokens: int) -> None:
    c = Conversation(ServerCapabilities(vision=True))
    generation = {"responseModalities": ["TEXT"]}
    if resolution:
        generation["mediaResolution"] = resolution
    c.setup(generationConfig=generation)
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"png").decode()}}
    [start] = starts(c.client({"clientContent": {"turnComplete": True, "turns": [
        {"role": "user", "parts": [{"text": "what is this?"}, image]}]}}))
    c.delta(start.generation_id, "A cat.")
    [*_, done] = sent(c.finish(start.generation_id, prompt=30, completion=3))
    assert done["usageMetadata"]["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": 30}, {"modality": "IMAGE", "tokenCount": tokens}]
    assert done["usageMetadata"]["promptTokenCount"] == 30 + tokens


def test_a_voice_turn_counts_the_audio_heard_and_the_audio_spoken() -> None:
    c = Conversation(ServerCapabilities(audio_output=True, audio_input=True))
    c.setup(generationConfig={"responseModalities": ["AUDIO"]})
    second_16k = base64.b64encode(b"\x00\x00" * 16000).decode()
    for _ in range(3):  # 3 s of audio, at 16 kHz
        c.client({"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000",
                                              "data": second_16k}}})
    [start] = starts(c.client({"realtimeInput": {"text": "hi"}}))
    gid = start.generation_id
    [piece] = [a for a in c.delta(gid, "Hello there, my good friend. ") + c.finish(gid, 20, 7)
               if isinstance(a, Synthesize)]
    c.now = 10.0
    c.feed(SpeechSynthesized(gid, piece.piece_id, b"\x00\x00" * 36000))  # 1.5 s at 24 kHz
    out = c.feed(SynthesisDrained(gid))
    out += c.session.handle(Tick(), c.now + 5.0)
    [done] = [m for m in sent(out) if "usageMetadata" in m]
    assert done["usageMetadata"] == {
        "promptTokenCount": 20 + 96, "responseTokenCount": 48, "totalTokenCount": 164,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 20},
                                {"modality": "AUDIO", "tokenCount": 96}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 48}]}
