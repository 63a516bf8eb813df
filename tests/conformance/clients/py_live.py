"""A Live API program as users write it, for the real-model and voice tests.

Runs inside a google-genai virtualenv, configured only by the environment
(GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY, SSL_CERT_FILE). ``argv[1]`` is a JSON job:

* ``{"mode": "text", "prompt": str, "system": str?}`` — one TEXT turn.
* ``{"mode": "voice", "pcm": path, "rate": int, "out": path, "config": {...}?}`` — streams
  the 16-bit mono PCM file in real time (then silence) and records the spoken answer to
  ``out`` (24 kHz PCM). Transcriptions with offsets (``word_timestamp``, SDK 3.x) are
  reported as they came (``input_timed``, ``output_timed``: text, offsets, words). With ``"report_close": true`` a session the server closes is
  reported (``close``: code and reason, beside what came before) instead of failing.
* ``{"mode": "barge_in", "pcm": path, "rate": int, "out": path}`` — asks a question, and
  once the answer's audio starts, speaks again; reports ``interrupted`` and the second
  turn's transcripts.
* ``{"mode": "usage", "pcm": path, "rate": int, "silence": s?}`` — streams the PCM file
  (then silence) in real time; reports the ``usageMetadata`` of the turn, the seconds of
  audio sent when it came, and the answer's audio bytes.
* ``{"mode": "flood", "turns": n, "padding": str?, "config": {...}?}`` — n text turns
  sent back to back; reports the turnComplete/interrupted counts and how it ended.
* ``{"mode": "speakerphone", "pcm": path, "rate": int, "delay": s, "gain": g}`` — asks a
  question, then the microphone hears the answer as a speakerphone plays it: the audio
  received, played in real time (silence while none has come: an underrun delays the
  rest), back ``delay`` seconds later at ``gain``; reports the turn (an echo that
  interrupts shows as ``interrupted``).

Prints one JSON object with what the SDK handed back; a turn's record has the
``voiceActivity`` reports (``activity``: type and audioOffset), what came in order
(``sequence``: voice activity, transcriptions, flags) and how many messages the SDK did
not know (``empty``: google-genai 1.20 turns voiceActivity into an empty message).
"""

import asyncio
import json
import struct
import sys
import time

from google import genai
from py_common import CHUNK_SECONDS, read_pcm, stream_audio

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


async def text(client, job):
    config = {"response_modalities": ["TEXT"], "temperature": 0.0, "max_output_tokens": 32}
    if job.get("system"):
        config["system_instruction"] = job["system"]
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(
            turns={"role": "user", "parts": [{"text": job["prompt"]}]})
        parts, usage = [], None
        async for message in session.receive():
            if message.text:
                parts.append(message.text)
            if message.usage_metadata:
                usage = message.usage_metadata.model_dump(exclude_none=True, mode="json")
        return {"text": "".join(parts), "usage": usage}


async def collect_turn(session, record):
    """One receive() turn: audio bytes, transcripts, the flags and voice activity seen,
    and what came in order (``sequence``)."""
    async for message in session.receive():
        content = message.server_content
        activity = getattr(message, "voice_activity", None)  # google-genai 2.x and later
        if activity is not None:
            kind = getattr(activity.voice_activity_type, "value", activity.voice_activity_type)
            record["activity"].append([kind, activity.audio_offset])
            record["sequence"].append(kind)
        if not message.model_dump(exclude_none=True):
            record["empty"] += 1  # a message this SDK does not know (1.20: voiceActivity)
        if message.data:
            if record["first_audio"] is None:
                record["first_audio"] = time.perf_counter() - record["t0"]
            record["audio"] += message.data
        if content is None:
            continue
        if content.input_transcription and content.input_transcription.text:
            record["input"].append(content.input_transcription.text)
            record["input_at"] = record["input_at"] or time.perf_counter() - record["t0"]
            timed(content.input_transcription, record["input_timed"])
            finished = getattr(content.input_transcription, "finished", None)
            record["sequence"].append("input_finished" if finished else "input")
        if content.output_transcription:
            timed(content.output_transcription, record["output_timed"])
        interim = getattr(content, "interim_input_transcription", None)  # SDK 2.x and later
        if interim is not None and interim.text:
            record["interim"].append([round(time.perf_counter() - record["t0"], 3),
                                      interim.text])
        if content.output_transcription and content.output_transcription.text:
            record["output"].append(content.output_transcription.text)
        # waiting_for_input: a proactive-audio turn the model chose not to answer (SDK 3.x)
        for flag in ("interrupted", "generation_complete", "turn_complete",
                     "waiting_for_input"):
            if getattr(content, flag, None):
                record["flags"].append(flag)
                record["sequence"].append(flag)


