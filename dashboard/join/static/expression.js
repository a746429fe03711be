// The engine's expression path in the student's browser: the grey frame, the aligned face crop of
// engine/crops.py, the checkpoint's preprocessing of models/preprocess.py, then the ONNX export of the
// same CNN (onnxruntime-web, WASM, one thread). Each step follows OpenCV's arithmetic (fixed-point grey,
// bilinear warp with replicated edges, area resize, 3x3 Gaussian) so the 64x64 input matches the
// engine's to within a grey level; tests/dashboard/join/test_parity.py checks it.

/** A frame's RGBA pixels as grey, with OpenCV's fixed-point RGB2GRAY weights (exact). */
export function greyFromRGBA(data, width, height) {
  const grey = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
    grey[i] = (data[j] * 4899 + data[j + 1] * 9617 + data[j + 2] * 1868 + 8192) >> 14;
  }
  return grey;
}

/** The landmark box (x, y, w, h) in pixels, truncated as engine/faces.py does. */
export function faceBox(points) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of points) {
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
  }
  return [Math.trunc(x0), Math.trunc(y0), Math.trunc(x1 - x0), Math.trunc(y1 - y0)];
}

/**
 * engine/crops.py `crop_geometry`: a square of `crop_margin` times the landmark box's larger side,
 * centred on the box, rotated so the eye line (iris centres 468, 473) is level when `align_eyes`.
 */
export function cropGeometry(points, config) {
  const [x, y, w, h] = faceBox(points);
  let angleDeg = 0;
  if (config.align_eyes) {
    const right = points[468], left = points[473];
    angleDeg = (Math.atan2(left[1] - right[1], left[0] - right[0]) * 180) / Math.PI;
  }
  return { cx: x + w / 2, cy: y + h / 2, side: Math.max(8, Math.trunc(Math.max(w, h) * config.crop_margin)), angleDeg };
}

/** engine/crops.py `aligned_crop`: cv2.warpAffine of the rotation, bilinear, edges replicated. */
export function alignedCrop(grey, width, height, g) {
  const a = (g.angleDeg * Math.PI) / 180;
  const alpha = Math.cos(a), beta = Math.sin(a);
  // cv2.getRotationMatrix2D plus the shift to the crop's corner, then its inverse (dst -> src).
  const m02 = (1 - alpha) * g.cx - beta * g.cy + g.side / 2 - g.cx;
  const m12 = beta * g.cx + (1 - alpha) * g.cy + g.side / 2 - g.cy;
  const det = 1 / (alpha * alpha + beta * beta);
  const i00 = alpha * det, i01 = -beta * det, i10 = beta * det, i11 = alpha * det;
  const i02 = -i00 * m02 - i01 * m12, i12 = -i10 * m02 - i11 * m12;
  const out = new Uint8Array(g.side * g.side);
  const clampX = (v) => (v < 0 ? 0 : v >= width ? width - 1 : v);
  const clampY = (v) => (v < 0 ? 0 : v >= height ? height - 1 : v);
  for (let y = 0; y < g.side; y++) {
    for (let x = 0; x < g.side; x++) {
      const sx = i00 * x + i01 * y + i02, sy = i10 * x + i11 * y + i12;
      const fx0 = Math.floor(sx), fy0 = Math.floor(sy);
      const fx = sx - fx0, fy = sy - fy0;
      const xa = clampX(fx0), xb = clampX(fx0 + 1), ya = clampY(fy0) * width, yb = clampY(fy0 + 1) * width;
      const v = (grey[ya + xa] * (1 - fx) + grey[ya + xb] * fx) * (1 - fy) + (grey[yb + xa] * (1 - fx) + grey[yb + xb] * fx) * fy;
      out[y * g.side + x] = Math.min(255, Math.max(0, roundHalfEven(v)));
    }
  }
  return out;
}

function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** OpenCV's INTER_AREA taps from `src` to `dst` samples along one axis: per output, [[index, weight]...]. */
function areaTaps(src, dst) {
  const scale = src / dst;
  const taps = [];
  for (let d = 0; d < dst; d++) {
    const f1 = d * scale, f2 = f1 + scale;
    const s2 = Math.min(Math.floor(f2), src - 1);
    const s1 = Math.min(Math.ceil(f1), s2);
    const cell = Math.min(scale, src - f1);
    const t = [];
    if (s1 - f1 > 1e-3) t.push([s1 - 1, (s1 - f1) / cell]);
    for (let s = s1; s < s2; s++) t.push([s, 1 / cell]);
    if (f2 - s2 > 1e-3) t.push([s2, Math.min(f2 - s2, 1, cell) / cell]);
    taps.push(t);
  }
  return taps;
}

/** OpenCV's INTER_AREA taps when growing (linear, with area-mode offsets) along one axis. */
function areaUpTaps(src, dst) {
  const scale = src / dst, inv = dst / src;
  const taps = [];
  for (let d = 0; d < dst; d++) {
    let s = Math.floor(d * scale);
    let fx = d + 1 - (s + 1) * inv;
    fx = fx <= 0 ? 0 : fx - Math.floor(fx);
    if (s >= src - 1) { s = src - 1; fx = 0; }
    taps.push(fx > 0 ? [[s, 1 - fx], [s + 1, fx]] : [[s, 1]]);
  }
  return taps;
}

