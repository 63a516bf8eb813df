// What the @google/genai (Node) client programs of the conformance suite share: finding the
// installed SDK, collecting a Live session's messages, reporting how a session ended.
//
// Imported by node_client.mjs, node_live.mjs and node_session.mjs. Nothing here changes what
// the SDK does: the programs still use only its public API (see each program's header for the
// one private access some scenarios need).

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
// The SDK is resolved from tests/conformance/node/node_modules (scripts/sdk-envs.sh installs it
// there; NODE_PATH does not apply to ES modules, so the path is resolved explicitly below), or
// from OPENLIVE_GENAI_NODE_DIR.
const SDK_DIR = process.env.OPENLIVE_GENAI_NODE_DIR || join(HERE, '..', 'node');

// Find the installed package (its package.json is not in "exports") and its Node ESM entry.
function locateSdk() {
  const require = createRequire(join(SDK_DIR, 'package.json'));
  let dir = dirname(require.resolve('@google/genai'));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (pkg.name === '@google/genai') {
        const exp = pkg.exports?.['.'];
        const entry = exp?.node?.import ?? exp?.import ?? pkg.module ?? pkg.main;
        const types = exp?.node?.types ?? exp?.types ?? pkg.types; // for node_every_field
        return { version: pkg.version, entry: join(dir, entry), dir, types: join(dir, types) };
      }
    } catch {
      // no package.json at this level
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`@google/genai not found from ${SDK_DIR}`);
    dir = up;
  }
}

/** The installed SDK: `{version, entry, dir, types}`. */
export const sdk = locateSdk();
/** The SDK's module (`GoogleGenAI`, `Modality`, ...), exactly as users import it. */
export const genai = await import(pathToFileURL(sdk.entry).href);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Messages from the onmessage callback, consumed in order (the JS SDK has no receive()). */
export class Inbox {
  constructor(waitMs) {
    this.waitMs = waitMs; // how long next() waits for one message
    this.messages = [];
    this.waiters = [];
    this.closed = null; // {code, reason} once onclose fired
    this.errors = [];
  }
  push(msg) {
    this.messages.push(msg);
    this.wake();
  }
  close(event) {
    this.closed = { code: event?.code ?? null, reason: event?.reason?.toString() ?? '' };
    this.wake();
  }
  wake() {
    for (const w of this.waiters.splice(0)) w();
  }
  async next(what) {
    const deadline = Date.now() + this.waitMs;
    while (this.messages.length === 0) {
      if (this.closed) {
        const err = new Error(`connection closed (code ${this.closed.code}): ${this.closed.reason}`);
        err.closeEvent = this.closed;
        throw err;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${this.waitMs} ms waiting for ${what}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.messages.shift();
  }
}

/**
 * `ai.live.connect(params)` with callbacks that feed a new Inbox; `result.setup_complete` is set
 * once connect() resolves (after setupComplete) and `result._inbox` names the inbox for
 * errorOf(). Returns `{session, inbox}`; connect()'s rejection propagates.
 */
export async function connectLive(ai, params, result, waitMs) {
  const inbox = new Inbox(waitMs);
  result._inbox = inbox;
  const session = await ai.live.connect({
    ...params,
    callbacks: {
      onmessage: (msg) => inbox.push(msg),
      onerror: (e) => inbox.errors.push(String(e?.message ?? e)),
      onclose: (e) => inbox.close(e),
    },
  });
  result.setup_complete = true;
  return { session, inbox };
}

/** How a session ended, from the error the program caught and what its inbox saw. */
export function errorOf(err, phase, inbox) {
  // The JS SDK reports a close as the onclose CloseEvent (code, reason); connect() rejects with
  // "Live connection closed before setup completed (code N): reason" when it comes first.
  const closed = inbox?.closed ?? err?.closeEvent ?? null;
  let code = closed?.code ?? null;
  let reason = closed?.reason ?? null;
  if (code === null) {
    const m = /\(code (\d+)\): (.*)$/s.exec(String(err?.message ?? ''));
    if (m) {
      code = Number(m[1]);
      reason = m[2];
    }
  }
  return {
    type: err?.constructor?.name ?? typeof err,
    message: String(err?.message ?? err),
    phase,
    code,
    reason,
    onerror: inbox?.errors ?? [],
  };
}

/**
 * Run `body()`; an error it throws becomes `result.error` (see errorOf) instead of escaping.
 * `phase.name` says where it was; `label` prefixes the stack trace written to stderr.
 */
export async function reportErrors(label, result, phase, body) {
  try {
    await body();
  } catch (err) {
    process.stderr.write(`[${label}] ${err?.stack ?? err}\n`);
    await sleep(50); // let a close event that races the rejection land first
    result.error = errorOf(err, phase.name, result._inbox);
  }
  delete result._inbox;
  return result;
}

/** The JSON job in argv[2], if its `mode` is one of `modes`; else usage on stderr, exit 2. */
export function readJob(program, modes) {
  let job;
  try {
    job = JSON.parse(process.argv[2] ?? '');
  } catch {
    job = null;
  }
  if (!job || !modes.includes(job.mode)) {
    process.stderr.write(`usage: node ${program} '{"mode": "${modes.join('|')}", ...}'\n`);
    process.exit(2);
  }
  return job;
}

/** Print one JSON line per result and exit 0 once stdout has been written. */
export function printAndExit(results) {
  const out = results.map((r) => JSON.stringify(r) + '\n').join('');
  process.stdout.write(out, () => process.exit(0));
}

/** Seconds of audio per realtimeInput message, as a browser microphone sends them. */
export const MIC_CHUNK_SECONDS = 0.1;

// A microphone: sends 100 ms chunks in real time (on an absolute schedule, so that a slow
// event loop does not stretch the audio) until stopped or the connection closes.
export class Microphone {
  constructor(session, inbox, rate, mimeType) {
    this.session = session;
    this.inbox = inbox;
    this.rate = rate;
    this.mimeType = mimeType;
    this.step = Math.round(rate * MIC_CHUNK_SECONDS) * 2;
    this.stopped = false;
    this.next = performance.now();
    this.sentChunks = 0;
  }
  get live() {
    return !this.stopped && !this.inbox.closed;
  }
  async play(pcm) {
    for (let i = 0; i < pcm.length && this.live; i += this.step) {
      const chunk = pcm.subarray(i, i + this.step);
      this.session.sendRealtimeInput({
        audio: { data: Buffer.from(chunk).toString('base64'), mimeType: this.mimeType },
      });
      this.sentChunks += 1;
      this.next = Math.max(this.next, performance.now() - 1000 * MIC_CHUNK_SECONDS);
      this.next += 1000 * MIC_CHUNK_SECONDS * (chunk.length / this.step);
      await sleep(this.next - performance.now());
    }
  }
  silence(seconds) {
    return Buffer.alloc(Math.round(this.rate * seconds) * 2);
  }
}
