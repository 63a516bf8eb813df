// The microphone's AudioWorklet: resamples the context's rate to 16 kHz, converts to
// 16-bit PCM and posts 40 ms chunks with their loudness (the page's own speech meter).
// Runs on the audio thread; `sampleRate` is the AudioContext's rate (a global here).
const OUT_RATE = 16000;
const CHUNK = 640; // samples at 16 kHz: 40 ms

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.pos = 0; // where the next output sample falls in the input (fractional)
    this.prev = 0; // the last input sample of the previous block
    this.out = new Int16Array(CHUNK);
    this.fill = 0;
    this.energy = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    // Box-average over one output period before interpolating: a cheap low-pass, so a
    // 48 kHz microphone does not alias its highs into the speech band.
    const n = channel.length;
    const width = Math.max(1, Math.floor(this.step));
    while (this.pos < n) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      let sum = 0;
      for (let k = 0; k < width; k++) {
        const j = i - k;
        sum += j >= 0 ? channel[j] : this.prev;
      }
      const next = i + 1 < n ? channel[i + 1] : channel[i];
      const value = width > 1 ? sum / width : channel[i] * (1 - frac) + next * frac;
      const clipped = Math.max(-1, Math.min(1, value));
      this.out[this.fill++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
      this.energy += clipped * clipped;
      if (this.fill === CHUNK) {
        this.port.postMessage({ pcm: this.out.buffer, rms: Math.sqrt(this.energy / CHUNK) },
                              [this.out.buffer]);
        this.out = new Int16Array(CHUNK);
        this.fill = 0;
        this.energy = 0;
      }
      this.pos += this.step;
    }
    this.pos -= n;
    this.prev = channel[n - 1];
    return true;
  }
}

registerProcessor("openlive-capture", Capture);
