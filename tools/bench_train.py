#!/usr/bin/env python3
"""PyTorch reference for `facestyle face train`'s training step, and the benchmark comparing them.

The same compact CNN (crates/facestyle-face/src/compact.rs: 2x2 average pooling 112 -> 56,
(x - 127.5) / 128, a 3x3 stem conv + BN + ReLU, three residual stages of two 3x3 convs with BN
and ReLU plus a strided 1x1 shortcut, flatten 7x7, linear to 128), the same batch (P x K
random 112x112 RGB images), L2 normalisation, batch-hard triplets (alpha 0.2), mean loss,
backward, Adam (eps 1e-8). Both sides run at the same number of threads in one run of this
script: ours via `bench train` (release build), then PyTorch.

Needs: pip install torch numpy; `cargo build --release -p facestyle --bins`.
Usage: python3 tools/bench_train.py [--bin target/release/bench] [--steps 10] [--width 32]
"""

import argparse
import json
import subprocess
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBn(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class Stage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = ConvBn(cin, cout, 3, 2)
        self.b = ConvBn(cout, cout, 3, 1)
        self.shortcut = ConvBn(cin, cout, 1, 2)

    def forward(self, x):
        return F.relu(self.b(F.relu(self.a(x))) + self.shortcut(x))


class Compact(nn.Module):
    def __init__(self, width=32, dim=128):
        super().__init__()
        w = width
        self.stem = ConvBn(3, w, 3, 1)
        self.stages = nn.Sequential(Stage(w, 2 * w), Stage(2 * w, 4 * w), Stage(4 * w, 8 * w))
        self.fc = nn.Linear(8 * w * 7 * 7, dim)

    def forward(self, x):
        x = F.avg_pool2d(x, 2)
        x = F.relu(self.stem((x - 127.5) / 128.0))
        x = self.stages(x)
        return self.fc(x.flatten(1))


def batch_hard(e, labels, alpha):
    d = torch.cdist(e, e).pow(2)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    pos = d.detach().masked_fill(~same | eye, float("-inf")).argmax(1)
    neg = d.detach().masked_fill(same, float("inf")).argmin(1)
    idx = torch.arange(len(labels))
    return F.relu(d[idx, pos] - d[idx, neg] + alpha).mean()


def torch_step_time(p, k, width, steps):
    torch.manual_seed(0)
    net = Compact(width)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, eps=1e-8)
    n = p * k
    x = (torch.arange(n * 3 * 112 * 112, dtype=torch.int64) * 7919 % 256).float().reshape(n, 3, 112, 112)
    labels = torch.arange(n) // k

    def step():
        e = F.normalize(net(x), dim=1)
        loss = batch_hard(e, labels, 0.2)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/bench")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--p", type=int, default=16)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    env = {"RAYON_NUM_THREADS": str(a.threads), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([a.bin, "train", "--p", str(a.p), "--k", str(a.k), "--width", str(a.width),
                        "--steps", str(a.steps)], capture_output=True, text=True, env=env, check=True)
    ours = json.loads(r.stdout.strip().splitlines()[-1])
    ref = torch_step_time(a.p, a.k, a.width, a.steps)
    n = a.p * a.k
    out = {
        "batch": n, "width": a.width, "threads": a.threads, "torch": torch.__version__,
        "ours_step_s": ours["step_s"], "torch_step_s": ref,
        "ours_images_per_s": n / ours["step_s"], "torch_images_per_s": n / ref,
        "time_ratio_ours_over_torch": ours["step_s"] / ref,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
