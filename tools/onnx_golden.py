#!/usr/bin/env python3
"""Golden values for the Rust ONNX reader (crates/facestyle-models/src/onnx).

For each quantized model, folds the constant subgraphs (Constant, DequantizeLinear, Reshape,
Identity nodes whose inputs are all initializers) with ONNX's own reference implementation
(onnx.reference.ReferenceEvaluator), keeps the float tensors still used by the remaining
graph, and records for each: name, shape, sum, sum of |x| and first 4 values. The Rust test
crates/facestyle-models/tests/onnx_real_models.rs compares its folded weights against this.

Re-run (after `facestyle models fetch --all`, or with the files in any folder):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx numpy
    /tmp/venv/bin/python tools/onnx_golden.py [MODEL_DIR]

MODEL_DIR defaults to the first of $FACESTYLE_MODELS, $XDG_CACHE_HOME/facestyle/models,
~/.cache/facestyle/models that holds the files. Writes
crates/facestyle-models/tests/fixtures/onnx_golden.json (path relative to the repository).
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

MODELS = [
    "face_detection_yunet_2023mar_int8bq.onnx",
    "face_recognition_sface_2021dec_int8bq.onnx",
]
FOLDABLE = {"Constant", "DequantizeLinear", "Reshape", "Identity"}
FIRST = 4
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "crates/facestyle-models/tests/fixtures/onnx_golden.json"


def model_dirs():
    if len(sys.argv) > 1:
        return [Path(sys.argv[1])]
    dirs = []
    if os.environ.get("FACESTYLE_MODELS"):
        dirs.append(Path(os.environ["FACESTYLE_MODELS"]))
    if os.environ.get("XDG_CACHE_HOME"):
        dirs.append(Path(os.environ["XDG_CACHE_HOME"]) / "facestyle/models")
    dirs.append(Path.home() / ".cache/facestyle/models")
    return dirs


def find(file_name):
    for d in model_dirs():
        if (d / file_name).is_file():
            return d / file_name
    return None


def folded_weights(model):
    """Float tensors of the graph after constant folding, by name."""
    graph = model.graph
    known = {t.name for t in graph.initializer}
    folded, remaining = [], list(graph.node)
    changed = True
    while changed:
        changed, kept = False, []
        for node in remaining:
            ready = all(i == "" or i in known for i in node.input)
            if node.op_type in FOLDABLE and node.domain in ("", "ai.onnx") and ready:
                folded.append(node)
                known.update(node.output)
                changed = True
            else:
                kept.append(node)
        remaining = kept

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    if folded:
        outputs = [o for n in folded for o in n.output]
        sub = helper.make_graph(
            folded,
            "fold",
            inputs=[],
            outputs=[helper.make_empty_tensor_value_info(o) for o in outputs],
            initializer=list(graph.initializer),
        )
        sub_model = helper.make_model(sub, opset_imports=model.opset_import, ir_version=model.ir_version)
        results = ReferenceEvaluator(sub_model).run(None, {})
        values.update(zip(outputs, results))

    used = {i for n in remaining for i in n.input} | {o.name for o in graph.output}
    floats = (np.float16, np.float32, np.float64)
    return {
        name: np.asarray(v).astype(np.float32)
        for name, v in sorted(values.items())
        if name in used and np.asarray(v).dtype in floats
    }, len(folded)


def to_json(out):
    """Indented JSON with one weight per line, so that diffs stay readable."""
    lines = ["{", '  "generator": %s,' % json.dumps(out["generator"]), '  "models": {']
    models = list(out["models"].items())
    for m, (file_name, model) in enumerate(models):
        lines.append("    %s: {" % json.dumps(file_name))
        for key in ("sha256", "folded_nodes", "weight_count"):
            lines.append("      %s: %s," % (json.dumps(key), json.dumps(model[key])))
        lines.append('      "weights": [')
        weights = model["weights"]
        for w, weight in enumerate(weights):
            lines.append("        " + json.dumps(weight) + ("," if w + 1 < len(weights) else ""))
        lines.append("      ]")
        lines.append("    }" + ("," if m + 1 < len(models) else ""))
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def main():
    out = {
        "generator": "tools/onnx_golden.py (onnx %s, numpy %s)" % (onnx.__version__, np.__version__),
        "models": {},
    }
    for file_name in MODELS:
        path = find(file_name)
        if path is None:
            print(f"skipping {file_name}: not found in {[str(d) for d in model_dirs()]}", file=sys.stderr)
            continue
        data = path.read_bytes()
        weights, n_folded = folded_weights(onnx.load_from_string(data))
        out["models"][file_name] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "folded_nodes": n_folded,
            "weight_count": len(weights),
            "weights": [
                {
                    "name": name,
                    "shape": list(v.shape),
                    "sum": float(v.astype(np.float64).sum()),
                    "abs_sum": float(np.abs(v.astype(np.float64)).sum()),
                    "first": [float(x) for x in v.ravel()[:FIRST]],
                }
                for name, v in weights.items()
            ],
        }
        print(f"{file_name}: {n_folded} nodes folded, {len(weights)} float weights")
    if not out["models"]:
        sys.exit("no model found; run `facestyle models fetch --all` or pass MODEL_DIR")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(to_json(out))
    print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
