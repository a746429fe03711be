// The student page (GET /join/CODE): checks the browser can run it, asks the server about the
// lesson, shows the consent screen and, after Join, starts the camera, the face model and the
// lesson (lesson.js). Whatever stops it says so in one line, with what to do.

import { JoinApi, clockOffsetMs, codeFromPath, loadPageConfig, pageNow } from "./api.js";
import { createFaceLandmarker } from "./libraries.js";
import { Lesson } from "./lesson.js";
import * as ui from "./ui.js";

export const MESSAGES = {
  insecure: "Your browser gives the camera only to secure pages, and this one was opened over plain "
    + "http: open the https:// link your teacher gives, or ask them to set up HTTPS (docs/join.md).",
  oldBrowser: (what) => `This browser is too old for this page (it has no ${what}): open the link in a `
    + "recent Chrome, Edge, Firefox or Safari.",
  noCamera: "No camera was found on this device: connect one and press Join again, or join from a "
    + "device with a camera.",
  refused: "Camera permission was refused: allow the camera for this page (the camera icon in the "
    + "address bar, or the browser's site settings) and press Join again.",
  inUse: "The camera is in use by another program (perhaps the video call): close it or turn its "
    + "camera off, then press Join again.",
  assets: "The server is missing the page's files: tell your teacher to run `make assets` on the "
    + "server (docs/join.md).",
  unreachable: "The ClassPulse server cannot be reached: check your network and reload this page.",
  unknownCode: "No lesson has this code: check the link your teacher gave you.",
  ended: "This lesson has ended.",
  busy: "Too many attempts from your network: wait a minute and reload this page.",
};
const TOKEN_KEY = "classpulse-join-";

/** Why this browser cannot run the page at all, or null. */
export function cannotRun() {
  if (!globalThis.isSecureContext) return MESSAGES.insecure;
  const missing = [];
  if (typeof WebAssembly !== "object") missing.push("WebAssembly");
  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") missing.push("camera access");
  if (typeof fetch !== "function" || typeof TextEncoder !== "function") missing.push("fetch");
  return missing.length ? MESSAGES.oldBrowser(missing.join(" or ")) : null;
}

/** One line for a camera that would not start (getUserMedia's error names). */
export function cameraProblem(err) {
  const name = err?.name ?? "";
  if (["NotAllowedError", "SecurityError", "PermissionDeniedError"].includes(name)) return MESSAGES.refused;
  if (["NotFoundError", "OverconstrainedError", "DevicesNotFoundError"].includes(name)) return MESSAGES.noCamera;
  if (["NotReadableError", "TrackStartError", "AbortError"].includes(name)) return MESSAGES.inUse;
  return `The camera could not start (${name || "unknown error"}): reload this page and try again.`;
}

/** One line for an answer of the lookup or the join that is not what was hoped for. */
function answerProblem(answer) {
  if (answer.status === 0) return MESSAGES.unreachable;
  if (answer.status === 404) return MESSAGES.unknownCode;
  if (answer.status === 410) return MESSAGES.ended;
  if (answer.status === 429) return MESSAGES.busy;
  return `The server could not answer (${answer.body?.error ?? answer.status}): reload this page in a moment.`;
}

function openCamera() {
  return navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
  });
}

/** What the server holds for this device (only the token, per code), kept across reloads. */
class TokenStore {
  constructor(code) {
    this.key = TOKEN_KEY + code.toUpperCase().replace(/[\s-]/g, "");
  }

  get() {
    try { return localStorage.getItem(this.key); } catch { return null; }
  }

  set(token) {
    try { localStorage.setItem(this.key, token); } catch { /* private mode: no rejoin after reload */ }
  }

  forget() {
    try { localStorage.removeItem(this.key); } catch { /* nothing kept */ }
  }
}

/** The page from the consent screen on: one per page load. */
class StudentPage {
  constructor(config, api, tokens) {
    this.config = config;
    this.api = api;
    this.tokens = tokens;
    this.landmarker = null;  // a promise, made once: pressing Join again reuses it
  }

