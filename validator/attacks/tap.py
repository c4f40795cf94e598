"""A second view of the model's output: the logits before a final Softmax.

``softmax(10000 * z)`` rounds to one-hot in float32, so its scores carry no signal, yet its
argmax is the argmax of ``z``. When the graph's output comes from a Softmax (or LogSoftmax)
through element-wise operations with constants and reshaping only (``softmax(T z) + 0``,
``2 * softmax(z)``, a Flatten...), the session built here returns both the model's own output
(for every decision: what is scored is what the model says) and the Softmax's input (only to
guide the score-based search), in one run. Masking by a final temperature then changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from validator.inference import default_threads

Tapped = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
_TAIL_OPS = frozenset(
    {
        "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast",
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Clip",
        "Relu", "Abs", "Neg", "Exp", "Log", "Sqrt", "Round", "Floor", "Ceil",
    }
)  # fmt: skip
_SOFTMAX = frozenset({"Softmax", "LogSoftmax"})


def softmax_input(graph: onnx.GraphProto) -> str | None:
    """The tensor fed to the Softmax/LogSoftmax that the graph's first output comes from through
    element-wise operations whose other inputs are constants (and reshaping), or None."""
    producer = {out: node for node in graph.node for out in node.output}
    constant = {t.name for t in graph.initializer}
    constant |= {out for n in graph.node if n.op_type == "Constant" for out in n.output}
    node = producer.get(graph.output[0].name)
    while (
        node is not None
        and node.op_type in _TAIL_OPS
        and all(not name or name in constant for name in node.input[1:])
    ):
        node = producer.get(node.input[0])
    if node is None or node.op_type not in _SOFTMAX:
        return None
    return node.input[0] or None


def tapped_forward(path: Path, threads: int | None = None) -> Tapped | None:
    """A forward function returning (model output, pre-softmax logits), or None when the model
    does not end in a Softmax or the extended graph cannot be built."""
    try:
        proto = onnx.load(str(path))
    except Exception:  # the runtime check reports unreadable models; here: no tap
        return None
    tensor = softmax_input(proto.graph)
    if tensor is None:
        return None
    output = proto.graph.output[0].name
    proto.graph.output.append(helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception:
        return None
    first = session.get_inputs()[0]
    dim = first.shape[0] if first.shape else None
    fixed = dim if isinstance(dim, int) and dim > 0 else None

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if fixed is None or fixed == len(batch):
            out, logits = session.run([output, tensor], {first.name: batch})
            if np.size(logits) != np.size(out):  # not one score per class: no guide
                return np.asarray(out), None
            return np.asarray(out), np.asarray(logits).reshape(len(batch), -1)
        parts = [run(_padded(batch[i : i + fixed], fixed)) for i in range(0, len(batch), fixed)]
        sizes = [min(fixed, len(batch) - i) for i in range(0, len(batch), fixed)]
        outs = np.concatenate([p[0][:k] for p, k in zip(parts, sizes, strict=True)])
        if any(p[1] is None for p in parts):
            return outs, None
        logits = np.concatenate([p[1][:k] for p, k in zip(parts, sizes, strict=True)])  # type: ignore[index]
        return outs, logits

    return run


def _padded(chunk: np.ndarray, size: int) -> np.ndarray:
    if len(chunk) == size:
        return chunk
    return np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])
