"""NCHW against channels-last on this CPU: a 224-px ResNet-50's LIME batches (200 samples,
bf16 autocast, batch 10) and IG's passes (16 images forward + input gradient, fp32 and
bf16), each layout in the same run, and the ratios. Why models.Classifier makes CPU
inputs channels-last: oneDNN's convolution, batch norm and ReLU are several times faster
on channels-last tensors on CPUs with AVX-512/AMX.

    .venv/bin/python benchmarks/channels_last.py [--arch resnet50] [--size 224]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sc_viz.data import DATASETS  # noqa: E402
from sc_viz.models import build_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    spec = DATASETS["cifar10"]
    torch.manual_seed(0)
    model = build_model(args.arch, 10, spec.mean, spec.std).eval()
    plain = lambda b: model.net(model.normalize(b))  # noqa: E731 - NCHW, as torchvision runs it
    xs = torch.rand(200, 3, args.size, args.size)

    def lime(forward) -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            for i in range(0, 200, 10):
                forward(xs[i : i + 10])

    def ig(forward, bf16: bool) -> None:
        x = xs[:16].clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            score = forward(x)[:, 3].sum()
        torch.autograd.grad(score, x)

    cases = {
        "LIME-200 bf16": (lambda: lime(plain), lambda: lime(model)),
        "IG-16 fp32": (lambda: ig(plain, False), lambda: ig(model, False)),
        "IG-16 bf16": (lambda: ig(plain, True), lambda: ig(model, True)),
    }
    for nchw, cl in cases.values():  # warm-up: first-call costs paid before timing
        nchw(), cl()
    print(f"{args.arch} at {args.size} px, torch threads {torch.get_num_threads()}")
    for name, (nchw, cl) in cases.items():
        t0 = time.perf_counter()
        nchw()
        t1 = time.perf_counter()
        cl()
        t2 = time.perf_counter()
        ratio = (t1 - t0) / (t2 - t1)
        print(f"  {name:14s} NCHW {t1 - t0:6.2f} s   channels-last {t2 - t1:6.2f} s   {ratio:4.2f}x")


if __name__ == "__main__":
    main()
