"""google-genai's LiveConnectConfig with every field set, built by introspecting the
SDK's own pydantic models, so that a field a new SDK release adds is set too.

Runs inside a google-genai virtualenv, configured only by the environment. Prints one
JSON object:

* ``fields``: the setup fields (leaf paths) the config sets;
* ``refused_by_sdk``: leaf paths the SDK itself refuses to send in Gemini API mode (it
  raises ValueError before connecting, e.g. ``explicit_vad_signal``); left out;
* ``setup``: how connecting with everything else went (``{"ok": true}`` once
  setupComplete arrived, else the close code and reason);
* ``builtins``: each built-in tool (googleSearch, codeExecution...) on its own, since a
  server refuses (1008, naming it) a built-in it does not run.
"""

import asyncio
import enum
import json
import types as pytypes
import typing

import pydantic
from google import genai
from google.genai import _live_converters, types

MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"

# Leaf values with a meaning: what a program would really send there.
MEANINGFUL = {
    "voice_name": "Kore", "voice": "Kore", "language_code": "en-US",
    "language_codes": ["en-US"], "target_language_code": "es-ES",
    "response_modalities": ["TEXT"], "temperature": 0.5, "top_p": 0.9, "top_k": 40.0,
    "max_output_tokens": 256, "seed": 7, "thinking_budget": 128,
    "trigger_tokens": 20000, "target_tokens": 10000, "prefix_padding_ms": 20,
    "silence_duration_ms": 500, "name": "get_weather", "role": "user",
    "mime_type": "audio/pcm;rate=24000", "image_mime_type": "image/png",
    "stop_sequences": ["END"], "candidate_count": 1, "logprobs": 1,
}
SCHEMA = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}
JSON_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
SKIP = {"http_options"}  # how the SDK connects, not part of the setup


def members(annotation):
    """The concrete types an annotation allows (Optional, unions and lists unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, pytypes.UnionType):
        return [t for a in typing.get_args(annotation) if a is not type(None)
                for t in members(a)]
    if origin is typing.Annotated:
        return members(typing.get_args(annotation)[0])
    return [annotation]


def is_list(annotation):
    return any(typing.get_origin(t) is list for t in members(annotation))


def value_for(name, annotation, depth):
    if name in MEANINGFUL:
        return MEANINGFUL[name]
    if name == "tools":  # typed as a bare list (of Tools, callables, MCP sessions)
        return [every_field(types.Tool, depth + 1)]
    kinds = members(annotation)
    kind = kinds[0]
    if typing.get_origin(kind) is list:
        inner = value_for(name, typing.get_args(kind)[0], depth)
        return None if inner is None else [inner]
    if typing.get_origin(kind) is dict:
        return {"k": "v"}
    if typing.get_origin(kind) is typing.Literal:
        return typing.get_args(kind)[0]
    if kind is typing.Any:
        return JSON_SCHEMA
    if isinstance(kind, type):
        if kind is types.Schema:
            return SCHEMA
        if kind in (types.Content,):
            return {"role": "user", "parts": [{"text": "You are terse."}]}
        if issubclass(kind, enum.Enum):
            return next(m.value for m in kind if "UNSPECIFIED" not in m.value)
        if issubclass(kind, pydantic.BaseModel):
            return every_field(kind, depth + 1)
        if kind is bool:
            return True
        if kind is int:
            return 64
        if kind is float:
            return 0.5
        if kind is str:
            return "x"
        if kind is bytes:
            return b"\x00\x01\x02\x03"
    return None  # File, clients and other objects a setup cannot carry


def every_field(model, depth=0):
    out = {}
    for name, field in model.model_fields.items():
        if name in SKIP or depth > 6:
            continue
        value = value_for(name, field.annotation, depth)
        if value is not None:
            out[name] = value
    return out


def leaves(value, path=()):
    if isinstance(value, dict) and value and path[-1:] != ("labels",):
        for key, inner in value.items():
            yield from leaves(inner, (*path, key))
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        yield from leaves(value[0], (*path, 0))
    else:
        yield path


def only(config, path):
    """``config`` reduced to the one leaf at ``path``."""
    if not path:
        return config
    key, rest = path[0], path[1:]
    if key == 0:
        return [only(config[0], rest)]
    return {key: only(config[key], rest)}


def stub(config, path):
    """``config`` reduced to the field at ``path``, set but emptied (``{}``, ``[]``)."""
    reduced = only(config, path)
    inner = reduced
    for key in path[:-1]:
        inner = inner[key]
    value = inner[path[-1]]
    if isinstance(value, (dict, list)):
        inner[path[-1]] = type(value)()
    return reduced


def refused_field(client, config, leaf):
    """The outermost field on the way to ``leaf`` whose mere presence the SDK refuses."""
    for end in range(1, len(leaf) + 1):
        if leaf[end - 1] != 0 and sdk_refuses(client, stub(config, leaf[:end])):
            return leaf[:end]
    return leaf


def without(config, path):
    key, rest = path[0], path[1:]
    if not rest:
        if isinstance(config, dict):
            config.pop(key, None)
        return
    without(config[key], rest)


def sdk_refuses(client, config):
    try:
        parameters = types.LiveConnectParameters(
            model=MODEL, config=types.LiveConnectConfig.model_validate(config))
        _live_converters._LiveConnectParameters_to_mldev(
            api_client=client._api_client, from_object=parameters.model_dump(exclude_none=True))
    except ValueError:
        return True
    return False


async def connect(client, config):
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            return {"ok": session is not None}
    except Exception as exc:  # noqa: BLE001 - the close is what we report
        return {"ok": False, "code": getattr(exc, "code", None),
                "reason": str(getattr(exc, "details", exc)), "type": type(exc).__name__}


async def a_handle(client):
    """A real resumption handle, so that sessionResumption.handle can be set too."""
    config = {"response_modalities": ["TEXT"], "session_resumption": {}}
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(turns={"role": "user", "parts": [{"text": "hi"}]})
        handle = None
        async for message in session.receive():
            update = message.session_resumption_update
            if update and update.new_handle:
                handle = update.new_handle
        return handle


async def main():
    client = genai.Client()
    config = every_field(types.LiveConnectConfig)
    config["session_resumption"]["handle"] = await a_handle(client)
    paths = list(leaves(config))
    refused = list(dict.fromkeys(refused_field(client, config, p) for p in paths
                                 if sdk_refuses(client, only(config, p))))
    for path in refused:
        without(config, path)
    tool = config["tools"][0]
    builtins = {name: {name: tool.pop(name)} for name in list(tool)
                if name != "function_declarations"}
    # a second declaration: parameters_json_schema and parameters exclude each other
    declaration = tool["function_declarations"][0]
    tool["function_declarations"] = [
        {k: v for k, v in declaration.items() if not k.endswith("json_schema")},
        {**{k: v for k, v in declaration.items() if k not in ("parameters", "response")},
         "name": "get_time"}]
    # thinkingBudget and thinkingLevel exclude each other too (1007, as the API says):
    # the level goes in a setup of its own
    level = config["thinking_config"].pop("thinking_level")
    out = {"fields": len(paths), "refused_by_sdk": [".".join(map(str, p)) for p in refused],
           "setup": await connect(client, config), "builtins": {},
           "thinking_level": await connect(client, {"response_modalities": ["TEXT"],
                                                    "thinking_config": {"thinking_level": level}})}
    for name, builtin in builtins.items():
        out["builtins"][name] = await connect(
            client, {"response_modalities": ["TEXT"], "tools": [builtin]})
    print(json.dumps(out))


asyncio.run(main())
