#!/usr/bin/env python3
"""Face pipeline speed: facestyle (native burn networks) vs OpenCV DNN and onnxruntime on the
same images, the same model files and the same machine, in one run. Prints one JSON object
with the timings of each and the ratios (facestyle time / reference time; below 1 is faster):
medians of the per-image times over --rounds rounds, in which stretches of --chunk images
alternate between OpenCV and facestyle (the bench binary stays up, `bench face --serve`), and
each round's ratios.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx onnxruntime opencv-python-headless numpy
    cargo build --release -p facestyle --bin bench
    /tmp/venv/bin/python tools/bench_face.py --images ../shared/data/lfw/images_deepfunneled --limit 200

Threads: every runtime gets the same number (--threads, default: all cores).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(__file__))
from bench_serve import start, stop, timings  # noqa: E402
from face_golden import SFACE, YUNET, clean_sface  # noqa: E402


def images(root, limit):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith((".jpg", ".png"))]
    # The bench binary's order (paths compared component by component), so that both sides
    # time the same images in each stretch.
    return sorted(out, key=lambda p: p.split(os.sep))[:limit]


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0.0


def pipeline_args(ap):
    """The options of the scripts that time the face pipeline against the bench binary."""
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--models", default=os.environ.get("FACESTYLE_MODELS", os.path.expanduser("~/.cache/facestyle/models")))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--bench", default=None, help="path of the bench binary (default: target/release/bench)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over the images (default 3)")
    ap.add_argument("--chunk", type=int, default=10, help="images per stretch, alternating OpenCV and facestyle (default 10)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pipeline_args(ap)
    args = ap.parse_args()

    cv2.setNumThreads(args.threads)
    tmp = tempfile.mkdtemp()
    sface_path = os.path.join(tmp, SFACE)
    clean_sface(os.path.join(args.models, SFACE), sface_path)
    yunet_path = os.path.join(args.models, YUNET)
    recognizer = cv2.FaceRecognizerSF.create(sface_path, "")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(sface_path, opts, providers=["CPUExecutionProvider"])

    files = images(args.images, args.limit)
    decoded = [cv2.imread(p) for p in files]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    bench = args.bench or os.path.join(target, "release", "bench")

    # The bench binary stays up (--serve) and times the images it is asked for: each round
    # alternates stretches of --chunk images between OpenCV and facestyle (who goes first
    # alternates too), so that a slow spell of the machine (frequent on shared VMs, and lasting
    # seconds) falls on both sides of a ratio; onnxruntime runs after each round's stretches.
    # Reported: medians of the per-image times over all rounds, and each round's ratios.
    proc, ready = start(bench, args.images, args.limit, args.threads)
    if ready.get("images") != len(decoded):
        sys.exit(f"bench read {ready.get('images')} images, this script {len(decoded)}")
    state = {"recognizer": recognizer, "yunet": yunet_path}
    opencv_pass(decoded[:3], state)  # warm-up (the bench binary warms up before `ready`)
    rounds, all_ours, all_ref = [], times(), times()
    for r in range(args.rounds):
        ours, ref, crops = times(), times(), []
        for k, first in enumerate(range(0, len(decoded), args.chunk)):
            end = min(first + args.chunk, len(decoded))
            for side in ((0, 1) if (r + k) % 2 == 0 else (1, 0)):
                if side == 0:
                    add(ref, opencv_pass(decoded[first:end], state, crops))
                else:
                    add(ours, timings(proc, first, end))
        ref["ort"] = onnxruntime_pass(sess, crops)
        time.sleep(1)  # let onnxruntime's threads stop spinning before the next round
        rounds.append(ratios_of(ours, ref))
        add(all_ours, ours)
        add(all_ref, ref)
    stop(proc)
    ours = {"threads": ready["threads"], "images": len(decoded), "faces": len(all_ours["embed"]) // args.rounds,
            "detect_ms": median(all_ours["detect"]), "align_ms": median(all_ours["align"]),
            "embed_ms": median(all_ours["embed"]), "detect_align_embed_ms": median(all_ours["full"])}
    reference = {"opencv": cv2.__version__, "onnxruntime": ort.__version__, "threads": args.threads,
                 "opencv_detect_ms": median(all_ref["detect"]), "opencv_embed_ms": median(all_ref["embed"]),
                 "onnxruntime_embed_ms": median(all_ref["ort"]),
                 "opencv_detect_align_embed_ms": median(all_ref["full"])}
    out = {
        "rounds": args.rounds, "chunk": args.chunk,
        "facestyle": ours, "reference": reference, "ratios": ratios_of(all_ours, all_ref),
        "ratios_per_round": rounds,
    }
    print(json.dumps(out, indent=1))


def times():
    return {"detect": [], "align": [], "embed": [], "full": [], "ort": []}


def add(into, part):
    for k, v in part.items():
        into.setdefault(k, []).extend(v)


def ratios_of(ours, ref):
    """facestyle / reference, each the median of its per-image times."""
    m = {k: median(v) for k, v in ours.items()}
    r = {k: median(v) for k, v in ref.items()}
    return {
        "detect_vs_opencv": m["detect"] / r["detect"],
        "embed_vs_opencv": m["embed"] / r["embed"],
        "embed_vs_onnxruntime": m["embed"] / r["ort"] if r["ort"] else None,
        "detect_align_embed_vs_opencv": m["full"] / r["full"],
    }


def opencv_pass(imgs, state, crops=None):
    """OpenCV on some images, as the bench binary's pass: detect each image, align and embed
    its largest face; then detect + align + embed each image in one go. Times in ms."""
    out = {"detect": [], "embed": [], "full": []}
    for img in imgs:
        det = detector(state, img)
        t = time.perf_counter()
        _, faces = det.detect(img)
        out["detect"].append((time.perf_counter() - t) * 1000)
        if faces is None:
            continue
        face = max(faces, key=lambda f: f[2] * f[3])
        crop = state["recognizer"].alignCrop(img, face)
        t = time.perf_counter()
        state["recognizer"].feature(crop)
        out["embed"].append((time.perf_counter() - t) * 1000)
        if crops is not None:
            crops.append(crop)
    out["full"] = full_pass(imgs, state)
    return out


def full_pass(imgs, state):
    """OpenCV's detect + align + embed of the largest face of each image, in ms per image."""
    out = []
    for img in imgs:
        det = detector(state, img)
        t = time.perf_counter()
        _, faces = det.detect(img)
        if faces is not None:
            face = max(faces, key=lambda f: f[2] * f[3])
            state["recognizer"].feature(state["recognizer"].alignCrop(img, face))
        out.append((time.perf_counter() - t) * 1000)
    return out


def detector(state, img):
    """OpenCV's detector for this image size (made again when the size changes)."""
    h, w = img.shape[:2]
    det = state.get("det")
    if det is None or det.getInputSize() != (w, h):
        det = state["det"] = cv2.FaceDetectorYN.create(state["yunet"], "", (w, h), 0.9, 0.3, 5000)
    return det


def onnxruntime_pass(sess, crops):
    out = []
    for crop in crops[:3] + crops:  # the first three are warm-up
        blob = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)[None]
        t = time.perf_counter()
        sess.run(None, {"data": blob})
        out.append((time.perf_counter() - t) * 1000)
    return out[3:]


if __name__ == "__main__":
    main()
