// @google/genai's LiveConnectConfig with every field set, built from the SDK's own type
// declarations (the d.ts it ships, read with the TypeScript compiler), so that a field a new
// SDK release adds is set too. The Node counterpart of py_every_field.py.
//
// Configured only by the environment users set: GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY and,
// for https, NODE_EXTRA_CA_CERTS. Usage: node node_every_field.mjs '{"mode": "every_field"}'.
// Prints ONE JSON object:
//
// * `sdk`: the SDK's version; `declared`: the LiveConnectConfig fields its d.ts declares,
//   `top_level`: those the config sets (all but the ones no setup can carry);
// * `fields`: the setup fields (leaf paths) the config sets;
// * `refused_by_sdk`: leaf paths the SDK itself refuses to send in Gemini API mode (its
//   converter throws before anything is sent, e.g. `explicitVadSignal`); left out;
// * `sent`: the leaf paths of the setup message the SDK builds from the rest;
// * `setup`: how connecting with everything else went (`{"ok": true}` once setupComplete came,
//   else the close code and reason);
// * `thinking_level`: `thinkingLevel` on its own (it excludes `thinkingBudget`);
// * `builtins`: each built-in tool (googleSearch, codeExecution...) on its own, since a server
//   refuses (1008, naming it) a built-in it does not run.
//
// What the SDK refuses, and what it would send, is asked of the SDK itself without a server:
// `ai.live.webSocketFactory` (a private field of the SDK's Live class) is replaced by a socket
// that keeps what connect() sends and answers setupComplete. That is the only private access;
// the setups that count go to the server over the SDK's own socket.

import { createRequire } from 'node:module';
import { join } from 'node:path';

import { genai, Inbox, printAndExit, readJob, sdk } from './node_common.mjs';

const { GoogleGenAI, Modality } = genai;
const ts = createRequire(join(sdk.dir, 'package.json'))('typescript');

const MODEL = 'gemini-2.5-flash-native-audio-preview-12-2025';
const WAIT_MS = 20000; // for one setupComplete or one reply
const MAX_DEPTH = 6;

// Leaf values with a meaning: what a program would really send there (camelCase, as JS users
// write them; int64 fields are strings in the SDK's types).
const MEANINGFUL = {
  voiceName: 'Kore', voice: 'Kore', languageCode: 'en-US', languageCodes: ['en-US'],
  targetLanguageCode: 'es-ES', responseModalities: ['TEXT'], temperature: 0.5, topP: 0.9,
  topK: 40, maxOutputTokens: 256, seed: 7, thinkingBudget: 128, triggerTokens: '20000',
  targetTokens: '10000', prefixPaddingMs: 20, silenceDurationMs: 500, name: 'get_weather',
  role: 'user', mimeType: 'audio/pcm;rate=24000', imageMimeType: 'image/png',
  stopSequences: ['END'], candidateCount: 1, logprobs: 1, data: 'AAECAw==',
};
const SCHEMA = { type: 'OBJECT', properties: { city: { type: 'STRING' } } };
const JSON_SCHEMA = { type: 'object', properties: { city: { type: 'string' } } };
const CONTENT = { role: 'user', parts: [{ text: 'You are terse.' }] };
// How the SDK connects, not part of the setup.
const SKIP = new Set(['httpOptions', 'abortSignal']);

// -- the SDK's declarations ----------------------------------------------------------------

function declarations() {
  const program = ts.createProgram({
    rootNames: [sdk.types],
    options: { noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022,
               moduleResolution: ts.ModuleResolutionKind.Node10 },
  });
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(sdk.types));
  const exported = new Map(checker.getExportsOfModule(module).map((s) => [s.name, s]));
  const config = exported.get('LiveConnectConfig');
  if (!config) throw new Error(`LiveConnectConfig is not declared in ${sdk.types}`);
  return { checker, config: checker.getDeclaredTypeOfSymbol(config) };
}

const F = ts.TypeFlags;

function typeName(type) {
  return type.aliasSymbol?.name ?? type.symbol?.name;
}

function isFunction(type) {
  return type.getCallSignatures().length > 0;
}

// A literal's value (an enum member or a string literal), or undefined.
function literal(type) {
  return type.flags & (F.StringLiteral | F.NumberLiteral) ? type.value : undefined;
}

