"""Training throughput of the effunet colouriser on this CPU: what each CPU-first trick buys.

    python bench/train_speed.py [--threads 2] [--batch-size 32] [--iters 6] [--out bench/results/train_speed.json]

For each input size (64, 128, 256 px) and setting, one optimiser step = forward + backward + AdamW on a random
batch; images/s is the median over --iters steps after 2 warm-up steps. Settings:
  trainable encoder   the whole network trains (the encoder runs, forward and backward, at every step)
  frozen encoder      the encoder runs without gradients at every step, only the decoder trains
  cached features     the encoder's features are read from memory (tomau train effunet's cache): decoder only
each in fp32 and bf16 autocast, and channels-last (bf16).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import RESULTS, write_result
from torch.nn import functional as F

from tomau.models.effunet import EffUNetColorizer, EffUNetConfig


def step_rate(net, mode: str, size: int, batch: int, bf16: bool, channels_last: bool, iters: int) -> float:
    l = torch.rand(batch, 1, size, size) * 2 - 1
    target = torch.rand(batch, 2, size // 4, size // 4) * 2 - 1
    bins = torch.randint(0, net.config.bins, (batch, size // 4, size // 4))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        l = l.contiguous(memory_format=torch.channels_last)
    params = list(net.parameters()) if mode == "trainable" else list(net.decoder.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    cached = None
    if mode == "cached":
        with torch.no_grad():
            cached = [f.detach() for f in net.encode(l)]
    times = []
    for i in range(iters + 2):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if mode == "trainable":
                feats = net.encode(l)
            elif mode == "frozen":
                with torch.no_grad():
                    feats = net.encode(l)
            else:
                feats = cached
            reg, logits = net.heads(feats, l)
        loss = F.smooth_l1_loss(reg.float(), target) + 0.1 * F.cross_entropy(logits.float(), bins)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--out", default=str(RESULTS / "train_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    centres = [[float(a), 0.0] for a in range(313)]  # shapes only; speed does not depend on the values
    rows = []
    print("| px | setting | fp32 img/s | bf16 img/s | bf16 + channels-last img/s |\n| ---: | --- | ---: | ---: | ---: |")
    for size in args.sizes:
        for mode, label in (("trainable", "trainable encoder"), ("frozen", "frozen encoder"), ("cached", "cached features")):
            torch.manual_seed(0)
            net = EffUNetColorizer(EffUNetConfig(bin_centres=centres)).train()
            if mode != "trainable":
                net.encoder.eval()
            rates = [step_rate(net, mode, size, args.batch_size, bf, cl, args.iters) for bf, cl in ((False, False), (True, False), (True, True))]
            rows.append({"size": size, "setting": label, "fp32": rates[0], "bf16": rates[1], "bf16_channels_last": rates[2]})
            print(f"| {size} | {label} | {rates[0]:.0f} | {rates[1]:.0f} | {rates[2]:.0f} |", flush=True)
    write_result(args.out, {"threads": args.threads, "batch_size": args.batch_size, "rows": rows}, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
