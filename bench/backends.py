"""PyTorch eager beside onnxruntime (and OpenVINO, if installed) in one process, on this machine's CPU.

    python bench/backends.py [--models effunet pix2pix] [--threads 1 2] [--repeats 15] [--page]

For each model and thread count, with the two backends timed in alternation (so a busy machine slows both alike):
  - the network alone: ms per photo at batch 1 and 8, at the model's size (128 for effunet, 256 for pix2pix)
  - a 256x256 photo through the whole pipeline in memory (L, resize, network, recombine)
  - a 1-megapixel JPEG end to end: read + decode, L, network, recombine, encode + write
  - the output difference from PyTorch on that JPEG (uint8 levels: max and mean)
With --openvino f32 [bf16], OpenVINO runs the same exported graph too (bf16: what it picks by itself on AMX CPUs).
With --page, the static page (web/, built by `make web`) in headless Chromium: ms per 1-MP photo, whole and model only.
Writes bench/results/backends.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, ROOT, medians_in_turns, write_result  # noqa: E402 - also puts the repo on sys.path
from PIL import Image

from tomau.backends import OnnxColourNet, cached_export  # noqa: E402
from tomau.images import load_image, save_image  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.modelfile import SAMPLES_DIR  # noqa: E402


class OpenVinoColourNet:
    """The exported graph compiled by OpenVINO, callable like a colouriser network (normalised L -> normalised ab)."""

    def __init__(self, path: Path, threads: int, precision: str = "f32"):
        import openvino as ov

        # OpenVINO computes in bf16 where the CPU has AMX / AVX512-BF16 unless told f32: faster, but colours move
        self.compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision})

    def __call__(self, l_norm: torch.Tensor) -> torch.Tensor:
        out = self.compiled({0: ((l_norm.float() + 1) * 50).numpy()})[0]
        return torch.from_numpy(np.asarray(out)) / 110


def backends_for(model: str, threads: int, openvino: list[str]) -> dict:
    torch.set_num_threads(threads)
    plain = load_model(model, backend="torch")
    ours = load_model(model, backend="torch")
    ours.runner, ours.backend = OnnxColourNet(cached_export(model), threads), "onnxruntime"
    found = {"torch": plain, "onnxruntime": ours}
    for precision in openvino:
        vino = load_model(model, backend="torch")
        vino.runner, vino.backend = OpenVinoColourNet(cached_export(model), threads, precision), f"openvino-{precision}"
        found[vino.backend] = vino
    return found


def page_times(photo: Path, repeats: int) -> dict:
    """The built page (web/dist) in headless Chromium: median total and model ms for one photo."""
    import functools
    import http.server
    import shutil
    import threading

    from playwright.sync_api import sync_playwright

    dist = ROOT / "web" / "dist"
    if not (dist / "model.onnx").is_file():
        raise SystemExit("web/dist is not built: make web")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(dist)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    totals, models = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.wait_for_selector("text=Ready", timeout=60_000)
        for i in range(repeats + 1):
            page.set_input_files("#file", [])
            page.set_input_files("#file", str(photo))
            page.wait_for_selector("text=colourised in", timeout=120_000)
            r = page.evaluate("window.tomauResult")
            page.evaluate("document.getElementById('status').textContent = ''")
            if i:  # the first run compiles the WebAssembly kernels
                totals.append(r["totalMs"])
                models.append(r["modelMs"])
        browser.close()
    server.shutdown()
    return {"total_ms": round(statistics.median(totals), 1), "model_ms": round(statistics.median(models), 1),
            "threads": 1, "note": "onnxruntime-web WebAssembly, one thread (python -m http.server sends no cross-origin isolation headers)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["effunet", "pix2pix"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--openvino", nargs="*", default=[], choices=["f32", "bf16"],
                    help="add OpenVINO on the same exported graph at these precisions (pip install openvino)")
    ap.add_argument("--page", action="store_true", help="also time the static page in Chromium (make web first)")
    ap.add_argument("--out", default=str(RESULTS / "backends.json"))
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo_1mp.jpg"
        Image.open(SAMPLES_DIR / "1860_girls.jpg").convert("L").resize((1155, 866), Image.LANCZOS).save(src, quality=92)
        small = np.asarray(Image.open(src).convert("RGB").resize((256, 256), Image.LANCZOS), dtype=np.float32) / 255
        for model in args.models:
            for threads in args.threads:
                pipes = backends_for(model, threads, args.openvino)
                s = next(iter(pipes.values())).image_size
                x1, x8 = torch.zeros(1, 1, s, s), torch.zeros(8, 1, s, s)
                b1 = medians_in_turns({k: (lambda p=p: p.predict_ab(x1)) for k, p in pipes.items()}, args.repeats, warmup=2)
                b8 = medians_in_turns({k: (lambda p=p: p.predict_ab(x8)) for k, p in pipes.items()}, max(3, args.repeats // 3), warmup=2)
                p256 = medians_in_turns({k: (lambda p=p: p.colorize_arrays([small])) for k, p in pipes.items()}, args.repeats, warmup=2)

                def end_to_end(p, dst):
                    img = load_image(src)
                    save_image(dst, p.colorize_arrays([img.rgb])[0], img.alpha)

                e2e = medians_in_turns({k: (lambda p=p, k=k: end_to_end(p, Path(tmp) / f"{k}.jpg")) for k, p in pipes.items()},
                                     max(5, args.repeats // 2), warmup=2)
                rgb = load_image(src).rgb
                ref = pipes["torch"].colorize_arrays([rgb])[0].astype(int)
                for k, p in pipes.items():
                    diff = np.abs(p.colorize_arrays([rgb])[0].astype(int) - ref)
                    row = {"model": model, "backend": k, "threads": threads, "net_ms_b1": round(b1[k], 1),
                           "net_ms_per_photo_b8": round(b8[k] / 8, 1), "pipeline_256_ms": round(p256[k], 1),
                           "e2e_1mp_jpeg_ms": round(e2e[k], 1), "max_diff": int(diff.max()), "mean_diff": round(float(diff.mean()), 4)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        page = page_times(src, max(3, args.repeats // 3)) if args.page else None
    if page:
        print("page", json.dumps(page))
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                          "onnxruntime": __import__("onnxruntime").__version__},
              "command": " ".join(["python bench/backends.py", *sys.argv[1:]]),
              "rows": rows, "page_1mp": page}
    write_result(args.out, result, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
