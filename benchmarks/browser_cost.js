// The student page's per-sample work, timed in the browser (benchmarks/browser_cost.py serves this).
// The product's own modules do the work; this file only feeds frames and reads the clock.
import { createExpressionModel, createFaceLandmarker } from "/join/static/libraries.js";
import { faceFeatures, landmarkedFace } from "/join/static/measures.js";
import { greyFromRGBA } from "/join/static/expression.js";

async function frameImage(frame) {
  const response = await fetch(frame.url);
  return new ImageData(new Uint8ClampedArray(await response.arrayBuffer()), frame.width, frame.height);
}

async function run({ urls, settings, vocabulary, clips }) {
  const t0 = performance.now();
  const landmarker = await createFaceLandmarker(urls, "VIDEO");
  const t1 = performance.now();
  const model = await createExpressionModel(urls, vocabulary);
  const t2 = performance.now();
  const samples = [];
  let clockMs = 0;
  for (const clip of clips) {
    const images = await Promise.all(clip.frames.map(frameImage));
    for (const image of images) {
      clockMs += 1000 / clip.fps;  // a new clip goes on from the last timestamp, as VIDEO mode needs
      const a = performance.now();
      const result = landmarker.detectForVideo(image, Math.round(clockMs));
      const b = performance.now();
      const face = landmarkedFace(result, image.width, image.height);
      if (face === null) { samples.push({ clip: clip.name, face: false, landmarks_ms: b - a }); continue; }
      faceFeatures(face.points, face.blendshapes, face.matrix, settings);
      const c = performance.now();
      const prepared = model.prepare(greyFromRGBA(image.data, image.width, image.height), image.width, image.height, face.points);
      const d = performance.now();
      await model.predict([prepared]);
      const e = performance.now();
      samples.push({ clip: clip.name, face: true, landmarks_ms: b - a, measures_ms: c - b, crop_ms: d - c, cnn_ms: e - d });
    }
  }
  landmarker.close();
  return { load_ms: { landmarker: t1 - t0, expression_model: t2 - t1 }, samples };
}

window.classpulseBench = { run };
