// The page: load the exported model once, colourise each dropped photo, show before / after, offer the PNG.
import * as ort from "./ort.wasm.bundle.min.mjs";
import { colorizePixels, modelSize } from "./colorize.js";

const MAX_PIXELS = 50e6; // the browser holds a few float copies of the photo; larger scans: tomau colorize
const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
};

ort.env.wasm.wasmPaths = { wasm: new URL("ort-wasm-simd-threaded.wasm", import.meta.url).href }; // beside this page, never a CDN
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

let session = null;
let size = 0;
const ready = ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] }).then((s) => {
  session = s;
  size = modelSize(s);
  status("Ready: drop a photo.");
}).catch((err) => status(`The model could not be loaded (${err.message || err}); build the page with make web.`, true));

async function colourise(file) {
  await ready;
  if (!session) return;
  window.tomauResult = null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none" });
  } catch {
    status(`${file.name}: not an image this browser can read.`, true);
    return;
  }
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    status(`${file.name}: ${(width * height / 1e6).toFixed(0)} megapixels is more than this page takes (${MAX_PIXELS / 1e6}); use tomau colorize.`, true);
    return;
  }
  status(`Colourising ${file.name} (${width} x ${height})…`);
  const before = $("before");
  before.width = width;
  before.height = height;
  const ctx = before.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const pixels = ctx.getImageData(0, 0, width, height).data;
  const t0 = performance.now();
  const { rgba, modelMs } = await colorizePixels(ort, session, size, pixels, width, height);
  const after = $("after");
  after.width = width;
  after.height = height;
  after.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
  const totalMs = performance.now() - t0;
  $("compare").style.display = "inline-block";
  $("slider").hidden = false;
  $("slider").style.width = `${after.getBoundingClientRect().width}px`;
  clip();
  const blob = await new Promise((done) => after.toBlob(done, "image/png"));
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = file.name.replace(/\.[^.]*$/, "") + "_colour.png";
  link.style.display = "inline-block";
  status(`${file.name}: colourised in ${totalMs.toFixed(0)} ms (model ${modelMs.toFixed(0)} ms).`);
  window.tomauResult = { width, height, totalMs, modelMs };
}

function clip() {
  const v = Number($("slider").value);
  $("after").style.clipPath = `inset(0 0 0 ${v}%)`; // left of the handle: before; right: after
}

$("slider").addEventListener("input", clip);
$("file").addEventListener("change", (e) => e.target.files[0] && colourise(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) colourise(file);
});
