"""What the google-genai client programs share: reading PCM, streaming it in real time."""

import asyncio

CHUNK_SECONDS = 0.1


def read_pcm(path):
    with open(path, "rb") as f:
        return f.read()


async def stream_audio(session, pcm: bytes, rate: int, silence: float) -> None:
    """Send 16-bit PCM in 100 ms chunks at real-time pace, then ``silence`` seconds of it."""
    step = int(rate * CHUNK_SECONDS) * 2
    data = pcm + b"\0\0" * int(rate * silence)
    for i in range(0, len(data), step):
        await session.send_realtime_input(
            audio={"data": data[i:i + step], "mime_type": f"audio/pcm;rate={rate}"})
        await asyncio.sleep(CHUNK_SECONDS)
