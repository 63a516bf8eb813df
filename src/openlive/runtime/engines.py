"""The engines a server process shares among its sessions, loaded once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from openlive.engines.asr.base import SpeechRecognizer
from openlive.engines.llm.base import LanguageModel, PrefillingModel
from openlive.engines.scheduler import Priority
from openlive.engines.tools.base import ServerTool
from openlive.engines.tts.base import SpeechSynthesizer
from openlive.session.config import ServerCapabilities

if TYPE_CHECKING:
    from openlive.runtime.vad_batcher import VadScorer


class EndOfTurnModel(Protocol):
    async def predict(self, pcm16k: bytes, *, priority: Priority = Priority.WAITING) -> float:
        """Probability that the speaker has finished, from up to 8 s of 16 kHz PCM."""
        ...


@dataclass
class Engines:
    """Language models by backend name, and the optional voice engines."""

    llms: Mapping[str, LanguageModel]
    vad: VadScorer | None = None  # the shared Silero model, as sessions use it
    asr: SpeechRecognizer | None = None
    tts: SpeechSynthesizer | None = None
    end_of_turn: EndOfTurnModel | None = None
    # the operator's implementations of built-in tools, by wire name ("googleSearch")
    server_tools: Mapping[str, ServerTool] = field(default_factory=dict)
    # answer a voice turn during the user's pause, held until the turn ends (ahead.py)
    answer_ahead: bool = True
    # a spoken answer ends at the first sentence end past this many characters (None: no bound)
    spoken_answer_chars: int | None = None
    # decode the user's words every this many seconds while they speak (None: at pauses)
    interim_every: float | None = None
    # let the language model evaluate the conversation while the user speaks
    prefill: bool = False
    # sessions without thinkingConfig think as the hosted models do by default
    hosted_thinking: bool = False

    def capabilities(self) -> ServerCapabilities:
        return ServerCapabilities(
            audio_output=self.tts is not None,
            audio_input=self.vad is not None and self.asr is not None,
            end_of_turn_model=self.end_of_turn is not None,
            context_window=min(m.capabilities.context_window for m in self.llms.values()),
            server_tools={name: tool.functions for name, tool in self.server_tools.items()},
            vision=all(m.capabilities.vision for m in self.llms.values()),
            answer_ahead=self.answer_ahead,
            spoken_answer_chars=self.spoken_answer_chars,
            interim_every=self.interim_every if self.asr is not None else None,
            prefill=self.prefill and all(isinstance(m, PrefillingModel)
                                         for m in self.llms.values()),
            speech_voices=frozenset(self.tts.voices()) if self.tts is not None else None,
            speech_languages=self.tts.languages() if self.tts is not None else None,
            hosted_thinking=self.hosted_thinking,
        )

    async def aclose(self) -> None:
        if self.vad is not None:
            self.vad.close()
        for engine in (*self.llms.values(), self.asr, self.tts, *self.server_tools.values()):
            if engine is not None:
                await engine.aclose()
