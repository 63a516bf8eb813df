// Session management with @google/genai (Node) as users write it: ephemeral tokens, session
// resumption and goAway, for tests/conformance/test_session_node.py.
//
// Configured only by the environment users set: GOOGLE_GEMINI_BASE_URL (http:// gives a plain
// ws:// socket, https:// a wss:// socket), GEMINI_API_KEY (an openlive API key: the "backend"
// that creates tokens) and, for https, NODE_EXTRA_CA_CERTS. The SDK is resolved by
// node_common.mjs. Only the SDK's public API is used. A client holding a token is made the way
// the SDK documents it, `new GoogleGenAI({apiKey: token.name, httpOptions: {apiVersion:
// 'v1alpha'}})`; the SDK then connects to BidiGenerateContentConstrained with `?access_token=`.
//
// Usage: node node_session.mjs JOB_JSON, where the job is one of
//
// * {"mode": "tokens"} — the backend creates tokens with ai.authTokens.create and the
//   "browser" uses them: `locked` (1 use; model, systemInstruction and maxOutputTokens locked,
//   the client asks for others), `used_up` (the same token again), `tampered` (its name with
//   one character changed), `expired` (expireTime 2 s away, used 2.5 s later),
//   `closed_to_new` (newSessionExpireTime 2 s away, used 2.5 s later), `open_past_expiry` (a
//   session opened at once with a token whose expireTime is 2 s away, a turn asked 2.5 s
//   later), `bad_key` (create with a wrong API key).
// * {"mode": "resume", "handle": str?} — `first`: a turn with sessionResumption on, keeping
//   every newHandle; `second`: a new connection with the last handle (or `handle`) and
//   another turn; `foreign`: the same handle presented by a token made with the key.
// * {"mode": "token_resume"} — the same with a 2-use token instead of the key: `first` and
//   `second` (resumed) with the token, then `fresh`, a new session with it.
// * {"mode": "go_away"} — `first`: a turn with sessionResumption on, then it waits for goAway
//   (`go_away`: its timeLeft and when it came) and the close; `second`: resumes with the last
//   handle and asks another question.
//
// Each part is {setup_complete, text, usage, handles, error} (error as in node_common.mjs).
// Prints ONE JSON line and exits 0, also when parts end in errors. Exit status 2: called
// wrongly.

import { connectLive, printAndExit, readJob, reportErrors } from './node_common.mjs';
import { genai, sdk, sleep } from './node_common.mjs';

const { GoogleGenAI, Modality } = genai;

const MODEL = 'gemini-live-2.5-flash-preview';
const UNKNOWN_MODEL = 'no-such-model-for-conformance';
const WAIT_MS = Number(process.env.CONFORMANCE_CLIENT_WAIT_MS || 15000);
const MODES = ['tokens', 'resume', 'token_resume', 'go_away', 'chat', 'see'];
const LOCKED_INSTRUCTION = 'Be brief.'; // 2 words: the prompt token count shows which won
const CLIENT_INSTRUCTION = 'You are a pirate who talks a very long time.'; // 9 words
const SHORT_LIFE_MS = 2000;

const user = (text) => ({ role: 'user', parts: [{ text }] });
const V1ALPHA = { apiVersion: 'v1alpha' }; // where the SDK documents ephemeral tokens
const backend = () => new GoogleGenAI({ httpOptions: V1ALPHA }); // the key, from the env
const browser = (token) => new GoogleGenAI({ apiKey: token, httpOptions: V1ALPHA });
const inMs = (ms) => new Date(Date.now() + ms).toISOString();

function newPart() {
  return { setup_complete: false, text: null, usage: null, handles: [], error: null };
}

// Collect messages up to turnComplete: the text, the usage and every resumption handle.
async function receiveTurn(inbox, part) {
  const texts = [];
  for (;;) {
    const msg = await inbox.next('turnComplete');
    noteHandle(msg, part);
    if (msg.text !== undefined) texts.push(msg.text);
    if (msg.usageMetadata) part.usage = msg.usageMetadata;
    if (msg.serverContent?.turnComplete) break;
  }
  part.text = texts.join('');
}

