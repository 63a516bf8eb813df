"""The wire message for each of the session's output actions.

Pure: the session says what happened (audio to play, playback flushed, the turn over
with its usage, the setup accepted, the user started or stopped speaking) and this module alone knows how the Live protocol
spells it. The driver encodes the result and hands the action itself to whoever
observes the session (echo guard, latency trace, quota meter).
"""

from __future__ import annotations

from typing import assert_never

from openlive.protocol.server import (
    ServerContent,
    ServerMessage,
    SetupComplete,
    VoiceActivity,
    duration,
)
from openlive.protocol.types import Blob, Content, Part
from openlive.session.actions import (
    Output,
    PlayAudio,
    PlaybackFlushed,
    Send,
    SetupAccepted,
    SpeechActivity,
    TurnComplete,
)

OUTPUT_MIME = "audio/pcm;rate=24000"


def message_for(action: Output) -> ServerMessage:
    """The server message that tells the client of ``action``."""
    match action:
        case Send(message=message):
            return message
        case PlayAudio(pcm=pcm):
            part = Part(inline_data=Blob(mime_type=OUTPUT_MIME, data=pcm))
            return ServerMessage(server_content=ServerContent(
                model_turn=Content(role="model", parts=[part])))
        case PlaybackFlushed():
            return ServerMessage(server_content=ServerContent(interrupted=True))
        case TurnComplete(reason=reason, usage=usage, status=status,
                          waiting_for_input=waiting):
            content = ServerContent(turn_complete=True, turn_complete_reason=reason,
                                    interaction_status=status,
                                    waiting_for_input=True if waiting else None)
            return ServerMessage(server_content=content, usage_metadata=usage)
        case SetupAccepted(session_id=session_id):
            return ServerMessage(setup_complete=SetupComplete(session_id=session_id))
        case SpeechActivity(type=kind, offset=offset):
            return ServerMessage(voice_activity=VoiceActivity(type=kind,
                                                              audio_offset=duration(offset)))
        case _:
            assert_never(action)