def timed(transcription, into):
    """A transcription with offsets (SDK 3.x ``start_offset``, ``words``), as it came."""
    if getattr(transcription, "start_offset", None) is None:
        return
    words = [[w.word, w.start_offset, w.end_offset] for w in transcription.words or ()]
    into.append({"text": transcription.text, "start": transcription.start_offset,
                 "end": transcription.end_offset, "words": words})


def new_record():
    return {"audio": b"", "input": [], "output": [], "flags": [], "first_audio": None,
            "input_at": None, "interim": [], "input_timed": [], "output_timed": [],
            "activity": [], "sequence": [], "empty": 0,
            "t0": time.perf_counter()}


def mark_ready(path):
    with open(path, "w") as f:
        f.write("connected")


def report(record, out):
    if out:
        with open(out, "wb") as f:
            f.write(record["audio"])
    return {"audio_bytes": len(record["audio"]), "input": record["input"],
            "output": record["output"], "flags": record["flags"],
            "first_audio": record["first_audio"], "input_at": record["input_at"],
            "interim": record["interim"], "input_timed": record["input_timed"],
            "output_timed": record["output_timed"], "activity": record["activity"],
            "sequence": record["sequence"], "empty": record["empty"]}


async def voice(client, job):
    record = new_record()
    try:
        return await voice_turn(client, job, record)
    except Exception as exc:
        if not job.get("report_close"):
            raise
        return {**report(record, job.get("out")),
                "close": {"code": getattr(exc, "code", None),
                          "reason": str(getattr(exc, "details", exc))}}


async def voice_turn(client, job, record):
    config = {"response_modalities": ["AUDIO"], "input_audio_transcription": {},
              "output_audio_transcription": {}, **job.get("config", {})}
    pcm = read_pcm(job["pcm"])
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        record["t0"] = time.perf_counter()  # times are from the connection, as before
        if job.get("manual"):  # automatic detection off: the client marks the turn
            async def mark_turn():
                await session.send_realtime_input(activity_start={})
                await stream_audio(session, pcm, job["rate"], 0.0)
                await session.send_realtime_input(activity_end={})

            sender = asyncio.create_task(mark_turn())
        else:
            sender = asyncio.create_task(stream_audio(session, pcm, job["rate"], 2.0))
        await asyncio.wait_for(collect_turn(session, record), 120)
        sender.cancel()
        return report(record, job.get("out"))


async def barge_in(client, job):
    config = {"response_modalities": ["AUDIO"], "input_audio_transcription": {},
              "output_audio_transcription": {},
              "realtime_input_config": {"automatic_activity_detection": {
                  "silence_duration_ms": 500}}}
    pcm = read_pcm(job["pcm"])
    over = read_pcm(job["pcm2"]) if job.get("pcm2") else pcm  # what the user says over it
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        first = new_record()
        silence = b"\0\0" * int(job["rate"] * CHUNK_SECONDS)

        async def microphone():
            # A live microphone keeps sending, silence included.
            await stream_audio(session, pcm, job["rate"], 0.0)
            while first["first_audio"] is None:
                await stream_audio(session, silence, job["rate"], 0.0)
            await stream_audio(session, over, job["rate"], 0.0)  # talk over the answer
            while True:
                await stream_audio(session, silence, job["rate"], 0.0)

        talker = asyncio.create_task(microphone())
        await asyncio.wait_for(collect_turn(session, first), 120)
        second = new_record()
        await asyncio.wait_for(collect_turn(session, second), 120)
        talker.cancel()
        return {"first": report(first, None), "second": report(second, job.get("out"))}


async def speakerphone(client, job):
    config = {"response_modalities": ["AUDIO"], "output_audio_transcription": {},
              "realtime_input_config": {"automatic_activity_detection": {
                  "silence_duration_ms": 500}}}
    pcm = read_pcm(job["pcm"])
    rate, delay, gain = job["rate"], job["delay"], job["gain"]
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        record = new_record()

        async def microphone():
            await stream_audio(session, pcm, rate, 0.0)
            # A loudspeaker and a microphone, both running on the clock: every 100 ms the
            # loudspeaker plays the next 100 ms of the answer it has received (silence
            # while none is there: an underrun delays the rest, as a real player's
            # buffer does), and the microphone hears what it played ``delay`` ago, at
            # ``gain`` (24 kHz, as it was received).
            step = int(24000 * CHUNK_SECONDS) * 2
            speaker = bytearray(b"\0\0" * int(24000 * delay))  # played, ``delay`` early
            played = 0  # bytes of the answer the loudspeaker has played
            heard = 0  # bytes of the loudspeaker's output the microphone has heard
            started = time.perf_counter()
            while True:
                if record["first_audio"] is not None:
                    out = record["audio"][played:played + step]
                    played += len(out)
                    speaker += out.ljust(step, b"\0")
                else:
                    speaker += b"\0" * step
                echo = bytes(speaker[heard:heard + step])
                heard += step
                samples = [max(-32768, min(32767, int(v * gain))) for (v,) in
                           struct.iter_unpack("<h", echo)]
                await session.send_realtime_input(
                    audio={"data": struct.pack(f"<{len(samples)}h", *samples),
                           "mime_type": "audio/pcm;rate=24000"})
                # paced by the clock, not by the sleeps: a late wake-up does not stretch
                # the microphone's stream
                wake = started + heard / 2 / 24000
                await asyncio.sleep(max(0.0, wake - time.perf_counter()))

        talker = asyncio.create_task(microphone())
        await asyncio.wait_for(collect_turn(session, record), 120)
        talker.cancel()
        return report(record, None)


