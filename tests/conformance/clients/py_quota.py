"""A Live API program whose API key has caps, with the unmodified Python SDK.

Configured by the environment (GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY, SSL_CERT_FILE).
``argv[1]`` is a JSON job ``{"turns": [str, ...]}``: one session sends the turns one by
one (an empty list: it just waits), then listens until the server ends it; then a second
connection tries to open, with the key and with an ephemeral token the key creates.

Prints one JSON object: the first session's replies (text and total tokens), the
``goAway`` time left it saw and how it ended; how each later connection ended.
"""

import asyncio
import datetime as dt
import json
import sys
import time

from google import genai

MODEL = "gemini-live-2.5-flash-preview"
CONFIG = {"response_modalities": ["TEXT"]}


def ended(exc, started):
    """How a session ended: close code and reason (google-genai raises APIError)."""
    return {"type": type(exc).__name__, "code": getattr(exc, "code", None),
            "message": str(exc), "after": time.monotonic() - started}


async def session(client, turns):
    out = {"set_up": False, "replies": [], "go_away": None, "end": None}
    started = time.monotonic()

    def look(message):
        if message.go_away:
            out["go_away"] = float(str(message.go_away.time_left).rstrip("s"))
            out["go_away_after"] = time.monotonic() - started

    try:
        async with client.aio.live.connect(model=MODEL, config=CONFIG) as live:
            out["set_up"] = True
            for text in turns:
                await live.send_client_content(
                    turns={"role": "user", "parts": [{"text": text}]})
                reply, total = "", None
                async for message in live.receive():
                    reply += message.text or ""
                    if message.usage_metadata:
                        total = message.usage_metadata.total_token_count
                    look(message)
                out["replies"].append({"text": reply, "total": total})
            while True:  # until the server ends the session
                async for message in live.receive():
                    look(message)
    except Exception as exc:  # noqa: BLE001 - how the session ended is the result
        out["end"] = ended(exc, started)
    return out


def token_client():
    backend = genai.Client(http_options={"api_version": "v1alpha"})
    now = dt.datetime.now(tz=dt.UTC)
    token = backend.auth_tokens.create(config={
        "uses": 1, "expire_time": now + dt.timedelta(minutes=30),
        "new_session_expire_time": now + dt.timedelta(minutes=1)})
    return genai.Client(api_key=token.name, http_options={"api_version": "v1alpha"})


async def main():
    job = json.loads(sys.argv[1])
    first = await session(genai.Client(), job["turns"])
    again = await session(genai.Client(), ["hello again"])
    via_token = await session(token_client(), ["hello from a browser"])
    print(json.dumps({"first": first, "again": again, "via_token": via_token}))


asyncio.run(main())
