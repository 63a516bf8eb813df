// A Live API program with function calling, as users write it with @google/genai (Node).
//
// The Node counterpart of py_tools.py. Configured only by the environment users set:
// GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY and, for https, NODE_EXTRA_CA_CERTS.
//
// Usage: node node_tools.mjs JOB_JSON, where the job is one of
//
// * {"mode": "blocking", "prompt": str, "modality": "TEXT"|"AUDIO", "result": {...}} — one
//   turn; every toolCall is answered with `result` via sendToolResponse; reports the calls,
//   the text (or audio and its transcription) of the answer and the turn's flags.
// * {"mode": "nonblocking", "scheduling": "WHEN_IDLE"|"INTERRUPT"|"SILENT"} — the model starts
//   a NON_BLOCKING call; its result is sent later with that scheduling (INTERRUPT in the middle
//   of a slow reply); reports every turn that followed.
// * {"mode": "cancel", "pcm": path?, "rate": int?} — the model calls a blocking function the
//   program never answers; the user types something else, or with `pcm` speaks it (an AUDIO
//   session with a live microphone); reports the toolCallCancellation ids and the next turn.
//
// Prints ONE JSON line and exits 0, also when the session ended in an error (`error`).

import { readFileSync } from 'node:fs';

import { connectLive, Microphone, printAndExit, readJob, reportErrors } from './node_common.mjs';
import { genai, sdk, sleep } from './node_common.mjs';

const { Behavior, FunctionResponseScheduling, GoogleGenAI, Modality, Type } = genai;

const MODEL = 'gemini-2.5-flash-native-audio-preview-12-2025';
const WAIT_MS = Number(process.env.CONFORMANCE_CLIENT_WAIT_MS || 120000);
const MODES = ['blocking', 'nonblocking', 'cancel'];

const WEATHER = {
  name: 'get_weather',
  description: 'Get the current weather for a city.',
  parameters: {
    type: Type.OBJECT,
    properties: { city: { type: Type.STRING, description: 'The city name' } },
    required: ['city'],
  },
};
const LIGHTS = {
  name: 'turn_on_the_lights',
  description: 'Turn on the lights.',
  behavior: Behavior.NON_BLOCKING,
};

function newRecord() {
  return { calls: [], cancelled: [], text: '', audio_bytes: 0, transcript: '', heard: '',
    flags: [] };
}

// One turn (up to turnComplete) into `record`; `onCall(calls)` answers each toolCall.
async function collect(inbox, record, onCall) {
  for (;;) {
    const msg = await inbox.next('turnComplete');
    if (msg.toolCall) {
      const calls = msg.toolCall.functionCalls ?? [];
      record.calls.push(...calls.map((c) => ({ id: c.id, name: c.name, args: c.args })));
      if (onCall) onCall(calls);
    }
    if (msg.toolCallCancellation) record.cancelled.push(...(msg.toolCallCancellation.ids ?? []));
    if (msg.data) record.audio_bytes += Buffer.from(msg.data, 'base64').length;
    if (msg.text !== undefined) record.text += msg.text;
    const content = msg.serverContent;
    if (!content) continue;
    if (content.outputTranscription?.text) record.transcript += content.outputTranscription.text;
    if (content.inputTranscription?.text) record.heard += content.inputTranscription.text;
    for (const flag of ['interrupted', 'generationComplete', 'turnComplete']) {
      if (content[flag]) record.flags.push(flag);
    }
    if (content.turnComplete) return record;
  }
}

function connect(result, config, phase) {
  phase.name = 'connect';
  return connectLive(new GoogleGenAI({}), { model: MODEL, config }, result, WAIT_MS);
}

function say(session, text) {
  session.sendClientContent({ turns: [{ role: 'user', parts: [{ text }] }], turnComplete: true });
}

