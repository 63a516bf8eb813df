"""Raw 16-bit PCM: what a client's audio MIME type means, and sample conversions.

The Live API takes realtime audio as raw signed 16-bit little-endian mono PCM, with
the sample rate in the MIME type (spec §4.3, §11): ``audio/pcm;rate=16000``. Call
:func:`parse_audio_mime` on the ``mimeType`` of every ``realtimeInput.audio`` (or
``mediaChunks``) blob and :func:`check_pcm_bytes` on its decoded data; both raise
:class:`~openlive.errors.InvalidArgument` (close 1007) with a reason a person can act on.

Accepted spellings (case and spaces do not matter, parameters in any order):
``audio/pcm``, ``audio/pcm;rate=24000``, ``audio/L16;rate=8000;channels=1``,
``audio/x-pcm``, ``audio/raw``. Without ``rate`` the rate is 16 kHz. ``audio/L16`` is
read as little-endian, like everything else here, because that is what clients of the
hosted API send under that name (RFC 2586 would make it big-endian). Parameters we do
not know (``encoding``, ``endianness`` …) are ignored, except ``channels`` and
``bits``/``width``, which must say mono 16-bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from openlive.errors import InvalidArgument

SAMPLE_WIDTH = 2  # bytes per sample: signed 16-bit
DEFAULT_INPUT_RATE = 16_000  # what a MIME type without ``rate`` means
OUTPUT_RATE = 24_000  # every audio part the server sends
MIN_RATE = 4_000
MAX_RATE = 192_000

_PCM_TYPES = frozenset({"audio/pcm", "audio/l16", "audio/x-pcm", "audio/raw"})
_SUPPORTED_HINT = "send raw 16-bit PCM as audio/pcm;rate=16000"
_INT16_SCALE = 32768.0

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class PcmFormat:
    """Raw signed 16-bit little-endian mono PCM at ``rate`` samples per second."""

    rate: int = DEFAULT_INPUT_RATE

    @property
    def mime_type(self) -> str:
        """The canonical MIME type, e.g. ``audio/pcm;rate=24000``."""
        return f"audio/pcm;rate={self.rate}"

    @property
    def bytes_per_second(self) -> int:
        return self.rate * SAMPLE_WIDTH

    def duration_s(self, nbytes: int) -> float:
        """Seconds of audio in ``nbytes`` bytes of this format."""
        return nbytes / self.bytes_per_second

    def byte_count(self, seconds: float) -> int:
        """Whole-sample byte count closest to ``seconds`` of audio."""
        return round(seconds * self.rate) * SAMPLE_WIDTH


INPUT_16K = PcmFormat(16_000)
OUTPUT_24K = PcmFormat(OUTPUT_RATE)


def parse_audio_mime(mime_type: str | None) -> PcmFormat:
    """Read a client's audio MIME type; raise InvalidArgument unless it is mono 16-bit PCM.

    Cached: a session sends the same string with every chunk.
    """
    if not mime_type or not mime_type.strip():
        raise InvalidArgument(f"audio mimeType is missing: {_SUPPORTED_HINT}")
    return _parse(mime_type)


@lru_cache(maxsize=256)
def _parse(mime_type: str) -> PcmFormat:
    media_type, *params = (part.strip() for part in mime_type.split(";"))
    media_type = media_type.replace(" ", "").lower()
    shown = _shown(mime_type)
    if media_type not in _PCM_TYPES:
        raise InvalidArgument(f"{shown} is not supported: {_SUPPORTED_HINT}")
    values = _parameters(params, shown)
    if values.get("channels", "1") != "1":
        raise InvalidArgument(f"{shown}: only mono audio is supported (channels=1)")
    for key in ("bits", "width"):
        if values.get(key, "16") != "16":
            raise InvalidArgument(f"{shown}: only 16-bit samples are supported")
    return PcmFormat(_rate(values.get("rate"), shown))


def _shown(mime_type: str) -> str:
    """The client's MIME type, short enough to quote in a 123-byte close reason."""
    cleaned = mime_type.strip()
    return cleaned if len(cleaned) <= 40 else cleaned[:37] + "..."


def _parameters(params: list[str], shown: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for param in params:
        if not param:
            continue  # a trailing ";"
        key, sep, value = param.partition("=")
        if not sep:
            raise InvalidArgument(f"{shown}: malformed parameter {param[:20]!r}")
        values[key.strip().lower()] = value.strip().strip('"').lower()
    return values


def _rate(value: str | None, shown: str) -> int:
    if value is None:
        return DEFAULT_INPUT_RATE
    try:
        rate = int(value)
    except ValueError:
        raise InvalidArgument(f"{shown}: rate must be a whole number of Hz") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InvalidArgument(f"{shown}: rate must be between {MIN_RATE} and {MAX_RATE} Hz")
    return rate


def check_pcm_bytes(data: bytes | bytearray | memoryview) -> None:
    """Refuse audio data that is not a whole number of 16-bit samples (1007)."""
    if len(data) % SAMPLE_WIDTH:
        raise InvalidArgument(
            f"audio data has an odd length ({len(data)} bytes): 16-bit PCM needs whole samples"
        )


def pcm16_to_float32(data: bytes | bytearray | memoryview) -> FloatArray:
    """16-bit PCM bytes → a new, writable float32 array in [-1, 1)."""
    check_pcm_bytes(data)
    samples = np.frombuffer(data, dtype="<i2")
    return samples.astype(np.float32) * np.float32(1.0 / _INT16_SCALE)


def float32_to_pcm16(samples: npt.ArrayLike) -> bytes:
    """Float samples in [-1, 1] → 16-bit PCM bytes (clipped, rounded to nearest)."""
    array = np.asarray(samples, dtype=np.float32)
    scaled = np.clip(np.rint(array * _INT16_SCALE), -32768, 32767)
    pcm: bytes = scaled.astype("<i2").tobytes()
    return pcm
