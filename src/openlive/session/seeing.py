"""The seeing half of a session: video frames and images, for a vision language model.

Pure. A cascaded server has no video model; what it can do is show a vision-capable
language model what the camera shows when the user speaks. So the newest frame of
``realtimeInput.video`` (or an image in ``mediaChunks``) is kept, and the next user turn
carries it as an image; frames in between are dropped, as a person glancing at a screen
would. Images in ``clientContent`` parts go with their turn. Without a vision model the
session refuses them with a clear 1008, rather than answering as if it had seen them.
"""

from __future__ import annotations

from openlive.chat import Image
from openlive.errors import InvalidArgument, PolicyViolation
from openlive.protocol.types import Blob

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
NO_VISION = "Video and image input need a vision-capable language model; none is configured."
# mediaResolution → the detail level OpenAI-compatible servers take
DETAIL = {"MEDIA_RESOLUTION_LOW": "low", "MEDIA_RESOLUTION_HIGH": "high"}


def _media_type(blob: Blob) -> str:
    """``image/jpeg`` of ``image/jpeg; quality=80``, lower-cased."""
    return (blob.mime_type or "").split(";")[0].strip().lower()


def is_image(blob: Blob) -> bool:
    return _media_type(blob).startswith("image/")


def image_from_blob(blob: Blob, detail: str = "auto") -> Image:
    """A frame or image part as an :class:`Image`; 1007 for a type models cannot read."""
    mime = _media_type(blob)
    if mime not in IMAGE_TYPES:
        raise InvalidArgument(
            f"{blob.mime_type or 'a blob without mimeType'} is not supported as an image: "
            f"send {', '.join(sorted(IMAGE_TYPES))}."
        )
    if not blob.data:
        raise InvalidArgument(f"An empty {mime} image was sent.")
    return Image(mime, blob.data, detail)


class Sight:
    """The newest video frame, until a user turn takes it."""

    def __init__(self, detail: str = "auto") -> None:
        self.detail = detail
        self._frame: Image | None = None

    def on_frame(self, blob: Blob) -> None:
        self._frame = image_from_blob(blob, self.detail)

    def peek(self) -> tuple[Image, ...]:
        """The frame :meth:`take` would give, left in place."""
        return (self._frame,) if self._frame is not None else ()

    def take(self) -> tuple[Image, ...]:
        """The frame for the user turn being completed (at most one, and only once)."""
        frame, self._frame = self._frame, None
        return (frame,) if frame is not None else ()


def refuse_without_vision(vision: bool) -> None:
    if not vision:
        raise PolicyViolation(NO_VISION)
