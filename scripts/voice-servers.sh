#!/usr/bin/env bash
# Install the speech servers that the remote-engine tests (tests/conformance/test_remote_voice.py)
# start: real servers of both protocols openlive's --asr/--tts can call, each from PyPI into a
# virtualenv of its own, since their pins (faster-whisper, piper-tts, fastapi...) are theirs, not
# the project's.
#
#   wyoming-faster-whisper  Wyoming ASR (Home Assistant's), run on the bundled Whisper weights
#   wyoming-piper           Wyoming TTS, run on the bundled Piper voice (joe)
#   faster-whisper-server   OpenAI /v1/audio/transcriptions, on the bundled Whisper weights
#   local-tts-studio        OpenAI /v1/audio/speech (Piper), on the bundled Piper voice
#
# The tests give each server the files `python -m openlive.engines.models` prepared: nothing is
# downloaded from a model hub. The envs live outside the checkout so that a fresh clone (CI)
# finds them installed; an env whose pins already match is left alone.
#
# Environment:
#   OPENLIVE_VOICE_SERVERS  where the envs go (default: ~/.cache/openlive-voice-servers)
#   VOICE_SERVERS_PYTHON    interpreter the envs are made from (default: python3.11, else python3)
#   VOICE_SERVERS_FORCE=1   recreate everything
set -euo pipefail

ROOT="${OPENLIVE_VOICE_SERVERS:-$HOME/.cache/openlive-voice-servers}"

# name -> pinned requirements (space separated). Keep in sync with SERVERS in
# tests/conformance/voice_servers.py.
declare -A SERVERS=(
  [wyoming-faster-whisper]="wyoming-faster-whisper==3.8.1 wyoming==1.10.2 faster-whisper==1.2.1"
  [wyoming-piper]="wyoming-piper==2.5.2 wyoming==1.10.2 piper-tts==1.8.0"
  [faster-whisper-server]="faster-whisper-server==0.0.3 faster-whisper==1.2.1"
  [local-tts-studio]="local-tts-studio==1.0.0 piper-tts==1.8.0"
)

log() { printf '[voice-servers] %s\n' "$*"; }

pick_python() {
  if [[ -n "${VOICE_SERVERS_PYTHON:-}" ]]; then echo "$VOICE_SERVERS_PYTHON"; return; fi
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return; fi
  done
  echo "no python3 found" >&2
  exit 1
}

py="$(pick_python)"
mkdir -p "$ROOT"
for name in "${!SERVERS[@]}"; do
  venv="$ROOT/$name"
  want="${SERVERS[$name]}"
  # the requirements an env was made from are written into it last: a half-made env is redone
  if [[ -f "$venv/.requirements" && "$(cat "$venv/.requirements")" == "$want" \
        && "${VOICE_SERVERS_FORCE:-0}" != 1 ]]; then
    log "$name: already in $venv"
    continue
  fi
  log "$name: installing $want into $venv"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  # shellcheck disable=SC2086  # the requirements are words
  "$venv/bin/python" -m pip install -qq --disable-pip-version-check $want
  echo "$want" > "$venv/.requirements"
  log "$name: installed"
done
log "done ($ROOT)"
