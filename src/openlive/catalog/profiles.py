"""How each Live model id behaves by default on the hosted API: one table of profiles.

A session's setup is read against the profile of the model it names
(:func:`profile_for`): its defaults apply where the setup says nothing, and a setting the
hosted model does not support is refused with the hosted API's close code (1007,
INVALID_ARGUMENT). Ids that are not in the table get :data:`DEFAULT_PROFILE`, which
allows everything (an operator's own alias behaves as openlive always did).

Sources, as read on 2026-12-07 (the model pages on ai.google.dev and their
"Migrating from ..." sections; the Live API capabilities guide's model comparison;
google-genai 3.6.1 ``types.py``; spec §8 and §11):

* gemini-3.8-live (ai.google.dev/gemini-api/docs/models/gemini-3.8-live): "thinking_level
  is not supported ... omit thinking_level (or thinking_config)"; "asynchronous execution
  (behavior: NON_BLOCKING) is now the default function calling mode ... behavior:
  BLOCKING" still works; "Proactive audio is now permanently enabled. Setting
  proactive_audio: false returns an error"; "Affective dialog has been removed from the
  API"; "the supported response modality is audio".
* gemini-3.8-live-extended-thinking (spec §8, §11): asynchronous function calling only;
  otherwise as gemini-3.8-live, except that it thinks (no thinking_level refusal).
* gemini-3.1-flash-live-preview (ai.google.dev/gemini-api/docs/models/
  gemini-3.1-flash-live-preview): "uses thinkingLevel ... Defaults to minimal";
  "Asynchronous function calling: not supported yet. Function calling is synchronous
  only"; "Proactive audio and affective dialog: not supported yet ... remove any
  configuration for these features"; rejects TEXT responses (spec §11).
* gemini-2.5-flash-native-audio-* (capabilities guide): thinkingBudget, "dynamic
  thinking is on by default"; affective dialog, proactive audio and NON_BLOCKING calls
  supported.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.catalog.models import bare_model_id


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a Live model does by default, and which settings it refuses."""

    # AUDIO is the only response modality (TEXT is refused)
    audio_only: bool = False
    # a function declaration without ``behavior`` is NON_BLOCKING
    non_blocking_by_default: bool = False
    # NON_BLOCKING is honoured; False: every call blocks ("synchronous only")
    async_calls: bool = True
    # BLOCKING is honoured; False: every call is asynchronous ("async only")
    blocking_calls: bool = True
    # proactive audio is on unless the setup says otherwise
    proactive_audio_default: bool = False
    # proactive audio cannot be switched off (proactiveAudio: false is refused)
    proactive_audio_always: bool = False
    # proactivity may be asked for at all
    proactive_audio_supported: bool = True
    # enableAffectiveDialog may be asked for
    affective_dialog_supported: bool = True
    # thinkingConfig.thinkingLevel may be set
    thinking_level_supported: bool = True
    # thinking the hosted model does when the setup sets no thinkingConfig: a level
    # (Gemini 3) or a budget (-1: dynamic, Gemini 2.5). Plain data: whoever implements
    # thinking decides whether the local stack follows these hosted defaults.
    thinking_level_default: str | None = None
    thinking_budget_default: int | None = None


#: Every documented id without a table entry, and operator aliases: no default changes,
#: nothing refused.
DEFAULT_PROFILE = ModelProfile()

_LIVE_3_8 = ModelProfile(
    audio_only=True,
    non_blocking_by_default=True,
    proactive_audio_default=True,
    proactive_audio_always=True,
    affective_dialog_supported=False,
    thinking_level_supported=False,
)

_NATIVE_AUDIO_2_5 = ModelProfile(thinking_budget_default=-1)

PROFILES: dict[str, ModelProfile] = {
    "gemini-3.8-live": _LIVE_3_8,
    "gemini-3.8-live-extended-thinking": ModelProfile(
        audio_only=True,
        non_blocking_by_default=True,
        blocking_calls=False,
        proactive_audio_default=True,
        proactive_audio_always=True,
        affective_dialog_supported=False,
    ),
    "gemini-3.1-flash-live-preview": ModelProfile(
        audio_only=True,
        async_calls=False,
        proactive_audio_supported=False,
        affective_dialog_supported=False,
        thinking_level_default="MINIMAL",
    ),
    "gemini-2.5-flash-native-audio-preview-12-2025": _NATIVE_AUDIO_2_5,
    "gemini-2.5-flash-native-audio-preview-09-2025": _NATIVE_AUDIO_2_5,
    "gemini-2.5-flash-native-audio-latest": _NATIVE_AUDIO_2_5,
    "gemini-2.5-flash-native-audio-dialog": _NATIVE_AUDIO_2_5,
    "gemini-live-2.5-flash-native-audio": _NATIVE_AUDIO_2_5,
}


def profile_for(model: str) -> ModelProfile:
    """The profile of ``model`` (with or without ``models/``)."""
    return PROFILES.get(bare_model_id(model), DEFAULT_PROFILE)
