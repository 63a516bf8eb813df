"""Sound for ``openlive talk``: WAV files in and out, and the sound card (optional).

A WAV file of any rate, width and channel count is read as 16-bit mono and resampled to
16 kHz with the server's own resampler. The sound card is reached through
``sounddevice`` (the ``talk`` extra), which needs the PortAudio library; where either is
missing, :func:`open_microphone` and :func:`open_speaker` raise a :class:`TalkError`
that says so and points at ``--input`` / ``--output``.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np

from openlive.audio.resample import StreamResampler
from openlive.talk.wire import INPUT_RATE, OUTPUT_RATE, TalkError

CHUNK_SECONDS = 0.02  # 20 ms per message, as a browser or phone sends
LOUD_RMS = 0.015  # a chunk louder than this (of full scale) counts as speech for timing

NO_SOUND = ("no sound device: {why}. Use --input FILE.wav to send a recording and "
            "--output FILE.wav to save the answer.")


def read_wav(path: Path) -> bytes:
    """``path`` as 16-bit mono PCM at 16 kHz (any rate, 8/16/24/32-bit, any channels)."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise TalkError(f"cannot read {path} as a WAV file: {exc}") from None
    samples = _to_float(raw, width).reshape(-1, channels).mean(axis=1)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    resampler = StreamResampler(INPUT_RATE, in_rate=rate)
    return resampler.process(pcm) + resampler.flush()


def _to_float(raw: bytes, width: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    if width == 1:  # unsigned 8-bit
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128) / 128
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float64) / 32768
    if width == 3:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        wide = (bytes3[:, 0].astype(np.int32) | (bytes3[:, 1].astype(np.int32) << 8)
                | (bytes3[:, 2].astype(np.int32) << 16))
        wide = np.where(wide >= 1 << 23, wide - (1 << 24), wide)
        return wide.astype(np.float64) / (1 << 23)
    if width == 4:
        return np.frombuffer(raw, "<i4").astype(np.float64) / (1 << 31)
    raise TalkError(f"WAV sample width of {width} bytes is not supported")


def chunks(pcm: bytes, seconds: float = CHUNK_SECONDS) -> list[bytes]:
    """16 kHz PCM cut into messages of ``seconds``."""
    step = int(INPUT_RATE * seconds) * 2
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]


def is_loud(pcm: bytes) -> bool:
    """Whether a chunk sounds like speech (for the client's own end-of-speech time)."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    return bool(samples.size) and float(np.sqrt(np.mean(samples * samples))) > LOUD_RMS


class WavWriter:
    """The answers' audio, appended to a 24 kHz 16-bit mono WAV file as it arrives."""

    def __init__(self, path: Path) -> None:
        try:
            self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise TalkError(f"cannot write {path}: {exc}") from None
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(OUTPUT_RATE)

    def write(self, pcm: bytes) -> None:
        self._wav.writeframes(pcm)

    def interrupt(self) -> None:
        """A file has nothing queued to drop: what arrived was the answer so far."""

    def close(self) -> None:
        self._wav.close()


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise TalkError(NO_SOUND.format(
            why="the sounddevice package is not installed (pip install 'openlive[talk]')"),
        ) from None
    except OSError as exc:  # the package is there, the PortAudio library is not
        raise TalkError(NO_SOUND.format(
            why=f"PortAudio is missing ({exc}; apt-get install libportaudio2)")) from None
    return sounddevice


class Speaker:
    """Plays 24 kHz PCM as it arrives; :meth:`interrupt` drops what has not played."""

    def __init__(self) -> None:
        sd = _sounddevice()
        self._lock = threading.Lock()
        self._queue = bytearray()
        try:
            self._stream = sd.RawOutputStream(samplerate=OUTPUT_RATE, channels=1,
                                              dtype="int16", callback=self._fill)
            self._stream.start()
        except sd.PortAudioError as exc:  # no output device, a busy device…
            raise TalkError(NO_SOUND.format(why=f"cannot play audio ({exc})")) from None

    def _fill(self, out: Any, frames: int, _time: Any, _status: Any) -> None:
        with self._lock:
            n = min(len(self._queue), len(out))
            out[:n] = self._queue[:n]
            del self._queue[:n]
        out[n:] = b"\0" * (len(out) - n)

    def write(self, pcm: bytes) -> None:
        with self._lock:
            self._queue += pcm

    def interrupt(self) -> None:
        with self._lock:
            self._queue.clear()

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


class Microphone:
    """16 kHz PCM chunks from the default input device, read with :meth:`read`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        sd = _sounddevice()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

        def captured(data: Any, _frames: int, _time: Any, _status: Any) -> None:
            loop.call_soon_threadsafe(self._queue.put_nowait, bytes(data))

        try:
            self._stream = sd.RawInputStream(samplerate=INPUT_RATE, channels=1, dtype="int16",
                                             blocksize=int(INPUT_RATE * CHUNK_SECONDS),
                                             callback=captured)
            self._stream.start()
        except sd.PortAudioError as exc:  # no input device, a busy device…
            raise TalkError(NO_SOUND.format(why=f"cannot record ({exc})")) from None

    async def read(self) -> bytes:
        return await self._queue.get()

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
