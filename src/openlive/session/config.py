"""What a session was asked for: the validated, engine-neutral reading of ``setup``.

``SessionConfig.from_setup`` is where a setup is accepted or refused, with the close
code the hosted API would use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from openlive.catalog import ModelCatalog, bare_model_id
from openlive.catalog.languages import live_language
from openlive.catalog.media_tokens import DEFAULT_IMAGE_TOKENS, image_tokens
from openlive.catalog.profiles import DEFAULT_PROFILE, ModelProfile, profile_for
from openlive.catalog.voices import DEFAULT_VOICE, live_voice
from openlive.chat import DEFAULT_CONTEXT_WINDOW, SamplingParams, ToolSpec
from openlive.errors import InvalidArgument, PolicyViolation
from openlive.protocol.client import Setup, SpeechConfig
from openlive.protocol.types import Content
from openlive.session.activity import ActivityConfig
from openlive.session.compression import SlidingWindow
from openlive.session.seeing import DETAIL
from openlive.session.thinking import Thinking
from openlive.session.tools import Toolbox

Modality = Literal["TEXT", "AUDIO"]


@dataclass(frozen=True, slots=True)
class ServerCapabilities:
    """What this server process can serve, so a setup can be refused up front."""

    audio_output: bool = False  # a speech synthesizer is loaded
    audio_input: bool = False  # a VAD and a speech recognizer are loaded
    end_of_turn_model: bool = False  # the semantic end-of-turn model is loaded
    resumption: bool = False  # a store keeps resumption snapshots
    context_window: int = DEFAULT_CONTEXT_WINDOW  # of the language model, in tokens
    vision: bool = False  # the language model takes images (video frames, image parts)
    # answer a voice turn during its pause, held until the turn ends there (ahead.py)
    answer_ahead: bool = False
    # a spoken answer ends at the first sentence end past this many characters, unless
    # the client sets maxOutputTokens (None: no bound)
    spoken_answer_chars: int | None = None
    # while the user speaks, decode what they said so far every this many seconds of
    # speech (None: only at pauses), for interim transcripts and the prefill
    interim_every: float | None = None
    # the language model evaluates a prompt ahead of its request (PrefillingModel)
    prefill: bool = False
    # built-in tools the operator runs server-side: wire name -> the functions it offers
    server_tools: Mapping[str, tuple[ToolSpec, ...]] = field(default_factory=dict)
    # what the synthesizer speaks: Live voice names and language codes (None: it did not
    # say, and any is tried)
    speech_voices: frozenset[str] | None = None
    speech_languages: frozenset[str] | None = None
    # a session without thinkingConfig thinks as the hosted models do by default (the
    # model decides); otherwise it gets the backend's default (session/thinking.py)
    hosted_thinking: bool = False


@dataclass(frozen=True, slots=True)
class SessionConfig:
    model: str  # as the client named it, without "models/"
    backend: str  # the language-model backend that serves it
    modality: Modality
    sampling: SamplingParams
    system_instruction: str | None
    initial_history_in_client_content: bool = False
    # realtimeInputConfig.activityHandling: does new user activity interrupt the model?
    interrupt_on_activity: bool = True
    voice: str = DEFAULT_VOICE  # a Live prebuilt voice name, validated
    language: str | None = None  # speechConfig.languageCode; None: detect
    input_transcription: bool = False
    output_transcription: bool = False
    # inputAudioTranscription.wordTimestamp: the final transcript of a user turn carries
    # its words with their offsets in the session's input audio (alignment costs a
    # little, so only then), and every transcript its own offsets
    input_word_timestamp: bool = False
    # outputAudioTranscription.wordTimestamp: each outputTranscription piece carries
    # its offsets in the session's output audio (no words: see docs/compatibility.md)
    output_word_timestamp: bool = False
    activity: ActivityConfig = field(default_factory=ActivityConfig)
    compression: SlidingWindow | None = None  # None: outgrowing the window ends the session
    # realtimeInputConfig.turnCoverage: does a turn include the audio between turns?
    turn_includes_all_input: bool = False
    tools: Toolbox = field(default_factory=Toolbox)
    image_detail: str = "auto"  # generationConfig.mediaResolution, as a detail level
    # generationConfig.mediaResolution: what one image counts in usageMetadata
    image_tokens: int = DEFAULT_IMAGE_TOKENS
    # a spoken answer ends at the first sentence end past this many characters (None:
    # no bound; the client's maxOutputTokens replaces it)
    spoken_bound: int | None = None
    # inputAudioTranscription.languageCodes: the languages the user's speech may be in,
    # which narrow detection (): any; a languageCode fixes the language instead)
    transcription_languages: tuple[str, ...] = ()
    # how the hosted model behaves by default (catalog/profiles.py): thinking, proactive
    # audio and function-call defaults are read from here
    profile: ModelProfile = DEFAULT_PROFILE
    # generationConfig.enableAffectiveDialog in an AUDIO session: the reply adapts to how
    # the user sounds (session/affect.py); a TEXT session accepts it and ignores it, as
    # only the hosted native-audio models (AUDIO out) do affective dialog
    affective_dialog: bool = False
    thinking: Thinking = field(default_factory=Thinking)  # generationConfig.thinkingConfig
    # proactivity.proactiveAudio: the model may stay silent when what it hears is not
    # for it (session/relevance.py)
    proactive_audio: bool = False

    @classmethod
    def from_setup(
        cls, setup: Setup, catalog: ModelCatalog, capabilities: ServerCapabilities
    ) -> SessionConfig:
        """Validate ``setup``; raise PolicyViolation (1008) or InvalidArgument (1007)."""
        model = bare_model_id(setup.model)
        backend = catalog.resolve(model)
        if backend is None:
            raise PolicyViolation(
                f"models/{model} is not found, or is not supported for bidiGenerateContent."
            )
        gen = setup.generation_config
        profile = profile_for(model)
        check_profile(setup, model, profile)
        modality = _modality(gen.response_modalities if gen else None, capabilities)
        history = setup.history_config
        realtime = setup.realtime_input_config
        speech = gen.speech_config if gen else None
        sampling = _sampling(setup)
        spoken_bound = None
        if modality == "AUDIO" and sampling.max_tokens is None:
            spoken_bound = capabilities.spoken_answer_chars
            if spoken_bound is not None:
                # the hard stop for a runaway that never ends a sentence
                sampling = replace(sampling, max_tokens=spoken_bound // 2)
        return cls(
            model=model,
            backend=backend,
            modality=modality,
            sampling=sampling,
            system_instruction=instruction_text(setup.system_instruction),
            initial_history_in_client_content=bool(
                history and history.initial_history_in_client_content
            ),
            interrupt_on_activity=not (
                realtime is not None and realtime.activity_handling == "NO_INTERRUPTION"
            ),
            voice=_voice(speech, modality, capabilities),
            language=_language(speech, modality, capabilities),
            input_transcription=setup.input_audio_transcription is not None,
            output_transcription=setup.output_audio_transcription is not None,
            input_word_timestamp=bool(setup.input_audio_transcription
                                      and setup.input_audio_transcription.word_timestamp),
            output_word_timestamp=bool(setup.output_audio_transcription
                                       and setup.output_audio_transcription.word_timestamp),
            compression=SlidingWindow.from_wire(setup.context_window_compression,
                                                capabilities.context_window),
            turn_includes_all_input=(
                realtime is not None and realtime.turn_coverage == "TURN_INCLUDES_ALL_INPUT"
            ),
            activity=ActivityConfig.from_wire(
                realtime.automatic_activity_detection if realtime else None
            ),
            tools=Toolbox.from_wire(setup.tools, capabilities.server_tools, profile),
            image_detail=DETAIL.get(gen.media_resolution or "", "auto") if gen else "auto",
            image_tokens=image_tokens(gen.media_resolution if gen else None),
            spoken_bound=spoken_bound,
            transcription_languages=_transcription_languages(setup),
            profile=profile,
            affective_dialog=modality == "AUDIO" and bool(gen and gen.enable_affective_dialog),
            thinking=Thinking.from_wire(gen.thinking_config if gen else None,
                                        hosted_defaults=capabilities.hosted_thinking,
                                        profile=profile),
            proactive_audio=_proactive_audio(setup, profile),
        )


def check_profile(setup: Setup, model: str, profile: ModelProfile) -> None:
    """Refuse (1007, as the hosted API does) a setting ``model`` does not support."""
    gen = setup.generation_config
    unsupported = f"is not supported by the model models/{model}."
    modalities = set(gen.response_modalities or ()) if gen else set()
    if profile.audio_only and "TEXT" in modalities:
        raise InvalidArgument(
            f"The requested combination of response modalities (TEXT) {unsupported}")
    if gen is not None and gen.enable_affective_dialog and not profile.affective_dialog_supported:
        raise InvalidArgument(f"enableAffectiveDialog {unsupported}")
    thinking = gen.thinking_config if gen else None
    if thinking is not None and thinking.thinking_level is not None \
            and not profile.thinking_level_supported:
        raise InvalidArgument(f"thinkingConfig.thinkingLevel {unsupported}")
    proactivity = setup.proactivity
    wanted = proactivity.proactive_audio if proactivity is not None else None
    if wanted and not profile.proactive_audio_supported:
        raise InvalidArgument(f"proactivity.proactiveAudio {unsupported}")
    if wanted is False and profile.proactive_audio_always:
        raise InvalidArgument(
            f"proactivity.proactiveAudio cannot be turned off: it is always on for "
            f"models/{model}.")


def instruction_text(content: Content | None) -> str | None:
    """The text of a system instruction, or None when it has none."""
    if content is None:
        return None
    return content.text() or None


def _modality(requested: Sequence[str] | None, capabilities: ServerCapabilities) -> Modality:
    wanted = {m for m in requested or () if m != "MODALITY_UNSPECIFIED"}
    if not wanted:
        return "AUDIO" if capabilities.audio_output else "TEXT"
    if len(wanted) > 1 or not wanted <= {"TEXT", "AUDIO"}:
        names = ", ".join(sorted(wanted))
        raise InvalidArgument(
            f"The requested combination of response modalities ({names}) is not supported."
        )
    modality: Modality = "TEXT" if "TEXT" in wanted else "AUDIO"
    if modality == "AUDIO" and not capabilities.audio_output:
        raise PolicyViolation(
            "AUDIO responses need a speech synthesis engine and none is configured; ask for TEXT."
        )
    return modality


def _voice(speech: SpeechConfig | None, modality: Modality,
           capabilities: ServerCapabilities) -> str:
    voice = speech.voice_config if speech else None
    prebuilt = voice.prebuilt_voice_config if voice else None
    # google-genai 3.6 names the voice in voiceConfig.voice; older SDKs in
    # prebuiltVoiceConfig.voiceName (which wins when both are given)
    asked = (prebuilt.voice_name if prebuilt else None) or (voice.voice if voice else None)
    name = live_voice(asked).name
    spoken = capabilities.speech_voices
    if modality == "AUDIO" and spoken is not None and name not in spoken:
        raise PolicyViolation(
            f"voiceName {name!r} is not available on this server; it has "
            f"{', '.join(sorted(spoken)[:6])} ({len(spoken)} in all)."
        )
    return name


def _language(speech: SpeechConfig | None, modality: Modality,
              capabilities: ServerCapabilities) -> str | None:
    """The ``languageCode`` asked for; an AUDIO session is refused at setup (1008) when
    no voice of this server speaks it, as the hosted API refuses a language it lacks,
    rather than failing in the middle of the first reply."""
    if speech is None or not speech.language_code:
        return None
    code = live_language(speech.language_code).code
    spoken = capabilities.speech_languages
    if modality == "AUDIO" and spoken is not None and code not in spoken:
        raise PolicyViolation(
            f"languageCode {code} is not spoken by this server's voices; they speak "
            f"{', '.join(sorted(spoken))}. Ask for TEXT responses, or configure a "
            "synthesizer that speaks it (e.g. --tts kokoro)."
        )
    return code


def _transcription_languages(setup: Setup) -> tuple[str, ...]:
    """``inputAudioTranscription.languageCodes``, checked (1007 for an unknown code)."""
    config = setup.input_audio_transcription
    codes = config.language_codes if config is not None else None
    return tuple(dict.fromkeys(live_language(code).code for code in codes or ()))


def _sampling(setup: Setup) -> SamplingParams:
    gen = setup.generation_config
    if gen is None:
        return SamplingParams()
    if gen.max_output_tokens is not None and gen.max_output_tokens <= 0:
        raise InvalidArgument("generationConfig.maxOutputTokens must be positive.")
    if gen.temperature is not None and not 0.0 <= gen.temperature <= 2.0:
        raise InvalidArgument("generationConfig.temperature must be between 0 and 2.")
    if gen.top_p is not None and not 0.0 <= gen.top_p <= 1.0:
        raise InvalidArgument("generationConfig.topP must be between 0 and 1.")
    return SamplingParams(
        temperature=gen.temperature,
        top_p=gen.top_p,
        top_k=gen.top_k,
        max_tokens=gen.max_output_tokens,
        seed=gen.seed,
        stop=tuple(gen.stop_sequences or ()),
    )


def _proactive_audio(setup: Setup, profile: ModelProfile) -> bool:
    """proactivity.proactiveAudio, or the hosted model's default when the setup is silent."""
    asked = setup.proactivity.proactive_audio if setup.proactivity else None
    return profile.proactive_audio_default if asked is None else bool(asked)
