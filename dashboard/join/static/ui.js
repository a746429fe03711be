// What the student sees: the consent screen, the self-view with their own numbers, the status lines.
// Text only ever goes in through textContent: nothing the server or the address holds becomes HTML.

const $ = (id) => document.getElementById(id);

/** Show one of the page's sections (consent, lesson) and hide "Loading". */
export function show(id) {
  $("loading").hidden = true;
  for (const section of ["consent", "lesson"]) $(section).hidden = section !== id;
}

/** One line saying what went wrong and what to do; the page stops there. */
export function fail(message) {
  $("loading").hidden = true;
  $("consent").hidden = true;
  $("lesson").hidden = true;
  problem(message);
}

/** One line saying what went wrong, the page otherwise as it is (null clears it). */
export function problem(message) {
  $("problem").textContent = message ?? "";
  $("problem").hidden = !message;
}

/** The page's last word (left, ended, removed, declined): the lesson section goes. */
export function done(message) {
  $("loading").hidden = true;
  $("consent").hidden = true;
  $("lesson").hidden = true;
  $("done").textContent = message;
  $("done").hidden = false;
}

function row(cells, tag = "td") {
  const tr = document.createElement("tr");
  for (const text of cells) {
    const cell = document.createElement(tag);
    cell.textContent = text;
    tr.append(cell);
  }
  return tr;
}

function rateWords(rateHz) {
  if (rateHz >= 1) return `${rateHz} time${rateHz === 1 ? "" : "s"} a second`;
  return `once every ${Math.round(1 / rateHz)} seconds`;
}

/**
 * The consent screen: what is measured (the server's field table), the exact JSON of one batch as
 * the server describes it, whether expressions are measured, a name field when the lesson asks.
 */
export function renderConsent(config, lesson, rejoining, { onJoin, onDecline }) {
  $("consent-intro").textContent = `If you join, this page uses the camera of this device to measure the `
    + `numbers below ${rateWords(lesson.rate_hz)}, and sends only these numbers to your teacher's `
    + `ClassPulse server.`;
  $("consent-mode").textContent = lesson.attention_only
    ? "This lesson is attention-only: facial expressions are not measured (probabilities stay null)."
    : "This lesson also measures facial expressions: the chance of each of seven expressions "
      + `(${config.vocabulary.join(", ")}).`;
  const body = $("fields").tBodies[0];
  body.replaceChildren(...config.sample_fields.map((f) => row([f.field, f.type, f.meaning])));
  $("example").textContent = JSON.stringify(lesson.example_batch, null, 2);
  $("notice-link").href = config.notice;
  $("rejoin").hidden = !rejoining;
  $("name-row").hidden = !lesson.ask_names || rejoining;
  const join = $("join");
  join.onclick = () => {
    join.disabled = true;
    onJoin(lesson.ask_names && !rejoining ? $("name").value.trim() : "");
  };
  $("decline").onclick = onDecline;
  show("consent");
}

/** Let the student press Join again (after a camera problem they can fix). */
export function enableJoin() {
  $("join").disabled = false;
}

/** The lesson screen: the camera's picture (local only), who they are, Pause and Leave. */
export function renderLesson(stream, who, { onPause, onLeave }) {
  const video = $("self");
  video.srcObject = stream;
  $("who").textContent = who;
  $("pause").onclick = onPause;
  $("leave").onclick = onLeave;
  show("lesson");
  return video;
}

/** The camera's picture changes (Pause stops the camera, Resume starts it again). */
export function setStream(stream) {
  $("self").srcObject = stream;
}

export function setPauseLabel(paused) {
  $("pause").textContent = paused ? "Resume" : "Pause";
}

export function disableButtons() {
  $("pause").disabled = true;
  $("leave").disabled = true;
}

export function setState(text) {
  $("state").textContent = text;
}

export function setNetwork(text) {
  $("network").textContent = text;
}

export function setThrottled(text) {
  $("throttled").textContent = text ?? "";
  $("throttled").hidden = !text;
}

export function setCounts(text) {
  $("counts").textContent = text;
}

/** The last sample's fields exactly as sent, and whether it has reached the server. */
export function renderNumbers(sample, sent) {
  $("numbers").tBodies[0].replaceChildren(
    ...Object.entries(sample).map(([field, value]) => row([field, JSON.stringify(value)])));
  $("numbers").caption.textContent = `Your last sample, as sent: ${sent ? "sent" : "waiting"}`;
}
