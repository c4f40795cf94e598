"""Would the organizers' ONNX route accept this file? Blocking ops and constructs, with fixes.

Rules derived from reading the helper repository's converter (``onnx/onnx_pytorch``) and
``torch/check_model.py``; see README, "Multiply-add conventions", for the list in prose.

Converter (``code_gen.py``): every node needs a code generator for its op type; generators read
some inputs at generation time (a Conv weight's shape, Pad's pads, Split's sizes, Resize's
scales...) and find them only among graph initializers and the values of ``Constant`` nodes met
earlier in node order; every tensor name becomes a Python variable once ``:``, ``/`` and ``.`` are
replaced by ``_`` (an empty optional input has no name and stops it); nodes that become modules
become attributes ``n_<node name>``. Checker (``check_model.py``): ptflops builds its input with
the dtype of the model's first parameter; DistributedDataParallel needs a trainable parameter;
``output.numel()`` needs a single output (several outputs come back as a dict).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from onnx import numpy_helper

from validator.graph.index import GraphIndex
from validator.graph.platform import CONVERTIBLE_OPS
from validator.loading.tensors import FLOAT_TYPES

_SANITISE = re.compile(r"[:/.]")
_MODULE_OPS = frozenset(
    {"Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization", "MaxPool",
     "AveragePool", "Flatten", "Identity", "Dropout"}
)  # fmt: skip

# Inputs a generator reads as arrays while writing the code (position -> what it is).
_GENERATION_TIME = {
    "Conv": {1: "weight"},
    "ConvTranspose": {1: "weight"},
    "BatchNormalization": {1: "scale"},
    "InstanceNormalization": {1: "scale"},
    "Pad": {1: "pads", 2: "constant value"},
    "Split": {1: "split sizes"},
    "Dropout": {1: "ratio", 2: "training mode"},
    "ReduceMean": {1: "axes"},
    "ReduceMin": {1: "axes"},
    "ReduceProd": {1: "axes"},
    "ReduceSum": {1: "axes"},
    "Slice": {3: "axes", 4: "steps"},
}
# Ops _check_generation_inputs looks at.
_GENERATION_OPS = frozenset(_GENERATION_TIME) | {"Constant", "Gemm", "Resize", "Slice"}
# Inputs consumed in __init__ or at generation time only: not kept as used parameters.
_NOT_IN_FORWARD = {
    "Conv": {1, 2}, "ConvTranspose": {1, 2}, "BatchNormalization": {1, 2, 3, 4},
    "InstanceNormalization": {1, 2}, "Slice": {1, 2, 3, 4}, "Split": {1}, "Pad": {1, 2},
    "ReduceMean": {1}, "ReduceMin": {1}, "ReduceProd": {1}, "ReduceSum": {1},
    "Resize": {1, 2}, "Upsample": {1}, "Dropout": {1, 2},
}  # fmt: skip

_FIXES = {
    "HardSwish": "replace Hardswish by x * relu6(x + 3) / 6 (F.relu6 becomes Clip)",
    "HardSigmoid": "replace Hardsigmoid by relu6(x + 3) / 6",
    "LayerNormalization": "export with opset <= 16 so LayerNorm is decomposed",
    "Gelu": "export with opset <= 19 so GELU is decomposed into Erf",
    "LogSoftmax": "use torch.log(torch.softmax(x, dim))",
    "ReduceMax": "use a MaxPool whose kernel covers the reduced axes, or -min(-x)",
    "GlobalMaxPool": "use nn.MaxPool2d with the feature map's size as kernel",
    "Softplus": "use torch.log(1 + torch.exp(x))",
    "Neg": "multiply by -1",
    "Min": "use -max(-a, -b)",
    "If": "remove data-dependent Python control flow before export",
    "Loop": "unroll the loop in Python before export",
    "Scan": "unroll the loop in Python before export",
    "OneHot": "compare with torch.arange (Equal) instead",
    "Einsum": "use torch.matmul with reshapes/permutes",
    "DepthToSpace": "use reshape and permute instead of pixel_shuffle",
    "GatherElements": "use torch.gather-free indexing (Gather on flattened tensors)",
    "Tile": "use expand or concatenation instead of repeat",
    "Range": "precompute the range as a constant",
}
_DOMAIN_FIX = "export without onnxruntime's fused contrib ops (plain opset, no optimizer)"
_QUANT_FIX = "export in float32 without quantisation"
_RANDOM_FIX = "remove random operators from the graph"


@dataclass(frozen=True)
class Blocker:
    """One reason the official route fails: what, where, and how to fix it if a fix exists."""

    construct: str
    nodes: tuple[str, ...]
    fix: str | None
    stage: str  # "converter" (code_gen.py) or "checker" (check_model.py)

    def describe(self, limit: int = 4) -> str:
        """One line: the construct, up to ``limit`` node names, and the fix."""
        where = ", ".join(self.nodes[:limit]) + (
            f" (+{len(self.nodes) - limit} more)" if len(self.nodes) > limit else ""
        )
        text = f"{self.construct}" + (f" at {where}" if where else "")
        return text + (f": {self.fix}" if self.fix else "")


class _Collector:
    """Groups node names under one (construct, fix, stage) key, in first-seen order."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str | None, str], list[str]] = {}

    def add(self, construct: str, node: str, fix: str | None, stage: str = "converter") -> None:
        self.groups.setdefault((construct, fix, stage), []).append(node)

    def blockers(self) -> list[Blocker]:
        return [Blocker(c, tuple(n), f, s) for (c, f, s), n in self.groups.items()]


