"""Models and data for the pytest plugin's tests, written into a pytester folder.

The rule models come from tests/builders.py; scoring uses a 3-class "colour" model on 16 x 16
images under a tiny profile, whose score on the dataset below is known exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from tests import builders

SIZE = 16
RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)
CLASS_OF = {RED: 2, GREEN: 1, BLUE: 0}  # the colour model's answer, fed BGR

# clean 6/6 -> 1.0; attacked 2/6 (blur 2 of 4, pgd 0 of 2) -> 1/3; final 0.4 + 0.6/3 = 0.6
CLEAN, ATTACKED, FINAL = 1.0, 1 / 3, 0.6


def passing(folder: Path, name: str = "ok.onnx") -> Path:
    """The tiny Conv -> GlobalAveragePool -> Flatten -> Gemm classifier: passes every rule."""
    return builders.save(builders.classifier(), folder, name)


def half(folder: Path, name: str = "half.onnx") -> Path:
    """The same classifier in float16: breaks fp32 (and, with its float16 input, input)."""
    return builders.save(builders.classifier(dtype=TensorProto.FLOAT16), folder, name)


def new_opset(folder: Path, name: str = "new.onnx") -> Path:
    """Opset 17: the warning-severity ``opset`` check warns, every other check passes."""
    return builders.save(builders.classifier(opset=17), folder, name)


def too_many_params(folder: Path, name: str = "wide.onnx") -> Path:
    """Over 30 M parameters (weight-free, so the file stays tiny): breaks ``params``."""
    return builders.save(builders.wide_classifier(), folder, name)


def colour(folder: Path, name: str = "colour.onnx") -> Path:
    """Channel means projected to 3 class scores (identity): the brightest channel wins."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "projection"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(np.eye(3, dtype=np.float32), "projection")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    path = folder / name
    onnx.save(model, path)
    return path


def colour_profile(folder: Path, name: str = "tiny.toml") -> Path:
    """The final profile for 3 classes at 16 x 16."""
    path = folder / name
    path.write_text(f'base = "final"\nname = "tiny"\nnum_classes = 3\ninput_size = {SIZE}\n')
    return path


def colour_dataset(root: Path) -> Path:
    """clean/ and attacked/{blur,pgd}/ image folders with label.txt (scores above)."""
    colours = [RED, GREEN, BLUE] * 2
    _image_set(root / "clean", colours, [CLASS_OF[c] for c in colours])
    _image_set(root / "attacked" / "blur", [RED, GREEN, BLUE, RED], [2, 1, 2, 0])
    _image_set(root / "attacked" / "pgd", [RED, GREEN], [0, 0])
    return root


def _image_set(folder: Path, colours: list[tuple[int, int, int]], labels: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (rgb, label) in enumerate(zip(colours, labels, strict=True)):
        Image.new("RGB", (12 + i, 10), rgb).save(folder / f"{i:02d}.png")
        lines.append(f"{i:02d}.png {label}\n")
    (folder / "label.txt").write_text("".join(lines))