function valueFor(checker, name, type, depth) {
  if (name in MEANINGFUL) return MEANINGFUL[name];
  type = checker.getNonNullableType(type);
  const named = typeName(type);
  if (named === 'Schema') return SCHEMA;
  if (named === 'Content') return CONTENT;
  if (type.flags & (F.Any | F.Unknown)) return JSON_SCHEMA;
  if (type.flags & (F.Boolean | F.BooleanLiteral)) return true;
  if (type.flags & F.Union) {
    const members = type.types.filter((t) => !(t.flags & (F.Undefined | F.Null)));
    if (members.every((t) => literal(t) !== undefined)) { // an enum or a union of strings
      const values = members.map(literal);
      return values.find((v) => !String(v).includes('UNSPECIFIED')) ?? values[0];
    }
    if (members.every((t) => t.flags & F.BooleanLiteral)) return true;
    return valueFor(checker, name, members[0], depth); // the first kind, as py_every_field
  }
  if (literal(type) !== undefined) return literal(type);
  if (type.flags & F.String) return 'x';
  if (type.flags & F.Number) return 64;
  if (checker.isArrayType(type)) {
    const inner = valueFor(checker, name, checker.getTypeArguments(type)[0], depth);
    return inner === undefined ? undefined : [inner];
  }
  if (type.flags & F.Object && !isFunction(type)) {
    if (checker.getIndexInfosOfType(type).length > 0 && type.getProperties().length === 0) {
      return { k: 'v' }; // Record<string, string>: labels
    }
    if (depth > MAX_DEPTH) return undefined;
    return everyField(checker, type, depth + 1);
  }
  return undefined; // functions, AbortSignal and other objects a setup cannot carry
}

function everyField(checker, type, depth = 0) {
  const out = {};
  for (const prop of checker.getPropertiesOfType(type)) {
    if (SKIP.has(prop.name)) continue;
    const propType = checker.getTypeOfSymbol(prop);
    if (isFunction(checker.getNonNullableType(propType))) continue; // a method
    const value = valueFor(checker, prop.name, propType, depth);
    if (value !== undefined) out[prop.name] = value;
  }
  return out;
}

// -- leaf paths ----------------------------------------------------------------------------

function* leaves(value, path = []) {
  if (Array.isArray(value) && value.length && typeof value[0] === 'object' && value[0]) {
    yield* leaves(value[0], [...path, 0]);
  } else if (value && typeof value === 'object' && !Array.isArray(value)
             && Object.keys(value).length && path.at(-1) !== 'labels') {
    for (const [key, inner] of Object.entries(value)) yield* leaves(inner, [...path, key]);
  } else {
    yield path;
  }
}

// `config` reduced to the one leaf at `path` (or, `stub`, to the field there, emptied).
function only(config, path, stub = false) {
  if (!path.length) {
    if (stub && config && typeof config === 'object') return Array.isArray(config) ? [] : {};
    return structuredClone(config);
  }
  const [key, ...rest] = path;
  if (key === 0) return [only(config[0], rest, stub)];
  return { [key]: only(config[key], rest, stub) };
}

function without(config, path) {
  const [key, ...rest] = path;
  if (!rest.length) delete config[key];
  else without(config[key], rest);
}

// -- asking the SDK, without a server ------------------------------------------------------

// A WebSocket factory for the SDK's Live class: the socket opens at once, keeps the frames
// connect() sends and answers the setup with setupComplete.
function probeFactory(sent) {
  return {
    create(url, headers, callbacks) {
      return {
        connect() { setTimeout(() => callbacks.onopen?.(), 0); },
        send(data) {
          sent.push(JSON.parse(data));
          setTimeout(() => callbacks.onmessage?.({ data: '{"setupComplete": {}}' }), 0);
        },
        close() { setTimeout(() => callbacks.onclose?.({ code: 1000, reason: '' }), 0); },
      };
    },
  };
}

const probe = new GoogleGenAI({});
probe.live.webSocketFactory = probeFactory([]);

/** The setup message the SDK sends for `config`, or null when it refuses it. */
async function sdkSetup(config) {
  const sent = [];
  probe.live.webSocketFactory = probeFactory(sent);
  try {
    const session = await probe.live.connect({
      model: MODEL, config: structuredClone(config), callbacks: { onmessage: () => {} } });
    session.close();
    return sent[0]?.setup ?? null;
  } catch {
    return null; // its converter threw: the SDK does not send this in Gemini API mode
  }
}

