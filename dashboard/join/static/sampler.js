// Measuring on a timer the page owns, at the lesson's rate: FaceLandmarker in VIDEO mode on the
// camera's current frame, the measures of measures.js and, when the lesson measures expressions and
// the model is ready, the probabilities of expression.js. Each sample is stamped with the server's
// clock (the page's monotonic clock plus the offset learnt at join), strictly increasing and at least the server's
// spacing apart. A timer that fires a whole period late missed samples (a background tab is
// throttled, or the device was busy): they are not made up afterwards, and the page says so.

import { faceFeatures, landmarkedFace } from "./measures.js";
import { greyFromRGBA } from "./expression.js";

const ANGLE_LIMIT = 180;
const EYE_OPENNESS_MAX = 1;
const GAZE_OFFSET_MAX = 5;

function round(value, digits) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

/**
 * One sample exactly as it is sent (payload.py's FIELDS, in order), from the measures of one face
 * (null: no face) and the probabilities (null when not measured). Angles to 0.01 degree, the rest to
 * 0.0001, kept within the ranges the server accepts.
 */
export function makeSample(tMs, features, probabilities) {
  if (features === null) {
    return { t_ms: tMs, face: false, yaw_deg: null, pitch_deg: null, roll_deg: null,
             eye_openness: null, gaze_offset: null, probabilities: null };
  }
  return {
    t_ms: tMs,
    face: true,
    yaw_deg: round(clamp(features.yaw_deg, -ANGLE_LIMIT, ANGLE_LIMIT), 2),
    pitch_deg: round(clamp(features.pitch_deg, -ANGLE_LIMIT, ANGLE_LIMIT), 2),
    roll_deg: round(clamp(features.roll_deg, -ANGLE_LIMIT, ANGLE_LIMIT), 2),
    eye_openness: round(clamp(features.eye_openness, 0, EYE_OPENNESS_MAX), 4),
    gaze_offset: round(clamp(features.gaze_offset, 0, GAZE_OFFSET_MAX), 4),
    probabilities: probabilities === null ? null : probabilities.map((p) => round(p, 4)),
  };
}

export class Sampler {
  /**
   * @param video the camera's <video>; @param landmarker FaceLandmarker (VIDEO mode);
   * @param attention the lesson's thresholds; @param rateHz the lesson's rate; @param minGapMs the
   * server's spacing; @param serverNow the server clock in ms; @param onSample(sample);
   * @param onLate({missed, background}) when samples were missed.
   */
  constructor({ video, landmarker, attention, rateHz, minGapMs, serverNow, onSample, onLate }) {
    this.video = video;
    this.landmarker = landmarker;
    this.attention = attention;
    this.periodMs = 1000 / rateHz;
    this.minGapMs = minGapMs;
    this.serverNow = serverNow;
    this.onSample = onSample;
    this.onLate = onLate;
    this.expression = null;  // an ExpressionModel once loaded, when the lesson measures expressions
    this.running = false;
    this.timer = null;
    this.lastT = null;
    this.lastVideoMs = 0;
    this.measured = 0;
    this.missed = 0;
    this.hiddenSinceTick = document.hidden;
    this.canvas = null;
    this.onVisibility = () => { if (document.hidden) this.hiddenSinceTick = true; };
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.nextAt = performance.now() + this.periodMs;
    this.schedule();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  close() {
    this.stop();
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  schedule() {
    if (!this.running) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.nextAt - performance.now()));
  }

  async tick() {
    if (!this.running) return;
    const now = performance.now();
    const lateMs = now - this.nextAt;
    if (lateMs >= this.periodMs) {  // at least one planned sample was not taken
      const missed = Math.floor(lateMs / this.periodMs);
      this.missed += missed;
      this.onLate({ missed, background: this.hiddenSinceTick || document.hidden });
    }
    this.hiddenSinceTick = document.hidden;
    // On time: keep the rhythm. Late: start a new one from now (no burst to catch up).
    this.nextAt = lateMs > this.periodMs / 2 ? now + this.periodMs : this.nextAt + this.periodMs;
    try {
      await this.measure();
    } catch (err) {
      console.warn("ClassPulse: a sample could not be measured:", err);
    }
    this.schedule();
  }

  /** One sample of the camera's current frame, when the camera has one and the spacing allows. */
  async measure() {
    const video = this.video;
    if (video.readyState < 2 || video.videoWidth === 0) return;  // the camera has no frame yet
    const tMs = this.serverNow();
    if (this.lastT !== null && tMs - this.lastT < this.minGapMs) return;
    const videoMs = Math.max(performance.now(), this.lastVideoMs + 1);  // strictly increasing
    this.lastVideoMs = videoMs;
    const width = video.videoWidth, height = video.videoHeight;
    const result = this.landmarker.detectForVideo(video, videoMs);
    const face = landmarkedFace(result, width, height);
    const features = face === null ? null : faceFeatures(face.points, face.blendshapes, face.matrix, this.attention);
    let probabilities = null;
    if (face !== null && this.expression !== null) {
      const grey = greyFromRGBA(this.framePixels(width, height), width, height);
      [probabilities] = await this.expression.predict([this.expression.prepare(grey, width, height, face.points)]);
    }
    if (!this.running) return;  // paused or stopped meanwhile: not sent
    this.lastT = tMs;
    this.measured += 1;
    this.onSample(makeSample(tMs, features, probabilities));
  }

  /** The camera's current frame as RGBA pixels, drawn on a canvas that is never shown or sent. */
  framePixels(width, height) {
    if (this.canvas === null || this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas = document.createElement("canvas");
      this.canvas.width = width;
      this.canvas.height = height;
      this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    }
    this.context.drawImage(this.video, 0, 0, width, height);
    return this.context.getImageData(0, 0, width, height).data;
  }
}
