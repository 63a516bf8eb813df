#!/usr/bin/env bash
# The whole test suite, with everything it needs installed and started first.
# Called by `make test` (which installs the Python package) and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

echo "== system packages the tests use (espeak-ng speaks test utterances, sox converts,"
echo "   redis-server backs the multi-node store tests, haproxy runs the scaling example"
echo "   of docs/scaling.md, chromium runs the playground's browser test (driven by"
echo "   Playwright); the tests start their own)"
if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null \
   || ! command -v redis-server >/dev/null || ! [ -x /usr/sbin/haproxy ] \
   || ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq espeak-ng sox redis-server \
    haproxy chromium
fi

echo "== SDK clients (google-genai versions, @google/genai)"
bash scripts/sdk-envs.sh

echo "== speech servers the remote-engine tests start (wyoming-faster-whisper, wyoming-piper,"
echo "   faster-whisper-server, local-tts-studio: each in its own venv, cached)"
bash scripts/voice-servers.sh

echo "== preparing the default model weights (once; cached)"
$BIN/python -m openlive.engines.models

echo "== the understanding evaluation set (human recordings from Debian packages and every"
echo "   shipped voice; built once into ~/.cache/openlive/evalset, then cached)"
$BIN/python bench/evalset.py build

echo "== lint and types"
$BIN/ruff check src tests bench
$BIN/mypy

echo "== tests"
set +e
$BIN/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when nothing was collected: that is a failure here, not a pass.
exit $status