  async open() {
    const lookup = await this.api.lookup();
    if (lookup.status !== 200) return ui.fail(answerProblem(lookup));
    const token = this.tokens.get();
    ui.renderConsent(this.config, lookup.body, token !== null, {
      onJoin: (name) => this.join(name, token),
      onDecline: () => ui.done("You did not join: nothing was measured or sent. You can close this page."),
    });
  }

  async join(name, token) {
    ui.problem(null);
    this.landmarker ??= createFaceLandmarker(this.config.urls, "VIDEO");
    this.landmarker.catch(() => {});  // handled below, once the camera has answered
    let stream;
    try {
      stream = await openCamera();
    } catch (err) {
      ui.problem(cameraProblem(err));
      ui.enableJoin();
      return;
    }
    let landmarker;
    try {
      landmarker = await this.landmarker;
    } catch (err) {
      for (const track of stream.getTracks()) track.stop();
      ui.fail(await this.libraryProblem(err));
      return;
    }
    const session = token ? await this.resume(token) : await this.newStudent(name);
    if (session === null) {
      for (const track of stream.getTracks()) track.stop();
      landmarker.close();
      this.landmarker = null;
      return;
    }
    new Lesson({
      config: this.config, api: this.api, session, stream, landmarker, openCamera, cameraProblem,
      forgetToken: () => this.tokens.forget(),
    }).start();
  }

  /** Join as a new student; the session, or null (the page says why). */
  async newStudent(name) {
    const sentAt = pageNow();
    const answer = await this.api.join(name);
    const answeredAt = pageNow();
    if (answer.status !== 201) {
      if (answer.status === 422) {  // a name the server does not take: the student may fix it
        ui.problem(answer.body?.error ?? "The server refused this name.");
        ui.enableJoin();
      } else {
        ui.fail(answerProblem(answer));
      }
      return null;
    }
    const joined = answer.body;
    this.tokens.set(joined.token);
    return { ...joined, who: `You joined as ${joined.label}.`,
             offsetMs: clockOffsetMs(joined.server_time_ms, sentAt, answeredAt) };
  }

  /** Come back as the student this device joined as (its token kept); the session, or null. */
  async resume(token) {
    const sentAt = pageNow();
    const answer = await this.api.lookup();
    const answeredAt = pageNow();
    if (answer.status !== 200) {
      ui.fail(answerProblem(answer));
      return null;
    }
    const lesson = answer.body;
    return { token, who: "You are back in the lesson as the same student.", rate_hz: lesson.rate_hz,
             attention_only: lesson.attention_only, attention: lesson.attention, limits: lesson.limits,
             offsetMs: clockOffsetMs(lesson.server_time_ms, sentAt, answeredAt) };
  }

  /** Why the face model did not start: the server lacks its files, or this browser cannot run it. */
  async libraryProblem(err) {
    console.warn("ClassPulse: the face model did not start:", err);
    const urls = [this.config.urls.tasks_vision_module, this.config.urls.face_model,
                  `${this.config.urls.tasks_vision_wasm}/vision_wasm_internal.wasm`];
    for (const url of urls) {
      try {
        const response = await fetch(url, { method: "HEAD", cache: "no-store" });
        if (!response.ok) return MESSAGES.assets;
      } catch {
        return MESSAGES.unreachable;
      }
    }
    return "The face model could not start in this browser: open the link in a recent Chrome, Edge, "
      + "Firefox or Safari.";
  }
}

async function main() {
  const cannot = cannotRun();
  if (cannot) return ui.fail(cannot);
  const settings = await loadPageConfig();
  if (settings.status !== 200) {
    return ui.fail(settings.status === 0 ? MESSAGES.unreachable : settings.status === 503 ? MESSAGES.assets
      : `The server could not answer (${settings.status}): reload this page in a moment.`);
  }
  const code = codeFromPath(globalThis.location.pathname);
  await new StudentPage(settings.body, new JoinApi(settings.body.api, code), new TokenStore(code)).open();
}

main().catch((err) => {
  console.error("ClassPulse:", err);
  ui.fail("Something went wrong on this page: reload it; if it happens again, tell your teacher.");
});
