"""Audio in the shapes other servers take and give.

Out: an utterance as a WAV file (:func:`wav_file`), what ``/v1/audio/transcriptions``
uploads. In: speech at whatever rate, width and channel count the server chose, as it
arrives, turned into openlive's 24 kHz 16-bit mono chunks of at most 100 ms
(:class:`SpeechOutput`), with the project's streaming resampler so that chunk joins do
not click; and a WAV stream whose header arrives before its samples
(:class:`WavStreamReader`), for servers that stream WAV.
"""

from __future__ import annotations

import io
import struct
import wave

import numpy as np

from openlive.audio.pcm import DEFAULT_INPUT_RATE
from openlive.audio.resample import output_resampler
from openlive.engines.tts.base import OUTPUT_RATE
from openlive.errors import EngineError

CHUNK_BYTES = OUTPUT_RATE // 10 * 2  # 100 ms of 24 kHz 16-bit mono: the largest chunk yielded


def wav_file(pcm: bytes, rate: int = DEFAULT_INPUT_RATE) -> bytes:
    """16-bit mono PCM as a complete WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


class SpeechOutput:
    """Speech from a server in, 24 kHz 16-bit mono chunks of at most 100 ms out; one per call.

    ``push`` takes each piece as it comes with the format it declares (8-, 16- or 32-bit
    integer samples, interleaved channels, any rate) and returns what is ready at once;
    ``finish`` drains the resampler, so the last samples are not lost.
    """

    def __init__(self) -> None:
        self._resampler = output_resampler()
        self._partial = b""  # input bytes short of a whole frame

    def push(self, data: bytes, *, rate: int, width: int = 2, channels: int = 1) -> list[bytes]:
        """Chunks ready after ``data`` (possibly none)."""
        frame = width * channels
        data = self._partial + data
        whole = len(data) - len(data) % frame
        self._partial = data[whole:]
        mono = _mono16(data[:whole], width, channels)
        return self._chunks(self._resampler.process(mono, rate) if mono else b"")

    def finish(self) -> list[bytes]:
        """The rest: what the resampler holds."""
        self._partial = b""
        return self._chunks(self._resampler.flush())

    @staticmethod
    def _chunks(pcm: bytes) -> list[bytes]:
        # Nothing is held back to fill a chunk: the first audio goes out as it comes.
        return [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]


def _mono16(data: bytes, width: int, channels: int) -> bytes:
    """Interleaved ``width``-byte integer samples as 16-bit mono (channels averaged)."""
    if width == 2 and channels == 1:
        return data
    if width == 2:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32)
    elif width == 4:
        samples = np.frombuffer(data, dtype="<i4").astype(np.float32) / 65536.0
    elif width == 1:  # WAV's 8-bit samples are unsigned
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) * 256.0
    else:
        raise EngineError(f"speech server sent {width * 8}-bit samples, which openlive cannot read")
    mono = samples.reshape(-1, channels).mean(axis=1)
    return bytes(np.clip(mono, -32768, 32767).astype("<i2").tobytes())


class WavStreamReader:
    """A WAV file read as it arrives: the format once the header is in, then samples.

    Streaming servers write the header first, with unknown sizes (0 or 0xFFFFFFFF), so
    the ``data`` chunk is read to the end of the stream whatever its declared size.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self.rate: int | None = None
        self.width = 2
        self.channels = 1
        self._in_data = False

    def feed(self, data: bytes) -> bytes:
        """The sample bytes in ``data`` (after the header, once it is complete)."""
        if self._in_data:
            return data
        self._buffer += data
        return self._parse()

    def _parse(self) -> bytes:
        buffer = self._buffer
        if len(buffer) < 12:
            return b""
        if buffer[:4] != b"RIFF" or buffer[8:12] != b"WAVE":
            raise EngineError(f"speech server sent audio that is not WAV: {buffer[:12]!r}")
        offset = 12
        while len(buffer) >= offset + 8:
            kind, size = buffer[offset : offset + 4], struct.unpack("<I", buffer[offset + 4 : offset + 8])[0]
            body = offset + 8
            if kind == b"data":
                if self.rate is None:
                    raise EngineError("speech server sent WAV samples before their format")
                self._in_data = True
                self._buffer = b""
                return buffer[body:]
            if len(buffer) < body + size:
                return b""  # the rest of this chunk has not arrived
            if kind == b"fmt ":
                fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", buffer[body : body + 16])
                if fmt not in (1, 0xFFFE):  # PCM, or PCM in WAVE_FORMAT_EXTENSIBLE
                    raise EngineError(f"speech server sent WAV format {fmt}, not PCM")
                self.rate, self.channels, self.width = rate, channels, bits // 8
            offset = body + size + size % 2  # chunks are padded to even sizes
        return b""
