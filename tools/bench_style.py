#!/usr/bin/env python3
"""PyTorch reference for `facestyle style`, and the benchmark that compares the two.

The reference runs the same VGG19 weights (the Keras h5 that `facestyle models fetch` caches),
the same layers (content conv4_2; style conv1_1..conv5_1, lambda 0.2 each), the same costs
(J = alpha * 1/2 ||a(C)-a(G)||^2 + beta * sum_l lambda_l ||g_S - g_G||^2 / (2 nC)^2, with
g = G / (nH nW) the Gram matrix averaged over positions), the
same init (the content image) and the same optimisers (Adam lr 5, eps 1e-8; L-BFGS with a
strong-Wolfe line search in steps of 20 iterations / 25 evaluations), on the same pixels: the
script resizes the images once (PIL bilinear) and both sides read those PNGs at their own size.

One run of this script, on one machine, with both at 2 threads:
  0. VGG19 to conv5_1 at 224 px: forward (images/second) and forward + backward, ours via
     `bench vgg` (same folder as --bin);
  1. loss check: Adam, 100 steps at 256 px; our total loss vs the reference's, step by step;
  2. speed: seconds per iteration (Adam) and per evaluation of J and its gradient (L-BFGS) at
     256 and 512 px, as ratios ours / PyTorch.

Needs: pip install torch h5py pillow numpy; a release build (`cargo build --release -p facestyle`).
Usage:
  python3 tools/bench_style.py --content ../shared/data/style/tubingen.jpg \
      --style ../shared/data/style/starry_night.jpg [--bin target/release/facestyle] [--json out.json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch
from PIL import Image

MEAN_BGR = [103.939, 116.779, 123.68]
LAYERS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
          "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4"]
POOL_AFTER = {1, 3, 7, 11}
STYLE = [(LAYERS.index(n), 0.2) for n in ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]]
CONTENT = LAYERS.index("conv4_2")


def models_dir():
    if os.environ.get("FACESTYLE_MODELS"):
        return os.environ["FACESTYLE_MODELS"]
    base = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    return os.path.join(base, "facestyle", "models")


def load_vgg(path):
    """The 16 convs as (weight OIHW, bias) torch tensors from the Keras h5 (HWIO)."""
    convs = []
    with h5py.File(path, "r") as f:
        for name in LAYERS:
            block, conv = name[4], name[6]
            g = f[f"block{block}_conv{conv}"]
            w = np.array(g[f"block{block}_conv{conv}_W_1:0"])
            b = np.array(g[f"block{block}_conv{conv}_b_1:0"])
            convs.append((torch.from_numpy(w.transpose(3, 2, 0, 1).copy()), torch.from_numpy(b.copy())))
    return convs


def features(convs, rgb, wanted):
    x = rgb.flip(1) - torch.tensor(MEAN_BGR).reshape(1, 3, 1, 1)
    last = max(wanted)
    acts = {}
    for i, (w, b) in enumerate(convs[: last + 1]):
        x = torch.relu(torch.nn.functional.conv2d(x, w, b, padding=1))
        if i in wanted:
            acts[i] = x
        if i in POOL_AFTER and i < last:
            x = torch.nn.functional.max_pool2d(x, 2)
    return [acts[i] for i in wanted]


def gram(a):
    """The Gram matrix averaged over positions (facestyle_style::gram::mean_gram)."""
    _, c, h, w = a.shape
    f = a.reshape(c, h * w)
    return f @ f.t() / (h * w)


def to_tensor(path):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(a.transpose(2, 0, 1).copy()).unsqueeze(0)


def reference(convs, content_png, style_png, optimizer, iterations, alpha=1.0, beta=1e3):
    """Runs the transfer; returns (losses per evaluation, seconds of the optimisation)."""
    content, style = to_tensor(content_png), to_tensor(style_png)
    style_idx = [i for i, _ in STYLE]
    with torch.no_grad():
        a_c = features(convs, content, [CONTENT])[0]
        g_s = [gram(a) for a in features(convs, style, style_idx)]
    wanted = style_idx + [CONTENT]
    g = content.clone().requires_grad_(True)
    losses = []

    def cost():
        acts = features(convs, g, wanted)
        j_c = 0.5 * ((a_c - acts[-1]) ** 2).sum()
        j_s = 0.0
        for (gs, (_, lam)), a in zip(zip(g_s, STYLE), acts):
            c = a.shape[1]
            j_s = j_s + lam * ((gs - gram(a)) ** 2).sum() / (2.0 * c) ** 2
        return alpha * j_c + beta * j_s

    t0 = time.perf_counter()
    if optimizer == "adam":
        opt = torch.optim.Adam([g], lr=5.0, eps=1e-8)
        for _ in range(iterations):
            opt.zero_grad()
            j = cost()
            losses.append(j.item())
            j.backward()
            opt.step()
    else:
        evals = 0
        while evals < iterations:
            left = iterations - evals
            opt = torch.optim.LBFGS([g], lr=1.0, max_iter=min(left, 20), max_eval=min(left, 25),
                                    line_search_fn="strong_wolfe")

            def closure():
                nonlocal evals
                opt.zero_grad()
                j = cost()
                losses.append(j.item())
                evals += 1
                j.backward()
                return j

            before = evals
            opt.step(closure)
            if evals == before + 1:
                break
    return losses, time.perf_counter() - t0


def ours(binary, content_png, style_png, optimizer, iterations, size):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "o.png")
        cmd = [binary, "--json", "style", content_png, style_png, "-o", out, "--size", str(size),
               "--optimizer", optimizer, "--iterations", str(iterations), "--init", "content",
               "--beta", "1e3", "--coarse", "none"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
        v = json.loads(r.stdout)
    return v["losses"], v["seconds_optimise"]


def vgg_speed(convs, bench_bin, size, reps):
    """VGG19 to conv5_1: forward (images per second, issue 6) and forward + backward to the pixels."""
    last = [LAYERS.index("conv5_1")]
    x = (torch.arange(3 * size * size) * 7919 % 256).float().reshape(1, 3, size, size)

    def timed(f):
        f()
        t = time.perf_counter()
        for _ in range(reps):
            f()
        return (time.perf_counter() - t) / reps

    with torch.no_grad():
        fwd = timed(lambda: features(convs, x, last)[0].sum().item())
    xg = x.clone().requires_grad_(True)

    def fb():
        a = features(convs, xg, last)[0]
        (a ** 2).sum().backward()

    fwd_bwd = timed(fb)
    r = subprocess.run([bench_bin, "vgg", "--size", str(size), "--reps", str(reps)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"{bench_bin} vgg failed:\n{r.stderr}")
    o = json.loads(r.stdout)
    row = {"size": size, "torch_forward_s": fwd, "ours_forward_s": o["forward_s"],
           "forward_ratio": o["forward_s"] / fwd, "torch_images_per_s": 1 / fwd,
           "ours_images_per_s": o["images_per_s"], "torch_forward_backward_s": fwd_bwd,
           "ours_forward_backward_s": o["forward_backward_s"],
           "forward_backward_ratio": o["forward_backward_s"] / fwd_bwd}
    print(f"VGG19 to conv5_1 at {size} px: forward ours {o['forward_s']:.3f} s ({o['images_per_s']:.2f} img/s), "
          f"torch {fwd:.3f} s ({1 / fwd:.2f} img/s) -> {row['forward_ratio']:.2f}x; forward+backward ours "
          f"{o['forward_backward_s']:.3f} s, torch {fwd_bwd:.3f} s -> {row['forward_backward_ratio']:.2f}x")
    return row


def prepare(path, size, d, name):
    img = Image.open(path).convert("RGB")
    s = size / max(img.size)
    img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BILINEAR)
    p = os.path.join(d, f"{name}_{size}.png")
    img.save(p)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release",
                                                  "facestyle"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check-steps", type=int, default=100)
    ap.add_argument("--speed-steps", type=int, default=10)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--vgg-size", type=int, default=224, help="VGG19 forward benchmark size (0: skip)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.environ["RAYON_NUM_THREADS"] = str(a.threads)
    convs = load_vgg(os.path.join(models_dir(), "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"))
    results = {"torch": torch.__version__, "threads": a.threads}
    if a.vgg_size:
        bench_bin = os.path.join(os.path.dirname(a.bin), "bench")
        results["vgg"] = vgg_speed(convs, bench_bin, a.vgg_size, 5)
    with tempfile.TemporaryDirectory() as d:
        c256, s256 = prepare(a.content, 256, d, "content"), prepare(a.style, 256, d, "style")
        size = max(Image.open(c256).size)
        ref_l, _ = reference(convs, c256, s256, "adam", a.check_steps)
        our_l, _ = ours(a.bin, c256, s256, "adam", a.check_steps, size)
        rel = [abs(o - r) / r for o, r in zip(our_l, ref_l)]
        results["loss_check"] = {
            "steps": a.check_steps, "size": 256, "ours_final": our_l[-1], "torch_final": ref_l[-1],
            "rel_diff_final": rel[-1], "rel_diff_max": max(rel), "ours_first": our_l[0],
            "torch_first": ref_l[0],
        }
        print(f"loss check, Adam {a.check_steps} steps at 256 px: ours {our_l[-1]:.6e} torch {ref_l[-1]:.6e} "
              f"(diff {100 * rel[-1]:.2f}%, largest over the run {100 * max(rel):.2f}%; "
              f"start {our_l[0]:.6e} vs {ref_l[0]:.6e})")
        speed = []
        for px in [int(x) for x in a.sizes.split(",")]:
            cp, sp = prepare(a.content, px, d, "content"), prepare(a.style, px, d, "style")
            px_long = max(Image.open(cp).size)
            for opt in ["adam", "lbfgs"]:
                rl, rt = reference(convs, cp, sp, opt, a.speed_steps)
                ol, ot = ours(a.bin, cp, sp, opt, a.speed_steps, px_long)
                row = {"size": px, "optimizer": opt, "torch_s_per_it": rt / len(rl),
                       "ours_s_per_it": ot / len(ol), "ratio": (ot / len(ol)) / (rt / len(rl)),
                       "evals": [len(ol), len(rl)]}
                speed.append(row)
                print(f"{opt:5} {px} px: ours {row['ours_s_per_it']:.3f} s/it, torch {row['torch_s_per_it']:.3f} "
                      f"s/it -> {row['ratio']:.2f}x ({len(ol)} / {len(rl)} evaluations)")
        results["speed"] = speed
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
