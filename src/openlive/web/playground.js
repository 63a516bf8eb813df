// The openlive playground: a Live API client in plain JS, speaking the wire protocol over
// a WebSocket (spec: BidiGenerateContent). No build step and no SDK: what goes over the
// wire is what you see here. See docs/playground.md.
"use strict";

const IN_RATE = 16000; // what the capture worklet sends
const OUT_RATE = 24000; // what the server's audio parts carry
const LOUD = 0.015; // RMS of a 40 ms chunk that counts as speech for the page's own timing
const LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
const TOKEN_LIVE_PATH =
  "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained";

const $ = (id) => document.getElementById(id);

// The sample tools of the function-calling demo, answered here in the page.
const TOOLS = [{
  functionDeclarations: [
    {
      name: "get_weather",
      description: "Get the current weather in a city.",
      parameters: { type: "OBJECT", properties: {
        city: { type: "STRING", description: "The city, e.g. Paris" } }, required: ["city"] },
    },
    {
      name: "set_light",
      description: "Set the colour of the room's light.",
      parameters: { type: "OBJECT", properties: {
        color: { type: "STRING", description: "A colour name, e.g. red" } }, required: ["color"] },
    },
  ],
}];

function answerTool(call) {
  const args = call.args || {};
  if (call.name === "get_weather") {
    // A made-up but stable answer: the demo is about the round trip, not the weather.
    const city = String(args.city || "somewhere");
    const celsius = 12 + ([...city].reduce((a, c) => a + c.charCodeAt(0), 0) % 15);
    return { city, sky: celsius > 20 ? "sunny" : "light rain", celsius };
  }
  if (call.name === "set_light") {
    const color = String(args.color || "white");
    document.querySelector("header").style.borderBottom = `4px solid ${color}`;
    return { ok: true, color };
  }
  return { error: `no tool named ${call.name}` };
}

const state = {
  options: null,
  ws: null,
  sessionId: null,
  mic: null, // {ctx, stream, node, source}
  out: null, // {ctx, next, sources}
  turns: [], // one per user turn: timing and its row in the latency table
  turn: null, // the turn being answered
  lastLoudAt: null, // performance.now() of the last loud chunk sent
  userLine: null, // the log item of the user's words in this turn
  modelLine: null,
  audioSeconds: 0, // answer audio received in this session
  droppedSeconds: 0, // unplayed answer audio dropped at the last stop
  interims: 0, // interim transcripts shown in this session
  serverTurnsSeen: 0,
  manual: false, // automatic activity detection off: the mic button marks the turn
};

// -- the page ---------------------------------------------------------------------------

function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").dataset.state = kind;
}

function logLine(kind, who, text) {
  const li = document.createElement("li");
  li.className = kind;
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = who;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(label, body);
  $("log").append(li);
  $("log").scrollTop = $("log").scrollHeight;
  return li;
}

function appendTo(line, text) {
  line.querySelector(".text").textContent += text;
  $("log").scrollTop = $("log").scrollHeight;
}

async function loadOptions() {
  const response = await fetch("/playground/options");
  const options = await response.json();
  state.options = options;
  for (const model of options.models) $("model").add(new Option(model, model));
  $("model").value = options.default_model;
  for (const v of options.voices) {
    $("voice").add(new Option(`${v.name} (${v.gender}, ${v.character})`, v.name));
  }
  $("voice").value = options.default_voice;
  for (const code of options.languages) $("language").add(new Option(code, code));
  if (!options.voice) {
    $("modality").value = "TEXT";
    logLine("event", "server", "This server runs without voice engines: TEXT only.");
  }
  if (options.auth === "none") {
    $("auth-note").textContent = "Authentication is off on this server: no key needed.";
  } else {
    $("auth-note").textContent = "A page opened on the server's machine gets a one-session "
      + "token from it. Elsewhere, paste an API key: it is exchanged for a token.";
    $("key-row").hidden = false;
  }
}

