#!/usr/bin/env bash
# Install the unmodified Gemini SDKs that the conformance suite (tests/conformance/) drives.
#
#   * one virtualenv per google-genai (Python) version under .sdk-envs/google-genai-<VERSION>/
#   * @google/genai (Node) from tests/conformance/node/package.json + package-lock.json
#     into tests/conformance/node/node_modules, with the TypeScript compiler that
#     clients/node_every_field.mjs reads the SDK's type declarations with
#
# Idempotent and fast when already done: an env whose installed version already matches is left
# alone. Re-run after changing the versions below.
#
# Environment:
#   SDK_ENVS_PYTHON   interpreter the virtualenvs are made from (default: python3.11, else python3)
#   SDK_ENVS_FORCE=1  recreate everything
#   SDK_ENVS_SKIP_NODE=1 / SDK_ENVS_SKIP_PYTHON=1  do only one half
set -euo pipefail

# Versions under test. Keep in sync with PY_SDK_VERSIONS in tests/conformance/conftest.py.
#   3.6.1  latest release: default api_version v1, key in the x-goog-api-key header
#   2.19.0 last 2.x probed in the spec captures: default v1beta, header key, Blob key "mimeType"
#   1.20.0 oldest supported: default v1beta, key in the query string *and* the header
PY_SDK_VERSIONS=(3.6.1 2.19.0 1.20.0)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVS="$ROOT/.sdk-envs"
NODE_DIR="$ROOT/tests/conformance/node"

log() { printf '[sdk-envs] %s\n' "$*"; }

pick_python() {
    if [[ -n "${SDK_ENVS_PYTHON:-}" ]]; then echo "$SDK_ENVS_PYTHON"; return; fi
    for c in python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return; fi
    done
    echo "no python3 found" >&2
    exit 1
}

installed_py_version() {  # $1 = venv dir; prints the installed google-genai version or nothing
    "$1/bin/python" - <<'EOF' 2>/dev/null || true
from importlib.metadata import version
print(version("google-genai"))
EOF
}

setup_python() {
    local py version venv have
    py="$(pick_python)"
    mkdir -p "$ENVS"
    for version in "${PY_SDK_VERSIONS[@]}"; do
        venv="$ENVS/google-genai-$version"
        have=""
        if [[ -x "$venv/bin/python" && "${SDK_ENVS_FORCE:-0}" != 1 ]]; then
            have="$(installed_py_version "$venv")"
        fi
        if [[ "$have" == "$version" ]]; then
            log "python google-genai $version: already in $venv"
            continue
        fi
        log "python google-genai $version: creating $venv (from $("$py" --version 2>&1))"
        rm -rf "$venv"
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install -qq --disable-pip-version-check \
            "google-genai==$version"
        have="$(installed_py_version "$venv")"
        if [[ "$have" != "$version" ]]; then
            log "python google-genai $version: install failed (found '$have')"
            exit 1
        fi
        log "python google-genai $version: installed ($("$venv/bin/python" -m pip freeze \
            --disable-pip-version-check | grep -Ei '^(websockets|httpx|pydantic)==' | tr '\n' ' '))"
    done
}

setup_node() {
    local want have
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "node/npm not found: skipping @google/genai"
        return
    fi
    # what package.json pins (the SDK, and the TypeScript compiler node_every_field.mjs reads
    # the SDK's declarations with) against what node_modules holds
    want="$(node -p 'const p = require(process.argv[1]);
        `@google/genai@${p.dependencies["@google/genai"]} typescript@${p.devDependencies.typescript}`' \
        "$NODE_DIR/package.json")"
    have="$(node -p 'const v = (name) => { try { return require(`${process.argv[1]}/${name}/package.json`).version }
        catch (e) { return "" } }; `@google/genai@${v("@google/genai")} typescript@${v("typescript")}`' \
        "$NODE_DIR/node_modules" 2>/dev/null || true)"
    if [[ "$have" == "$want" && "${SDK_ENVS_FORCE:-0}" != 1 ]]; then
        log "node $want: already in $NODE_DIR/node_modules (node $(node --version))"
        return
    fi
    log "node $want: npm ci in $NODE_DIR (node $(node --version), npm $(npm --version))"
    # The lock file is committed: npm ci installs exactly what it lists. @google/genai >=3.1
    # declares engines.node >=22; npm only warns about that (engine-strict is off) and the SDK
    # works on Node 20 -- the conformance suite is the proof.
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    node --input-type=module -e "
        import { GoogleGenAI } from '$NODE_DIR/node_modules/@google/genai/dist/node/index.mjs';
        if (typeof GoogleGenAI !== 'function') process.exit(1);" \
        || { log "node $want: import check failed"; exit 1; }
    log "node $want: installed"
}

[[ "${SDK_ENVS_SKIP_PYTHON:-0}" == 1 ]] || setup_python
[[ "${SDK_ENVS_SKIP_NODE:-0}" == 1 ]] || setup_node
log "done"
