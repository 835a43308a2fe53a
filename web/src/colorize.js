// tomau's colourisation pipeline in the browser, the same steps as tomau/inference.py:
// the photo's Lab L at full resolution -> resized to the model's S x S (bilinear, antialiased, as PyTorch's
// F.interpolate(antialias=True)) -> the exported graph (input "L" in [0, 100], output "ab" in Lab units) ->
// ab upsampled bilinearly (half-pixel centres) to the photo's size -> recombined with the full-resolution L -> sRGB.
// Colour constants as tomau/color.py (sRGB, D65, scikit-image's rgb2lab / lab2rgb).

const RGB_TO_Y = [0.212671, 0.71516, 0.072169];
const XYZ_TO_RGB = invert3([
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
]);
const WHITE = [0.95047, 1.0, 1.08883];
const EPS = 216 / 24389;
const KAPPA = 24389 / 27;

function invert3(m) {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

const SRGB_TO_LINEAR = new Float64Array(256).map((_, v) => {
  const c = v / 255;
  return c > 0.04045 ? ((c + 0.055) / 1.055) ** 2.4 : c / 12.92;
});

/** Lab L* (Float32Array, H*W, in [0, 100]) of RGBA pixels (Uint8ClampedArray). */
export function lightness(rgba, width, height) {
  const l = new Float32Array(width * height);
  for (let p = 0, q = 0; p < l.length; p++, q += 4) {
    const y = RGB_TO_Y[0] * SRGB_TO_LINEAR[rgba[q]] + RGB_TO_Y[1] * SRGB_TO_LINEAR[rgba[q + 1]] + RGB_TO_Y[2] * SRGB_TO_LINEAR[rgba[q + 2]];
    const f = y > EPS ? Math.cbrt(y) : (KAPPA * y + 16) / 116;
    l[p] = 116 * f - 16;
  }
  return l;
}

/** Weights of PyTorch's antialiased bilinear resampling along one axis (a triangle filter, widened when shrinking). */
function aaWeights(inSize, outSize) {
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const inv = scale >= 1 ? 1 / scale : 1;
  const taps = [];
  for (let i = 0; i < outSize; i++) {
    const centre = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const w = [];
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const x = Math.abs((j - centre + 0.5) * inv);
      const v = x < 1 ? 1 - x : 0;
      w.push(v);
      total += v;
    }
    taps.push({ lo, w: w.map((v) => (total ? v / total : 0)) });
  }
  return taps;
}

/** Resize one channel (Float32Array, h*w) to outH*outW as F.interpolate(mode="bilinear", antialias=True). */
export function resizeAntialiased(src, w, h, outW, outH) {
  const tx = aaWeights(w, outW);
  const ty = aaWeights(h, outH);
  const mid = new Float32Array(h * outW);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < outW; x++) {
      const { lo, w: k } = tx[x];
      let s = 0;
      for (let j = 0; j < k.length; j++) s += k[j] * src[y * w + lo + j];
      mid[y * outW + x] = s;
    }
  }
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const { lo, w: k } = ty[y];
    for (let x = 0; x < outW; x++) {
      let s = 0;
      for (let j = 0; j < k.length; j++) s += k[j] * mid[(lo + j) * outW + x];
      out[y * outW + x] = s;
    }
  }
  return out;
}

/** Source index and weight of bilinear upsampling with half-pixel centres (align_corners=False). */
function bilinearTaps(inSize, outSize) {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const frac = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const s = Math.max((d + 0.5) * scale - 0.5, 0);
    const a = Math.min(Math.floor(s), inSize - 1);
    i0[d] = a;
    i1[d] = Math.min(a + 1, inSize - 1);
    frac[d] = Math.min(Math.max(s - a, 0), 1);
  }
  return { i0, i1, frac };
}

function linearToSrgb8(v) {
  const c = v > 0.0031308 ? 1.055 * Math.pow(v, 1 / 2.4) - 0.055 : 12.92 * v;
  return Math.min(Math.max(Math.floor(Math.min(Math.max(c, 0), 1) * 255 + 0.5), 0), 255);
}

/** RGBA (Uint8ClampedArray, W*H*4) from the full-resolution L and ab (Float32Array, 2*s*s, Lab units); alpha from ``alpha``. */
export function recombine(l, width, height, ab, s, alpha) {
  const out = new Uint8ClampedArray(width * height * 4);
  const tx = bilinearTaps(s, width);
  const ty = bilinearTaps(s, height);
  const wide = new Float32Array(2 * s * width); // ab widened to (2, s, W) first: bilinear is separable
  for (let c = 0; c < 2; c++) {
    for (let y = 0; y < s; y++) {
      const row = c * s * s + y * s;
      for (let x = 0; x < width; x++) {
        const f = tx.frac[x];
        wide[c * s * width + y * width + x] = ab[row + tx.i0[x]] * (1 - f) + ab[row + tx.i1[x]] * f;
      }
    }
  }
  const M = XYZ_TO_RGB;
  for (let y = 0; y < height; y++) {
    const f = ty.frac[y];
    const r0 = ty.i0[y] * width;
    const r1 = ty.i1[y] * width;
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const a = wide[r0 + x] * (1 - f) + wide[r1 + x] * f;
      const b = wide[s * width + r0 + x] * (1 - f) + wide[s * width + r1 + x] * f;
      const fy = (l[p] + 16) / 116;
      const fx = fy + a / 500;
      const fz = Math.max(fy - b / 200, 0);
      const X = (fx > 6 / 29 ? fx ** 3 : (116 * fx - 16) / KAPPA) * WHITE[0];
      const Y = (fy > 6 / 29 ? fy ** 3 : (116 * fy - 16) / KAPPA) * WHITE[1];
      const Z = (fz > 6 / 29 ? fz ** 3 : (116 * fz - 16) / KAPPA) * WHITE[2];
      const q = 4 * p;
      out[q] = linearToSrgb8(M[0][0] * X + M[0][1] * Y + M[0][2] * Z);
      out[q + 1] = linearToSrgb8(M[1][0] * X + M[1][1] * Y + M[1][2] * Z);
      out[q + 2] = linearToSrgb8(M[2][0] * X + M[2][1] * Y + M[2][2] * Z);
      out[q + 3] = alpha ? alpha[q + 3] : 255;
    }
  }
  return out;
}

/** The model's size S and the input / output names, from the exported file's tomau_io declaration (or its inputs). */
export function modelSize(session) {
  const meta = session.handler && session.handler.metadata;
  const dims = session.inputMetadata ? session.inputMetadata[0] && session.inputMetadata[0].shape : null;
  if (dims && typeof dims[2] === "number") return dims[2];
  if (meta && meta.image_size) return Number(meta.image_size);
  return 128;
}

/** Colourise RGBA pixels with an onnxruntime-web session: returns RGBA of the same size and the model's time in ms. */
export async function colorizePixels(ort, session, size, rgba, width, height) {
  const l = lightness(rgba, width, height);
  const lSmall = resizeAntialiased(l, width, height, size, size);
  const t0 = performance.now();
  const result = await session.run({ L: new ort.Tensor("float32", lSmall, [1, 1, size, size]) });
  const modelMs = performance.now() - t0;
  const ab = result.ab.data;
  return { rgba: recombine(l, width, height, ab, size, rgba), modelMs };
}