async def go_away(client, job):
    """Wait on an idle session; report the goAway and how the connection ended."""
    seen = {"go_away": None, "close_code": None}
    config = {"response_modalities": ["TEXT"]}
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            if job.get("ready"):
                mark_ready(job["ready"])
            while True:
                async for message in session.receive():
                    if message.go_away:
                        left = message.go_away.time_left  # "2s" (a str in the SDK)
                        seen["go_away"] = float(str(left).rstrip("s"))
    except Exception as exc:  # noqa: BLE001 - the close is what we report
        seen["close_code"] = getattr(exc, "code", None)
        seen["error"] = str(exc)
    return seen


async def reply_and_handles(session, handles, consumed=None):
    """One turn's text, read as the seed reads it: receive() until turnComplete. The
    resumption handles seen go to ``handles`` (the one that includes the turn comes
    before its turnComplete), their lastConsumedClientMessageIndex to ``consumed``."""
    reply = ""
    async for message in session.receive():
        reply += message.text or ""
        update = message.session_resumption_update
        if update and update.new_handle:
            handles.append(update.new_handle)
            if consumed is not None:  # google-genai < 1.x may not know the field
                consumed.append(getattr(update, "last_consumed_client_message_index", None))
    return reply


async def resume(client, job):
    """A turn with resumption on, a new connection with the last handle, another turn."""
    out = {"handles": [], "consumed": []}

    async def one_turn(config, text):
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": text}]})
            return await reply_and_handles(session, out["handles"], out["consumed"])

    base = {"response_modalities": ["TEXT"]}
    out["first"] = await one_turn({**base, "session_resumption": {}},
                                  job.get("first_words", "My name is Ada."))
    if job.get("fail_first"):  # the server fails mid-session (1011) after that turn
        handles = list(out["handles"])
        try:
            await one_turn({**base, "session_resumption": {"handle": handles[-1]}},
                           "fail: the model breaks")
        except Exception as exc:  # noqa: BLE001 - the failure is the point
            out["failure"] = {"code": getattr(exc, "code", None), "message": str(exc)}
        out["handles"] = handles + [h for h in out["handles"] if h not in handles]
    handle = job.get("handle") or out["handles"][-1]
    try:
        out["handles_first"] = len(out["handles"])
        out["second"] = await one_turn(
            {**base, "session_resumption": {"handle": handle}}, "What is my name?")
    except Exception as exc:  # noqa: BLE001 - a refusal is what some jobs expect
        out["error"] = {"code": getattr(exc, "code", None), "message": str(exc)}
    return out


async def chat(client, job):
    """Several TEXT turns in one session with the job's config; the replies in order, and
    each turn's usageMetadata."""
    config = {"response_modalities": ["TEXT"], **job.get("config", {})}
    replies, usages = [], []
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        for text in job["turns"]:
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": text}]})
            reply, usage = "", None
            async for message in session.receive():
                reply += message.text or ""
                if message.usage_metadata:
                    usage = message.usage_metadata.model_dump(exclude_none=True, mode="json")
            replies.append(reply)
            usages.append(usage)
    return {"replies": replies, "usages": usages}


async def failover(client, job):
    """Talk on server A with resumption on; when A dies, resume on server B."""
    out = {"handles": []}
    config = {"response_modalities": ["TEXT"], "session_resumption": {}}
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": "My name is Ada."}]})
            # the handle that includes the turn comes before its turnComplete
            out["first"] = await reply_and_handles(session, out["handles"])
            mark_ready(job["ready"])
            while True:  # listen until server A goes away
                async for message in session.receive():
                    update = message.session_resumption_update
                    if update and update.new_handle:
                        out["handles"].append(update.new_handle)
    except Exception as exc:  # noqa: BLE001 - server A was killed: that is the point
        out["a_died"] = type(exc).__name__
    other = genai.Client(http_options={"base_url": job["second_url"]})
    resumed = {**config, "session_resumption": {"handle": out["handles"][-1]}}
    async with other.aio.live.connect(model=MODEL, config=resumed) as session:
        await session.send_client_content(
            turns={"role": "user", "parts": [{"text": "What is my name?"}]})
        out["second"] = ""
        async for message in session.receive():
            out["second"] += message.text or ""
    return out


