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

With ``--seam``, instead: how natural the seam sounds, by objective prosodic proxies (no
human raters or MOS model here), the same sentence synthesized whole being the reference
for natural. Each answer is cut where the server would with a first-piece size of N
(:func:`~openlive.session.chunker.split_text` with ``first_clause_words`` and
``first_phrase_words`` = N: a comma or a phrase opener may make the piece longer than N)
and, separately, plainly after N words; the pieces are synthesized one by one and joined
exactly as the server sends them (no gap added or trimmed). At the seam:

* **silence**: ms below a level threshold between the last voiced frame of piece 1 and
  the first of piece 2, against the longest such run the whole rendition has at the same
  word boundary (located by the first piece alone: where its speech ends, searched
  -250/+150 ms around, since a piece spoken alone lengthens its last syllable). Stop
  closures inside a sentence count too, so a whole rendition rarely shows 0 ms;
* **pitch**: YIN F0 (:func:`openlive.audio.prosody.yin_pitch`), median over the last
  200 ms of voiced audio before the seam, two-piece minus whole in semitones (negative:
  piece 1 falls as a sentence end would); and the **reset** into piece 2 (median F0 of
  its first 200 ms voiced minus that of the last 200 ms of piece 1), two-piece minus
  the whole's over the same boundary (positive: a restart higher than the whole's).

    .venv/bin/python bench/first_phrase.py
    .venv/bin/python bench/first_phrase.py --lengths 1 2 3 4 6 --reps 3
    .venv/bin/python bench/first_phrase.py --seam --lengths 1 2 3 4 6 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from lib.stats import pct
from textnorm import word_errors

from openlive.audio.prosody import FRAME, HOP, yin_pitch
from openlive.engines.asr.whisper import WhisperRecognizer
from openlive.engines.tts.piper import PiperSynthesizer
from openlive.session.chunker import split_text

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


SEAM_RATE = 16_000  # what the YIN helper measures
LEVEL_HOP = 160  # 10 ms frames for the silence measure, at SEAM_RATE
SILENCE_BELOW_DB = 35.0  # a frame is silent this far below the loud (95th pct) frames
SILENCE_FLOOR_DB = -50.0  # and always when quieter than this
EDGE_SECONDS = 0.2  # the span of voiced audio whose median pitch is compared
SEARCH = (-0.25, 0.1)  # seconds around piece 1's speech end where the whole's pause starts
OCTAVE_ABOVE = 1.7  # YIN's octave errors: F0 this far above the rendition's median is halved


