"""Coverage-guided fuzzing of ``decode_client_message`` with atheris (libFuzzer for Python).

The property: any frame, text or binary, either decodes to a client message that
re-decodes to itself from its canonical JSON, or raises ``InvalidArgument`` with close
code 1007 and a reason of at most 123 UTF-8 bytes. Anything else is a crash.

    pip install atheris                                   # not a project dependency
    python fuzz/fuzz_decode.py --seed-corpus fuzz/corpus  # captured SDK frames as seeds
    python fuzz/fuzz_decode.py --write-dict fuzz/live.dict  # refresh the field-name dictionary
    python fuzz/fuzz_decode.py fuzz/corpus -dict=fuzz/live.dict -atheris_runs=100000

All other arguments go to libFuzzer (``-max_len=``, ``-jobs=``, ``-timeout=``…).
See fuzz/README.md.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _import_atheris() -> Any:
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        sys.exit(
            "fuzz_decode.py needs atheris, which is not installed.\n"
            "  pip install atheris    (atheris 3.0.0 has manylinux x86-64 wheels for CPython\n"
            "                          3.11-3.13; elsewhere pip builds it with clang + libFuzzer)\n"
            "The Hypothesis fuzz tests need no extra package:\n"
            "  HYPOTHESIS_PROFILE=fuzz PYTHONPATH=src:. python -m pytest tests/protocol/test_fuzz.py"
        )
    return atheris


def _make_importable() -> None:
    """Run from a checkout without installing: put src/ on the path."""
    try:
        import openlive  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))


def write_seed_corpus(directory: Path) -> int:
    """Write every captured client frame (shared/spec/captures) as one corpus file."""
    shared = ROOT.parent / "shared"
    if not (shared / "spec" / "captures").is_dir() and os.environ.get("OPENLIVE_SHARED_DIR"):
        shared = Path(os.environ["OPENLIVE_SHARED_DIR"])
    captures = shared / "spec" / "captures"
    if not captures.is_dir():
        sys.exit(f"no captures at {captures}; set OPENLIVE_SHARED_DIR")
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(captures.glob("*/frames.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            event = json.loads(line)
            if event.get("dir") == "c2s":
                name = f"{path.parent.name}-{number:04d}.json"
                (directory / name).write_text(event["raw"], encoding="utf-8")
                count += 1
    return count


def write_dictionary(path: Path) -> int:
    """Write a libFuzzer dictionary: every field name in both spellings, every enum name."""
    import typing

    from pydantic import BaseModel

    from openlive.protocol.client import ClientEnvelope

    names: set[str] = set()
    enums: set[str] = set()
    seen: set[type] = set()

    def scan(annotation: Any) -> None:
        for arg in typing.get_args(annotation):
            scan(arg)
        if typing.get_origin(annotation) is typing.Literal:
            enums.update(typing.get_args(annotation))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            walk(annotation)

    def walk(model: type[BaseModel]) -> None:
        if model not in seen:
            seen.add(model)
            for name, field in model.model_fields.items():
                names.update({name, field.alias or name})
                scan(field.annotation)

    walk(ClientEnvelope)
    tokens = [
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        '"',
        "true",
        "false",
        "null",
        '""',
        "{}",
        "[]",
        '"AAH-_w=="',
        '"AAH+/w=="',
        "1e400",
        "-0",
        '"25600"',
        "40.0",
    ]
    tokens += [f'"{token}"' for token in sorted(names) + sorted(enums)]
    lines = ["# libFuzzer dictionary for fuzz_decode.py (python fuzz/fuzz_decode.py --write-dict)"]
    lines += ['"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in tokens]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(tokens)


class _Features:
    """Coverage for what happens inside pydantic-core and orjson (Rust and C, invisible to
    atheris): each distinct outcome label runs its own instrumented function, so libFuzzer
    keeps inputs that reach a new field or a new kind of refusal. The functions are made
    before fuzzing starts, as libFuzzer only counts edges that exist by then."""

    def __init__(self, atheris: Any, size: int = 4_096) -> None:
        source = "".join(f"def f{i}():\n    return {i}\n" for i in range(size))
        namespace: dict[str, Any] = {}
        exec(compile(source, "<features>", "exec"), namespace)  # noqa: S102
        self._pool = [atheris.instrument_func(namespace[f"f{i}"]) for i in range(size)]
        self._labels: dict[str, int] = {}

    def hit(self, label: str) -> None:
        index = self._labels.setdefault(label, len(self._labels))
        if index < len(self._pool):
            self._pool[index]()


def _shape(reason: str) -> str:
    """A refusal's kind and where it happened, with list indices and user text removed."""
    reason = re.sub(r"\.\d+", ".N", reason)
    reason = re.sub(r'"[^"]*("|$)', '"…"', reason)  # unknown names, maybe cut at 123 bytes
    return reason[:80]


def _fields(value: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the fields set in a decoded message (list items merged)."""
    from pydantic import BaseModel

    paths: list[str] = []
    if isinstance(value, BaseModel):
        paths.append(prefix + type(value).__name__)
        for name in type(value).model_fields:
            item = getattr(value, name)
            if item is not None:
                paths += [f"{prefix}{name}", *_fields(item, f"{prefix}{name}.")]
    elif isinstance(value, list):
        for item in value:
            paths += _fields(item, prefix)
    return paths


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-corpus":
        print(f"wrote {write_seed_corpus(Path(sys.argv[2]))} frames to {sys.argv[2]}")
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--write-dict":
        _make_importable()
        print(f"wrote {write_dictionary(Path(sys.argv[2]))} tokens to {sys.argv[2]}")
        return
    atheris = _import_atheris()
    _make_importable()
    with atheris.instrument_imports(include=["openlive"]):
        from openlive.errors import MAX_REASON_BYTES, CloseCode, InvalidArgument
        from openlive.protocol.codec import decode_client_message

    features = _Features(atheris)
    envelope_key = {
        "Setup": "setup",
        "ClientContent": "clientContent",
        "RealtimeInput": "realtimeInput",
        "ToolResponse": "toolResponse",
        "ContextUpdate": "contextUpdate",
    }

    def test_one_input(data: bytes) -> None:
        # A binary frame as given, or, after a leading NUL, a text frame (UTF-8, lossy).
        frame: str | bytes = data
        if data[:1] == b"\x00":
            frame = data[1:].decode("utf-8", errors="replace")
        try:
            message = decode_client_message(frame)
        except InvalidArgument as error:
            if error.close_code != CloseCode.INVALID_ARGUMENT or not error.reason:
                raise AssertionError(f"bad error: {error!r}") from None
            if len(error.reason.encode("utf-8")) > MAX_REASON_BYTES:
                raise AssertionError(f"reason too long: {error.reason!r}") from None
            features.hit(_shape(error.reason))
            return
        for path in _fields(message):
            features.hit(path)
        body = message.model_dump(mode="json", by_alias=True, exclude_none=True)
        key = envelope_key[type(message).__name__]
        if decode_client_message(json.dumps({key: body})) != message:
            raise AssertionError(f"not a fixed point: {frame!r}")

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
