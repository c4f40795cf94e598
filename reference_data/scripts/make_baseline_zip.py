"""Make ``<profile>/baseline.zip``: the bundled baseline as a PyTorch submission (the platform's
second route), i.e. a zip made like ``zip -r baseline.zip *`` holding ``model.py`` (a plain
PyTorch module, ``class Model``) and ``weights.npz`` beside it, which the module loads from its
own folder. The weights are those of ``baseline.onnx`` (BatchNorm already folded into the
convolutions), so both routes compute the same function.

Needs only numpy and onnx to build (torch is needed to *use* the zip). Deterministic: the same
ONNX file gives a byte-identical zip (fixed member dates). Run from the repository root::

    python reference_data/scripts/make_baseline_zip.py --profile final
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ["AveragePool", "Sub", "Div", "Conv", "Relu", "Conv", "Relu", "MaxPool", "Conv",
            "Relu", "MaxPool", "Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"]

MODEL_PY = '''"""The robust-validate baseline as a PyTorch submission: AvgPool 4x4, normalisation, four
3x3 convolutions (BatchNorm folded) with ReLU, global average pooling, one linear layer.
Input N x 3 x 224 x 224 BGR in [0, 1]; output N x {num_classes} logits."""

import os

import numpy as np
import torch
import torch.nn as nn


def conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU())


class Model(nn.Module):
    def __init__(self):
        super(Model, self).__init__()
        self.pool = nn.AvgPool2d(4)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1))
        self.register_buffer("std", torch.ones(1, 3, 1, 1))
        self.features = nn.Sequential(
            conv(3, 32, 2), conv(32, 64), nn.MaxPool2d(2), conv(64, 128), nn.MaxPool2d(2),
            conv(128, 256), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(256, {num_classes})
        self.load_params()

    def load_params(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.npz")
        with np.load(path) as stored:
            state = {{name: torch.from_numpy(stored[name]) for name in stored.files}}
        self.load_state_dict(state)

    def forward(self, x):
        return self.classifier(self.features((self.pool(x) - self.mean) / self.std))
'''

# ONNX initializer order of the Conv nodes -> names in Model's state dict.
CONVS = ["features.0.0", "features.1.0", "features.3.0", "features.5.0"]


def state_dict(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Model's state dict from the ONNX file's initializers."""
    ops = [n.op_type for n in model.graph.node]
    if ops != EXPECTED:
        raise SystemExit(f"unexpected baseline graph: {ops}")
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    state = {"mean": tensors["mean"], "std": tensors["std"],
             "classifier.weight": tensors["classifier.weight"],
             "classifier.bias": tensors["classifier.bias"]}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for prefix, node in zip(CONVS, convs, strict=True):
        state[f"{prefix}.weight"] = tensors[node.input[1]]
        state[f"{prefix}.bias"] = tensors[node.input[2]]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def member(name: str, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name, date_time=(2022, 3, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | 0o644) << 16  # a regular file, rw-r--r--
    return info, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="final", choices=["final", "preliminary"])
    args = parser.parse_args()
    folder = ROOT / args.profile
    model = onnx.load(str(folder / "baseline.onnx"))
    state = state_dict(model)
    num_classes = state["classifier.bias"].shape[0]
    weights = io.BytesIO()
    np.savez(weights, **state)
    source = MODEL_PY.format(num_classes=num_classes).encode()
    out = folder / "baseline.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for info, data in (member("model.py", source), member("weights.npz", weights.getvalue())):
            archive.writestr(info, data)
    print(f"wrote {out} ({out.stat().st_size} bytes, {sum(v.size for v in state.values())} values)")


if __name__ == "__main__":
    main()
