"""Write small ONNX classifiers that exercise each platform rule, for tools/platform_reference.py.

Each graph is built here with seeded random weights (3x224x224 input, 100 classes); some convert
under the organizers' converter and check what its modules count (unfused BatchNorm,
ConvTranspose, InstanceNorm, asymmetric pooling pads, auto_pad, Constant-node weights), others
carry one blocking construct each. Usage: python tools/platform_constructions.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(2022)
N = helper.make_node


def w(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.normal(0, 0.1, shape).astype(np.float32), name)


def i64(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def f32(name: str, values: list[float]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.float32), name)


def head(x: str, channels: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    nodes = [
        N("GlobalAveragePool", [x], ["gap"], name="gap"),
        N("Flatten", ["gap"], ["flat"], name="flatten"),
        N("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
    ]
    return nodes, [w("fc_w", 100, channels), w("fc_b", 100)]


def stem() -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    nodes = [N("Conv", ["input", "c1_w", "c1_b"], ["c1"], name="c1", strides=[2, 2],
               pads=[1, 1, 1, 1])]  # fmt: skip
    return nodes, [w("c1_w", 16, 3, 3, 3), w("c1_b", 16)]


def model(
    nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], opset: int = 13,
    outputs: tuple[str, ...] = ("logits",),
) -> onnx.ModelProto:  # fmt: skip
    graph = helper.make_graph(
        nodes, "construction",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", 100]) for o in outputs],
        inits,
    )  # fmt: skip
    built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    built.ir_version = 8
    onnx.checker.check_model(built)
    return built


def with_head(body: list[onnx.NodeProto], inits: list[onnx.TensorProto], last: str, ch: int,
              opset: int = 13) -> onnx.ModelProto:  # fmt: skip
    s_nodes, s_inits = stem()
    h_nodes, h_inits = head(last, ch)
    return model(s_nodes + body + h_nodes, s_inits + inits + h_inits, opset)


def constructions() -> dict[str, onnx.ModelProto]:
    bn = [w("bn_s", 16), w("bn_b", 16), w("bn_m", 16), f32("bn_v", [1.0] * 16)]
    out: dict[str, onnx.ModelProto] = {}
    out["cnn_bn_pools"] = with_head([
        N("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["b1"], name="bn"),
        N("Relu", ["b1"], ["r1"], name="relu"),
        N("MaxPool", ["r1"], ["p1"], name="mp", kernel_shape=[3, 3], strides=[2, 2],
          pads=[1, 1, 1, 1]),
        N("Conv", ["p1", "c2_w"], ["c2"], name="c2", auto_pad="SAME_UPPER", strides=[2, 2],
          kernel_shape=[3, 3]),
        N("AveragePool", ["c2"], ["p2"], name="ap", kernel_shape=[2, 2], strides=[2, 2]),
        N("Clip", ["p2", "lo", "hi"], ["r2"], name="relu6"),
    ], bn + [w("c2_w", 32, 16, 3, 3), f32("lo", [0.0]), f32("hi", [6.0])], "r2", 32)  # fmt: skip
    out["convtranspose_instancenorm"] = with_head([
        N("ConvTranspose", ["c1", "ct_w", "ct_b"], ["t1"], name="ct", strides=[2, 2],
          kernel_shape=[2, 2]),
        N("InstanceNormalization", ["t1", "in_s", "in_b"], ["n1"], name="inorm"),
        N("MaxPool", ["n1"], ["p1"], name="mp", kernel_shape=[2, 2], strides=[2, 2],
          pads=[0, 0, 1, 1]),
        N("LeakyRelu", ["p1"], ["r1"], name="lrelu", alpha=0.1),
    ], [w("ct_w", 16, 8, 2, 2), w("ct_b", 8), w("in_s", 8), w("in_b", 8)], "r1", 8)  # fmt: skip
    out["constant_node_weight"] = with_head([
        N("Constant", [], ["k_w"], name="k", value=w("k_w", 16, 16, 1, 1)),
        N("Conv", ["c1", "k_w"], ["c2"], name="c2"),
    ], [], "c2", 16)  # fmt: skip
    out["layernorm_decomposed"] = with_head([
        N("ReduceMean", ["c1"], ["mu"], name="mean", axes=[1]),
        N("Sub", ["c1", "mu"], ["d"], name="sub"),
        N("Pow", ["d", "two"], ["d2"], name="pow"),
        N("ReduceMean", ["d2"], ["var"], name="var", axes=[1]),
        N("Add", ["var", "eps"], ["ve"], name="addeps"),
        N("Sqrt", ["ve"], ["sd"], name="sqrt"),
        N("Div", ["d", "sd"], ["ln"], name="div"),
    ], [f32("two", [2.0]), f32("eps", [1e-5])], "ln", 16)  # fmt: skip
    out["resize_opset10"] = with_head([
        N("Resize", ["c1", "sc"], ["u1"], name="up", mode="nearest"),
    ], [f32("sc", [1, 1, 2, 2])], "u1", 16, opset=10)  # fmt: skip
    out["reshape_int_shape"] = _reshape_head()
    out["two_outputs"] = _two_outputs()
    out["gemm_without_bias"] = _gemm_without_bias()
    out["identity_weight"] = with_head([
        N("Identity", ["id_w"], ["id_w2"], name="idw"),
        N("Conv", ["c1", "id_w2"], ["c2"], name="c2"),
    ], [w("id_w", 16, 16, 1, 1)], "c2", 16)  # fmt: skip
    out["hardswish"] = with_head([N("HardSwish", ["c1"], ["h"], name="hs")], [], "h", 16, 14)
    out["resize_empty_roi"] = with_head([
        N("Resize", ["c1", "", "sc"], ["u1"], name="up", mode="nearest"),
    ], [f32("sc", [1, 1, 2, 2])], "u1", 16)  # fmt: skip
    out["bad_tensor_name"] = with_head([N("Relu", ["c1"], ["relu-out"], name="r")], [],
                                       "relu-out", 16)  # fmt: skip
    out["layernorm_opset17"] = with_head([
        N("LayerNormalization", ["c1", "ln_s", "ln_b"], ["ln"], name="ln", axis=-1),
    ], [w("ln_s", 112), w("ln_b", 112)], "ln", 16, opset=17)  # fmt: skip
    return out


def _reshape_head() -> onnx.ModelProto:
    s_nodes, s_inits = stem()
    nodes = s_nodes + [
        N("GlobalAveragePool", ["c1"], ["gap"], name="gap"),
        N("Reshape", ["gap", "shape"], ["flat"], name="view"),
        N("MatMul", ["flat", "mm_w"], ["mm"], name="linear"),
        N("Add", ["mm", "mm_b"], ["logits"], name="bias"),
    ]
    inits = [*s_inits, i64("shape", [1, -1]), w("mm_w", 16, 100), w("mm_b", 100)]
    return model(nodes, inits)


def _two_outputs() -> onnx.ModelProto:
    s_nodes, s_inits = stem()
    h_nodes, h_inits = head("c1", 16)
    nodes = [*s_nodes, *h_nodes, N("Softmax", ["logits"], ["probs"], name="softmax", axis=1)]
    return model(nodes, s_inits + h_inits, outputs=("logits", "probs"))


def _gemm_without_bias() -> onnx.ModelProto:
    s_nodes, s_inits = stem()
    nodes = [
        *s_nodes,
        N("GlobalAveragePool", ["c1"], ["gap"], name="gap"),
        N("Flatten", ["gap"], ["flat"], name="flatten"),
        N("Gemm", ["flat", "fc_w"], ["logits"], name="fc", transB=1),
    ]
    return model(nodes, [*s_inits, w("fc_w", 100, 16)])


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for name, built in constructions().items():
        onnx.save(built, str(folder / f"{name}.onnx"))
        print(folder / f"{name}.onnx")


if __name__ == "__main__":
    main()
