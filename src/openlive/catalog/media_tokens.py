"""What audio and images count as in ``usageMetadata``, at the rates Google documents.

A cascaded server turns speech into text before its model reads it, so the model's own
tokenizer has nothing to say about the audio. The hosted API counts media at fixed
rates, and so does openlive, so that a program's accounting (and a key's token cap)
reads the same against either:

* audio: "Gemini represents each second of audio as 32 tokens; for example, one minute
  of audio is represented as 1,920 tokens" (ai.google.dev/gemini-api/docs/audio,
  "Technical details about audio"); the rate does not change with ``mediaResolution``
  (ai.google.dev/gemini-api/docs/media-resolution);
* images: ``generationConfig.mediaResolution`` sets the tokens of each image: LOW 64,
  MEDIUM 256, HIGH 256 ("zoomed reframing with 256 tokens"), as the ``MediaResolution``
  enum of the API reference states; unset, an image counts 258 tokens, the documented
  count of an image of at most 384 pixels a side (ai.google.dev/gemini-api/docs/tokens).
"""

from __future__ import annotations

AUDIO_TOKENS_PER_SECOND = 32
IMAGE_TOKENS = {
    "MEDIA_RESOLUTION_LOW": 64,
    "MEDIA_RESOLUTION_MEDIUM": 256,
    "MEDIA_RESOLUTION_HIGH": 256,
}
DEFAULT_IMAGE_TOKENS = 258  # mediaResolution unset (or MEDIA_RESOLUTION_UNSPECIFIED)


def audio_tokens(seconds: float) -> int:
    """The tokens of ``seconds`` of audio, rounded to the nearest."""
    return round(seconds * AUDIO_TOKENS_PER_SECOND)


def image_tokens(media_resolution: str | None) -> int:
    """The tokens of one image at ``generationConfig.mediaResolution``."""
    return IMAGE_TOKENS.get(media_resolution or "", DEFAULT_IMAGE_TOKENS)
