"""Video frames and images in the session: shown to a vision model with the user's turn."""

from __future__ import annotations

import base64

from openlive.chat import Image
from openlive.errors import CloseCode
from openlive.session.actions import SaveSnapshot, WakeAt
from openlive.session.config import ServerCapabilities
from openlive.session.events import SnapshotLoaded, Tick
from openlive.session.lifetime import ConnectionLimits
from openlive.session.machine import Session
from openlive.session.seeing import NO_VISION
from tests.session.conversation import Conversation, closes, starts

JPEG = b"\xff\xd8\xff\xe0 a jpeg frame"
VISION = ServerCapabilities(vision=True)


def frame(data: bytes = JPEG, mime: str = "image/jpeg") -> dict:
    return {"realtimeInput": {"video": {"mimeType": mime, "data": base64.b64encode(data).decode()}}}


def seeing(caps: ServerCapabilities = VISION, **setup: object) -> Conversation:
    c = Conversation(caps)
    c.setup(**setup)
    return c


def last_user(c: Conversation, text: str):  # type: ignore[no-untyped-def]
    [start] = starts(c.client({"realtimeInput": {"text": text}}))
    return start, [m for m in start.request.messages if m.role == "user"][-1]


def test_without_a_vision_model_frames_are_refused_clearly() -> None:
    c = seeing(ServerCapabilities())
    [close] = closes(c.client(frame()))
    assert close.code == CloseCode.POLICY_VIOLATION and close.reason == NO_VISION


def test_the_newest_frame_goes_with_the_next_user_turn() -> None:
    c = seeing(generationConfig={"responseModalities": ["TEXT"],
                                 "mediaResolution": "MEDIA_RESOLUTION_LOW"})
    c.client(frame(b"\xff\xd8 old"))
    c.client(frame())
    start, user = last_user(c, "What do you see?")
    assert user.images == (Image("image/jpeg", JPEG, "low"),)
    c.finish(start.generation_id)
    start, user = last_user(c, "And now?")  # no new frame: nothing new to show
    assert user.images == ()
    c.finish(start.generation_id)
    c.client(frame(b"\xff\xd8 new"))
    start, user = last_user(c, "And now?")
    assert [i.data for i in user.images] == [b"\xff\xd8 new"]
    # only the newest picture is shown; the older one stays as a note
    first = next(m for m in start.request.messages if m.role == "user")
    assert first.images == () and "image(s) shown earlier" in first.content


def test_image_media_chunks_are_frames_too() -> None:
    c = seeing()
    chunk = {"mimeType": "image/png", "data": base64.b64encode(b"\x89PNG...").decode()}
    assert not closes(c.client({"realtimeInput": {"mediaChunks": [chunk]}}))
    _, user = last_user(c, "hi")
    assert [i.mime_type for i in user.images] == ["image/png"]


def test_a_frame_that_is_not_an_image_is_invalid() -> None:
    c = seeing()
    [close] = closes(c.client(frame(mime="video/mp4")))
    assert close.code == CloseCode.INVALID_ARGUMENT and "video/mp4" in close.reason


def test_image_parts_in_client_content_reach_a_vision_model() -> None:
    c = seeing()
    turn = {"role": "user", "parts": [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"png").decode()}}]}
    [start] = starts(c.client({"clientContent": {"turns": [turn], "turnComplete": True}}))
    [user] = [m for m in start.request.messages if m.role == "user"]
    assert user.content == "What is this?"
    assert user.images == (Image("image/png", b"png", "auto"),)


def test_video_starts_the_shorter_audio_and_video_limit() -> None:
    limits = ConnectionLimits(lifetime=None, audio_session=900.0, video_session=120.0)
    c = Conversation(VISION)
    c.session = Session(session_id="s1", catalog=c.session._catalog, capabilities=VISION,
                        limits=limits)
    c.setup()
    [wake] = c.client(frame())
    assert isinstance(wake, WakeAt) and wake.key == "session-limit"
    assert abs(wake.at - (c.now + 120.0)) < 1e-6
    assert c.client(frame()) == []  # the clock starts once
    c.now = wake.at
    [close] = closes(c.feed(Tick()))
    assert close.code == CloseCode.NORMAL and "2-minute limit for audio and video" in close.reason


def test_compression_lifts_the_video_limit() -> None:
    c = seeing(contextWindowCompression={"slidingWindow": {}})
    assert c.client(frame()) == []


def test_resuming_after_video_keeps_the_picture() -> None:
    caps = ServerCapabilities(vision=True, resumption=True)
    c = seeing(caps, sessionResumption={})
    c.client(frame())
    start, _ = last_user(c, "What do you see?")
    c.delta(start.generation_id, "A cat.")
    [save] = [a for a in c.finish(start.generation_id) if isinstance(a, SaveSnapshot)]
    resumed = Conversation(caps)
    resumed.setup(sessionResumption={"handle": "h"})
    resumed.feed(SnapshotLoaded(save.data))
    [start] = starts(resumed.client({"realtimeInput": {"text": "Is it still there?"}}))
    shown = [m for m in start.request.messages if m.images]
    assert [m.images[0].data for m in shown] == [JPEG]