/** cv2.resize(INTER_AREA) of a square grey image to size x size (exact when shrinking, ±1 when growing). */
export function resizeArea(src, side, size) {
  if (side === size) return src.slice();
  const taps = side > size ? areaTaps(side, size) : areaUpTaps(side, size);
  const rows = new Float64Array(side * size);  // along x first
  for (let y = 0; y < side; y++) {
    for (let d = 0; d < size; d++) {
      let acc = 0;
      for (const [s, wt] of taps[d]) acc += wt * src[y * side + s];
      rows[y * size + d] = acc;
    }
  }
  const halfUp = side === 2 * size;  // OpenCV's vectorised 2x2 mean rounds halves up, the rest to even
  const out = new Uint8Array(size * size);
  for (let d = 0; d < size; d++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (const [s, wt] of taps[d]) acc += wt * rows[s * size + x];
      out[d * size + x] = Math.min(255, Math.max(0, halfUp ? Math.floor(acc + 0.5) : roundHalfEven(acc)));
    }
  }
  return out;
}

/** models/preprocess.py `compensate_light` on grey: scale so the brightest 5 % average 255. */
export function compensateLight(img, topFraction = 0.05) {
  const n = Math.max(1, roundHalfEven(img.length * topFraction));
  const sorted = Uint8Array.from(img).sort();
  let sum = 0;
  for (let i = img.length - n; i < img.length; i++) sum += sorted[i];
  const reference = sum / n;
  if (reference <= 0) return img.slice();
  const factor = 255 / reference;
  return img.map((v) => Math.min(255, roundHalfEven(v * factor)));
}

/** models/preprocess.py `smooth_gaussian`: OpenCV's 3x3 Gaussian ([1 2 1]/4 both ways), edges replicated. */
export function smoothGaussian3(img, size) {
  const out = new Uint8Array(img.length);
  const at = (x, y) => img[Math.min(size - 1, Math.max(0, y)) * size + Math.min(size - 1, Math.max(0, x))];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const row = (yy) => at(x - 1, yy) + 2 * at(x, yy) + at(x + 1, yy);
      out[y * size + x] = (row(y - 1) + 2 * row(y) + row(y + 1) + 8) >> 4;
    }
  }
  return out;
}

/** models/preprocess.py `prepare_crop` for a grey square crop: the model's uint8 input image. */
export function prepareCrop(crop, side, config) {
  const [, h, w] = config.input_size;
  if (h !== w) throw new Error(`square model inputs only, got ${h}x${w}`);
  if (config.interpolation !== "area") throw new Error(`interpolation ${config.interpolation} is not implemented here`);
  const unknown = config.preprocess.filter((s) => s !== "light" && s !== "smooth");
  if (unknown.length) throw new Error(`preprocessing ${unknown.join(", ")} is not implemented in the browser`);
  let img = resizeArea(crop, side, h);
  if (config.preprocess.includes("light")) img = compensateLight(img);
  if (config.preprocess.includes("smooth")) img = smoothGaussian3(img, h);
  return img;
}

/** models/preprocess.py `to_input_tensor`: (x / 255 - mean) / std, appended to `out` at `offset`. */
export function toInput(prepared, config, out, offset = 0) {
  for (let i = 0; i < prepared.length; i++) out[offset + i] = (prepared[i] / 255 - config.mean) / config.std;
  return out;
}

/** Index of each `vocabulary` label among the model's outputs (models/classify.py `label_order`). */
export function labelOrder(modelLabels, vocabulary) {
  const same = modelLabels.length === vocabulary.length && new Set(modelLabels).size === modelLabels.length
    && vocabulary.every((label) => modelLabels.includes(label));
  if (!same) throw new Error(`the model's labels ${modelLabels} are not the stored expressions ${vocabulary}`);
  return vocabulary.map((label) => modelLabels.indexOf(label));
}

/** The expression CNN in the browser: prepared crops in, probabilities in the vocabulary's order out. */
export class ExpressionModel {
  /**
   * @param ort onnxruntime-web's module; @param session its InferenceSession of the exported model;
   * @param meta the JSON beside the export (models/web_model.py); @param vocabulary the stored order.
   */
  constructor(ort, session, meta, vocabulary) {
    this.ort = ort;
    this.session = session;
    this.meta = meta;
    this.config = meta.config;
    this.vocabulary = vocabulary;
    this.columns = labelOrder(meta.config.labels, vocabulary);
  }

  /** The 64x64 model input of one face of a grey frame, given its landmarks in pixels. */
  prepare(grey, width, height, points) {
    const geometry = cropGeometry(points, this.config);
    return prepareCrop(alignedCrop(grey, width, height, geometry), geometry.side, this.config);
  }

  /** Probabilities (one array per prepared crop, in the vocabulary's order), from one batched run. */
  async predict(prepared) {
    if (prepared.length === 0) return [];
    const [c, h, w] = this.config.input_size;
    const per = c * h * w;
    const data = new Float32Array(prepared.length * per);
    prepared.forEach((img, i) => toInput(img, this.config, data, i * per));
    const input = new this.ort.Tensor("float32", data, [prepared.length, c, h, w]);
    const output = (await this.session.run({ [this.meta.input]: input }))[this.meta.output];
    const k = this.config.labels.length;
    return prepared.map((_, i) => this.columns.map((j) => output.data[i * k + j]));
  }
}
