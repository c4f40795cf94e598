"""Masked variants of the tiny linear classifier of test_attacks_models, built in code: the
defenses that won points in the competition (input noise, random resize-and-pad, random crop,
quantisation, Round, a random choice between two weight sets). Each wraps the same weights as
``linear_model()`` so that it can be paired with the plain model on the same images and seeds."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.unit.test_attacks_models import SIZE, linear_model
from validator.attacks.square import SquareLinf
from validator.attacks.suites import Entry, Suite
from validator.attacks.whitebox import WhiteBox

VARIANTS = (
    "noise-0.01",
    "noise-0.03",
    "noise-0.1",
    "resize-pad",
    "crop",
    "quantise",
    "round",
    "two-weights",
    "argmax-quantise",
)
# ArgMax quantisers in the encodings the interpreter's straight-through covers (the first is the
# variant above), and one it does not (``x * x - 2 * x * l`` reads the input twice).
ARGMAX_ENCODINGS = ("gather", "gather-keepdims", "onehot-matmul", "palette", "palette-onehot")
ARGMAX_UNCOVERED = "expanded-square"
QUANTISE_LEVELS = 16  # levels per channel of the ArgMax quantiser, evenly spaced in [0, 1]
IMAGES = 12  # images the variants and the plain model are attacked on
EPS = 2 / 255


def paired_suite(seed: int = 0) -> Suite:
    """The suite every variant and the plain model run (the paired test and the measurement of
    the paired noise in tools/paired_noise.py): Square L-inf, PGD and APGD-CE at ``EPS``."""
    return Suite(
        "paired",
        (
            Entry(SquareLinf(eps=EPS), 60),
            Entry(WhiteBox(method="pgd", eps=EPS), 10),
            Entry(WhiteBox("apgd-ce", method="apgd-ce", eps=EPS), 10),
        ),
        seed=seed,
    )


def _const(name: str, value: object, dtype: type = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def masked_variant(kind: str) -> onnx.ModelProto:
    """The plain linear model behind the defense ``kind`` (one of VARIANTS)."""
    plain = linear_model()
    graph = plain.graph
    inits = list(graph.initializer)
    nodes, source = _front(kind, inits)
    body = [n for n in graph.node]
    for node in body:
        node.input[:] = [source if name == "input" else name for name in node.input]
    if kind == "two-weights":
        body, inits = _two_weights(body, inits, source)
    new = helper.make_graph(
        nodes + body, f"linear-{kind}", list(graph.input), list(graph.output), inits
    )
    model = helper.make_model(new, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _front(kind: str, inits: list[onnx.TensorProto]) -> tuple[list[onnx.NodeProto], str]:
    if kind.startswith("noise-"):
        std = float(kind.split("-")[1])
        return [
            helper.make_node("RandomNormalLike", ["input"], ["noise"], scale=std),
            helper.make_node("Add", ["input", "noise"], ["x"]),
        ], "x"
    if kind in ("quantise", "round"):
        step = 32.0 if kind == "quantise" else 8.0
        inits += [_const("levels", 255.0 / step if kind == "quantise" else step)]
        cast = (
            [
                helper.make_node("Cast", ["scaled"], ["q"], to=TensorProto.UINT8),
                helper.make_node("Cast", ["q"], ["qf"], to=TensorProto.FLOAT),
            ]
            if kind == "quantise"
            else [helper.make_node("Round", ["scaled"], ["qf"])]
        )
        return [
            helper.make_node("Mul", ["input", "levels"], ["scaled"]),
            *cast,
            helper.make_node("Div", ["qf", "levels"], ["x"]),
        ], "x"
    if kind == "argmax-quantise":
        return argmax_quantiser("gather", inits), "x"
    if kind.startswith("argmax-"):
        return argmax_quantiser(kind.removeprefix("argmax-"), inits), "x"
    if kind == "resize-pad":
        return _resize_pad(inits), "x"
    if kind == "crop":
        return _crop(inits), "x"
    return [], "input"


def _random_int(name: str, low: str, span: str) -> list[onnx.NodeProto]:
    """``name`` = low + floor(U * span) as int64 (shape [1]), U uniform in [0, 1)."""
    return [
        helper.make_node("RandomUniform", [], [f"{name}_u"], shape=[1], low=0.0, high=0.999),
        helper.make_node("Mul", [f"{name}_u", span], [f"{name}_s"]),
        helper.make_node("Floor", [f"{name}_s"], [f"{name}_f"]),
        helper.make_node("Add", [f"{name}_f", low], [f"{name}_a"]),
        helper.make_node("Cast", [f"{name}_a"], [name], to=TensorProto.INT64),
    ]


def _resize_pad(inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """Resize to a random side in 12..16, then zero-pad back to 16 at a random offset."""
    inits += [
        _const("low12", [12.0]),
        _const("span5", [5.0]),
        _const("zero_f", [0.0]),
        _const("one_f", [1.0]),
        _const("full", [SIZE], np.int64),
        _const("two", [2], np.int64),
        _const("zeros2", [0, 0], np.int64),
        _const("head", [0], np.int64),
        _const("empty_roi", [], np.float32),
        _const("empty_scales", [], np.float32),
    ]
    nodes = _random_int("side", "low12", "span5")
    nodes += [
        helper.make_node("Shape", ["input"], ["shape"]),
        helper.make_node("Slice", ["shape", "head", "two"], ["nc"]),
        helper.make_node("Concat", ["nc", "side", "side"], ["sizes"], axis=0),
        helper.make_node(
            "Resize", ["input", "empty_roi", "empty_scales", "sizes"], ["small"], mode="linear"
        ),
        helper.make_node("Sub", ["full", "side"], ["room"]),
        helper.make_node("Cast", ["room"], ["room_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["room_f", "one_f"], ["room_span"]),
    ]
    nodes += _random_int("top", "zero_f", "room_span")
    nodes += _random_int("left", "zero_f", "room_span")
    nodes += [
        helper.make_node("Sub", ["room", "top"], ["bottom"]),
        helper.make_node("Sub", ["room", "left"], ["right"]),
        helper.make_node(
            "Concat", ["zeros2", "top", "left", "zeros2", "bottom", "right"], ["pads"], axis=0
        ),
        helper.make_node("Pad", ["small", "pads"], ["x"], mode="constant"),
    ]
    return nodes


def _crop(inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """A random 12 x 12 crop, resized back to 16 x 16."""
    inits += [
        _const("zero_f", [0.0]),
        _const("span5", [5.0]),
        _const("twelve", [12], np.int64),
        _const("axes", [2, 3], np.int64),
        _const("roi", [], np.float32),
        _const("scales", [], np.float32),
        _const("head", [0], np.int64),
        _const("two", [2], np.int64),
        _const("full2", [SIZE, SIZE], np.int64),
    ]
    nodes = _random_int("top", "zero_f", "span5") + _random_int("left", "zero_f", "span5")
    nodes += [
        helper.make_node("Concat", ["top", "left"], ["starts"], axis=0),
        helper.make_node("Add", ["starts", "twelve"], ["ends"]),
        helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["cropped"]),
        helper.make_node("Shape", ["input"], ["shape"]),
        helper.make_node("Slice", ["shape", "head", "two"], ["nc"]),
        helper.make_node("Concat", ["nc", "full2"], ["sizes"], axis=0),
        helper.make_node("Resize", ["cropped", "roi", "scales", "sizes"], ["x"], mode="linear"),
    ]
    return nodes


def _two_weights(
    body: list[onnx.NodeProto], inits: list[onnx.TensorProto], source: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Two classifiers (the plain weights and a perturbed copy); each run picks one at random."""
    weights = next(numpy_helper.to_array(t) for t in inits if t.name == "W")
    rng = np.random.default_rng(5)
    other = (weights + rng.standard_normal(weights.shape) * 0.3 * weights.std()).astype(np.float32)
    inits = [*inits, numpy_helper.from_array(other, "W2"), _const("half", 0.5)]
    gemm = next(n for n in body if n.op_type == "Gemm")
    gemm.output[0] = "logits_a"
    nodes = [
        *body[:-1],
        helper.make_node("Gemm", ["flat", "W2", "b"], ["logits_b"], transB=1),
        helper.make_node("RandomUniform", [], ["coin"], shape=[1], low=0.0, high=1.0),
        helper.make_node("Less", ["coin", "half"], ["pick"]),
        helper.make_node("Where", ["pick", "logits_a", "logits_b"], ["logits"]),
        body[-1],
    ]
    return nodes, inits


