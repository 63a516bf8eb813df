// A Live API voice program as users write it with @google/genai (Node), for the voice tests.
//
// The Node counterpart of py_live.py. Configured only by the environment users set:
// GOOGLE_GEMINI_BASE_URL (http:// gives a plain ws:// socket, https:// a wss:// socket),
// GEMINI_API_KEY and, for https, NODE_EXTRA_CA_CERTS. The SDK is resolved from
// tests/conformance/node/node_modules (or OPENLIVE_GENAI_NODE_DIR) by node_common.mjs.
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
// A turn's record has the voiceActivity reports (`activity`: type and audioOffset) and what
// came in order (`sequence`: voice activity, transcriptions, flags).
//
// Prints ONE JSON line and exits 0, also when the session ended in an error (then `error`
// holds {type, message, phase, code, reason}). Exit status 2: called wrongly.

import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { connectLive, Microphone, printAndExit, readJob, reportErrors } from './node_common.mjs';
import { genai, sdk, sleep } from './node_common.mjs';

const { GoogleGenAI, Modality } = genai;

const MODEL = 'gemini-2.5-flash-native-audio-preview-12-2025';
const CHUNK_SECONDS = 0.1;
const TRAILING_SILENCE_S = 2.0;
const WAIT_MS = Number(process.env.CONFORMANCE_CLIENT_WAIT_MS || 120000); // per turn
const MODES = ['text', 'voice', 'manual', 'barge_in'];

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
    activity: [], // voiceActivity: [type, audioOffset]
    sequence: [], // what came, in order: voice activity, transcriptions, flags
    t0: performance.now(),
  };
}

// One turn: audio, transcripts, voice activity and the flags seen, up to turnComplete.
async function collectTurn(inbox, record) {
  for (;;) {
    const msg = await inbox.next('turnComplete');
    if (msg.setupComplete !== undefined && !msg.serverContent) continue; // replayed by connect()
    // the wire's JSON as the SDK passes it on in Gemini API mode: `type` (its d.ts says
    // `voiceActivityType`, which only its Vertex converter fills)
    const activity = msg.voiceActivity;
    if (activity) {
      record.activity.push([activity.type, activity.audioOffset]);
      record.sequence.push(activity.type);
    }
    const data = msg.data; // base64 of all inlineData parts (the SDK's getter)
    if (data) {
      const bytes = Buffer.from(data, 'base64');
      if (record.first_audio === null) record.first_audio = (performance.now() - record.t0) / 1000;
      record.audio.push(bytes);
      record.audioBytes += bytes.length;
    }
    const content = msg.serverContent;
    if (!content) continue;
    if (content.inputTranscription?.text) {
      record.input.push(content.inputTranscription.text);
      record.sequence.push(content.inputTranscription.finished ? 'inputFinished' : 'input');
    }
    if (content.outputTranscription?.text) record.output.push(content.outputTranscription.text);
    for (const flag of ['interrupted', 'generationComplete', 'turnComplete']) {
      if (content[flag]) {
        record.flags.push(flag);
        record.sequence.push(flag);
      }
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
    activity: record.activity,
    sequence: record.sequence,
  };
}

function connect(result, config, phase) {
  const ai = new GoogleGenAI({}); // everything comes from the environment, as for users
  phase.name = 'connect';
  return connectLive(ai, { model: MODEL, config }, result, WAIT_MS);
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
  const over = job.pcm2 ? readFileSync(job.pcm2) : pcm; // what the user says over it
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
      await mic.play(over); // talk over the answer
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

async function main() {
  const job = readJob('node_live.mjs', MODES);
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
  await reportErrors(job.mode, result, phase, async () => {
    if (job.mode === 'text') await text(job, result, phase);
    else if (job.mode === 'voice') await voice(job, result, phase, false);
    else if (job.mode === 'manual') await voice(job, result, phase, true);
    else await bargeIn(job, result, phase);
  });
  printAndExit([result]);
}

await main();
