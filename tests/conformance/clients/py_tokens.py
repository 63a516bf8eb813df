"""Ephemeral tokens as a backend + browser app would use them, with the unmodified SDK.

The backend (API key) creates a 1-use token locking ``maxOutputTokens`` to 2; the
"browser" connects with the token, asks for 100 tokens and still gets 2 words; a second
connection with the same token is refused. Prints one JSON object.
"""

import asyncio
import datetime as dt
import json
import os

from google import genai

MODEL = "gemini-live-2.5-flash-preview"


async def turn(client, max_tokens):
    config = {"response_modalities": ["TEXT"], "max_output_tokens": max_tokens}
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": "one two three four five"}]})
            text = ""
            async for message in session.receive():
                text += message.text or ""
            return {"text": text}
    except Exception as exc:  # noqa: BLE001 - any SDK error is the result to report
        return {"error": type(exc).__name__, "code": getattr(exc, "code", None),
                "message": str(exc)}


async def main():
    backend = genai.Client(http_options={"api_version": "v1alpha"})
    now = dt.datetime.now(tz=dt.UTC)
    token = backend.auth_tokens.create(config={
        "uses": 1,
        "expire_time": now + dt.timedelta(minutes=30),
        "new_session_expire_time": now + dt.timedelta(minutes=1),
        "live_connect_constraints": {"model": MODEL, "config": {"max_output_tokens": 2}},
        "lock_additional_fields": [],
    })
    browser = genai.Client(api_key=token.name, http_options={"api_version": "v1alpha"})
    first = await turn(browser, 100)
    second = await turn(browser, 100)
    try:
        bad = genai.Client(api_key="not-a-key", http_options={"api_version": "v1alpha"})
        bad.auth_tokens.create(config={"uses": 1})
        refused = None
    except Exception as exc:  # noqa: BLE001 - any SDK error is the result to report
        refused = {"error": type(exc).__name__, "code": getattr(exc, "code", None)}
    print(json.dumps({"name": token.name, "first": first, "second": second,
                      "bad_key": refused, "key_env": bool(os.environ.get("GEMINI_API_KEY"))}))


asyncio.run(main())
