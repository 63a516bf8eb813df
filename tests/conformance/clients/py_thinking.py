"""A Live API program that asks for thinking or proactive audio, as users write it.

Runs inside a google-genai virtualenv, configured only by the environment
(GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY, SSL_CERT_FILE). ``argv[1]`` is a JSON job:

* ``{"mode": "thinking", "prompt": str, "thinking": {...}?, "system": str?,
  "max_output_tokens": int?}``: one TEXT turn with ``thinking_config`` (snake-case
  fields of types.ThinkingConfig) if given; reports the answer as ``message.text``
  gives it (thoughts skipped), the thought parts, and the turn's usage.
* ``{"mode": "proactive", "prompts": [str], "system": str, "proactive": bool}``: one
  TEXT turn per prompt in one session with ``proactivity.proactive_audio``; reports
  each turn's text and how it ended (waiting_for_input, turn_complete_reason).

Prints one JSON object with what the SDK handed back.
"""

import asyncio
import json
import sys

from google import genai
from google.genai import types

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


def usage_of(message):
    usage = message.usage_metadata
    if usage is None:
        return None
    return {"prompt": usage.prompt_token_count, "response": usage.response_token_count,
            "thoughts": usage.thoughts_token_count, "total": usage.total_token_count}


async def turn(session):
    """One receive() turn: the answer, the thoughts and how the turn ended."""
    record = {"text": "", "thoughts": [], "usage": None, "turn_complete": False,
              "waiting_for_input": None, "reason": None}
    async for message in session.receive():
        content = message.server_content
        if content is None:
            continue
        if message.text:
            record["text"] += message.text
        if content.model_turn:
            record["thoughts"] += [part.text for part in content.model_turn.parts or ()
                                   if part.thought and part.text]
        if content.turn_complete:
            record["turn_complete"] = True
            record["usage"] = usage_of(message)
            record["waiting_for_input"] = content.waiting_for_input
            reason = content.turn_complete_reason
            record["reason"] = reason.value if reason is not None else None
    return record


async def say(session, text):
    await session.send_client_content(turns={"role": "user", "parts": [{"text": text}]})


async def thinking(client, job):
    config = {"response_modalities": ["TEXT"], "temperature": 0.0,
              "max_output_tokens": job.get("max_output_tokens", 48)}
    if job.get("system"):
        config["system_instruction"] = job["system"]
    if job.get("thinking") is not None:
        config["thinking_config"] = types.ThinkingConfig(**job["thinking"])
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await say(session, job["prompt"])
        return await turn(session)


async def proactive(client, job):
    config = {"response_modalities": ["TEXT"], "temperature": 0.0, "max_output_tokens": 48,
              "system_instruction": job["system"]}
    if job.get("proactive", True):
        config["proactivity"] = types.ProactivityConfig(proactive_audio=True)
    turns = []
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        for prompt in job["prompts"]:
            await say(session, prompt)
            turns.append(await turn(session))
    return {"turns": turns}


async def main():
    job = json.loads(sys.argv[1])
    client = genai.Client()
    result = await {"thinking": thinking, "proactive": proactive}[job["mode"]](client, job)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
