// The per-sample attention measures of engine/attention.py (`face_features`), for the student's browser.
// The Python is the reference: tests/dashboard/join/test_parity.py runs both on the same frames and
// holds this file to it within the tolerances written in docs/join.md. Keep the two in step.

// engine/landmarks.py: MediaPipe's 478-point topology; "right" is the student's own right eye.
export const NUM_LANDMARKS = 478;
export const RIGHT_EYE_EAR = [33, 160, 158, 133, 153, 144];
export const LEFT_EYE_EAR = [362, 385, 387, 263, 373, 380];
export const RIGHT_EYE_CORNERS = [33, 133];
export const LEFT_EYE_CORNERS = [362, 263];
export const RIGHT_IRIS_CENTER = 468;
export const LEFT_IRIS_CENTER = 473;

/**
 * The first face of a FaceLandmarker result in frame pixels, as the engine holds it
 * (engine/faces.py: x, y times the frame's width and height, z times its width), or null.
 * @returns {{points: number[][], blendshapes: Object<string, number>, matrix: number[][]} | null}
 */
export function landmarkedFace(result, width, height) {
  if (!result.faceLandmarks || result.faceLandmarks.length === 0) return null;
  const points = result.faceLandmarks[0].map((p) => [p.x * width, p.y * height, p.z * width]);
  const blendshapes = {};
  const categories = result.faceBlendshapes?.[0]?.categories ?? [];
  for (const c of categories) blendshapes[c.categoryName] = c.score;
  const matrix = result.facialTransformationMatrixes?.[0];
  return { points, blendshapes, matrix: matrix ? matrixRows(matrix) : identity(4) };
}

/** MediaPipe's MatrixData ({rows, columns, data}, packed column-major) as an array of rows. */
export function matrixRows(matrix) {
  const { rows, columns, data } = matrix;
  const out = [];
  for (let i = 0; i < rows; i++) {
    const row = [];
    for (let j = 0; j < columns; j++) row.push(data[j * rows + i]);
    out.push(row);
  }
  return out;
}

function identity(n) {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
}

/** Eigenvalues and eigenvectors (columns) of a symmetric 3x3 matrix, by cyclic Jacobi rotations. */
function symmetricEigen3(s) {
  const a = s.map((row) => row.slice());
  const v = identity(3);
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    if (off <= 1e-30 * (a[0][0] ** 2 + a[1][1] ** 2 + a[2][2] ** 2) || off === 0) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (a[p][q] === 0) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const sn = t * c;
      for (let k = 0; k < 3; k++) {  // a <- a J (columns p, q)
        const akp = a[k][p], akq = a[k][q];
        a[k][p] = c * akp - sn * akq;
        a[k][q] = sn * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {  // a <- J^T a (rows p, q)
        const apk = a[p][k], aqk = a[q][k];
        a[p][k] = c * apk - sn * aqk;
        a[q][k] = sn * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p], vkq = v[k][q];
        v[k][p] = c * vkp - sn * vkq;
        v[k][q] = sn * vkp + c * vkq;
      }
    }
  }
  return { values: [a[0][0], a[1][1], a[2][2]], vectors: v };
}

function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/**
 * The rotation closest to a 3x3 matrix (engine/attention.py `_nearest_rotation`: U diag(1, 1, d) V^T
 * of its SVD). With M^T M = V S^2 V^T, u_i = M v_i / s_i, and that product is exactly
 * u1 v1^T + u2 v2^T + (u1 x u2)(v1 x v2)^T, whatever the signs an eigen-solver picks.
 */
export function nearestRotation(m) {
  const mtm = [0, 1, 2].map((i) => [0, 1, 2].map((j) => m[0][i] * m[0][j] + m[1][i] * m[1][j] + m[2][i] * m[2][j]));
  const { values, vectors } = symmetricEigen3(mtm);
  const order = [0, 1, 2].sort((i, j) => values[j] - values[i]);
  const col = (k) => [vectors[0][k], vectors[1][k], vectors[2][k]];
  const [v1, v2] = [col(order[0]), col(order[1])];
  const u = [v1, v2].map((vk, n) => {
    const s = Math.sqrt(Math.max(values[order[n]], 0));
    return [0, 1, 2].map((i) => (m[i][0] * vk[0] + m[i][1] * vk[1] + m[i][2] * vk[2]) / s);
  });
  const u3 = cross(u[0], u[1]);
  const v3 = cross(v1, v2);
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => u[0][i] * v1[j] + u[1][i] * v2[j] + u3[i] * v3[j]));
}