function noteHandle(msg, part) {
  const handle = msg.sessionResumptionUpdate?.newHandle;
  if (handle) part.handles.push(handle);
  return Boolean(handle);
}

// Wait until `count` handles have arrived. openlive saves a snapshot after setup and after each
// turn; the update for the turn's snapshot may come after turnComplete, and the one for the
// setup's snapshot may too (the saves run beside the turn), so "the first update after
// turnComplete" could still be the empty conversation's.
async function awaitHandles(inbox, part, count) {
  while (part.handles.length < count) {
    noteHandle(await inbox.next(`sessionResumptionUpdate #${count}`), part);
  }
}

/**
 * One session of `ai`: connect with `config`, ask `question` (if any), keep the handle saved
 * after it, close. Errors (a refused connect included) end up in the part.
 */
async function oneTurn(ai, config, question, { model = MODEL, after = null } = {}) {
  const part = newPart();
  const phase = { name: 'connect' };
  return reportErrors(question ?? 'connect', part, phase, async () => {
    const { session, inbox } = await connectLive(ai, { model, config }, part, WAIT_MS);
    try {
      if (question !== null) {
        phase.name = 'send';
        session.sendClientContent({ turns: [user(question)], turnComplete: true });
        phase.name = 'receive';
        await receiveTurn(inbox, part);
        if (config.sessionResumption) await awaitHandles(inbox, part, 2); // setup, turn
      }
      if (after) await after(session, inbox, part, phase);
    } finally {
      if (!inbox.closed) session.close();
    }
  });
}

const lastHandle = (part) => part.handles[part.handles.length - 1] ?? null;
const text = { responseModalities: [Modality.TEXT] };
const resumable = (handle) => ({ ...text, sessionResumption: handle ? { handle } : {} });

// Call the REST API; an error becomes {type, message, status}.
async function rest(call) {
  try {
    return { value: await call() };
  } catch (err) {
    process.stderr.write(`[rest] ${err?.stack ?? err}\n`);
    const message = String(err?.message ?? err);
    return { error: { type: err?.constructor?.name, message, status: err?.status ?? null } };
  }
}

async function tokens() {
  const ai = backend();
  const create = (config) => ai.authTokens.create({ config });
  const started = Date.now();
  const shortLived = { uses: 1, expireTime: inMs(SHORT_LIFE_MS) };
  const [locked, expiring, closing, opened] = await Promise.all([
    create({
      uses: 1,
      expireTime: inMs(30 * 60e3),
      newSessionExpireTime: inMs(60e3),
      liveConnectConstraints: {
        model: MODEL,
        config: { ...text, systemInstruction: LOCKED_INSTRUCTION, maxOutputTokens: 2 },
      },
      lockAdditionalFields: [],
    }),
    create(shortLived),
    create({ uses: 1, expireTime: inMs(30 * 60e3), newSessionExpireTime: inMs(SHORT_LIFE_MS) }),
    create(shortLived),
  ]);
  const out = { name: locked.name, uses: locked.uses ?? null };
  const afterExpiry = () => sleep(started + SHORT_LIFE_MS + 500 - Date.now());
  const question = 'one two three four five';
  // A session opened in time, and a turn asked once its token has expired.
  const lateTurn = async (session, inbox, part, phase) => {
    await afterExpiry();
    phase.name = 'send after expireTime';
    session.sendClientContent({ turns: [user(question)], turnComplete: true });
    phase.name = 'receive after expireTime';
    await receiveTurn(inbox, part);
  };
  const openPastExpiry = oneTurn(browser(opened.name), text, null, { after: lateTurn });
  // The client asks for another model, instruction and output length: the token's win.
  const mine = { ...text, systemInstruction: CLIENT_INSTRUCTION, maxOutputTokens: 100 };
  out.locked = await oneTurn(browser(locked.name), mine, question, { model: UNKNOWN_MODEL });
  const last = locked.name.slice(-1);
  const tampered = locked.name.slice(0, -1) + (last === 'A' ? 'B' : 'A');
  const [usedUp, forged, badKey] = await Promise.all([
    oneTurn(browser(locked.name), text, question),
    oneTurn(browser(tampered), text, question),
    rest(() => browser('not-a-key').authTokens.create({ config: { uses: 1 } })),
  ]);
  Object.assign(out, { used_up: usedUp, tampered: forged, bad_key: badKey.error ?? null });
  await afterExpiry();
  [out.expired, out.closed_to_new, out.open_past_expiry] = await Promise.all([
    oneTurn(browser(expiring.name), text, question),
    oneTurn(browser(closing.name), text, question),
    openPastExpiry,
  ]);
  return out;
}

