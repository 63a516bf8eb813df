// Thinking and proactive audio as users write them with @google/genai (Node).
//
// The Node counterpart of py_thinking.py, configured only by the environment users set
// (GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY, NODE_EXTRA_CA_CERTS for https).
//
// Usage: node node_thinking.mjs JOB_JSON, where the job is one of
//
// * {"mode": "thinking", "prompt": str, "thinking": {...}?} — one TEXT turn with
//   `thinkingConfig` (camelCase); reports the answer as `message.text` gives it, the
//   thought parts and the turn's usage.
// * {"mode": "proactive", "prompts": [str], "system": str} — one TEXT turn per prompt with
//   `proactivity: {proactiveAudio: true}`; reports each turn's text and how it ended.
//
// Prints ONE JSON line and exits 0, also when the session ended in an error.

import { connectLive, printAndExit, readJob, reportErrors } from './node_common.mjs';
import { genai, sdk } from './node_common.mjs';

const { GoogleGenAI, Modality } = genai;

const MODEL = 'gemini-2.5-flash-native-audio-preview-12-2025';
const WAIT_MS = Number(process.env.CONFORMANCE_CLIENT_WAIT_MS || 60000);
const MODES = ['thinking', 'proactive'];

async function turn(session, inbox, prompt) {
  session.sendClientContent({ turns: [{ role: 'user', parts: [{ text: prompt }] }],
                              turnComplete: true });
  const record = { text: '', thoughts: [], usage: null, waitingForInput: null, reason: null };
  for (;;) {
    const msg = await inbox.next('turnComplete');
    if (msg.setupComplete !== undefined && !msg.serverContent) continue;
    if (msg.text !== undefined) record.text += msg.text;
    for (const part of msg.serverContent?.modelTurn?.parts ?? []) {
      if (part.thought && part.text) record.thoughts.push(part.text);
    }
    const content = msg.serverContent;
    if (content?.turnComplete) {
      record.usage = msg.usageMetadata ?? null;
      record.waitingForInput = content.waitingForInput ?? null;
      record.reason = content.turnCompleteReason ?? null;
      return record;
    }
  }
}

async function run(job, result, phase) {
  const config = { responseModalities: [Modality.TEXT], temperature: 0.0, maxOutputTokens: 48 };
  if (job.thinking) config.thinkingConfig = job.thinking;
  if (job.system) config.systemInstruction = job.system;
  if (job.mode === 'proactive') config.proactivity = { proactiveAudio: true };
  const ai = new GoogleGenAI({});
  phase.name = 'connect';
  const { session, inbox } = await connectLive(ai, { model: MODEL, config }, result, WAIT_MS);
  try {
    phase.name = 'receive';
    result.turns = [];
    for (const prompt of job.prompts ?? [job.prompt]) {
      result.turns.push(await turn(session, inbox, prompt));
    }
  } finally {
    if (!inbox.closed) session.close();
  }
}

async function main() {
  const job = readJob('node_thinking.mjs', MODES);
  const result = { sdk: 'node', sdk_version: sdk.version, mode: job.mode, error: null };
  const phase = { name: 'connect' };
  await reportErrors(job.mode, result, phase, async () => run(job, result, phase));
  printAndExit([result]);
}

await main();
