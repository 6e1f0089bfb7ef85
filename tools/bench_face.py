#!/usr/bin/env python3
"""Face pipeline speed: facestyle (native burn networks) vs OpenCV DNN and onnxruntime on the
same images, the same model files and the same machine, in one run. Prints one JSON object
with the timings of each and the ratios (facestyle time / reference time; below 1 is faster):
medians over --rounds alternating rounds (references, then facestyle), and each round's
ratios.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx onnxruntime opencv-python-headless numpy
    cargo build --release -p facestyle --bin bench
    /tmp/venv/bin/python tools/bench_face.py --images ../shared/data/lfw/images_deepfunneled --limit 200

Threads: every runtime gets the same number (--threads, default: all cores).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(__file__))
from face_golden import SFACE, YUNET, clean_sface  # noqa: E402


def images(root, limit):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith((".jpg", ".png"))]
    return sorted(out)[:limit]


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--models", default=os.environ.get("FACESTYLE_MODELS", os.path.expanduser("~/.cache/facestyle/models")))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--bench", default=None, help="path of the bench binary (default: target/release/bench)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of references and facestyle (default 3)")
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
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))

    # Rounds alternate the references and facestyle, so that a slow spell of the machine
    # (frequent on shared VMs) falls on both sides of a ratio; the reported values are the
    # medians over the rounds, each round's values are kept too.
    rounds = []
    for _ in range(args.rounds):
        reference = reference_run(args, decoded, recognizer, sess, yunet_path)
        ours = json.loads(subprocess.check_output([bench, "face", "--images", args.images, "--limit", str(args.limit)], env=env))
        rounds.append({"facestyle": ours, "reference": reference, "ratios": ratios_of(ours, reference)})
    pick = lambda part, key: median([r[part][key] for r in rounds])  # noqa: E731
    out = {
        "rounds": len(rounds),
        "facestyle": {k: pick("facestyle", k) for k in rounds[0]["facestyle"]},
        "reference": {k: (pick("reference", k) if isinstance(v, float) else v) for k, v in rounds[0]["reference"].items()},
        "ratios": {k: pick("ratios", k) for k in rounds[0]["ratios"]},
        "ratios_per_round": [r["ratios"] for r in rounds],
    }
    print(json.dumps(out, indent=1))


def ratios_of(ours, reference):
    return {
        "detect_vs_opencv": ours["detect_ms"] / reference["opencv_detect_ms"],
        "embed_vs_opencv": ours["embed_ms"] / reference["opencv_embed_ms"],
        "embed_vs_onnxruntime": ours["embed_ms"] / reference["onnxruntime_embed_ms"],
        "detect_align_embed_vs_opencv": ours["detect_align_embed_ms"] / reference["opencv_detect_align_embed_ms"],
    }


def reference_run(args, decoded, recognizer, sess, yunet_path):
    """OpenCV (detect, embed, detect+align+embed) then onnxruntime (embed) on every image."""
    detect, embed_cv, embed_ort, full, crops = [], [], [], [], []
    det = None
    # OpenCV first, onnxruntime after: onnxruntime's worker threads keep spinning for a while
    # after each run and would steal the cores from OpenCV if the two were interleaved.
    for img in decoded[:3] + decoded:  # the first three are warm-up
        h, w = img.shape[:2]
        if det is None or det.getInputSize() != (w, h):
            det = cv2.FaceDetectorYN.create(yunet_path, "", (w, h), 0.9, 0.3, 5000)
        t = time.perf_counter()
        _, faces = det.detect(img)
        detect.append((time.perf_counter() - t) * 1000)
        if faces is None:
            continue
        face = max(faces, key=lambda f: f[2] * f[3])
        crop = recognizer.alignCrop(img, face)
        t = time.perf_counter()
        recognizer.feature(crop)
        embed_cv.append((time.perf_counter() - t) * 1000)
        crops.append(crop)
    for img in decoded:
        h, w = img.shape[:2]
        if det.getInputSize() != (w, h):
            det = cv2.FaceDetectorYN.create(yunet_path, "", (w, h), 0.9, 0.3, 5000)
        t = time.perf_counter()
        _, faces = det.detect(img)
        if faces is not None:
            face = max(faces, key=lambda f: f[2] * f[3])
            recognizer.feature(recognizer.alignCrop(img, face))
        full.append((time.perf_counter() - t) * 1000)
    for crop in crops:
        blob = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)[None]
        t = time.perf_counter()
        sess.run(None, {"data": blob})
        embed_ort.append((time.perf_counter() - t) * 1000)
    time.sleep(1)  # let onnxruntime's threads stop spinning before facestyle runs
    return {
        "opencv": cv2.__version__, "onnxruntime": ort.__version__, "threads": args.threads,
        "images": len(decoded), "faces": len(crops) - 3,
        "opencv_detect_ms": median(detect[3:]), "opencv_embed_ms": median(embed_cv[3:]),
        "onnxruntime_embed_ms": median(embed_ort[3:]), "opencv_detect_align_embed_ms": median(full),
    }


if __name__ == "__main__":
    main()