async function blocking(job, result, phase) {
  const audio = job.modality === 'AUDIO';
  const config = {
    responseModalities: [audio ? Modality.AUDIO : Modality.TEXT],
    tools: [{ functionDeclarations: [WEATHER] }],
  };
  if (audio) config.outputAudioTranscription = {};
  const { session, inbox } = await connect(result, config, phase);
  try {
    say(session, job.prompt);
    phase.name = 'receive';
    const answer = (calls) =>
      session.sendToolResponse({
        functionResponses: calls.map((c) => ({ id: c.id, name: c.name, response: job.result })),
      });
    Object.assign(result, await collect(inbox, newRecord(), answer));
  } finally {
    if (!inbox.closed) session.close();
  }
}

async function nonblocking(job, result, phase) {
  const config = {
    responseModalities: [Modality.TEXT],
    tools: [{ functionDeclarations: [LIGHTS] }],
  };
  const { session, inbox } = await connect(result, config, phase);
  result.turns = [];
  try {
    say(session, 'call: turn_on_the_lights {}');
    phase.name = 'receive the call';
    const first = await collect(inbox, newRecord());
    result.turns.push(first);
    const [call] = first.calls;
    const response = {
      id: call.id,
      name: call.name,
      response: { output: 'the lights are on' },
      scheduling: FunctionResponseScheduling[job.scheduling],
    };
    if (job.scheduling === 'INTERRUPT') {
      say(session, 'slow: tell me a long story about the sea and the wind');
      const story = newRecord();
      phase.name = 'wait for the story';
      for (;;) {
        const msg = await inbox.next('story text');
        if (msg.text !== undefined) {
          story.text += msg.text;
          break;
        }
      }
      session.sendToolResponse({ functionResponses: [response] });
      phase.name = 'receive the interrupted story';
      result.turns.push(await collect(inbox, story));
    } else {
      session.sendToolResponse({ functionResponses: [response] });
    }
    if (job.scheduling === 'SILENT') {
      await sleep(1500); // nothing is said about it...
      result.unexpected = inbox.messages.splice(0);
      say(session, 'and now?'); // ...but the next turn shows it is in the history
    }
    phase.name = 'receive the next turn';
    result.turns.push(await collect(inbox, newRecord()));
  } finally {
    if (!inbox.closed) session.close();
  }
}

async function cancel(job, result, phase) {
  const spoken = Boolean(job.pcm);
  const config = {
    responseModalities: [spoken ? Modality.AUDIO : Modality.TEXT],
    tools: [{ functionDeclarations: [WEATHER] }],
  };
  if (spoken) config.inputAudioTranscription = {};
  const { session, inbox } = await connect(result, config, phase);
  const mic = spoken ? new Microphone(session, inbox, job.rate, `audio/pcm;rate=${job.rate}`) : null;
  try {
    say(session, 'call: get_weather {"city": "Paris"}');
    const first = newRecord();
    phase.name = 'receive the call';
    for (;;) {
      const msg = await inbox.next('toolCall');
      if (msg.toolCall) {
        first.calls.push(...msg.toolCall.functionCalls.map((c) => ({ id: c.id, name: c.name })));
        break;
      }
    }
    // the program never answers: the user moves on
    let talker = null;
    if (mic) {
      const speech = Buffer.concat([readFileSync(job.pcm), mic.silence(2.0)]);
      talker = mic.play(speech).then(async () => {
        while (mic.live) await mic.play(mic.silence(0.1));
      });
    } else {
      say(session, 'never mind');
    }
    phase.name = 'receive the cancellation';
    result.first = await collect(inbox, first);
    result.second = await collect(inbox, newRecord());
    if (mic) {
      mic.stopped = true;
      await talker;
    }
  } finally {
    if (mic) mic.stopped = true;
    if (!inbox.closed) session.close();
  }
}

async function main() {
  const job = readJob('node_tools.mjs', MODES);
  const result = { sdk: 'node', sdk_version: sdk.version, mode: job.mode, setup_complete: false,
    error: null };
  const phase = { name: 'connect' };
  await reportErrors(job.mode, result, phase, async () => {
    if (job.mode === 'blocking') await blocking(job, result, phase);
    else if (job.mode === 'nonblocking') await nonblocking(job, result, phase);
    else await cancel(job, result, phase);
  });
  printAndExit([result]);
}

await main();
