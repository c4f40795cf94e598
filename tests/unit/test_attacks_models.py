"""Tiny classifiers for the attack tests (built in code), and checks that they behave as the
other attack tests assume: an undefended linear model, its masked wrappers, and a dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from validator.attacks.model_fn import OutputKind, QueryModel, classify_outputs
from validator.attacks.tap import softmax_input, tapped_forward
from validator.config import Profile, profile_from_mapping
from validator.inference import Runner
from validator.vocab import ChannelOrder

SIZE, CLASSES = 16, 10


def linear_model(
    wrap: str = "none", *, size: int = SIZE, classes: int = CLASSES, seed: int = 0
) -> onnx.ModelProto:
    """A linear classifier over the pixels with smooth, zero-mean class templates (so that small
    perturbations can flip it). ``wrap``: ``none`` (logits), ``softmax`` (T = 1), ``masked``
    (softmax(10000 x logits)), ``masked-opaque`` (the same plus a per-class Add), ``hardmax``
    (a one-hot output with no Softmax to look through), ``random`` (logits plus input noise),
    ``round`` (the input rounded to 1/8 before the classifier)."""
    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((classes, 3, 2, 2))
    weights = np.repeat(np.repeat(coarse, size // 2, axis=2), size // 2, axis=3)
    weights = weights.reshape(classes, -1)
    weights = ((weights - weights.mean(axis=1, keepdims=True)) * 0.02).astype(np.float32)
    inits = [
        numpy_helper.from_array(weights, "W"),
        numpy_helper.from_array(np.zeros(classes, np.float32), "b"),
    ]
    source = "input"
    nodes = []
    if wrap == "random":
        nodes.append(
            helper.make_node("RandomUniformLike", ["input"], ["noise"], low=0.0, high=0.05)
        )
        nodes.append(helper.make_node("Add", ["input", "noise"], ["noisy"]))
        source = "noisy"
    if wrap == "round":
        inits.append(numpy_helper.from_array(np.array(8.0, np.float32), "eight"))
        nodes += [
            helper.make_node("Mul", ["input", "eight"], ["scaled"]),
            helper.make_node("Round", ["scaled"], ["rounded"]),
            helper.make_node("Div", ["rounded", "eight"], ["coarse"]),
        ]
        source = "coarse"
    nodes += [
        helper.make_node("Flatten", [source], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "b"], ["logits"], transB=1),
    ]
    last = "logits"
    if wrap in ("softmax", "masked", "masked-opaque"):
        scale = 10000.0 if wrap.startswith("masked") else 1.0
        inits.append(numpy_helper.from_array(np.array(scale, np.float32), "T"))
        nodes += [
            helper.make_node("Mul", ["logits", "T"], ["hot"]),
            helper.make_node("Softmax", ["hot"], ["probs"], axis=1),
        ]
        last = "probs"
    if wrap == "hardmax":
        nodes.append(helper.make_node("Hardmax", ["logits"], ["hard"], axis=1))
        last = "hard"
    if wrap == "masked-opaque":
        inits.append(numpy_helper.from_array(np.zeros(classes, np.float32), "zero"))
        nodes.append(helper.make_node("Add", ["probs", "zero"], ["opaque"]))
        last = "opaque"
    nodes.append(helper.make_node("Identity", [last], ["output"]))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    """Write ``model`` to ``folder/name.onnx``."""
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def query_model(path: Path, order: ChannelOrder = ChannelOrder.RGB) -> QueryModel:
    """The QueryModel the runner would build for ``path`` (with the softmax tap if any)."""
    return QueryModel(Runner(path, threads=1).run, order, source=path, tapped=tapped_forward(path))


def random_images(count: int, seed: int = 1, size: int = SIZE) -> np.ndarray:
    """``count`` noise images as 8-bit levels (N x 3 x size x size float32)."""
    rng = np.random.default_rng(seed)
    return np.rint(rng.random((count, 3, size, size)) * 255).astype(np.float32)


def test_profile(order: str = "rgb") -> Profile:
    """A profile for 16 x 16 inputs and 10 classes."""
    return profile_from_mapping(
        {"name": "tiny", "num_classes": CLASSES, "input_size": SIZE, "channel_order": order}
    )


def write_dataset(root: Path, model_path: Path, count: int = 12) -> Path:
    """``root/clean/`` with noise PNGs labelled by ``model_path``'s own predictions (so every
    clean image is classified correctly and attacks have work to do)."""
    clean = root / "clean"
    clean.mkdir(parents=True)
    levels = random_images(count, seed=7)
    labels = QueryModel(Runner(model_path, threads=1).run, ChannelOrder.RGB).predict(levels)
    lines = []
    for i, (image, label) in enumerate(zip(levels, labels, strict=True)):
        pixels = image.transpose(1, 2, 0).astype(np.uint8)
        Image.fromarray(pixels, mode="RGB").save(clean / f"img{i:02d}.png")
        lines.append(f"img{i:02d}.png {int(label)}\n")
    (clean / "label.txt").write_text("".join(lines), encoding="utf-8")
    return root


test_profile.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.mark.parametrize(
    ("wrap", "kind", "tapped"),
    [
        ("none", OutputKind.LOGITS, False),
        ("softmax", OutputKind.PROBABILITIES, True),
        ("masked", OutputKind.PROBABILITIES, True),
        ("masked-opaque", OutputKind.PROBABILITIES, True),
        ("hardmax", OutputKind.PROBABILITIES, False),
    ],
)
def test_wrappers_output_what_the_tests_assume(
    tmp_path: Path, wrap: str, kind: OutputKind, tapped: bool
) -> None:
    path = save(linear_model(wrap), tmp_path, wrap)
    outputs = Runner(path, threads=1).run(random_images(4) / np.float32(255))
    assert classify_outputs(outputs) is kind
    assert (softmax_input(onnx.load(str(path)).graph) is not None) is tapped


def test_masked_wrapper_is_one_hot_yet_keeps_the_decisions(tmp_path: Path) -> None:
    plain = Runner(save(linear_model(), tmp_path, "plain"), threads=1)
    masked = Runner(save(linear_model("masked"), tmp_path, "masked"), threads=1)
    batch = random_images(8) / np.float32(255)
    hot = masked.run(batch)
    assert np.mean(np.sort(hot, axis=1)[:, -2] == 0.0) >= 0.75  # mostly exactly one-hot
    assert np.array_equal(hot.argmax(1), plain.run(batch).argmax(1))