// -- authentication ---------------------------------------------------------------------

async function liveUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const base = `${scheme}//${location.host}`;
  if (state.options.auth === "none") return base + LIVE_PATH;
  const key = $("api-key").value.trim();
  const now = Date.now();
  const response = key
    ? await fetch("/v1alpha/auth_tokens", {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": key },
      body: JSON.stringify({ uses: 1, newSessionExpireTime: new Date(now + 60e3).toISOString(),
                             expireTime: new Date(now + 30 * 60e3).toISOString() }),
    })
    : await fetch("/playground/token", { method: "POST" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return `${base}${TOKEN_LIVE_PATH}?access_token=${encodeURIComponent(body.name)}`;
}

// -- the session ------------------------------------------------------------------------

function setupMessage() {
  const modality = $("modality").value;
  const generationConfig = { responseModalities: [modality] };
  if (modality === "AUDIO") {
    generationConfig.speechConfig = {
      voiceConfig: { prebuiltVoiceConfig: { voiceName: $("voice").value } } };
    if ($("language").value) generationConfig.speechConfig.languageCode = $("language").value;
  }
  const detection = { disabled: !$("vad-auto").checked };
  if ($("vad-start").value) detection.startOfSpeechSensitivity = $("vad-start").value;
  if ($("vad-end").value) detection.endOfSpeechSensitivity = $("vad-end").value;
  if ($("vad-silence").value) detection.silenceDurationMs = Number($("vad-silence").value);
  if ($("vad-prefix").value) detection.prefixPaddingMs = Number($("vad-prefix").value);
  const setup = {
    model: `models/${$("model").value}`,
    generationConfig,
    realtimeInputConfig: { automaticActivityDetection: detection },
    inputAudioTranscription: {},
  };
  if (modality === "AUDIO") setup.outputAudioTranscription = {};
  const system = $("system").value.trim();
  if (system) setup.systemInstruction = { parts: [{ text: system }] };
  if ($("tools").checked) setup.tools = TOOLS;
  return { setup };
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

async function connect() {
  $("connect").disabled = true;
  setStatus("connecting…", "busy");
  try {
    ensurePlayback();
    const url = await liveUrl();
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    state.manual = !$("vad-auto").checked;
    ws.onopen = () => send(setupMessage());
    ws.onmessage = (event) => {
      const text = typeof event.data === "string" ? event.data
        : new TextDecoder().decode(event.data);
      onServerMessage(JSON.parse(text));
    };
    ws.onclose = (event) => onClosed(event.code, event.reason);
  } catch (err) {
    setStatus(`not connected: ${err.message}`, "error");
    $("connect").disabled = false;
  }
}

function onClosed(code, reason) {
  stopMic();
  stopPlayback();
  state.ws = null;
  const normal = code === 1000 || code === 1005;
  setStatus(normal ? "not connected" : `closed ${code}: ${reason}`, normal ? "idle" : "error");
  logLine("event", "session", `closed (${code}${reason ? `: ${reason}` : ""})`);
  for (const id of ["mic", "text", "send", "disconnect"]) $(id).disabled = true;
  $("connect").disabled = false;
}

function onServerMessage(message) {
  if (message.setupComplete) {
    state.sessionId = message.setupComplete.sessionId || null;
    setStatus("connected", "open");
    for (const id of ["mic", "text", "send", "disconnect"]) $(id).disabled = false;
    $("mic").textContent = state.manual ? "Start my turn" : "Start microphone";
    logLine("event", "session", `open (${$("model").value}, ${$("modality").value})`);
  }
  const content = message.serverContent;
  if (content) onContent(content);
  if (message.toolCall) onToolCall(message.toolCall);
  if (message.toolCallCancellation) {
    logLine("tool", "tools", `cancelled: ${message.toolCallCancellation.ids.join(", ")}`);
  }
  if (message.goAway) logLine("event", "server", `goAway: ${message.goAway.timeLeft} left`);
}

function currentTurn() {
  if (!state.turn) {
    state.turn = { n: state.turns.length + 1, speechEnd: null, sentAt: null,
                   transcriptAt: null, firstAudioAt: null, row: null };
    state.turns.push(state.turn);
  }
  return state.turn;
}

function onContent(content) {
  if (content.interimInputTranscription && content.interimInputTranscription.text) {
    state.interims += 1;
    $("interim").textContent = content.interimInputTranscription.text;
  }
  if (content.inputTranscription && content.inputTranscription.text) {
    const turn = currentTurn();
    if (turn.transcriptAt === null) {
      turn.transcriptAt = performance.now();
      turn.speechEnd = state.lastLoudAt;
    }
    $("interim").textContent = "";
    if (!state.userLine) state.userLine = logLine("user", "you (heard)", "");
    appendTo(state.userLine, content.inputTranscription.text);
  }
  if (content.modelTurn) {
    for (const part of content.modelTurn.parts || []) {
      if (part.inlineData && part.inlineData.mimeType.startsWith("audio/")) {
        onAudio(part.inlineData.data);
      } else if (part.text && !part.thought) {
        firstAnswer();
        if (!state.modelLine) state.modelLine = logLine("model", "model", "");
        appendTo(state.modelLine, part.text);
      }
    }
  }
  if (content.outputTranscription && content.outputTranscription.text) {
    if (!state.modelLine) state.modelLine = logLine("model", "model (spoken)", "");
    appendTo(state.modelLine, content.outputTranscription.text);
  }
  if (content.interrupted) {
    stopPlayback();
    logLine("event", "server", "interrupted: playback stopped");
    endTurn();
  }
  if (content.turnComplete) endTurn();
}

function endTurn() {
  const turn = state.turn;
  state.turn = null;
  state.userLine = null;
  state.modelLine = null;
  if (turn && turn.row) setTimeout(() => fetchServerStages(turn), 100);
}

function onToolCall(toolCall) {
  state.modelLine = null; // what the model says with the results goes below the call
  const responses = toolCall.functionCalls.map((call) => {
    const output = answerTool(call);
    logLine("tool", "tool call", `${call.name}(${JSON.stringify(call.args || {})}) → `
      + JSON.stringify(output));
    return { id: call.id, name: call.name, response: { output } };
  });
  send({ toolResponse: { functionResponses: responses } });
}

// -- latency ----------------------------------------------------------------------------

function ms(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value)} ms`;
}

function firstAnswer() {
  const turn = currentTurn();
  if (turn.firstAudioAt !== null) return;
  turn.firstAudioAt = performance.now();
  if (turn.speechEnd === null) turn.speechEnd = turn.sentAt ?? state.lastLoudAt;
  const row = document.createElement("tr");
  const toTranscript = turn.transcriptAt !== null && turn.speechEnd !== null
    ? turn.transcriptAt - turn.speechEnd : null;
  const toAudio = turn.speechEnd !== null ? turn.firstAudioAt - turn.speechEnd : null;
  row.dataset.firstAudioMs = toAudio === null ? "" : String(Math.round(toAudio));
  const cells = [turn.sentAt !== null ? `${turn.n} (typed)` : String(turn.n), ms(toTranscript),
                 ms(toAudio), "…", "", "", "", "", ""];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }
  $("latency").querySelector("tbody").prepend(row);
  turn.row = row;
}

async function fetchServerStages(turn) {
  if (!state.sessionId) return;
  try {
    const response = await fetch(`/playground/latency?session=${state.sessionId}`);
    if (!response.ok) return;
    const { turns } = await response.json();
    // the server traces voice turns only: a typed turn has no stages
    if (turns.length <= state.serverTurnsSeen || turn.sentAt !== null) {
      turn.row.children[3].textContent = "–";
      return;
    }
    const stages = turns[turns.length - 1].stages_ms;
    state.serverTurnsSeen = turns.length;
    const names = ["endpoint", "asr", "llm_first_token", "llm_first_piece", "tts_first_chunk",
                   "first_audio"];
    names.forEach((name, i) => { turn.row.children[3 + i].textContent = ms(stages[name]); });
    turn.row.dataset.serverFirstAudioMs = String(stages.first_audio ?? "");
  } catch (err) {
    turn.row.children[3].textContent = "–";
  }
}

// -- playback ---------------------------------------------------------------------------

function ensurePlayback() {
  if (state.out) return;
  // Made on the Connect click: browsers start audio only from a user gesture.
  const ctx = new AudioContext({ sampleRate: OUT_RATE });
  state.out = { ctx, next: 0, sources: new Set() };
}

function onAudio(base64) {
  firstAnswer();
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const samples = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
  const { ctx } = state.out;
  const buffer = ctx.createBuffer(1, samples.length, OUT_RATE);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  const start = Math.max(ctx.currentTime + 0.02, state.out.next);
  source.start(start);
  state.out.next = start + buffer.duration;
  state.out.sources.add(source);
  source.onended = () => state.out && state.out.sources.delete(source);
  state.audioSeconds += buffer.duration;
  document.body.dataset.audioSeconds = state.audioSeconds.toFixed(2);
}

function stopPlayback() {
  if (!state.out) return;
  // what was received but not yet heard, dropped (the browser test checks this)
  state.droppedSeconds = Math.max(0, state.out.next - state.out.ctx.currentTime);
  for (const source of state.out.sources) source.stop();
  state.out.sources.clear();
  state.out.next = 0;
}

// -- the microphone ---------------------------------------------------------------------

async function startMic() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true,
             autoGainControl: true } });
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule("/playground/capture-worklet.js");
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "openlive-capture");
  node.port.onmessage = ({ data }) => onMicChunk(data.pcm, data.rms);
  source.connect(node);
  state.mic = { ctx, stream, node, source };
  if (state.manual) send({ realtimeInput: { activityStart: {} } });
  $("mic").textContent = state.manual ? "End my turn" : "Stop microphone";
  $("mic").classList.add("on");
}

function stopMic() {
  const mic = state.mic;
  if (!mic) return;
  state.mic = null;
  mic.node.port.onmessage = null;
  mic.source.disconnect();
  mic.stream.getTracks().forEach((t) => t.stop());
  mic.ctx.close();
  send({ realtimeInput: state.manual ? { activityEnd: {} } : { audioStreamEnd: true } });
  $("mic").textContent = state.manual ? "Start my turn" : "Start microphone";
  $("mic").classList.remove("on");
  $("meter").firstElementChild.style.width = "0";
}

function onMicChunk(pcm, rms) {
  if (rms > LOUD) state.lastLoudAt = performance.now();
  $("meter").firstElementChild.style.width = `${Math.min(100, rms * 400)}%`;
  const bytes = new Uint8Array(pcm);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  send({ realtimeInput: { audio: { mimeType: `audio/pcm;rate=${IN_RATE}`, data: btoa(binary) } } });
}

// -- wiring -----------------------------------------------------------------------------

function sendText(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  // no local stop: the server answers a new turn with `interrupted`, which stops playback
  const turn = currentTurn();
  turn.sentAt = performance.now();
  logLine("user", "you (typed)", text);
  send({ clientContent: { turns: [{ role: "user", parts: [{ text }] }], turnComplete: true } });
}

window.addEventListener("DOMContentLoaded", () => {
  $("connect").onclick = connect;
  $("disconnect").onclick = () => state.ws && state.ws.close(1000);
  $("mic").onclick = async () => {
    if (state.mic) { stopMic(); return; }
    try { await startMic(); } catch (err) {
      logLine("event", "microphone", `not available: ${err.message}`);
    }
  };
  $("text-form").onsubmit = sendText;
  loadOptions().catch((err) => setStatus(`cannot load options: ${err.message}`, "error"));
});

window.openlivePlayground = state; // for the browser test and the curious
