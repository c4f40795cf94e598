"""Packed ensembles and hard single networks with real (random) weights, built in code.

Two networks packed side by side in one graph never interact: their channels form partitions
that no layer mixes. The partition is declared (grouped convolutions) or lives only in the
weights (dense layers whose cross-member blocks are exactly zero). The fusion may be folded
into the final layer (its weights average the members' classifiers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
CLASSES = 100


class Net:
    """A small graph builder over a 1 x 3 x 224 x 224 input with seeded random weights."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, array: np.ndarray, stem: str = "w") -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def random(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape) * 0.1

    def op(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.fresh(op), **attrs))
        return out

    def conv(self, x: str, weight: np.ndarray, stride: int = 1, groups: int = 1) -> str:
        k = weight.shape[-1]
        bias = self.const(self.random(weight.shape[0]), "b")
        return self.op("Conv", [x, self.const(weight), bias], strides=[stride, stride],
                       pads=[k // 2] * 4, group=groups)  # fmt: skip

    def model(self, output: str, batch: int | str = 1) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [output], ["output"], name="out"))
        graph = helper.make_graph(
            self.nodes, "net",
            [helper.make_tensor_value_info("input", F, [batch, 3, 224, 224])],
            [helper.make_tensor_value_info("output", F, [batch, CLASSES])],
            self.inits,
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(model)
        return model


def block_diagonal(net: Net, cout: int, cin: int, members: int, k: int = 3) -> np.ndarray:
    """A dense conv weight whose cross-member blocks are exactly zero."""
    weight = np.zeros((cout * members, cin * members, k, k))
    for m in range(members):
        weight[m * cout : (m + 1) * cout, m * cin : (m + 1) * cin] = net.random(cout, cin, k, k)
    return weight


WIDTHS = (16, 32, 64)


def _trunk_in_weights(net: Net, members: int, residual: bool) -> str:
    """Dense convolutions whose weights keep ``members`` networks apart."""
    x = net.op("Relu", [net.conv("input", net.random(WIDTHS[0] * members, 3, 3, 3), 2)])
    cin = WIDTHS[0]
    for width in WIDTHS:
        y = net.op("Relu", [net.conv(x, block_diagonal(net, width, cin, members), 2)])
        if residual:
            z = net.conv(y, block_diagonal(net, width, width, members))
            y = net.op("Relu", [net.op("Add", [z, y])])
        x, cin = y, width
    return x


def packed_in_weights(members: int = 2, residual: bool = True) -> onnx.ModelProto:
    """Members exist only in the weights; averaging folded into one dense final Linear."""
    net = Net(1)
    x = _trunk_in_weights(net, members, residual)
    flat = net.op("Flatten", [net.op("GlobalAveragePool", [x])])
    heads = [net.random(CLASSES, WIDTHS[-1]) for _ in range(members)]
    folded = np.concatenate(heads, axis=1) / members  # mean of the members' classifiers
    return net.model(net.op("Gemm", [flat, net.const(folded), net.const(net.random(CLASSES))],
                            transB=1))  # fmt: skip


def _trunk_grouped(net: Net, members: int) -> str:
    x = net.op("Concat", ["input"] * members, axis=1)
    cin = 3
    for width in WIDTHS:
        w = net.random(width * members, cin, 3, 3)
        x = net.op("Relu", [net.conv(x, w, 2, groups=members)])
        cin = width
    return x


def packed_grouped_head_folded(members: int = 2) -> onnx.ModelProto:
    """Grouped convolutions and a grouped 1x1 head, averaged by a dense 1x1 conv whose
    weights are [I/k ... I/k]."""
    net = Net(2)
    x = net.op("GlobalAveragePool", [_trunk_grouped(net, members)])
    head = net.conv(x, net.random(CLASSES * members, WIDTHS[-1], 1, 1), groups=members)
    eye = np.eye(CLASSES)[:, :, None, None] / members
    mean = net.op("Conv", [head, net.const(np.concatenate([eye] * members, axis=1))])
    return net.model(net.op("Flatten", [mean]))


def packed_grouped_dense_head(members: int = 2) -> onnx.ModelProto:
    """Grouped convolutions, then one dense Linear over both halves (averaging folded)."""
    net = Net(3)
    flat = net.op("Flatten", [net.op("GlobalAveragePool", [_trunk_grouped(net, members)])])
    weight = net.random(CLASSES, WIDTHS[-1] * members)
    return net.model(net.op("Gemm", [flat, net.const(weight)], transB=1))


def single_real_weights(groups: int = 1, prune: bool = False) -> onnx.ModelProto:
    """One network with real weights: a ResNeXt-like body (grouped 3x3 convs mixed again by
    dense 1x1s); ``prune`` zeroes whole output channels, as structured pruning does."""
    net = Net(4)
    x = net.op("Relu", [net.conv("input", net.random(32, 3, 3, 3), 2)])
    for _ in range(3):
        w = net.random(32, 32 // groups, 3, 3)
        y = net.op("Relu", [net.conv(x, w, 2, groups=groups)])
        dense = net.random(32, 32, 1, 1)
        if prune:
            dense[::3] = 0
        x = net.op("Relu", [net.conv(y, dense)])
    flat = net.op("Flatten", [net.op("GlobalAveragePool", [x])])
    return net.model(net.op("Gemm", [flat, net.const(net.random(CLASSES, 32))], transB=1))


def _member(net: Net, x: str, cin: int = 3) -> str:
    """A small CNN producing class scores."""
    y = net.op("Relu", [net.conv(x, net.random(16, cin, 3, 3), 2)])
    y = net.op("Relu", [net.conv(y, net.random(32, 16, 3, 3), 2)])
    flat = net.op("Flatten", [net.op("GlobalAveragePool", [y])])
    return net.op("Gemm", [flat, net.const(net.random(CLASSES, 32))], transB=1)


def _stacked(net: Net, scores: list[str]) -> str:
    axes = net.fresh("axes")
    net.inits.append(numpy_helper.from_array(np.array([1], np.int64), axes))
    return net.op("Concat", [net.op("Unsqueeze", [s, axes]) for s in scores], axis=1)


def fused_branches(fusion: str) -> onnx.ModelProto:
    """Separate members fused by ``fusion``: median, product, selection, einsum-mean,
    matmul-weighted, grey."""
    net = Net(5)
    if fusion == "grey":
        grey = net.op("ReduceMean", ["input"], axes=[1], keepdims=1)
        a, b = _member(net, "input"), _member(net, grey, cin=1)
        return net.model(net.op("Div", [net.op("Add", [a, b]), net.const(np.array(2.0), "k")]))
    count = 3 if fusion == "median" else 2
    scores = [_member(net, "input") for _ in range(count)]
    if fusion == "median":  # max(min(a, b), min(max(a, b), c))
        a, b, c = scores
        low, high = net.op("Min", [a, b]), net.op("Max", [a, b])
        return net.model(net.op("Max", [low, net.op("Min", [high, c])]))
    if fusion == "product":
        probs = [net.op("Softmax", [s], axis=1) for s in scores]
        return net.model(net.op("Mul", probs))
    if fusion == "selection":
        confident = net.op("ReduceMax", [net.op("Softmax", [scores[0]], axis=1)], axes=[1])
        pick = net.op("Greater", [confident, net.const(np.array(0.5), "k")])
        return net.model(net.op("Where", [pick, scores[0], scores[1]]))
    stacked = _stacked(net, scores)  # 1 x members x classes
    if fusion == "einsum-mean":
        weights = net.const(np.array([0.5, 0.5]))
        return net.model(net.op("Einsum", [stacked, weights], equation="nmc,m->nc"))
    weights = net.const(np.array([[0.7, 0.3]]))  # 1 x members: a weighted mean
    return net.model(net.op("Squeeze", [net.op("MatMul", [weights, stacked])]))
