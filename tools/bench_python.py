#!/usr/bin/env python3
"""The Python package's cost, in one run on one machine: per-image time of detect + align +
embed (largest face) through `facestyle` in Python against the same pipeline in Rust (the bench
binary) and against OpenCV's Python API (FaceDetectorYN + FaceRecognizerSF) on the same model
files; `import facestyle` time; the wheel's size. Prints one JSON object; ratios are
(Python time / reference time), medians of per-image times over --rounds rounds in which
stretches of --chunk images alternate between the three.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install target/wheels/facestyle-*.whl opencv-python-headless onnx onnxruntime
    cargo build --release -p facestyle --bin bench
    /tmp/venv/bin/python tools/bench_python.py --images ../shared/data/lfw/images_deepfunneled --limit 200 \\
        --wheel target/wheels/facestyle-*.whl

Python gets numpy RGB arrays (what cv2.imread + cvtColor or PIL give), OpenCV BGR arrays, the
bench binary decoded images; decoding is timed by none of them.
"""
import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import cv2

import facestyle

sys.path.insert(0, os.path.dirname(__file__))
from bench_face import full_pass, images, median, pipeline_args  # noqa: E402
from bench_serve import start, stop, timings  # noqa: E402
from face_golden import SFACE, YUNET, clean_sface  # noqa: E402


def cpu():
    """CPU model and the vector instruction sets it lists (/proc/cpuinfo)."""
    model, flags, family, number = platform.processor(), set(), None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    model = value
                elif key == "cpu family":
                    family = value
                elif key == "model":
                    number = value
                elif key == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    wanted = ["sse4_2", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"]
    return {"model": model, "family": family, "model_number": number, "flags": [f for f in wanted if f in flags]}


def python_pass(engine, arrays):
    out = []
    for a in arrays:
        t = time.perf_counter()
        try:
            engine.largest(a)
        except facestyle.NoFaceError:
            pass
        out.append((time.perf_counter() - t) * 1000)
    return out


def import_seconds(runs=7):
    """Median time of `python -c "import facestyle"` less that of `python -c pass`."""
    def run(code):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t)
        return median(times)

    return run("import facestyle") - run("pass")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pipeline_args(ap)
    ap.add_argument("--wheel", default=None, help="the wheel whose size to report (a glob)")
    args = ap.parse_args()

    cv2.setNumThreads(args.threads)
    tmp = tempfile.mkdtemp()
    sface_path = os.path.join(tmp, SFACE)
    clean_sface(os.path.join(args.models, SFACE), sface_path)
    state = {"recognizer": cv2.FaceRecognizerSF.create(sface_path, ""), "yunet": os.path.join(args.models, YUNET)}

    files = images(args.images, args.limit)
    bgr = [cv2.imread(p) for p in files]
    rgb = [cv2.cvtColor(b, cv2.COLOR_BGR2RGB) for b in bgr]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bench = args.bench or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "bench")
    proc, ready = start(bench, args.images, args.limit, args.threads)
    if ready.get("images") != len(files):
        sys.exit(f"bench read {ready.get('images')} images, this script {len(files)}")
    engine = facestyle.FaceEngine()
    python_pass(engine, rgb[:3])  # warm-up
    full_pass(bgr[:3], state)
    py, rust, ocv, per_round = [], [], [], []
    for r in range(args.rounds):
        rp, rr, ro = [], [], []
        for k, first in enumerate(range(0, len(files), args.chunk)):
            end = min(first + args.chunk, len(files))
            sides = [0, 1, 2][(r + k) % 3:] + [0, 1, 2][: (r + k) % 3]
            for side in sides:
                if side == 0:
                    rp += python_pass(engine, rgb[first:end])
                elif side == 1:
                    rr += timings(proc, first, end)["full"]
                else:
                    ro += full_pass(bgr[first:end], state)
        per_round.append({"python_vs_rust": median(rp) / median(rr), "python_vs_opencv": median(rp) / median(ro)})
        py, rust, ocv = py + rp, rust + rr, ocv + ro
    stop(proc)
    wheel = sorted(glob.glob(args.wheel)) if args.wheel else []
    out = {
        "cpu": cpu(),
        "threads": ready["threads"],
        "images": len(files),
        "rounds": args.rounds,
        "python_ms": median(py),
        "rust_ms": median(rust),
        "opencv_ms": median(ocv),
        "opencv": cv2.__version__,
        "ratios": {"python_vs_rust": median(py) / median(rust), "python_vs_opencv": median(py) / median(ocv)},
        "ratios_per_round": per_round,
        "import_facestyle_s": import_seconds(),
        "wheel": {"file": os.path.basename(wheel[-1]), "bytes": os.path.getsize(wheel[-1])} if wheel else None,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
