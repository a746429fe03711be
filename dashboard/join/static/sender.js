// Sending the student's samples: small batches, oldest first, one request at a time. A batch that
// fails stays at the head of the queue and is sent again after a back-off; while the network is down
// the queue keeps up to the offline buffer (the server's OFFLINE_BUFFER_S of samples, oldest dropped
// beyond it, and said). Sending a batch again is safe: the server stores nothing twice.

export const FLUSH_EVERY_MS = 5000;  // a batch at least this often...
export const FLUSH_AT_SAMPLES = 10;  // ...or as soon as this many samples wait
const BACKOFF_MS = [1000, 2000, 4000, 8000, 10000];
const CHECK_EVERY_MS = 500;

/** Why the sending stopped for good, from the status of a refused batch (null: not for good). */
export function stopReason(status) {
  return { 410: "ended", 403: "removed", 401: "unauthorised", 404: "unknown" }[status] ?? null;
}

/** The longest prefix of `samples` (at most `maxSamples`) whose batch JSON is at most `maxBytes`. */
export function nextBatch(samples, maxSamples, maxBytes) {
  const encoder = new TextEncoder();
  let count = Math.min(samples.length, maxSamples);
  while (count > 0) {
    const text = JSON.stringify({ samples: samples.slice(0, count) });
    const bytes = encoder.encode(text).length;
    if (bytes <= maxBytes) return { count, text, bytes };
    count = Math.floor(count / 2);
  }
  throw new Error("one sample is larger than a batch may be");
}

export class Sender {
  /**
   * @param api JoinApi; @param token the student's token; @param limits the server's limits
   * (max_samples, max_bytes, offline_buffer_s); @param rateHz the lesson's rate; @param serverNow
   * the server clock in ms; @param onChange called after every change; @param onStop(reason, message)
   * once, when the server refuses this student for good.
   */
  constructor({ api, token, limits, rateHz, serverNow, onChange, onStop }) {
    this.api = api;
    this.token = token;
    this.limits = limits;
    this.serverNow = serverNow;
    this.keepAtMost = Math.ceil(limits.offline_buffer_s * rateHz);
    this.onChange = onChange;
    this.onStop = onStop;
    this.queue = [];
    this.sent = 0;
    this.dropped = 0;
    this.refused = 0;
    this.lastSentT = null;
    this.offline = false;
    this.retryAt = 0;
    this.failures = 0;
    this.busy = false;
    this.stopped = false;
    this.lastError = null;
    this.lastFlushAt = performance.now();
    this.timer = setInterval(() => this.pump(), CHECK_EVERY_MS);
    this.onOnline = () => { this.retryAt = 0; this.pump(true); };
    this.onOffline = () => { this.offline = true; this.onChange(); };
    globalThis.addEventListener("online", this.onOnline);
    globalThis.addEventListener("offline", this.onOffline);
  }

  /** A new sample, queued; the oldest are dropped beyond the offline buffer. */
  add(sample) {
    this.queue.push(sample);
    const oldest = this.serverNow() - this.limits.offline_buffer_s * 1000;
    let drop = Math.max(0, this.queue.length - this.keepAtMost);
    while (drop < this.queue.length && this.queue[drop].t_ms < oldest) drop++;
    if (drop > 0) {
      this.queue.splice(0, drop);
      this.dropped += drop;
    }
    this.onChange();
    this.pump();
  }

  get waiting() {
    return this.queue.length;
  }

  /** Whether the newest sample measured has reached the server. */
  isSent(sample) {
    return this.lastSentT !== null && sample.t_ms <= this.lastSentT;
  }

  /** Send what is due (everything when `force`), batch after batch, one request at a time. */
  async pump(force = false) {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      while (this.queue.length && !this.stopped && this.isDue(force)) {
        if (!(await this.sendOne())) break;
      }
    } finally {
      this.busy = false;
    }
  }

  isDue(force) {
    const now = performance.now();
    if (now < this.retryAt) return false;
    return force || this.offline || this.failures > 0 || this.queue.length >= FLUSH_AT_SAMPLES
      || now - this.lastFlushAt >= FLUSH_EVERY_MS;
  }

  /** Send the oldest batch; true when the next one may follow at once. */
  async sendOne() {
    const batch = nextBatch(this.queue, this.limits.max_samples, this.limits.max_bytes);
    this.lastFlushAt = performance.now();
    const answer = await this.api.samples(this.token, batch.text);
    if (this.stopped) return false;
    if (answer.status === 200) {
      this.lastSentT = this.queue[batch.count - 1].t_ms;
      this.queue.splice(0, batch.count);
      this.sent += batch.count;
      this.offline = false;
      this.failures = 0;
      this.lastError = null;
      this.onChange();
      return true;
    }
    const reason = stopReason(answer.status);
    if (reason !== null) {
      this.stop();
      this.onStop(reason, answer.body?.error ?? null);
      return false;
    }
    if ([400, 413, 415, 422].includes(answer.status)) {  // never accepted as it is: drop it, go on
      this.queue.splice(0, batch.count);
      this.refused += batch.count;
      this.lastError = answer.body?.error ?? `refused (${answer.status})`;
      this.onChange();
      return true;
    }
    this.offline = answer.status === 0;
    const backoff = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    const wait = answer.status === 429 && answer.retryAfterS ? answer.retryAfterS * 1000 : backoff;
    this.retryAt = performance.now() + wait;
    this.lastError = this.offline ? null : answer.body?.error ?? `the server answered ${answer.status}`;
    this.onChange();
    return false;
  }

  /** Send everything queued now (Pause, Leave); false when something could not be sent. */
  async flushAll(timeoutMs = 5000) {
    const until = performance.now() + timeoutMs;
    this.retryAt = 0;
    while (this.queue.length && !this.stopped && performance.now() < until) {
      if (this.busy) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      this.busy = true;
      let more;
      try {
        more = await this.sendOne();
      } finally {
        this.busy = false;
      }
      if (!more) break;
    }
    return this.queue.length === 0;
  }

  /** Stop sending for good (the student left, was removed, or the lesson ended). */
  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    globalThis.removeEventListener("online", this.onOnline);
    globalThis.removeEventListener("offline", this.onOffline);
  }
}
