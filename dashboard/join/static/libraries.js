// The student page's two runtimes, loaded from our own server (never a CDN): MediaPipe's
// FaceLandmarker with the engine's options, and the expression CNN on onnxruntime-web's WASM backend.
// `urls` is what dashboard/join/assets_routes.py `library_urls()` gives the page.

import { ExpressionModel } from "./expression.js";

/** Absolute form of a server path, for libraries that resolve paths against their own location. */
function absolute(path) {
  return new URL(path, globalThis.location.href).href;
}

/**
 * MediaPipe's FaceLandmarker as engine/mp_tasks.py creates it: one face, blendshapes and the facial
 * transformation matrix, detection and presence confidence 0.5, on the CPU (the same in every browser).
 * @param {"IMAGE"|"VIDEO"} runningMode VIDEO for a camera (tracks between frames), IMAGE for stills.
 */
export async function createFaceLandmarker(urls, runningMode = "VIDEO", confidence = 0.5) {
  const vision = await import(absolute(urls.tasks_vision_module));
  const fileset = await vision.FilesetResolver.forVisionTasks(absolute(urls.tasks_vision_wasm));
  return vision.FaceLandmarker.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: absolute(urls.face_model), delegate: "CPU" },
    runningMode,
    numFaces: 1,
    minFaceDetectionConfidence: confidence,
    minFacePresenceConfidence: confidence,
    outputFaceBlendshapes: true,
    outputFacialTransformationMatrixes: true,
  });
}

/**
 * The expression CNN: onnxruntime-web on WASM with one thread (no cross-origin isolation needed),
 * its outputs in `vocabulary`'s order (the server's stored EXPRESSIONS).
 */
export async function createExpressionModel(urls, vocabulary) {
  const ort = await import(absolute(urls.onnxruntime_module));
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = absolute(urls.onnxruntime_wasm);
  const response = await fetch(absolute(urls.expression_config));
  if (!response.ok) throw new Error(`the expression model's config could not be loaded (${response.status})`);
  const meta = await response.json();
  const session = await ort.InferenceSession.create(absolute(urls.expression_model), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  return new ExpressionModel(ort, session, meta, vocabulary);
}