@dataclass(frozen=True, slots=True)
class Track:
    """One rendition's frame-level analysis: 10 ms frames, silent or not, and F0 (NaN
    where unvoiced) at the frame centres."""

    loud: npt.NDArray[np.bool_]
    f0_time: npt.NDArray[np.float64]
    f0: npt.NDArray[np.float64]

    @staticmethod
    def of(pcm24k: bytes) -> Track:
        samples = np.frombuffer(to_16k(pcm24k), dtype="<i2").astype(np.float64) / 32768.0
        count = len(samples) // LEVEL_HOP
        blocks = samples[: count * LEVEL_HOP].reshape(count, LEVEL_HOP)
        level = 10.0 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
        loud = level > max(SILENCE_FLOOR_DB, float(np.percentile(level, 95)) - SILENCE_BELOW_DB)
        starts = np.arange(0, max(len(samples) - FRAME, 0) + 1, HOP)
        frames = samples[starts[:, None] + np.arange(FRAME)[None, :]]
        f0 = yin_pitch(frames - frames.mean(axis=1, keepdims=True))
        centre = (starts + FRAME / 2) / SEAM_RATE
        f0[~loud[np.minimum((centre * SEAM_RATE) // LEVEL_HOP, count - 1).astype(int)]] = np.nan
        # The default voice speaks at 70-140 Hz; YIN now and then takes the first harmonic
        # (a 100 Hz stretch reads 200 Hz), which would swamp a median over 200 ms.
        if not np.isnan(f0).all():
            f0 = np.where(f0 > OCTAVE_ABOVE * np.nanmedian(f0), f0 / 2.0, f0)
        return Track(loud, centre, f0)

    def speech_end(self) -> float:
        """Seconds to the end of the last loud frame."""
        return float(np.flatnonzero(self.loud)[-1] + 1) * LEVEL_HOP / SEAM_RATE

    def pause_near(self, at: float) -> tuple[float, float]:
        """The longest silent run starting within ``at`` + :data:`SEARCH` (start, end
        seconds); an empty run at ``at`` when there is none."""
        step = LEVEL_HOP / SEAM_RATE
        low, high = max(int((at + SEARCH[0]) / step), 1), int((at + SEARCH[1]) / step)
        best = (at, at)
        for start in range(low, min(high, len(self.loud) - 1) + 1):
            if self.loud[start] or not self.loud[start - 1]:
                continue  # not the start of a silent run
            end = start
            while end < len(self.loud) and not self.loud[end]:
                end += 1
            if (end - start) * step > best[1] - best[0]:
                best = (start * step, end * step)
        return best

    def pitch(self, start: float, end: float, *, before: bool) -> float:
        """Median F0 of the first (``before=False``) or last :data:`EDGE_SECONDS` of voiced
        frames between ``start`` and ``end`` seconds; NaN when none are voiced."""
        inside = (self.f0_time >= start) & (self.f0_time < end) & ~np.isnan(self.f0)
        times, values = self.f0_time[inside], self.f0[inside]
        if len(values) == 0:
            return float("nan")
        keep = times > times[-1] - EDGE_SECONDS if before else times < times[0] + EDGE_SECONDS
        return float(np.median(values[keep]))


def semitones(a: float, b: float) -> float:
    return float(12.0 * np.log2(a / b))


@dataclass(slots=True)
class SeamStats:
    """Per-seam measurements of one cut and first-piece size, over sentences and reps."""

    words: list[int] = field(default_factory=list)
    seam_ms: list[float] = field(default_factory=list)
    whole_ms: list[float] = field(default_factory=list)
    end_st: list[float] = field(default_factory=list)
    reset_st: list[float] = field(default_factory=list)

    def add(self, head: bytes, tail: bytes, whole: bytes, words: int) -> None:
        self.words.append(words)
        piece, rest, ref = Track.of(head), Track.of(tail), Track.of(whole)
        first_loud = float(np.flatnonzero(rest.loud)[0]) * LEVEL_HOP / SEAM_RATE
        head_end = piece.speech_end()
        self.seam_ms.append(1000 * (len(piece.loud) * LEVEL_HOP / SEAM_RATE - head_end
                                    + first_loud))
        pause = ref.pause_near(head_end)
        self.whole_ms.append(1000 * (pause[1] - pause[0]))
        end_two, end_whole = piece.pitch(0, 1e9, before=True), ref.pitch(0, pause[0], before=True)
        start_two, start_whole = rest.pitch(0, 1e9, before=False), ref.pitch(pause[1], 1e9,
                                                                             before=False)
        self.end_st.append(semitones(end_two, end_whole))
        self.reset_st.append(semitones(start_two, end_two) - semitones(start_whole, end_whole))

    def row(self, label: str) -> str:
        def med(values: list[float], unit: str, sign: str) -> str:
            """Median (10th … 90th percentile), NaN (no voiced frames) left out."""
            real = [v for v in values if not np.isnan(v)]
            low, mid, high = np.percentile(real, [10, 50, 90])
            return f"{mid:{sign}.0f} {unit} ({low:{sign}.0f} … {high:{sign}.0f})" if unit == "ms" \
                else f"{mid:{sign}.1f} {unit} ({low:{sign}.1f} … {high:{sign}.1f})"
        return (f"| {label} | {np.median(self.words):.0f} | {med(self.seam_ms, 'ms', '')} "
                f"| {med(self.whole_ms, 'ms', '')} | {med(self.end_st, 'st', '+')} "
                f"| {med(self.reset_st, 'st', '+')} | {len(self.words)} |")


async def seam(lengths: list[int], reps: int) -> list[str]:
    """The seam table (see the module docstring), one row per cut and first-piece size."""
    piper = PiperSynthesizer()
    rows = []
    for cut in ("server", "words"):
        for length in lengths:
            stats = SeamStats()
            for sentence in SENTENCES:
                if cut == "server":
                    pieces = split_text(sentence, first_clause_words=length,
                                        first_phrase_words=length)
                else:
                    words = sentence.split()
                    pieces = [" ".join(words[:length]), " ".join(words[length:])]
                if len(pieces) < 2 or not pieces[1]:
                    continue  # spoken in one piece: no seam
                for _ in range(reps):  # Piper samples its prosody: a fresh draw each time
                    head = await audio(piper, pieces[0])
                    tail = b"".join([await audio(piper, p) for p in pieces[1:]])
                    whole = await audio(piper, sentence)
                    stats.add(head, tail, whole, len(pieces[0].split()))
            label = f"{length} ({'chunker' if cut == 'server' else 'plain'})"
            rows.append(stats.row(label))
    await piper.aclose()
    header = ("| N (cut) | piece 1 words p50 | silence at the seam, two pieces | same boundary, whole "
            "| pitch before the seam, two-piece − whole | F0 reset into piece 2, two-piece − whole "
            "| seams |")
    return [header, "|---|---|---|---|---|---|---|", *rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seam", action="store_true",
                        help="measure how natural the seam sounds instead (module docstring)")
    args = parser.parse_args()
    if args.seam:
        print("\n".join(asyncio.run(seam(args.lengths, args.reps))))
        return
    print("\n".join(asyncio.run(run(args.lengths, args.reps))))


if __name__ == "__main__":
    main()
