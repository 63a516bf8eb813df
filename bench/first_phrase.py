"""How long a first spoken piece should be: Piper's time to first audio by piece length,
and what cutting an answer into pieces does to how well it is understood.

Issue 12 asks to speak sooner with "the smallest natural first phrase". The language
model writes about one token per 45 ms on two cores, so each word a first piece waits
for costs about that; Piper's first chunk may cost more for a longer piece. For each
answer sentence and each first-piece length N (words), in-process on the default Piper
voice:

* **first chunk**: wall time from asking Piper for the first N words to its first audio
  chunk (p50 over the sentences and repetitions), and the piece's audio length;
* **intelligibility**: the first N words and the rest are synthesized as two pieces
  (as the server speaks them) and joined; Whisper base transcribes the whole, and the
  word error rate against the sentence is compared with the sentence synthesized whole.
  A cut in a bad place shows as words lost or misheard at the seam.

    .venv/bin/python bench/first_phrase.py
    .venv/bin/python bench/first_phrase.py --lengths 1 2 3 4 6 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
from lib.stats import pct
from textnorm import word_errors

from openlive.engines.asr.whisper import WhisperRecognizer
from openlive.engines.tts.piper import PiperSynthesizer

SENTENCES = (
    "There are seven days in a week, and each of them has a name.",
    "The capital of France is Paris, a city on the river Seine.",
    "A spider has eight legs and most spiders spin webs to catch insects.",
    "Bees make honey from the nectar of flowers they visit.",
    "Water freezes at zero degrees Celsius and boils at one hundred.",
    "The sky looks blue on a clear day because air scatters blue light.",
)
VOICE = "Puck"
RATE = 24_000


async def first_chunk(piper: PiperSynthesizer, text: str) -> tuple[float, bytes]:
    """Seconds to the first audio chunk of ``text``, and all of its audio."""
    started, first, chunks = time.perf_counter(), None, []
    async for chunk in piper.synthesize(text, voice=VOICE):
        if first is None:
            first = time.perf_counter() - started
        chunks.append(chunk)
    return first or 0.0, b"".join(chunks)


async def audio(piper: PiperSynthesizer, text: str) -> bytes:
    return (await first_chunk(piper, text))[1]


def to_16k(pcm24k: bytes) -> bytes:
    import soxr

    samples = np.frombuffer(pcm24k, dtype="<i2").astype(np.float32)
    return np.asarray(soxr.resample(samples, RATE, 16_000)).astype("<i2").tobytes()


async def run(lengths: list[int], reps: int) -> list[str]:
    piper, whisper = PiperSynthesizer(), WhisperRecognizer()
    rows = []
    whole_errors = whole_words = 0
    for sentence in SENTENCES:
        heard = await whisper.transcribe(to_16k(await audio(piper, sentence)), language="en")
        e, n = word_errors(sentence, heard.text)
        whole_errors, whole_words = whole_errors + e, whole_words + n
    for length in lengths:
        firsts, seconds, errors, words = [], [], 0, 0
        for sentence in SENTENCES:
            head, tail = " ".join(sentence.split()[:length]), " ".join(sentence.split()[length:])
            for _ in range(reps):
                latency, pcm = await first_chunk(piper, head)
                firsts.append(latency)
            seconds.append(len(pcm) / 2 / RATE)
            joined = pcm + (await audio(piper, tail) if tail else b"")
            heard = await whisper.transcribe(to_16k(joined), language="en")
            e, n = word_errors(sentence, heard.text)
            errors, words = errors + e, words + n
        rows.append(f"| {length} | {1000 * pct(firsts, 0.5):.0f} / {1000 * pct(firsts, 0.95):.0f} ms "
                    f"| {pct(seconds, 0.5):.2f} s | {100 * errors / words:.1f} % |")
    await piper.aclose()
    await whisper.aclose()
    head = ("| first piece (words) | Piper first chunk p50 / p95 | its audio p50 "
            "| WER of the answer spoken in two pieces |")
    return [head, "|---|---|---|---|", *rows,
            f"| whole sentence | – | – | {100 * whole_errors / whole_words:.1f} % |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(asyncio.run(run(args.lengths, args.reps))))


if __name__ == "__main__":
    main()