def find_blockers(index: GraphIndex) -> list[Blocker]:
    """Every construct that stops the converter or the official checker, grouped by kind."""
    found = _Collector()
    known = set(index.initializers)  # what generators can read while writing code
    module_names: dict[str, str] = {}
    for position, node in enumerate(index.nodes):
        name, op = index.node_name(position), index.ops[position]
        outputs = index.node_outputs[position]
        _check_op(found, op, node.domain, name)
        _check_names(found, index.node_inputs[position], outputs, name)
        if op in _GENERATION_OPS:
            _check_generation_inputs(found, index, position, known, name)
        if op in _MODULE_OPS and node.name:
            attr = "n_" + _SANITISE.sub("_", node.name)
            if attr in module_names:
                found.add("two nodes become the same module attribute", name, _RENAME)
            module_names[attr] = name
        if op == "Constant":
            known.update(o for o in outputs if o)
    _check_fixed_batch_reshape(found, index)
    _check_checker(found, index)
    return found.blockers()


def _check_fixed_batch_reshape(found: _Collector, index: GraphIndex) -> None:
    """The converter rewrites symbolic dims to -1 and runs onnxruntime's symbolic shape inference,
    which asserts when a Reshape's constant shape fixes the batch (-1 merged with 1): without
    shapes, the first Conv, pool or norm generator after it stops."""
    dims = index.inputs[0].type.tensor_type.shape.dim if index.inputs else []
    if not dims or (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
        return
    for position, op in enumerate(index.ops):
        inputs = index.node_inputs[position]
        shape = index.initializers.get(inputs[1]) if op == "Reshape" else None
        if shape is None or shape.data_type != 7 or not shape.dims or shape.dims[0] < 2:
            continue
        if int(numpy_helper.to_array(shape)[0]) > 0:
            found.add(
                "Reshape fixes the batch while the input's batch is dynamic (the converter's "
                "shape inference fails)",
                index.node_name(position),
                "flatten with torch.flatten(x, 1) or x.view(x.size(0), -1)",
            )


_RENAME = "give nodes and tensors unique names made of letters, digits and underscores"


def _check_op(found: _Collector, op: str, domain: str, name: str) -> None:
    if domain not in ("", "ai.onnx"):
        found.add(f"no converter for {domain}.{op}", name, _DOMAIN_FIX)
    elif op not in CONVERTIBLE_OPS:
        fix = _FIXES.get(op)
        if fix is None and ("Quantize" in op or op.startswith(("QLinear", "ConvInteger"))):
            fix = _QUANT_FIX
        elif fix is None and op.startswith("Random"):
            fix = _RANDOM_FIX
        found.add(f"no converter for {op}", name, fix)


def _check_names(
    found: _Collector, inputs: tuple[str, ...], outputs: tuple[str, ...], name: str
) -> None:
    names = inputs + outputs
    if "" in names:
        found.add(
            "empty optional input (the converter cannot name it)",
            name,
            "give the optional input a constant, or export with an opset whose form has none",
        )
    for tensor in names:
        if tensor and not _is_variable(tensor):
            found.add(f"tensor name {tensor!r} is not a Python identifier", name, _RENAME)


def _is_variable(tensor: str) -> bool:
    if tensor.isascii() and tensor.isidentifier():  # most names: nothing to sanitise
        return not keyword.iskeyword(tensor) and tensor not in ("self", "inputs")
    text = _SANITISE.sub("_", tensor)
    text = f"t_{text}" if text[:1].isnumeric() else text
    return text.isidentifier() and not keyword.iskeyword(text) and text not in ("self", "inputs")


def _check_generation_inputs(
    found: _Collector, index: GraphIndex, position: int, known: set[str], name: str
) -> None:
    node = index.nodes[position]
    inputs = list(node.input)
    for slot, what in _GENERATION_TIME.get(node.op_type, {}).items():
        if slot < len(inputs) and inputs[slot] and inputs[slot] not in known:
            found.add(
                f"{node.op_type} {what} computed in the graph",
                name,
                "export with do_constant_folding=True so it is an initializer "
                "(no Identity or ConstantOfShape in front of it)",
            )
    if node.op_type == "Constant" and not any(a.name == "value" for a in node.attribute):
        found.add("Constant without a tensor 'value'", name, "store the constant as a tensor")
    if node.op_type == "Gemm" and len(inputs) < 3:
        found.add("Gemm without a bias input", name, "use bias=True in nn.Linear, or MatMul")
    if node.op_type == "Resize" and len(inputs) == 3 and inputs[2] and inputs[2] not in known:
        found.add("Resize scales computed in the graph", name, "use a constant scale_factor")
    if node.op_type == "Slice" and len(inputs) > 2:
        constant = [bool(inputs[i]) and inputs[i] in known for i in (1, 2)]
        if constant[0] != constant[1]:
            found.add(
                "Slice with constant starts but computed ends (or the reverse)",
                name,
                "slice with constant bounds, or make both bounds computed",
            )


def _check_checker(found: _Collector, index: GraphIndex) -> None:
    outputs = [o.name for o in index.graph.output]
    if len(outputs) > 1:
        found.add(
            f"{len(outputs)} graph outputs (the converted forward returns a dict; "
            "check_model.py calls output.numel())",
            ", ".join(outputs[:4]),
            "export only the logits",
            "checker",
        )
    types = _constant_types(index)
    if not any(t in FLOAT_TYPES for t in types.values()) and not _has_module_weights(index):
        found.add(
            "no trainable parameter (DistributedDataParallel refuses such a module)",
            "",
            "keep at least one float weight in the model",
            "checker",
        )
    integer = [n for n in _forward_parameters(index) if types.get(n, 1) not in FLOAT_TYPES]
    if integer:
        found.add(
            "non-float tensors kept as parameters: ptflops builds its input with the dtype "
            "of the first parameter, which the converter loads in file-system order",
            ", ".join(integer[:4]) + (f" (+{len(integer) - 4} more)" if len(integer) > 4 else ""),
            "fold shape arithmetic into constants the converter reads at generation time "
            "(e.g. torch.flatten instead of view with computed sizes)",
            "checker",
        )


def _constant_types(index: GraphIndex) -> dict[str, int]:
    types = {name: t.data_type for name, t in index.initializers.items()}
    for position in _constant_nodes(index):
        node = index.nodes[position]
        if node.output:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            types[node.output[0]] = value.data_type if value is not None else 0
    return types


def _has_module_weights(index: GraphIndex) -> bool:
    return any(op in ("Conv", "ConvTranspose", "BatchNormalization") for op in index.ops)


def _forward_parameters(index: GraphIndex) -> list[str]:
    """Constants the generated forward() reads as ``self._vars[...]`` (so they stay parameters)."""
    constants = set(index.initializers) | {
        index.node_outputs[p][0] for p in _constant_nodes(index) if index.node_outputs[p]
    }
    used: dict[str, None] = {}
    for op, inputs in zip(index.ops, index.node_inputs, strict=True):
        skip = _NOT_IN_FORWARD.get(op, set())
        for slot, name in enumerate(inputs):
            if name in constants and slot not in skip:
                used[name] = None
    return list(used)


def _constant_nodes(index: GraphIndex) -> list[int]:
    return [p for p, op in enumerate(index.ops) if op == "Constant"]


@dataclass(frozen=True)
class PlatformPrediction:
    """The official ONNX route's outcome: its multiply-add figure (None when the converter stops)
    and every blocking construct; ``module_macs`` is what the modules would count regardless."""

    macs: int | None
    module_macs: int
    blockers: tuple[Blocker, ...]

    @property
    def converts(self) -> bool:
        """True when the converter itself has nothing to stop at."""
        return not any(b.stage == "converter" for b in self.blockers)


def predict_platform(index: GraphIndex, module_macs: int) -> PlatformPrediction:
    """Combine the per-node ``platform`` total with the graph-level blockers."""
    blockers = tuple(find_blockers(index))
    converts = not any(b.stage == "converter" for b in blockers)
    return PlatformPrediction(module_macs if converts else None, module_macs, blockers)
