#!/bin/sh
# Regenerate tests/session/replays/ from the current code: run the tests that drive a
# Session with the recorder on (tests/session/recorder.py). Run from anywhere; extra
# arguments go to pytest. PYTHON defaults to the project's venv, else python3.
# The runtime tests' sessions run on the wall clock: their recordings change at every
# regeneration (times only); keep the old ones unless their behaviour changed.
set -eu
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
OUT=tests/session/replays
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.json.gz "$OUT"/skipped.txt
OPENLIVE_RECORD_REPLAYS="$OUT" PYTHONPATH="src:.${PYTHONPATH:+:$PYTHONPATH}" \
    "$PYTHON" -m pytest -q -p no:cacheprovider \
    tests/session tests/runtime/test_driver.py tests/runtime/test_tool_calls.py \
    tests/runtime/test_vad_batcher.py \
    --deselect tests/session/test_replay.py "$@"
du -sh "$OUT"
