"""Measure the baselines on every reference set and count their parameters and multiply-adds.

Accuracy is measured the way the validator does it: each image through :func:`common.load_image`
(Pillow loader), a batch through onnxruntime, prediction = argmax of the output. The score is
``0.4 x clean accuracy + 0.6 x attacked accuracy``, the attacked accuracy being taken over all
attacked images of the profile pooled together (all attacked sets of a profile have the same size,
so this equals the mean of the per-set accuracies).

Multiply-adds are computed from the ONNX graph itself (batch 1, shapes from ONNX shape inference):
``conv`` = sum over Conv of output elements x (C_in / groups) x k_h x k_w, ``linear`` = sum over
Gemm/MatMul of M x K x N. ``ptflops_style`` adds what ptflops 0.6.8 (the official counter) also
counts: conv/linear bias additions, one op per ReLU output element and per pooling input element.

Run from the repository root; writes ``reference_data/results.json`` and prints a Markdown table::

    python reference_data/scripts/evaluate.py
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

import common
from common import PROFILES

ATTACKED_SETS: tuple[str, ...] = ("pgd-linf-8", "corruptions", "patch", "light")
WEIGHT_CLEAN = 0.4
WEIGHT_ATTACKED = 0.6


class OnnxClassifier:
    """An ONNX classifier run by onnxruntime on CPU (2 threads)."""

    def __init__(self, path: str | Path, threads: int = 2):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, batch: np.ndarray, chunk: int = 64) -> np.ndarray:
        """Outputs for a ``(N, 3, 224, 224)`` float32 batch."""
        outs = [
            self.session.run(None, {self.input_name: batch[s : s + chunk]})[0]
            for s in range(0, len(batch), chunk)
        ]
        return np.concatenate(outs)

    def predict_files(self, paths: Sequence[Path], chunk: int = 64) -> np.ndarray:
        """Predicted labels of image files, loaded with the validator's loader."""
        preds = [
            self.logits(common.load_batch(paths[s : s + chunk])).argmax(axis=1)
            for s in range(0, len(paths), chunk)
        ]
        return np.concatenate(preds)


def set_accuracy(model: OnnxClassifier, folder: Path) -> tuple[int, int]:
    """``(correct, total)`` of ``model`` on the set in ``folder`` (images listed in label.txt)."""
    rows = common.read_labels(folder)
    preds = model.predict_files([folder / name for name, _ in rows])
    labels = np.array([label for _, label in rows])
    return int((preds == labels).sum()), len(rows)


# --------------------------------------------------------------------------------------------
# Parameters and multiply-adds from the ONNX graph
# --------------------------------------------------------------------------------------------


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shapes of all tensors with the batch dimension fixed to 1."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in list(model.graph.input) + list(model.graph.output):
        dim0 = value.type.tensor_type.shape.dim[0]
        dim0.Clear()
        dim0.dim_value = 1
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes: dict[str, list[int]] = {}
    g = inferred.graph
    for value in list(g.input) + list(g.output) + list(g.value_info):
        shapes[value.name] = [d.dim_value for d in value.type.tensor_type.shape.dim]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def count_complexity(path: str | Path) -> dict[str, int]:
    """Parameters (initializer elements) and multiply-adds at batch 1 of an ONNX classifier."""
    model = onnx.load(str(path))
    shapes = _shapes(model)
    conv = linear = bias = relu = pool = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0], [])
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            positions = int(np.prod(out)) // out[1]
            conv += int(np.prod(out)) * int(np.prod(w[1:]))
            if len(node.input) > 2 and node.input[2]:
                bias += out[1] * positions
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes[node.input[0]]
            linear += int(np.prod(out)) * a[-1]
            if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
                bias += int(np.prod(out))
        elif node.op_type == "Relu":
            relu += int(np.prod(out))
        elif node.op_type in ("MaxPool", "AveragePool", "GlobalAveragePool"):
            pool += int(np.prod(shapes[node.input[0]]))
    params = sum(int(np.prod(init.dims)) for init in model.graph.initializer)
    return {
        "params": params,
        "macs_conv": conv,
        "macs_linear": linear,
        "macs_conv_linear": conv + linear,
        "macs_ptflops_style": conv + linear + bias + relu + pool,
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "file_bytes": Path(path).stat().st_size,
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def evaluate_profile(root: Path, threads: int) -> dict[str, object]:
    """Accuracies of ``root/baseline.onnx`` on ``root/clean`` and each ``root/attacked/*``."""
    model = OnnxClassifier(root / "baseline.onnx", threads)
    sets: dict[str, dict[str, float | int]] = {}
    correct, total = set_accuracy(model, root / "clean")
    sets["clean"] = {"correct": correct, "total": total, "accuracy": correct / total}
    att_correct = att_total = 0
    for name in ATTACKED_SETS:
        folder = root / "attacked" / name
        if not (folder / common.LABEL_FILE).exists():
            continue
        c, t = set_accuracy(model, folder)
        sets[name] = {"correct": c, "total": t, "accuracy": c / t}
        att_correct += c
        att_total += t
    attacked = att_correct / att_total if att_total else float("nan")
    clean = sets["clean"]["accuracy"]
    return {
        "sets": sets,
        "attacked_accuracy": attacked,
        "score": WEIGHT_CLEAN * float(clean) + WEIGHT_ATTACKED * attacked,
        "complexity": count_complexity(root / "baseline.onnx"),
    }


def markdown(results: dict[str, dict[str, object]]) -> str:
    """The accuracy table of the README."""
    cols = ["clean", *ATTACKED_SETS]
    lines = [
        "| profile | " + " | ".join(cols) + " | attacked (pooled) | score |",
        "|---" * (len(cols) + 3) + "|",
    ]
    for name, res in results.items():
        sets = res["sets"]
        cells = [
            f"{100 * sets[c]['accuracy']:.1f} % ({sets[c]['correct']}/{sets[c]['total']})"  # type: ignore[index]
            if c in sets else "-"  # type: ignore[operator]
            for c in cols
        ]
        lines.append(
            f"| {name} | " + " | ".join(cells)
            + f" | {100 * res['attacked_accuracy']:.1f} % | {100 * res['score']:.1f} |"  # type: ignore[operator]
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=common.REFERENCE_ROOT,
                   help="reference-data root holding <profile>/ (default: reference_data/)")
    p.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    p.add_argument("--out", type=Path, default=None,
                   help="JSON file to write (default: <data>/results.json)")
    p.add_argument("--seed", type=int, default=0, help="unused (evaluation is deterministic)")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate each profile, write the JSON results, print the Markdown table."""
    args = parse_args(argv)
    results = {name: evaluate_profile(args.data / name, args.threads) for name in args.profiles}
    out = args.out or args.data / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))
    for name, res in results.items():
        print(f"{name}: {json.dumps(res['complexity'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
