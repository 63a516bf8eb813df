// A Live API voice program as users write it with @google/genai (Node), for the voice tests.
//
// The Node counterpart of py_live.py. Configured only by the environment users set:
// GOOGLE_GEMINI_BASE_URL (http:// gives a plain ws:// socket, https:// a wss:// socket),
// GEMINI_API_KEY and, for https, NODE_EXTRA_CA_CERTS. The SDK is resolved from
// tests/conformance/node/node_modules (or OPENLIVE_GENAI_NODE_DIR), as in node_client.mjs.
//
// Usage: node node_live.mjs JOB_JSON, where the job is one of
//
// * {"mode": "text", "prompt": str, "system": str?} — one TEXT turn.
// * {"mode": "voice", "pcm": path, "rate": int, "out": path?, "config": {...}?, "mime": str?}
//   — streams the raw 16-bit mono PCM file in real time (100 ms chunks, then 2 s of silence)
//   with sendRealtimeInput({audio}) and records the spoken answer (24 kHz PCM) to `out`.
//   `config` is merged into the LiveConnectConfig (camelCase, as JS users write it); `mime`
//   replaces the audio MIME type `audio/pcm;rate=RATE` (to test refusals).
// * {"mode": "manual", ...same as voice} — automatic activity detection disabled; the turn is
//   marked with activityStart / activityEnd around the speech.
// * {"mode": "barge_in", "pcm": path, "rate": int, "out": path?} — asks, and once the answer's
//   audio starts, speaks again (a live microphone: silence in between, silence after);
//   reports the interrupted first turn and the second, answered, turn.
//
// Prints ONE JSON line and exits 0, also when the session ended in an error (then `error`
// holds {type, message, phase, code, reason}). Exit status 2: called wrongly.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const HERE = dirname(fileURLToPath(import.meta.url));
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
        return { version: pkg.version, entry: join(dir, entry) };
      }
    } catch {
      // no package.json at this level
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`@google/genai not found from ${SDK_DIR}`);
    dir = up;
  }
}
const sdk = locateSdk();
const { GoogleGenAI, Modality } = await import(pathToFileURL(sdk.entry).href);

const MODEL = 'gemini-2.5-flash-native-audio-preview-12-2025';
const CHUNK_SECONDS = 0.1;
const TRAILING_SILENCE_S = 2.0;
const WAIT_MS = Number(process.env.CONFORMANCE_CLIENT_WAIT_MS || 120000); // per turn
const MODES = ['text', 'voice', 'manual', 'barge_in'];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

// Messages from the onmessage callback, consumed in order (the JS SDK has no receive()).
class Inbox {
  constructor() {
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
    const deadline = Date.now() + WAIT_MS;
    while (this.messages.length === 0) {
      if (this.closed) {
        const err = new Error(`connection closed (code ${this.closed.code}): ${this.closed.reason}`);
        err.closeEvent = this.closed;
        throw err;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
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

// A microphone: sends 100 ms chunks in real time (on an absolute schedule, so that a slow
// event loop does not stretch the audio) until stopped or the connection closes.
class Microphone {
  constructor(session, inbox, rate, mimeType) {
    this.session = session;
    this.inbox = inbox;
    this.rate = rate;
    this.mimeType = mimeType;
    this.step = Math.round(rate * CHUNK_SECONDS) * 2;
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
      this.next = Math.max(this.next, performance.now() - 1000 * CHUNK_SECONDS);
      this.next += 1000 * CHUNK_SECONDS * (chunk.length / this.step);
      await sleep(this.next - performance.now());
    }
  }
  silence(seconds) {
    return Buffer.alloc(Math.round(this.rate * seconds) * 2);
  }
}

// A failed send must not become an unhandled rejection: report it, the receiver sees the close.
const senderFailed = (result) => (err) => {
  result.sender_error = String(err?.message ?? err);
  process.stderr.write(`[sender] ${err?.stack ?? err}\n`);
};

function newRecord() {
  return {
    audio: [],
    audioBytes: 0,
    input: [],
    output: [],
    flags: [],
    first_audio: null,
    t0: performance.now(),
  };
}

// One turn: audio, transcripts and the flags seen, up to turnComplete.
async function collectTurn(inbox, record) {
  for (;;) {
    const msg = await inbox.next('turnComplete');
    if (msg.setupComplete !== undefined && !msg.serverContent) continue; // replayed by connect()
    const data = msg.data; // base64 of all inlineData parts (the SDK's getter)
    if (data) {
      const bytes = Buffer.from(data, 'base64');
      if (record.first_audio === null) record.first_audio = (performance.now() - record.t0) / 1000;
      record.audio.push(bytes);
      record.audioBytes += bytes.length;
    }
    const content = msg.serverContent;
    if (!content) continue;
    if (content.inputTranscription?.text) record.input.push(content.inputTranscription.text);
    if (content.outputTranscription?.text) record.output.push(content.outputTranscription.text);
    for (const flag of ['interrupted', 'generationComplete', 'turnComplete']) {
      if (content[flag]) record.flags.push(flag);
    }
    if (content.turnComplete) return;
  }
}

function report(record, out) {
  const audio = Buffer.concat(record.audio);
  if (out) writeFileSync(out, audio);
  return {
    audio_bytes: audio.length,
    input: record.input,
    output: record.output,
    flags: record.flags,
    first_audio: record.first_audio,
  };
}

async function connect(result, config, phase) {
  const ai = new GoogleGenAI({}); // everything comes from the environment, as for users
  const inbox = new Inbox();
  result._inbox = inbox;
  phase.name = 'connect';
  const session = await ai.live.connect({
    model: MODEL,
    config,
    callbacks: {
      onmessage: (msg) => inbox.push(msg),
      onerror: (e) => inbox.errors.push(String(e?.message ?? e)),
      onclose: (e) => inbox.close(e),
    },
  });
  result.setup_complete = true;
  return { session, inbox };
}

function voiceConfig(extra) {
  return {
    responseModalities: [Modality.AUDIO],
    inputAudioTranscription: {},
    outputAudioTranscription: {},
    ...(extra ?? {}),
  };
}

async function text(job, result, phase) {
  const config = { responseModalities: [Modality.TEXT], temperature: 0.0, maxOutputTokens: 32 };
  if (job.system) config.systemInstruction = job.system;
  const { session, inbox } = await connect(result, config, phase);
  try {
    phase.name = 'send';
    session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: job.prompt }] }],
      turnComplete: true,
    });
    phase.name = 'receive';
    const parts = [];
    for (;;) {
      const msg = await inbox.next('turnComplete');
      if (msg.text !== undefined) parts.push(msg.text);
      if (msg.usageMetadata) result.usage = msg.usageMetadata;
      if (msg.serverContent?.turnComplete) break;
    }
    result.text = parts.join('');
  } finally {
    if (!inbox.closed) session.close();
  }
}

