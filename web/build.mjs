// Build the static page: web/src + onnxruntime-web's WebAssembly runtime (the pinned npm package) + the model.
//   npm ci && node build.mjs --model ../effunet.onnx [--out dist]
// The same inputs give the same files, byte for byte (no bundler, no timestamps); SHA256SUMS lists them.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const out = resolve(option("--out", join(here, "dist")));
const model = option("--model", null);
const ortDist = join(here, "node_modules", "onnxruntime-web", "dist");
const RUNTIME = ["ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm"];

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(2);
}

if (!existsSync(ortDist)) fail(`${ortDist} is missing: run npm ci in ${here} first`);
if (!model) fail("give the exported model: --model effunet.onnx (tomau export -m default -o effunet.onnx)");
if (!existsSync(model)) fail(`${model}: no such file (tomau export -m default -o ${model})`);
const version = JSON.parse(readFileSync(join(here, "node_modules", "onnxruntime-web", "package.json"))).version;
const pinned = JSON.parse(readFileSync(join(here, "package.json"))).dependencies["onnxruntime-web"];
if (version !== pinned) fail(`node_modules has onnxruntime-web ${version}, package.json pins ${pinned}: run npm ci`);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const name of readdirSync(join(here, "src")).sort()) copyFileSync(join(here, "src", name), join(out, name));
for (const name of RUNTIME) copyFileSync(join(ortDist, name), join(out, name));
copyFileSync(model, join(out, "model.onnx"));
const sums = readdirSync(out).sort().map((name) => `${createHash("sha256").update(readFileSync(join(out, name))).digest("hex")}  ${name}`);
writeFileSync(join(out, "SHA256SUMS"), sums.join("\n") + "\n");
console.log(`built ${out} (onnxruntime-web ${version}); serve it with: python -m http.server -d ${out} 8000`);
