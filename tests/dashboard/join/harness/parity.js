// Test-only harness: runs the product's browser modules on frames the test wrote, and returns what
// they measure, so tests/dashboard/join/test_parity.py can compare them with the Python engine.
import { createExpressionModel, createFaceLandmarker } from "/join/static/libraries.js";
import * as measures from "/join/static/measures.js";
import { greyFromRGBA } from "/join/static/expression.js";

/** One frame as ImageData, from the raw RGBA bytes the test serves. */
async function frameImage(frame) {
  const response = await fetch(frame.url);
  if (!response.ok) throw new Error(`frame ${frame.url}: ${response.status}`);
  const bytes = new Uint8ClampedArray(await response.arrayBuffer());
  return new ImageData(bytes, frame.width, frame.height);
}

/** Landmarks, measures and probabilities of each frame; per-step times in milliseconds. */
async function run({ urls, settings, vocabulary, frames, mode = "IMAGE", repeats = 1 }) {
  const t0 = performance.now();
  const landmarker = await createFaceLandmarker(urls, mode);
  const t1 = performance.now();
  const model = await createExpressionModel(urls, vocabulary);
  const t2 = performance.now();
  const results = [];
  let clockMs = 0;
  for (const frame of frames) {
    const image = await frameImage(frame);
    const times = { landmarks_ms: [], cnn_ms: [], measures_ms: [] };
    let out = null;
    for (let r = 0; r < repeats; r++) {
      const a = performance.now();
      const result = mode === "VIDEO" ? landmarker.detectForVideo(image, (clockMs += 100)) : landmarker.detect(image);
      const b = performance.now();
      const face = measures.landmarkedFace(result, image.width, image.height);
      if (face === null) { times.landmarks_ms.push(b - a); continue; }
      const features = measures.faceFeatures(face.points, face.blendshapes, face.matrix, settings);
      const c = performance.now();
      const grey = greyFromRGBA(image.data, image.width, image.height);
      const prepared = model.prepare(grey, image.width, image.height, face.points);
      const [probabilities] = await model.predict([prepared]);
      const d = performance.now();
      times.landmarks_ms.push(b - a); times.measures_ms.push(c - b); times.cnn_ms.push(d - c);
      out = { features, probabilities, prepared: Array.from(prepared), points: face.points,
              matrix: face.matrix, blendshapes: face.blendshapes };
    }
    results.push({ name: frame.name, face: out, times });
  }
  landmarker.close();
  return {
    results,
    load_ms: { landmarker: t1 - t0, expression_model: t2 - t1 },
    indices: {
      RIGHT_EYE_EAR: measures.RIGHT_EYE_EAR, LEFT_EYE_EAR: measures.LEFT_EYE_EAR,
      RIGHT_EYE_CORNERS: measures.RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS: measures.LEFT_EYE_CORNERS,
      RIGHT_IRIS_CENTER: measures.RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER: measures.LEFT_IRIS_CENTER,
      NUM_LANDMARKS: measures.NUM_LANDMARKS,
    },
  };
}

window.classpulseHarness = { run };
document.getElementById("status").textContent = "ready";
