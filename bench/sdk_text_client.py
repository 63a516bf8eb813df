"""Benchmark client: runs in a google-genai virtualenv, one Live session per prompt.

Configured the way users configure the SDK (GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY,
SSL_CERT_FILE). Reads a JSON list of prompts and settings from argv[1]; prints one JSON
line per turn: time to first text, time from first to last text, response tokens.
"""

import asyncio
import json
import sys
import time

from google import genai


async def turn(client, model, prompt, config):
    async with client.aio.live.connect(model=model, config=config) as session:
        sent = time.perf_counter()
        first = last = None
        tokens = None
        await session.send_client_content(
            turns={"role": "user", "parts": [{"text": prompt}]}, turn_complete=True)
        async for message in session.receive():
            if message.text:
                now = time.perf_counter()
                first = first or now
                last = now
            if message.usage_metadata and message.usage_metadata.response_token_count:
                tokens = message.usage_metadata.response_token_count
        return {"ttft": first - sent, "decode": last - first, "tokens": tokens}


async def main():
    job = json.loads(sys.argv[1])
    client = genai.Client()
    config = {"response_modalities": ["TEXT"], **job["config"]}
    for prompt in job["prompts"]:
        print(json.dumps(await turn(client, job["model"], prompt, config)), flush=True)


asyncio.run(main())