async function resume(job) {
  const ai = new GoogleGenAI({}); // the key, from the environment
  const out = { first: await oneTurn(ai, resumable(null), 'My name is Ada.') };
  const handle = job.handle ?? lastHandle(out.first);
  out.second = await oneTurn(ai, resumable(handle), 'What is my name?');
  const token = await backend().authTokens.create({ config: { uses: 1 } });
  out.foreign = await oneTurn(browser(token.name), resumable(handle), 'What is my name?');
  return out;
}

async function tokenResume() {
  const token = await backend().authTokens.create({ config: { uses: 2 } });
  const out = { first: await oneTurn(browser(token.name), resumable(null), 'My name is Ada.') };
  out.second = await oneTurn(browser(token.name), resumable(lastHandle(out.first)),
    'What is my name?');
  out.fresh = await oneTurn(browser(token.name), text, 'hello');
  return out;
}

async function goAway() {
  const ai = new GoogleGenAI({});
  const t0 = Date.now();
  const out = { go_away: null };
  // After the turn, listen (keeping newer handles) until goAway, then until the close.
  const listen = async (session, inbox, part, phase) => {
    phase.name = 'wait for goAway';
    for (;;) {
      let msg;
      try {
        msg = await inbox.next('goAway and the close');
      } catch (err) {
        if (!inbox.closed) throw err;
        out.closed = { ...inbox.closed, after_s: (Date.now() - t0) / 1000 };
        return;
      }
      noteHandle(msg, part);
      if (msg.goAway) {
        out.go_away = { timeLeft: msg.goAway.timeLeft, after_s: (Date.now() - t0) / 1000 };
      }
    }
  };
  out.first = await oneTurn(ai, resumable(null), 'My name is Ada.', { after: listen });
  out.second = await oneTurn(ai, resumable(lastHandle(out.first)), 'What is my name?');
  return out;
}

// Several turns in one session with the job's config (camelCase); the replies in order.
async function chat(job) {
  const ai = new GoogleGenAI({});
  const out = { replies: [] };
  const talk = async (session, inbox, part) => {
    for (const turn of job.turns) {
      session.sendClientContent({ turns: [user(turn)], turnComplete: true });
      await receiveTurn(inbox, part);
      out.replies.push(part.text);
    }
  };
  out.session = await oneTurn(ai, { ...text, ...(job.config ?? {}) }, null, { after: talk });
  return out;
}

// Camera frames, then a question; then resume with the handle and ask again.
async function see() {
  const ai = new GoogleGenAI({});
  const frames = [0, 1, 2].map((i) => Buffer.concat([Buffer.from('ffd8ffe0', 'hex'),
    Buffer.alloc(500, i)]));
  const show = async (session) => {
    for (const frame of frames) { // a camera at a few frames a second
      session.sendRealtimeInput({ video: { data: frame.toString('base64'), mimeType: 'image/jpeg' } });
      await sleep(200);
    }
  };
  const out = {};
  out.first = await oneTurn(ai, resumable(null), null, {
    after: async (session, inbox, part) => {
      await show(session);
      session.sendRealtimeInput({ text: 'What do you see?' });
      await receiveTurn(inbox, part);
      await awaitHandles(inbox, part, 2); // after setup, after the turn
    },
  });
  out.second = await oneTurn(ai, resumable(lastHandle(out.first)), 'Is it still there?');
  return out;
}

async function main() {
  const job = readJob('node_session.mjs', MODES);
  const result = { sdk: 'node', sdk_version: sdk.version, mode: job.mode, error: null };
  const phase = { name: job.mode };
  await reportErrors(job.mode, result, phase, async () => {
    const run = { tokens, resume, token_resume: tokenResume, go_away: goAway, chat, see }[
      job.mode];
    Object.assign(result, await run(job));
  });
  printAndExit([result]);
}

await main();
