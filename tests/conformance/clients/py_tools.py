"""A Live API program with function calling, as users write it with google-genai.

Runs inside a google-genai virtualenv (1.x, 2.x or 3.x), configured only by the
environment (GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY, SSL_CERT_FILE). ``argv[1]`` is a
JSON job; every mode prints one JSON object:

* ``{"mode": "blocking", "prompt": str, "modality": "TEXT"|"AUDIO", "result": {...},
  "tools": "google_search"?}``: one turn; every ``toolCall`` is answered with ``result``;
  reports the calls, the text or audio of the answer and the flags of the turn. With
  ``tools``, the session asks for the built-in Google Search instead of get_weather.
* ``{"mode": "nonblocking", "scheduling": "WHEN_IDLE"|"INTERRUPT"|"SILENT"}``: the model
  starts a NON_BLOCKING call; the result is sent later with that scheduling (INTERRUPT
  while the model is in the middle of a slow reply); reports every turn that followed.
* ``{"mode": "cancel", "pcm": path?, "rate": int?}``: the model calls a blocking
  function that the program never answers; the user then speaks (``pcm``, in an AUDIO
  session) or types; reports the ``toolCallCancellation`` ids and what came next.
"""

import asyncio
import json
import sys

from google import genai
from google.genai import types
from py_common import read_pcm, stream_audio

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters=types.Schema(
        type="OBJECT",
        properties={"city": types.Schema(type="STRING", description="The city name")},
        required=["city"],
    ),
)
LIGHTS = types.FunctionDeclaration(
    name="turn_on_the_lights", description="Turn on the lights.", behavior="NON_BLOCKING")


async def collect(session, record, on_call=None):
    """One receive() turn into ``record``; ``on_call`` answers each toolCall."""
    async for message in session.receive():
        if message.tool_call:
            calls = [{"id": c.id, "name": c.name, "args": c.args}
                     for c in message.tool_call.function_calls]
            record["calls"] += calls
            if on_call is not None:
                await on_call(session, message.tool_call.function_calls)
        if message.tool_call_cancellation:
            record["cancelled"] += list(message.tool_call_cancellation.ids)
        if message.data:
            record["audio_bytes"] += len(message.data)
        if message.text:
            record["text"] += message.text
        content = message.server_content
        if content is None:
            continue
        if content.output_transcription and content.output_transcription.text:
            record["transcript"] += content.output_transcription.text
        if content.input_transcription and content.input_transcription.text:
            record["heard"] += content.input_transcription.text
        for flag in ("interrupted", "generation_complete", "turn_complete"):
            if getattr(content, flag):
                record["flags"].append(flag)
        if message.usage_metadata and content.turn_complete:
            record["usage"] = message.usage_metadata.total_token_count
    return record


def new_record():
    return {"calls": [], "cancelled": [], "text": "", "audio_bytes": 0, "transcript": "",
            "heard": "", "flags": [], "usage": None}


async def say(session, text):
    await session.send_client_content(turns={"role": "user", "parts": [{"text": text}]})


async def blocking(client, job):
    modality = job.get("modality", "TEXT")
    tools = [{"function_declarations": [WEATHER]}]
    if job.get("tools") == "google_search":
        tools = [types.Tool(google_search=types.GoogleSearch())]
    config = {"response_modalities": [modality], "tools": tools}
    if modality == "AUDIO":
        config["output_audio_transcription"] = {}
    if job.get("system"):
        config["system_instruction"] = job["system"]
    if "temperature" in job:
        config["temperature"] = job["temperature"]

    async def answer(session, calls):
        await session.send_tool_response(function_responses=[
            types.FunctionResponse(id=c.id, name=c.name, response=job["result"]) for c in calls])

    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await say(session, job["prompt"])
        return await asyncio.wait_for(collect(session, new_record(), answer), 120)


async def nonblocking(client, job):
    scheduling = job["scheduling"]
    config = {"response_modalities": ["TEXT"], "tools": [{"function_declarations": [LIGHTS]}]}
    out = {"turns": []}
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await say(session, "call: turn_on_the_lights {}")
        first = await collect(session, new_record())  # the call, then "it has started"
        out["turns"].append(first)
        [call] = first["calls"]
        result = types.FunctionResponse(
            id=call["id"], name=call["name"], response={"output": "the lights are on"},
            scheduling=scheduling)
        if scheduling == "INTERRUPT":
            # answer while the model is in the middle of a slow reply
            await say(session, "slow: tell me a long story about the sea and the wind")
            story = new_record()
            async for message in session.receive():
                if message.text:
                    story["text"] += message.text
                    break
            await session.send_tool_response(function_responses=[result])
            out["turns"].append(await collect(session, story))
        else:
            await session.send_tool_response(function_responses=[result])
        if scheduling == "SILENT":
            # nothing is said about it; the next turn shows it is in the history
            try:
                message = await asyncio.wait_for(anext(session.receive()), 1.5)
                out["unexpected"] = message.model_dump(exclude_none=True, mode="json")
            except TimeoutError:
                pass
            await say(session, "and now?")
        out["turns"].append(await asyncio.wait_for(collect(session, new_record()), 60))
    return out


async def cancel(client, job):
    spoken = job.get("pcm") is not None
    config = {"response_modalities": ["AUDIO" if spoken else "TEXT"],
              "tools": [{"function_declarations": [WEATHER]}]}
    if spoken:
        config["input_audio_transcription"] = {}
    out = {}
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await say(session, 'call: get_weather {"city": "Paris"}')
        first = new_record()
        # the turn waits for a response that never comes: the user talks instead
        async for message in session.receive():
            if message.tool_call:
                first["calls"] += [{"id": c.id, "name": c.name}
                                   for c in message.tool_call.function_calls]
                break
        if spoken:
            pcm = read_pcm(job["pcm"])
            talker = asyncio.create_task(stream_audio(session, pcm, job["rate"], 2.0))
        else:
            await say(session, "never mind")
        out["first"] = await asyncio.wait_for(collect(session, first), 60)
        out["second"] = await asyncio.wait_for(collect(session, new_record()), 60)
        if spoken:
            talker.cancel()
    return out


async def main():
    job = json.loads(sys.argv[1])
    client = genai.Client()
    run = {"blocking": blocking, "nonblocking": nonblocking, "cancel": cancel}[job["mode"]]
    print(json.dumps(await run(client, job)))


asyncio.run(main())
