"""Models and data for the pytest plugin's tests, written into a pytester folder.

The rule models come from tests/builders.py; scoring uses a 3-class "colour" model on 16 x 16
images under a tiny profile, whose score on the dataset below is known exactly.
"""

from __future__ import annotations

from pathlib import Path

from onnx import TensorProto

from tests import builders

SIZE = builders.COLOUR_SIZE
RED, GREEN, BLUE, CLASS_OF = builders.RED, builders.GREEN, builders.BLUE, builders.CLASS_OF
CLEAN, ATTACKED, FINAL = builders.CLEAN, builders.ATTACKED, builders.FINAL


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
    return builders.colour_model(folder / name)


def colour_profile(folder: Path, name: str = "tiny.toml") -> Path:
    """The final profile for 3 classes at 16 x 16."""
    return builders.colour_profile(folder / name)


def colour_dataset(root: Path) -> Path:
    """clean/ and attacked/{blur,pgd}/ image folders with label.txt (scores above)."""
    return builders.colour_dataset(root)
