"""How long one connection lives, and the ``goAway`` that warns the client first.

The Live API ends a connection after about 10 minutes and sends ``goAway`` with the time
left about a minute before, so that the client can resume on a new connection; a
server shutting down does the same with a shorter grace. A session with audio (or
video) and without ``contextWindowCompression`` also ends after a while
(:class:`MediaLimit`). Pure: times are the driver's clock, passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.protocol.server import GoAway, ServerMessage, duration
from openlive.session.actions import Action, Send, WakeAt

CONNECTION_ENDED = "Connection lifetime reached; reconnect (with a resumption handle)."

# The hosted Live API's limits, in seconds: the defaults of ConnectionLimits and of the
# server's settings (openlive.config), which may change them.
LIVE_CONNECTION_LIFETIME = 600.0
LIVE_GO_AWAY_BEFORE = 60.0
LIVE_AUDIO_SESSION_LIMIT = 900.0
LIVE_VIDEO_SESSION_LIMIT = 120.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Server settings; None means no limit. The defaults are the Live API's.

    ``lifetime``: one connection (the client resumes on a new one). ``audio_session`` and
    ``video_session``: how long a session with audio (or with video) may run without
    ``contextWindowCompression`` — the Live API's ~15 and ~2 minutes.
    """

    lifetime: float | None = LIVE_CONNECTION_LIFETIME
    go_away_before: float = LIVE_GO_AWAY_BEFORE
    audio_session: float | None = LIVE_AUDIO_SESSION_LIMIT
    video_session: float | None = LIVE_VIDEO_SESSION_LIMIT


SESSION_LIMIT = ("The session reached its {minutes:g}-minute limit for {kind} without "
                 "contextWindowCompression; enable it for longer sessions.")


class Lifetime:
    """The deadline of one connection and whether ``goAway`` was sent."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self._limits = limits
        self._ends_at: float | None = None
        self._warned = False

    def start(self, now: float) -> list[Action]:
        """The connection's clock starts (at setup)."""
        if self._limits.lifetime is None:
            return []
        self.shorten(now + self._limits.lifetime)
        return [WakeAt(self._warn_at(), key="lifetime")]

    def shorten(self, ends_at: float) -> None:
        """End no later than ``ends_at`` (the server is shutting down); call :meth:`check`."""
        if self._ends_at is None or ends_at < self._ends_at:
            self._ends_at = ends_at
            self._warned = False

    def check(self, now: float) -> tuple[list[Action], bool]:
        """(actions, over): ``goAway`` when due, and whether the connection must end."""
        if self._ends_at is None:
            return [], False
        if now >= self._ends_at:
            return [], True
        actions: list[Action] = []
        if not self._warned and now >= self._warn_at():
            self._warned = True
            left = GoAway(time_left=duration(max(0.0, self._ends_at - now)))
            actions.append(Send(ServerMessage(go_away=left)))
        next_wake = self._ends_at if self._warned else self._warn_at()
        actions.append(WakeAt(next_wake, key="lifetime"))
        return actions, False

    def _warn_at(self) -> float:
        assert self._ends_at is not None
        return self._ends_at - self._limits.go_away_before


class MediaLimit:
    """The deadline of a session with audio or video (when it has no compression)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self._limits = limits
        self._deadline: tuple[float, float, str] | None = None  # (at, seconds, kind)

    def start(self, now: float, video: bool) -> list[Action]:
        """The first audio starts the audio-session clock, the first video frame the
        (shorter) audio-and-video one; the earlier deadline holds."""
        limit = self._limits.video_session if video else self._limits.audio_session
        kind = "audio and video" if video else "audio"
        if limit is None:
            return []
        current = self._deadline
        if current is not None and (current[2] == kind or current[0] <= now + limit):
            return []
        self._deadline = (now + limit, limit, kind)
        return [WakeAt(now + limit, key="session-limit")]

    def reached(self, now: float) -> str | None:
        """Why the session must end now, or None while it may go on."""
        if self._deadline is None or now < self._deadline[0]:
            return None
        _, seconds, kind = self._deadline
        return SESSION_LIMIT.format(minutes=seconds / 60, kind=kind)