async def see(client, job):
    """Video frames, then a question; then resume with the handle and ask again."""
    config = {"response_modalities": ["TEXT"], "session_resumption": {}}
    frames = [bytes.fromhex("ffd8ffe0") + bytes([i]) * 500 for i in range(3)]
    out = {"handles": []}

    async def ask(session, text):
        await session.send_realtime_input(text=text)
        return await reply_and_handles(session, out["handles"])

    async with client.aio.live.connect(model=MODEL, config=config) as session:
        for data in frames:  # a camera at a few frames a second
            await session.send_realtime_input(video={"data": data, "mime_type": "image/jpeg"})
            await asyncio.sleep(0.2)
        out["first"] = await ask(session, "What do you see?")
    resumed = {**config, "session_resumption": {"handle": out["handles"][-1]}}
    async with client.aio.live.connect(model=MODEL, config=resumed) as session:
        out["second"] = await ask(session, "Is it still there?")
    return out


async def too_large(client, job):
    """One text turn of ``job["bytes"]`` bytes; how the session ends (APIError's code and
    details, as google-genai 2.x and 3.x raise a close frame) and how long it took."""
    config = {"response_modalities": ["TEXT"]}
    started = time.perf_counter()
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": "word " * (job["bytes"] // 5)}]})
            async for _ in session.receive():
                pass
    except Exception as exc:  # noqa: BLE001 - the close frame, as the SDK raises it
        return {"code": getattr(exc, "code", None), "reason": str(getattr(exc, "details", exc)),
                "seconds": time.perf_counter() - started}
    return {"code": None, "reason": "", "seconds": time.perf_counter() - started}


async def usage(client, job):
    """Stream the PCM file in real time, then silence, until ``turnComplete``; report the
    turn's ``usageMetadata``, the seconds of audio sent before it came and the answer's
    audio bytes."""
    config = {"response_modalities": ["AUDIO"], **job.get("config", {})}
    pcm, rate = read_pcm(job["pcm"]), job["rate"]
    step = int(rate * CHUNK_SECONDS) * 2
    data = pcm + b"\0\0" * int(rate * job.get("silence", 2.0))
    sent = {"bytes": 0}
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        async def microphone():
            for i in range(0, len(data), step):
                chunk = data[i:i + step]
                await session.send_realtime_input(
                    audio={"data": chunk, "mime_type": f"audio/pcm;rate={rate}"})
                sent["bytes"] += len(chunk)
                await asyncio.sleep(CHUNK_SECONDS)

        talker = asyncio.create_task(microphone())
        record, metadata, sent_at_usage = new_record(), None, None
        async for message in session.receive():
            record["audio"] += message.data or b""
            if message.usage_metadata:
                metadata = message.usage_metadata.model_dump(exclude_none=True, mode="json")
                sent_at_usage = sent["bytes"] / 2 / rate
        talker.cancel()
    return {"usage": metadata, "sent_seconds": sent_at_usage,
            "audio_bytes": len(record["audio"])}


async def flood(client, job):
    """``job["turns"]`` text turns sent back to back without waiting, then every message
    until as many ``turnComplete`` came (or the session closed): counts, the last turn's
    text, and the close code and reason if any."""
    config = {"response_modalities": ["TEXT"], **job.get("config", {})}
    out = {"turn_complete": 0, "interrupted": 0, "texts": [], "code": None, "reason": None}
    started = time.perf_counter()
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            for i in range(job["turns"]):
                text = f"Turn {i}. {job.get('padding', '')}".strip()
                await session.send_client_content(
                    turns={"role": "user", "parts": [{"text": text}]})
            while out["turn_complete"] < job["turns"]:
                reply = ""
                async for message in session.receive():
                    reply += message.text or ""
                    content = message.server_content
                    if content and content.interrupted:
                        out["interrupted"] += 1
                    if content and content.turn_complete:
                        out["turn_complete"] += 1
                out["texts"].append(reply)
    except Exception as exc:  # noqa: BLE001 - the close frame, as the SDK raises it
        out["code"] = getattr(exc, "code", None)
        out["reason"] = str(getattr(exc, "details", exc))
    out["seconds"] = time.perf_counter() - started
    return out


async def main():
    job = json.loads(sys.argv[1])
    client = genai.Client()
    run = {"text": text, "voice": voice, "barge_in": barge_in, "speakerphone": speakerphone,
           "go_away": go_away,
           "resume": resume, "chat": chat, "failover": failover, "see": see,
           "too_large": too_large, "usage": usage, "flood": flood}[job["mode"]]
    print(json.dumps(await run(client, job)))


asyncio.run(main())
