"""Small ONNX classifiers built in code, each breaking (or keeping) one competition rule.

Weights are ConstantOfShape fillers where size matters (as in onnx's "light" test models), so a
model with 30 M parameters is still a file of a few hundred bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

OPSET = 13


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(array, name)


def _filler(name: str, shape: list[int], value: float = 0.01) -> list[onnx.NodeProto | TensorProto]:
    """A ConstantOfShape node producing ``name`` (weight-free weight) and its shape tensor."""
    shape_tensor = _init(f"{name}__shape", np.array(shape, dtype=np.int64))
    fill = helper.make_tensor("value", TensorProto.FLOAT, [1], [value])
    node = helper.make_node("ConstantOfShape", [f"{name}__shape"], [name], value=fill)
    return [shape_tensor, node]


def classifier(
    num_classes: int = 100,
    *,
    width: int = 16,
    dtype: int = TensorProto.FLOAT,
    nhwc: bool = False,
    batch: int | str = "N",
    size: int = 224,
    opset: int = OPSET,
) -> onnx.ModelProto:
    """Conv(3->width, 3x3, stride 2) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(classes)."""
    rng = np.random.default_rng(0)
    np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    weights = [
        _init("conv.weight", (rng.standard_normal((width, 3, 3, 3)) * 0.3).astype(np_dtype)),
        _init("conv.bias", np.zeros(width, dtype=np_dtype)),
        _init("fc.weight", (rng.standard_normal((num_classes, width)) * 0.3).astype(np_dtype)),
        _init("fc.bias", np.zeros(num_classes, dtype=np_dtype)),
    ]
    nodes = []
    source = "input"
    in_shape: list[int | str] = [batch, 3, size, size]
    if nhwc:
        in_shape = [batch, size, size, 3]
        nodes.append(helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]))
        source = "nchw"
    nodes += [
        helper.make_node(
            "Conv", [source, "conv.weight", "conv.bias"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "classifier",
        [helper.make_tensor_value_info("input", dtype, in_shape)],
        [helper.make_tensor_value_info("output", dtype, [batch, num_classes])],
        weights,
    )  # fmt: skip
    return _model(graph, opset)


def heavy_classifier(num_classes: int = 100, width: int = 512) -> onnx.ModelProto:
    """Over 5 G multiply-adds: a full-resolution 7x7 conv and a 1x1 conv at 224 x 224."""
    parts = _filler("w1", [width, 3, 7, 7]) + _filler("w2", [width, width, 1, 1])
    parts += _filler("fc", [num_classes, width])
    nodes = [p for p in parts if isinstance(p, onnx.NodeProto)]
    inits = [p for p in parts if isinstance(p, TensorProto)]
    nodes += [
        helper.make_node("Conv", ["input", "w1"], ["a"], pads=[3, 3, 3, 3]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Conv", ["b", "w2"], ["c"]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["output"], transB=1),
    ]
    return _model(_graph(nodes, inits, num_classes), OPSET)


def wide_classifier(num_classes: int = 100) -> onnx.ModelProto:
    """Over 30 M parameters: a Gemm over 6 x 224 x 224 flattened features (weight-free)."""
    features = 6 * 224 * 224
    parts = _filler("w1", [6, 3, 1, 1]) + _filler("fc", [num_classes, features], 1e-6)
    nodes = [p for p in parts if isinstance(p, onnx.NodeProto)]
    inits = [p for p in parts if isinstance(p, TensorProto)]
    nodes += [
        helper.make_node("Conv", ["input", "w1"], ["a"]),
        helper.make_node("Flatten", ["a"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["output"], transB=1),
    ]
    return _model(_graph(nodes, inits, num_classes), OPSET)


def _graph(nodes: list[onnx.NodeProto], inits: list[TensorProto], classes: int) -> onnx.GraphProto:
    return helper.make_graph(
        nodes, "model",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])],
        inits,
    )  # fmt: skip


def _model(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # loadable by onnxruntime releases from 1.10 on
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    """Write ``model`` to ``folder/name`` and return the path."""
    path = folder / name
    onnx.save(model, str(path))
    return path


# A 3-class "colour" model on 16 x 16 images, whose score on colour_dataset() is known exactly.
COLOUR_SIZE = 16
RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)
CLASS_OF = {RED: 2, GREEN: 1, BLUE: 0}  # the colour model's answer, fed BGR
# clean 6/6 -> 1.0; attacked 2/6 (blur 2 of 4, pgd 0 of 2) -> 1/3; final 0.4 + 0.6/3 = 0.6
CLEAN, ATTACKED, FINAL = 1.0, 1 / 3, 0.6


def colour_model(path: Path, classes: int = 3, constant: bool = False) -> Path:
    """Mean of each channel projected to ``classes`` scores (identity for 3 classes, so the
    brightest channel wins; all zeros, so always class 0, when ``constant``)."""
    projection = np.zeros((3, classes), np.float32)
    if not constant:
        projection[:, :3] = np.eye(3, dtype=np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "projection"], ["output"]),
    ]
    size = COLOUR_SIZE
    graph = helper.make_graph(
        nodes, "colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(projection, "projection")],
    )  # fmt: skip
    onnx.save(_model(graph, OPSET), path)
    return path


def colour_profile(path: Path, classes: int = 3) -> Path:
    """The final profile for ``classes`` classes at 16 x 16."""
    path.write_text(
        f'base = "final"\nname = "tiny"\nnum_classes = {classes}\ninput_size = {COLOUR_SIZE}\n'
    )
    return path


def colour_set(folder: Path, colours: list[tuple[int, int, int]], labels: list[int]) -> Path:
    """A set folder of flat-colour PNGs (sizes vary) with its label.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (colour, label) in enumerate(zip(colours, labels, strict=True)):
        Image.new("RGB", (12 + i, 10), colour).save(folder / f"{i:02d}.png")
        lines.append(f"{i:02d}.png {label}\n")
    (folder / "label.txt").write_text("".join(lines))
    return folder


def colour_dataset(root: Path, attacked: bool = True) -> Path:
    """clean: 6 of 6 right; attacked/blur: 2 of 4; attacked/pgd: 0 of 2 -> final 0.6."""
    colours = [RED, GREEN, BLUE] * 2
    colour_set(root / "clean", colours, [CLASS_OF[c] for c in colours])
    if attacked:
        colour_set(root / "attacked" / "blur", [RED, GREEN, BLUE, RED], [2, 1, 2, 0])
        colour_set(root / "attacked" / "pgd", [RED, GREEN], [0, 0])
    return root