async function voice(job, result, phase, manual) {
  let extra = job.config ?? {};
  if (manual) {
    extra = { ...extra, realtimeInputConfig: { automaticActivityDetection: { disabled: true } } };
  }
  const pcm = readFileSync(job.pcm);
  const { session, inbox } = await connect(result, voiceConfig(extra), phase);
  const mic = new Microphone(session, inbox, job.rate, job.mime ?? `audio/pcm;rate=${job.rate}`);
  try {
    const record = newRecord();
    phase.name = 'stream';
    const sender = (async () => {
      if (manual) {
        session.sendRealtimeInput({ activityStart: {} });
        await mic.play(pcm);
        if (mic.live) session.sendRealtimeInput({ activityEnd: {} });
      } else {
        await mic.play(Buffer.concat([pcm, mic.silence(TRAILING_SILENCE_S)]));
      }
    })().catch(senderFailed(result));
    phase.name = 'receive';
    await collectTurn(inbox, record);
    mic.stopped = true;
    await sender;
    Object.assign(result, report(record, job.out));
  } finally {
    mic.stopped = true;
    result.chunks_sent = mic.sentChunks;
    if (!inbox.closed) session.close();
  }
}

async function bargeIn(job, result, phase) {
  const config = voiceConfig({
    realtimeInputConfig: { automaticActivityDetection: { silenceDurationMs: 500 } },
    ...(job.config ?? {}),
  });
  const pcm = readFileSync(job.pcm);
  const { session, inbox } = await connect(result, config, phase);
  const mic = new Microphone(session, inbox, job.rate, `audio/pcm;rate=${job.rate}`);
  try {
    const first = newRecord();
    const quiet = mic.silence(CHUNK_SECONDS);
    // A live microphone keeps sending, silence included.
    const talker = (async () => {
      await mic.play(pcm);
      while (first.first_audio === null && mic.live) await mic.play(quiet);
      result.barge_in_at = first.first_audio;
      await mic.play(pcm); // talk over the answer
      while (mic.live) await mic.play(quiet);
    })().catch(senderFailed(result));
    phase.name = 'receive first turn';
    await collectTurn(inbox, first);
    const second = newRecord();
    phase.name = 'receive second turn';
    await collectTurn(inbox, second);
    mic.stopped = true;
    await talker;
    result.first = report(first, null);
    result.second = report(second, job.out);
  } finally {
    mic.stopped = true;
    result.chunks_sent = mic.sentChunks;
    if (!inbox.closed) session.close();
  }
}

function errorOf(err, phase, inbox) {
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

async function main() {
  let job;
  try {
    job = JSON.parse(process.argv[2] ?? '');
  } catch {
    job = null;
  }
  if (!job || !MODES.includes(job.mode)) {
    process.stderr.write(`usage: node node_live.mjs '{"mode": "${MODES.join('|')}", ...}'\n`);
    process.exit(2);
  }
  const result = {
    sdk: 'node',
    sdk_version: sdk.version,
    node_version: process.version,
    mode: job.mode,
    model: MODEL,
    setup_complete: false,
    error: null,
  };
  const phase = { name: 'connect' };
  try {
    if (job.mode === 'text') await text(job, result, phase);
    else if (job.mode === 'voice') await voice(job, result, phase, false);
    else if (job.mode === 'manual') await voice(job, result, phase, true);
    else await bargeIn(job, result, phase);
  } catch (err) {
    process.stderr.write(`[${job.mode}] ${err?.stack ?? err}\n`);
    await sleep(50); // let a close event that races the rejection land first
    result.error = errorOf(err, phase.name, result._inbox);
  }
  delete result._inbox;
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

await main();
