// A student taking part: the sampler measures at the lesson's rate, the sender posts the samples,
// the self-view shows the student's own numbers as sent. Pause stops the measuring and the camera
// (what was measured before is still sent); Leave tells the server and stops everything; a refusal
// for good (the lesson ended, the student removed) stops everything and says why.

import { pageNow } from "./api.js";
import { Sampler } from "./sampler.js";
import { Sender } from "./sender.js";
import * as ui from "./ui.js";

const LATE_NOTE_FOR_MS = 30000;
export const STOPPED = {
  ended: "The lesson has ended. You can close this page.",
  removed: "Your teacher removed you from this lesson.",
  unauthorised: "This device's place in the lesson is no longer valid, so it cannot rejoin: reload "
    + "the page to join as a new student.",
  unknown: "This lesson no longer exists on the server.",
};

function stopCamera(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

function rateWords(rateHz) {
  return rateHz >= 1 ? `${rateHz} time${rateHz === 1 ? "" : "s"} a second` : `once every ${Math.round(1 / rateHz)} s`;
}

export class Lesson {
  /**
   * @param session {token, who, rate_hz, attention_only, attention, limits, offsetMs};
   * @param openCamera () => Promise<MediaStream>; @param cameraProblem (err) => one line;
   * @param forgetToken () => void, when the token can never be used again.
   */
  constructor({ config, api, session, stream, landmarker, openCamera, cameraProblem, forgetToken }) {
    this.config = config;
    this.api = api;
    this.session = session;
    this.stream = stream;
    this.landmarker = landmarker;
    this.openCamera = openCamera;
    this.cameraProblem = cameraProblem;
    this.forgetToken = forgetToken;
    this.paused = false;
    this.switching = false;
    this.finished = false;
    this.lastSample = null;
    this.lateUntil = 0;
    const serverNow = () => Math.round(pageNow() + session.offsetMs);  // immune to device clock steps
    this.sender = new Sender({
      api, token: session.token, limits: session.limits, rateHz: session.rate_hz, serverNow,
      onChange: () => this.refresh(),
      onStop: (reason) => this.end(reason),
    });
    this.video = ui.renderLesson(stream, session.who, { onPause: () => this.togglePause(), onLeave: () => this.leave() });
    this.video.play().catch(() => {});
    this.watchCamera(stream);
    this.sampler = new Sampler({
      video: this.video, landmarker, attention: session.attention, rateHz: session.rate_hz,
      minGapMs: session.limits.min_gap_ms, serverNow,
      onSample: (sample) => { this.lastSample = sample; this.sender.add(sample); },
      onLate: (late) => this.late(late),
    });
  }

  start() {
    this.sampler.start();
    if (!this.session.attention_only) this.loadExpressions();
    this.refresh();
  }

  /** The expression CNN, loaded beside the landmarker; probabilities stay null until it is ready. */
  async loadExpressions() {
    try {
      const { createExpressionModel } = await import("./libraries.js");
      this.sampler.expression = await createExpressionModel(this.config.urls, this.config.vocabulary);
    } catch (err) {
      console.warn("ClassPulse: the expression model did not load:", err);
      ui.problem("Expressions cannot be measured on this device: only the attention numbers are sent.");
    }
  }

  watchCamera(stream) {
    for (const track of stream.getVideoTracks()) {
      track.addEventListener("ended", () => {
        if (this.finished || this.paused || this.stream !== stream) return;
        this.pause();
        ui.problem("The camera stopped (unplugged, or taken by another program): press Resume to start it again.");
      });
    }
  }

  late({ missed, background }) {
    this.lateUntil = performance.now() + LATE_NOTE_FOR_MS;
    ui.setThrottled(background
      ? `This tab was in the background: fewer samples were taken (${missed} missed).`
      : `This device was busy: fewer samples were taken (${missed} missed).`);
    setTimeout(() => { if (performance.now() >= this.lateUntil) ui.setThrottled(null); }, LATE_NOTE_FOR_MS + 50);
  }

  /** The status lines and the student's own numbers. */
  refresh() {
    if (this.finished) return;
    const s = this.sender;
    ui.setState(this.paused
      ? "Paused: nothing is measured or sent, and the camera is off."
      : `Measuring ${rateWords(this.session.rate_hz)}.`);
    let network = s.offline ? `offline, ${s.waiting} samples waiting`
      : s.failures > 0 ? `waiting for the server, ${s.waiting} samples waiting`
        : `online, ${s.waiting} samples waiting to be sent`;
    if (s.dropped) {
      network += `; ${s.dropped} samples older than ${Math.round(this.session.limits.offline_buffer_s / 60)} `
        + "minutes were dropped (the page keeps no more)";
    }
    if (s.lastError) network += `; the server refused some samples: ${s.lastError}`;
    ui.setNetwork(network);
    let counts = `measured ${this.sampler.measured} · sent ${s.sent} · waiting ${s.waiting}`;
    if (s.refused) counts += ` · refused ${s.refused}`;
    if (s.dropped) counts += ` · dropped ${s.dropped}`;
    ui.setCounts(counts);
    if (this.lastSample) ui.renderNumbers(this.lastSample, s.isSent(this.lastSample));
  }

  async togglePause() {
    if (this.switching) return;  // a second press while the camera starts or stops
    this.switching = true;
    try {
      if (this.paused) await this.resume();
      else await this.pause();
    } finally {
      this.switching = false;
    }
  }

  /** Stop measuring and the camera; send what was measured before. */
  async pause() {
    this.paused = true;
    this.sampler.stop();
    stopCamera(this.stream);
    this.stream = null;
    ui.setStream(null);
    ui.setPauseLabel(true);
    this.refresh();
    await this.sender.flushAll();
    this.refresh();
  }

  async resume() {
    let stream;
    try {
      stream = await this.openCamera();
    } catch (err) {
      ui.problem(this.cameraProblem(err));
      return;
    }
    if (this.finished) { stopCamera(stream); return; }
    ui.problem(null);
    this.stream = stream;
    this.watchCamera(stream);
    ui.setStream(stream);
    this.video.play().catch(() => {});
    this.paused = false;
    ui.setPauseLabel(false);
    this.sampler.start();
    this.refresh();
  }

  /** Leave: send what was measured, tell the server, stop the camera. The token is kept. */
  async leave() {
    ui.disableButtons();
    this.shutDown();
    ui.setState("Leaving…");
    const flushed = await this.sender.flushAll();
    this.sender.stop();
    const answer = await this.api.leave(this.session.token);
    this.finished = true;
    if (answer.status === 410 || answer.status === 403) {
      this.forgetToken();
      ui.done(answer.status === 410 ? STOPPED.ended : STOPPED.removed);
      return;
    }
    const told = answer.status === 200 ? "" : " (the server could not be told: your teacher sees you as absent)";
    const lost = flushed ? "" : ` ${this.sender.waiting} samples could not be sent.`;
    ui.done(`You left the lesson${told}.${lost} Reload this page to join again as the same student.`);
  }

  /** The server refuses this student for good: say why and stop. */
  end(reason) {
    if (this.finished) return;
    this.finished = true;
    this.shutDown();
    this.sender.stop();
    this.forgetToken();
    ui.done(STOPPED[reason] ?? STOPPED.unknown);
  }

  shutDown() {
    this.sampler.close();
    stopCamera(this.stream);
    this.stream = null;
    ui.setStream(null);
    try {
      this.landmarker.close();
    } catch {
      // already closed
    }
  }
}
