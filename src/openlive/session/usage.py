"""Token counts: what each model turn used, and how big the context has grown.

Pure. The engine reports each generation's prompt and completion tokens
(``GenerationFinished``). A model turn's usage is the sum over its generations (more
than one when it calls functions) and goes out as the ``usageMetadata`` of its
``turnComplete``. The newest generation's total is the context's size by the model's
own count: before each turn it decides whether the oldest turns are dropped
(:mod:`~openlive.session.compression`) or, without compression, whether the session
has outgrown the model's window and ends.

Per modality (``promptTokensDetails`` / ``responseTokensDetails``):

* TEXT prompt tokens are the language model's own count of the prompt it read: the
  whole conversation so far, the transcripts of speech included (that is the text the
  cascade's model reads), as the hosted API counts a turn's context.
  ``cachedContentTokenCount`` is the part of it the model did not evaluate again (a
  prefix kept from an earlier request: llama.cpp's KV cache or snapshot, a server's
  prefix cache).
* AUDIO prompt tokens count the client's audio at the documented rate
  (:mod:`~openlive.catalog.media_tokens`): every second received is counted once, in the
  usage of the first ``turnComplete`` that reports usage after it arrived, so the
  counts over a session add up to the audio sent. IMAGE prompt tokens likewise count
  each image or video frame a user turn carried, at the ``mediaResolution`` rate.
* The response is AUDIO in an AUDIO session (the seconds of speech sent, at the same
  rate; the words behind it and their transcription are not counted again, as a
  native-audio model's turn reports AUDIO only), else TEXT (the completion tokens).
* ``thoughtsTokenCount``: the model's reasoning tokens, when it reasons (never spoken or
  counted in the response); ``totalTokenCount`` = prompt + response + thoughts.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.catalog.media_tokens import DEFAULT_IMAGE_TOKENS, audio_tokens
from openlive.errors import InternalError
from openlive.protocol.server import ModalityTokenCount, UsageMetadata
from openlive.session.compression import SlidingWindow, turns_to_drop
from openlive.session.events import GenerationFinished
from openlive.session.history import History


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """What one model turn used, as reported in ``usageMetadata``."""

    prompt_tokens: int  # the language model's count of the text it read
    response_tokens: int  # the tokens it generated (its answer, not its thoughts)
    cached_tokens: int = 0  # of prompt_tokens, served from a cache, not evaluated again
    thoughts_tokens: int = 0  # the model's reasoning, when it reasons
    audio_in_seconds: float = 0.0  # of the client's audio first counted in this turn
    images: int = 0  # images and video frames first counted in this turn
    audio_out_seconds: float = 0.0  # of the reply's speech sent to the client

    def __add__(self, other: TurnUsage) -> TurnUsage:
        return TurnUsage(self.prompt_tokens + other.prompt_tokens,
                         self.response_tokens + other.response_tokens,
                         self.cached_tokens + other.cached_tokens,
                         self.thoughts_tokens + other.thoughts_tokens,
                         self.audio_in_seconds + other.audio_in_seconds,
                         self.images + other.images,
                         self.audio_out_seconds + other.audio_out_seconds)


NOTHING = TurnUsage(0, 0)


def usage_metadata(usage: TurnUsage, *, audio_reply: bool = False,
                   image_tokens: int = DEFAULT_IMAGE_TOKENS) -> UsageMetadata:
    """The ``usageMetadata`` of one turn (see the module docstring for what counts).

    ``audio_reply``: the session answers in AUDIO; ``image_tokens``: what one image
    counts at the session's ``mediaResolution``.
    """
    prompt = [ModalityTokenCount(modality="TEXT", token_count=usage.prompt_tokens)]
    if usage.audio_in_seconds > 0:
        prompt.append(ModalityTokenCount(modality="AUDIO",
                                         token_count=audio_tokens(usage.audio_in_seconds)))
    if usage.images:
        prompt.append(ModalityTokenCount(modality="IMAGE",
                                         token_count=usage.images * image_tokens))
    if audio_reply:
        response = ModalityTokenCount(modality="AUDIO",
                                      token_count=audio_tokens(usage.audio_out_seconds))
    else:
        response = ModalityTokenCount(modality="TEXT", token_count=usage.response_tokens)
    prompt_total = sum(detail.token_count for detail in prompt)
    cached = usage.cached_tokens or None
    thoughts = usage.thoughts_tokens or None
    return UsageMetadata(
        prompt_token_count=prompt_total,
        cached_content_token_count=cached,
        response_token_count=response.token_count,
        thoughts_token_count=thoughts,
        total_token_count=prompt_total + response.token_count + usage.thoughts_tokens,
        prompt_tokens_details=prompt,
        cache_tokens_details=(
            [ModalityTokenCount(modality="TEXT", token_count=cached)] if cached else None
        ),
        response_tokens_details=[response],
    )


class Usage:
    """A session's token counts. Call :meth:`count` when a generation of the turn
    finishes, :meth:`new_turn` and :meth:`end_turn` around each model turn, and
    :meth:`heard`, :meth:`saw`, :meth:`spoke` as media comes in and goes out.

    ``audio_reply`` and ``image_tokens`` are the session's (see :func:`usage_metadata`).
    """

    def __init__(self, *, audio_reply: bool = False,
                 image_tokens: int = DEFAULT_IMAGE_TOKENS) -> None:
        self.turns: list[TurnUsage] = []  # of every completed model turn, in order
        self.context_tokens = 0  # context size after the last turn, by the model's count
        self._turn: TurnUsage | None = None  # of the model turn going on, so far
        self._audio_reply = audio_reply
        self._image_tokens = image_tokens
        # media not yet reported: a turn that is interrupted reports no usage, so what
        # came in during it is counted by the next turn that does
        self._heard = 0.0  # seconds of the client's audio received in all
        self._heard_counted = 0.0  # of which reported so far
        self._images = 0
        self._spoken = 0.0  # seconds of speech sent in the turn going on

    def new_turn(self) -> None:
        self._turn = None
        self._spoken = 0.0

    def count(self, event: GenerationFinished) -> None:
        usage = TurnUsage(event.prompt_tokens, event.completion_tokens,
                          cached_tokens=event.cached_tokens,
                          thoughts_tokens=event.thoughts_tokens)
        self._turn = usage if self._turn is None else self._turn + usage
        self.context_tokens = event.prompt_tokens + event.completion_tokens

    def heard(self, audio_seconds: float) -> None:
        """The client's audio received so far has reached ``audio_seconds`` in all."""
        self._heard = audio_seconds

    def saw(self, images: int) -> None:
        """A user turn carried ``images`` images or video frames."""
        self._images += images

    def spoke(self, seconds: float) -> None:
        """A reply of the turn going on sent ``seconds`` of speech."""
        self._spoken += seconds

    def end_turn(self) -> UsageMetadata:
        """The model turn is complete: what it used, for its ``turnComplete``."""
        usage = TurnUsage(0, 0, audio_in_seconds=self._heard - self._heard_counted,
                          images=self._images, audio_out_seconds=self._spoken)
        if self._turn is not None:
            usage = self._turn + usage
        self._heard_counted, self._images, self._spoken = self._heard, 0, 0.0
        self.turns.append(usage)
        return usage_metadata(usage, audio_reply=self._audio_reply,
                              image_tokens=self._image_tokens)

    def fits(self, history: History, compression: SlidingWindow | None,
             context_window: int) -> bool:
        """Whether a turn could be asked now without dropping turns, within the window."""
        if compression is not None:
            return not turns_to_drop(history.turns(), self.context_tokens, compression)
        return self.context_tokens < context_window

    def fit(self, history: History, compression: SlidingWindow | None,
            context_window: int) -> None:
        """Before a turn: compress the history, or end the session when it no longer
        fits the model (:class:`InternalError`, 1011)."""
        if compression is not None:
            drop = turns_to_drop(history.turns(), self.context_tokens, compression)
            if drop:
                history.drop_oldest(drop)
                self.context_tokens = 0  # unknown until the next turn reports it
            return
        if self.context_tokens >= context_window:
            raise InternalError(
                f"The session outgrew the model's context window "
                f"({context_window} tokens); enable "
                "contextWindowCompression to keep talking."
            )