def argmax_quantiser(encoding: str, inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """``input`` -> ``x``: each value (or, for the palettes, each pixel's colour) replaced by
    the nearest of a constant set, found by an ArgMax over the negated distances."""
    levels = np.linspace(0.0, 1.0, QUANTISE_LEVELS).astype(np.float32)
    inits += [_const("q_levels", levels), _const("q_last", [-1], np.int64)]
    if encoding.startswith("palette"):
        return _palette(encoding, inits)
    nodes = [helper.make_node("Unsqueeze", ["input", "q_last"], ["q_u"])]
    if encoding == ARGMAX_UNCOVERED:  # -(x^2 - 2 x l + l^2): x read twice, not covered
        inits += [_const("q_two_l", 2 * levels), _const("q_l2", levels**2)]
        nodes += [
            helper.make_node("Mul", ["q_u", "q_u"], ["q_sq"]),
            helper.make_node("Mul", ["q_u", "q_two_l"], ["q_cross"]),
            helper.make_node("Sub", ["q_sq", "q_cross"], ["q_part"]),
            helper.make_node("Add", ["q_part", "q_l2"], ["q_dist"]),
        ]
    else:
        nodes += [
            helper.make_node("Sub", ["q_u", "q_levels"], ["q_diff"]),
            helper.make_node("Abs", ["q_diff"], ["q_dist"]),
        ]
    keep = 1 if encoding == "gather-keepdims" else 0
    nodes += [
        helper.make_node("Neg", ["q_dist"], ["q_score"]),
        helper.make_node("ArgMax", ["q_score"], ["q_idx"], axis=-1, keepdims=keep),
    ]
    if encoding == "onehot-matmul":
        inits += [
            _const("q_depth", [QUANTISE_LEVELS], np.int64),
            _const("q_values", [0.0, 1.0]),
            _const("q_column", levels[:, None]),
        ]
        return [
            *nodes,
            helper.make_node("OneHot", ["q_idx", "q_depth", "q_values"], ["q_hot"], axis=-1),
            helper.make_node("MatMul", ["q_hot", "q_column"], ["q_col"]),
            helper.make_node("Squeeze", ["q_col", "q_last"], ["x"]),
        ]
    if keep:
        return [
            *nodes,
            helper.make_node("Gather", ["q_levels", "q_idx"], ["q_kept"], axis=0),
            helper.make_node("Squeeze", ["q_kept", "q_last"], ["x"]),
        ]
    return [*nodes, helper.make_node("Gather", ["q_levels", "q_idx"], ["x"], axis=0)]


def _palette(encoding: str, inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """Nearest of 3 colours (so that a one-hot over them has the shape of a pixel's colour:
    the straight-through must not take it for the quantised value)."""
    palette = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5], [0.9, 0.7, 0.6]], np.float32)
    inits += [_const("q_palette", palette), _const("q_axis3", [3], np.int64)]
    nodes = [
        helper.make_node("Transpose", ["input"], ["q_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Unsqueeze", ["q_nhwc", "q_axis3"], ["q_u"]),
        helper.make_node("Sub", ["q_u", "q_palette"], ["q_diff"]),
        helper.make_node("Mul", ["q_diff", "q_diff"], ["q_sq"]),
        helper.make_node("ReduceSum", ["q_sq", "q_last"], ["q_dist"], keepdims=0),
        helper.make_node("Neg", ["q_dist"], ["q_score"]),
        helper.make_node("ArgMax", ["q_score"], ["q_idx"], axis=-1, keepdims=0),
    ]
    if encoding == "palette-onehot":
        inits += [_const("q_depth", [3], np.int64), _const("q_values", [0.0, 1.0])]
        nodes += [
            helper.make_node("OneHot", ["q_idx", "q_depth", "q_values"], ["q_hot"], axis=-1),
            helper.make_node("MatMul", ["q_hot", "q_palette"], ["q_rgb"]),
        ]
    else:
        nodes.append(helper.make_node("Gather", ["q_palette", "q_idx"], ["q_rgb"], axis=0))
    return [*nodes, helper.make_node("Transpose", ["q_rgb"], ["x"], perm=[0, 3, 1, 2])]