// The outermost field on the way to `leaf` whose mere presence the SDK refuses.
async function refusedField(config, leaf) {
  for (let end = 1; end <= leaf.length; end += 1) {
    if (leaf[end - 1] !== 0 && (await sdkSetup(only(config, leaf.slice(0, end), true))) === null) {
      return leaf.slice(0, end);
    }
  }
  return leaf;
}

// -- the server ----------------------------------------------------------------------------

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function connect(ai, config) {
  try {
    const session = await withTimeout(ai.live.connect({
      model: MODEL, config: structuredClone(config), callbacks: { onmessage: () => {} } }),
      'setupComplete');
    session.close();
    return { ok: true };
  } catch (err) {
    // "Live connection closed before setup completed (code N): reason"
    const message = String(err?.message ?? err);
    const m = /\(code (\d+)\): (.*)$/s.exec(message);
    return { ok: false, code: m ? Number(m[1]) : null, reason: m ? m[2] : message };
  }
}

// A real resumption handle, so that sessionResumption.handle can be set too.
async function aHandle(ai) {
  const inbox = new Inbox(WAIT_MS);
  const session = await withTimeout(ai.live.connect({
    model: MODEL,
    config: { responseModalities: [Modality.TEXT], sessionResumption: {} },
    callbacks: { onmessage: (m) => inbox.push(m), onclose: (e) => inbox.close(e) },
  }), 'setupComplete');
  session.sendClientContent({ turns: [{ role: 'user', parts: [{ text: 'hi' }] }] });
  let handle = null;
  for (;;) {
    const msg = await inbox.next('turnComplete');
    handle = msg.sessionResumptionUpdate?.newHandle ?? handle;
    if (msg.serverContent?.turnComplete) break;
  }
  session.close();
  return handle;
}

async function main() {
  readJob('node_every_field.mjs', ['every_field']);
  const ai = new GoogleGenAI({}); // everything comes from the environment, as for users
  const { checker, config: declared } = declarations();
  const config = everyField(checker, declared);
  const topLevel = Object.keys(config);
  config.sessionResumption.handle = await aHandle(ai);
  const paths = [...leaves(config)];
  const refused = new Map();
  for (const path of paths) {
    if ((await sdkSetup(only(config, path))) === null) {
      const field = await refusedField(config, path);
      refused.set(field.join('.'), field);
    }
  }
  for (const path of refused.values()) without(config, path);
  const tool = config.tools[0];
  const builtins = Object.keys(tool).filter((k) => k !== 'functionDeclarations');
  const builtinTools = Object.fromEntries(builtins.map((k) => [k, { [k]: tool[k] }]));
  for (const k of builtins) delete tool[k];
  // a second declaration: parametersJsonSchema and parameters exclude each other
  const declaration = tool.functionDeclarations[0];
  const plain = Object.fromEntries(Object.entries(declaration)
    .filter(([k]) => !k.endsWith('JsonSchema')));
  const json = Object.fromEntries(Object.entries(declaration)
    .filter(([k]) => k !== 'parameters' && k !== 'response'));
  tool.functionDeclarations = [plain, { ...json, name: 'get_time' }];
  // thinkingBudget and thinkingLevel exclude each other too: the level in a setup of its own
  // (the deprecated generationConfig has a thinkingConfig of its own, which the SDK merges)
  const level = config.thinkingConfig.thinkingLevel;
  for (const owner of [config, config.generationConfig ?? {}]) {
    delete owner.thinkingConfig?.thinkingLevel;
  }
  const sent = await sdkSetup(config);
  const out = {
    sdk: sdk.version,
    declared: checker.getPropertiesOfType(declared).map((p) => p.name),
    top_level: topLevel,
    fields: paths.length,
    refused_by_sdk: [...refused.keys()],
    sent: sent ? [...leaves(sent)].map((p) => p.join('.')) : null,
    setup: await connect(ai, config),
    thinking_level: await connect(ai, { responseModalities: [Modality.TEXT],
                                        thinkingConfig: { thinkingLevel: level } }),
    builtins: {},
  };
  for (const [name, builtin] of Object.entries(builtinTools)) {
    out.builtins[name] = await connect(ai, { responseModalities: [Modality.TEXT],
                                             tools: [builtin] });
  }
  printAndExit([out]);
}

await main();
