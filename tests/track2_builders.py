"""Builders for Track 2 tests: a colour detector (N x 1), its 16 x 16 profile, a tiny data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests import builders

RED, GREEN, BLUE = builders.RED, builders.GREEN, builders.BLUE
SIZE = builders.COLOUR_SIZE


def detector(path: Path, weights: tuple[float, float, float], bias: float = 0.0) -> Path:
    """Score = weights . channel means (BGR) + bias, as an N x 1 output."""
    projection = np.array(weights, np.float32).reshape(3, 1)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "projection"], ["projected"]),
        helper.make_node("Add", ["projected", "bias"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(projection, "projection"),
         numpy_helper.from_array(np.array([bias], np.float32), "bias")],
    )  # fmt: skip
    onnx.save(builders._model(graph, builders.OPSET), path)
    return path


def profile(path: Path, positive: str = "high") -> Path:
    path.write_text(
        f'base = "track2"\nname = "tiny2"\ninput_size = {SIZE}\npositive = "{positive}"\n'
    )
    return path


def data(root: Path) -> Path:
    """Red means adversarial to the detectors below; one clean red image and one green
    adversarial image make the F1 imperfect, three clean images are blurred."""
    builders.colour_set(root / "clean", [GREEN, BLUE, GREEN, BLUE, RED, GREEN], [0] * 6)
    (root / "clean" / "manifest.csv").write_text(
        "file,corruption\n00.png,blur\n04.png,blur\n05.png,grey\n"
    )
    builders.colour_set(root / "adversarial" / "pgd", [RED, RED], [0, 0])
    builders.colour_set(root / "adversarial" / "square", [RED, GREEN], [0, 0])
    return root