/**
 * Yaw, pitch, roll in degrees from the facial transformation matrix (rows), decomposed as in
 * engine/attention.py `head_pose_deg`: R = Ry(yaw) Rx(-pitch) Rz(-roll) in camera axes.
 */
export function headPoseDeg(rows) {
  const r = nearestRotation([rows[0].slice(0, 3), rows[1].slice(0, 3), rows[2].slice(0, 3)]);
  const deg = 180 / Math.PI;
  const yaw = Math.atan2(r[0][2], r[2][2]);
  const pitch = Math.asin(Math.min(1, Math.max(-1, r[1][2])));
  const roll = Math.atan2(-r[1][0], r[1][1]);
  return [yaw * deg, pitch * deg, roll * deg];
}

/** Eye aspect ratio (Soukupová & Čech 2016): lid gaps over twice the corner distance, image plane. */
export function eyeAspectRatio(points, eyePoints) {
  const [p1, p2, p3, p4, p5, p6] = eyePoints.map((i) => points[i]);
  const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const width = dist(p1, p4);
  if (width <= 1e-9) throw new Error(`degenerate eye: corners ${eyePoints[0]} and ${eyePoints[3]} coincide`);
  return (dist(p2, p6) + dist(p3, p5)) / (2 * width);
}

function meanBlink(blendshapes) {
  const scores = ["eyeBlinkLeft", "eyeBlinkRight"].filter((k) => k in blendshapes).map((k) => blendshapes[k]);
  return scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : null;
}

/** Mean EAR of both eyes, raised to `ear_closed` when the eyeBlink blendshapes say the eyes are open. */
export function eyeOpenness(points, blendshapes, settings) {
  const ear = 0.5 * (eyeAspectRatio(points, RIGHT_EYE_EAR) + eyeAspectRatio(points, LEFT_EYE_EAR));
  const blink = meanBlink(blendshapes);
  if (blink !== null && blink < settings.blink_closed) return Math.max(ear, settings.ear_closed);
  return ear;
}

function irisOffset(points, corners, irisCenter) {
  const a = points[corners[0]], b = points[corners[1]], iris = points[irisCenter];
  const axis = [b[0] - a[0], b[1] - a[1]];
  const width = Math.hypot(axis[0], axis[1]);
  if (width <= 1e-9) throw new Error(`degenerate eye: corners ${corners[0]} and ${corners[1]} coincide`);
  const rel = [iris[0] - 0.5 * (a[0] + b[0]), iris[1] - 0.5 * (a[1] + b[1])];
  return (rel[0] * axis[0] + rel[1] * axis[1]) / (0.5 * width * width);
}

/** How far the irises sit from the eye centres sideways: 0 centred, 1 at a corner, both eyes averaged. */
export function gazeOffset(points) {
  const right = irisOffset(points, RIGHT_EYE_CORNERS, RIGHT_IRIS_CENTER);
  const left = irisOffset(points, LEFT_EYE_CORNERS, LEFT_IRIS_CENTER);
  return Math.abs(0.5 * (right + left));
}

/**
 * All per-sample measures of one face, named as engine/attention.py's FaceFeatures fields.
 * `settings` holds AttentionSettings' fields as the server sends them (ear_closed, blink_closed, ...).
 */
export function faceFeatures(points, blendshapes, matrixRows4, settings) {
  if (points.length < NUM_LANDMARKS) throw new Error(`expected ${NUM_LANDMARKS} landmarks, got ${points.length}`);
  const [yaw, pitch, roll] = headPoseDeg(matrixRows4);
  const openness = eyeOpenness(points, blendshapes, settings);
  return {
    yaw_deg: yaw,
    pitch_deg: pitch,
    roll_deg: roll,
    eye_openness: openness,
    eyes_closed_now: openness < settings.ear_closed,
    gaze_offset: gazeOffset(points),
  };
}
