"""How sure Whisper base is of the language of each evaluation item, and of English.

The recognizer detects the language of a session that sets no ``languageCode``. This
prints, per item of the evaluation set (``bench/evalset.py``), the detected language,
its probability, and the probability of English, as the server computes them (the same
padded window, the same model), then a table per voice kind and true language: how many
items each rule would transcribe in the wrong language. It is how the rule in
``engines/asr/whisper.py`` (``LanguageRule``) was chosen (docs/asr.md).

    .venv/bin/python bench/language_id.py                  # every speech item
    .venv/bin/python bench/language_id.py --items 'human-*' --verbose
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from evalset import DEFAULT_CACHE, build, load_items, select
from lib.tables import header, row

from openlive.audio.pcm import pcm16_to_float32
from openlive.audio.resample import input_resampler
from openlive.engines.asr.whisper import (
    LanguageRule,
    WhisperRecognizer,
)

SPEECH_KINDS = ("transcribe", "question", "pause", "barge-stop")
SWITCH = (0.8, 0.9)
RULES = {
    "top if p >= 0.5, else en (before)": LanguageRule(min_probability=0.5, floor=0.0),
    "top if p >= 0.8, else en": LanguageRule(min_probability=0.8, floor=0.0),
    "en if P(en) >= 0.05, else top if p >= 0.5": LanguageRule(min_probability=0.5,
                                                              floor=0.05),
    "en if P(en) >= 0.05, else top if p >= 0.4 (now)": LanguageRule(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", action="append", default=[], metavar="GLOB")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--verbose", action="store_true", help="a line per item")
    args = parser.parse_args()
    items = [i for i in select(load_items(), args.items) if i.kind in SPEECH_KINDS]
    built = build(items, args.cache, quiet=True)
    recognizer = WhisperRecognizer(preload=True)
    groups: dict[str, list[tuple[str, dict[str, float]]]] = defaultdict(list)
    for item in items:
        resampler = input_resampler(item.rate)  # as the server hears it
        pcm = resampler.process(built[item.id].pcm()) + resampler.flush()
        scores = recognizer.language_scores(pcm16_to_float32(pcm))
        truth = item.language.split("-")[0]
        groups[f"{item.voice_kind}, {truth}"].append((truth, scores))
        if args.verbose:
            top = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
            print(f"{item.id:32} {truth}  " + "  ".join(f"{k} {v:.2f}" for k, v in top)
                  + f"  P(en) {scores.get('en', 0.0):.2f}", file=sys.stderr)
    names = list(RULES)
    print("\n".join(header("voices", "items", *(f"wrong: {n}" for n in names))))
    for group, scored in sorted(groups.items()):
        wrong = [sum(RULES[n].choose(s) != truth for truth, s in scored) for n in names]
        print(row(group, len(scored), *(f"{w}/{len(scored)}" for w in wrong)))
    # A session that expects a language (it heard it before): wrong when it expects the
    # one spoken (it must keep it) and, for other languages, when it expects English
    # (the user switched: it must follow), per switch threshold.
    print()
    print("\n".join(header("voices", "items", *(f"{kind}, switch at {p}" for p in SWITCH
                                                for kind in ("kept wrong", "switch missed")))))
    for group, scored in sorted(groups.items()):
        cells: list[str] = []
        for switch in SWITCH:
            rule = LanguageRule(switch_probability=switch)
            kept = sum(rule.choose(s, expected=truth) != truth for truth, s in scored)
            other = [(t, s) for t, s in scored if t != "en"]
            missed = sum(rule.choose(s, expected="en") != t for t, s in other)
            cells += [f"{kept}/{len(scored)}", f"{missed}/{len(other)}" if other else "–"]
        print(row(group, len(scored), *cells))


if __name__ == "__main__":
    main()
