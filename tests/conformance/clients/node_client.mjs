// An @google/genai (Node) program as a user writes it, for the openlive conformance suite.
//
// Usage:
//   GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT GEMINI_API_KEY=KEY \
//     [NODE_EXTRA_CA_CERTS=ca.pem] node node_client.mjs SCENARIO [SCENARIO ...] [--model MODEL]
//
// The SDK is resolved from tests/conformance/node/node_modules (scripts/sdk-envs.sh installs
// it there), or from OPENLIVE_GENAI_NODE_DIR, by node_common.mjs. It is configured exactly the way users redirect it:
// `new GoogleGenAI({})` picks up GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY / GOOGLE_API_KEY and
// GOOGLE_GENAI_API_VERSION; http:// gives a plain ws:// socket, https:// a wss:// socket that
// trusts NODE_EXTRA_CA_CERTS. Only the public API is used, except in malformed_frame /
// malformed_content, which write to the session's private connection (`session.conn.send`)
// because no public method can put an invalid frame on the wire.
//
// Prints ONE JSON line on stdout (same shape as py_client.py) and exits 0, also when the
// scenario ended in an (expected) error. Several scenarios run concurrently, one line each in
// the order given. Exit status 2 means the program was called wrongly.

import { connectLive, genai, printAndExit, reportErrors, sdk } from './node_common.mjs';

const sdkVersion = sdk.version;
const { GoogleGenAI, Modality } = genai;

const DEFAULT_MODEL = 'gemini-live-2.5-flash-preview';
const UNKNOWN_MODEL = 'no-such-model-for-conformance';
const SYSTEM_INSTRUCTION = 'You are a terse test assistant.';
const WAIT_MS = Number(process.env.CONFORMANCE_CLIENT_WAIT_MS || 20000);
const SCENARIOS = [
  'text_turn',
  'history',
  'bad_key',
  'unknown_model',
  'malformed_frame',
  'malformed_content',
  'realtime_text',
  'system_instruction',
];

function usageOf(u) {
  if (!u) return null;
  return {
    prompt: u.promptTokenCount ?? null,
    response: u.responseTokenCount ?? null,
    total: u.totalTokenCount ?? null,
    raw: u,
  };
}

function eventsOf(msg) {
  const tags = [];
  const sc = msg.serverContent;
  if (sc) {
    if (sc.modelTurn) tags.push(msg.text !== undefined ? 'text' : 'modelTurn');
    if (sc.interrupted) tags.push('interrupted');
    if (sc.generationComplete) tags.push('generationComplete');
    if (sc.turnComplete) tags.push('turnComplete');
  }
  for (const [key, tag] of [
    ['toolCall', 'toolCall'],
    ['toolCallCancellation', 'toolCallCancellation'],
    ['goAway', 'goAway'],
    ['sessionResumptionUpdate', 'sessionResumptionUpdate'],
    ['usageMetadata', 'usage'],
  ]) {
    if (msg[key] !== undefined && msg[key] !== null) tags.push(tag);
  }
  return tags;
}

async function receiveTurn(inbox) {
  const turn = { text: '', texts: [], events: [], usage: null, turn_complete: false };
  for (;;) {
    const msg = await inbox.next('turnComplete');
    if (msg.setupComplete !== undefined && !msg.serverContent) continue; // replayed by connect()
    turn.events.push(...eventsOf(msg));
    const text = msg.text;
    if (text !== undefined) turn.texts.push(text);
    if (msg.usageMetadata) turn.usage = usageOf(msg.usageMetadata);
    if (msg.serverContent?.turnComplete) {
      turn.turn_complete = true;
      break;
    }
  }
  turn.text = turn.texts.join('');
  return turn;
}

const user = (text) => ({ role: 'user', parts: [{ text }] });
const model = (text) => ({ role: 'model', parts: [{ text }] });

async function scenario(name, modelId, result, phase) {
  const ai = new GoogleGenAI({}); // everything comes from the environment, as for users
  const config = { responseModalities: [Modality.TEXT] };
  if (name === 'system_instruction') config.systemInstruction = SYSTEM_INSTRUCTION;
  if (name === 'unknown_model') modelId = UNKNOWN_MODEL;
  result.model = modelId;

  phase.name = 'connect';
  const { session, inbox } = await connectLive(ai, { model: modelId, config }, result, WAIT_MS);
  try {
    if (['text_turn', 'bad_key', 'unknown_model', 'system_instruction'].includes(name)) {
      phase.name = 'send';
      session.sendClientContent({ turns: [user('hello there')], turnComplete: true });
      phase.name = 'receive';
      result.turns.push(await receiveTurn(inbox));
      if (name === 'text_turn') {
        phase.name = 'send';
        session.sendClientContent({ turns: [user('second turn')], turnComplete: true });
        phase.name = 'receive';
        result.turns.push(await receiveTurn(inbox));
      }
    } else if (name === 'history') {
      phase.name = 'send';
      session.sendClientContent({
        turns: [user('my name is Ada'), model('nice to meet you')],
        turnComplete: false,
      });
      session.sendClientContent({ turns: [user('what is my name')], turnComplete: true });
      phase.name = 'receive';
      result.turns.push(await receiveTurn(inbox));
    } else if (name === 'realtime_text') {
      phase.name = 'send';
      session.sendRealtimeInput({ text: 'hello realtime' });
      phase.name = 'receive';
      result.turns.push(await receiveTurn(inbox));
    } else if (name === 'malformed_frame' || name === 'malformed_content') {
      // The ONLY private access in this program (session.conn is the SDK's WebSocket wrapper).
      phase.name = 'send';
      session.conn.send(
        name === 'malformed_frame'
          ? 'this is not json'
          : JSON.stringify({ clientContent: { turns: 'notalist' } }),
      );
      phase.name = 'receive';
      result.turns.push(await receiveTurn(inbox));
    }
  } finally {
    if (!inbox.closed) session.close();
  }
}

function newResult(name, modelId) {
  return {
    sdk: 'node',
    sdk_version: sdkVersion,
    node_version: process.version,
    scenario: name,
    model: modelId,
    setup_complete: false,
    turns: [],
    error: null,
  };
}

function run(name, modelId) {
  const result = newResult(name, modelId);
  const phase = { name: 'connect' };
  return reportErrors(name, result, phase, () => scenario(name, modelId, result, phase));
}

async function main() {
  const args = process.argv.slice(2);
  let modelId = DEFAULT_MODEL;
  const names = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--model') modelId = args[++i];
    else names.push(args[i]);
  }
  if (names.length === 0 || !names.every((n) => SCENARIOS.includes(n)) || !modelId) {
    process.stderr.write(
      `usage: node node_client.mjs {${SCENARIOS.join('|')}} [SCENARIO ...] [--model M]\n`,
    );
    process.exit(2);
  }
  // Several scenarios run concurrently (one client and session each); one line each, in order.
  printAndExit(await Promise.all(names.map((n) => run(n, modelId))));
}

await main();
