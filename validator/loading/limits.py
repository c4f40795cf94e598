"""Structural limits checked at load, before any C++ code or analysis expands the model.

Opset imports: each domain once (onnx.checker accepts ``""`` twice, or ``""`` and its alias
``ai.onnx``; which version then applies depends on the reader). Model-local functions: a
function may call others, so a few kilobytes can define 2**40 nodes once inlined; shape
inference and onnxruntime both inline them, so the expanded size is computed here (a memoised
count over the call graph, without expanding anything) and refused above a cap.
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx

from validator.loading.errors import ModelLoadError, quote

MAX_EXPANDED_NODES = 1_000_000  # nodes added by inlining functions; real models add hundreds
FunctionKey = tuple[str, str, str]  # domain, name, overload
Sizes = dict[FunctionKey, int]


def check_opset_imports(proto: onnx.ModelProto) -> None:
    """Refuse a domain imported twice (``ai.onnx`` is the default domain ``""``)."""
    versions: dict[str, list[int]] = {}
    for opset in proto.opset_import:
        domain = "" if opset.domain == "ai.onnx" else opset.domain
        versions.setdefault(domain, []).append(int(opset.version))
    for domain, found in versions.items():
        if len(found) > 1:
            what = "the default-domain opset" if domain == "" else f"opset {quote(domain)}"
            listed = " and ".join(str(v) for v in found)
            raise ModelLoadError(
                f"{what} is imported twice (versions {listed}): which one applies is ambiguous"
            )


def check_function_expansion(proto: onnx.ModelProto) -> None:
    """Refuse model-local functions that call each other in a cycle or that, inlined, would
    add more than MAX_EXPANDED_NODES nodes."""
    if not proto.functions:
        return
    functions = {_key(f.domain, f.name, f.overload): f for f in proto.functions}
    sizes: Sizes = {}
    for key in functions:
        _expanded_size(key, functions, sizes)
    added = _graph_size([proto.graph], functions, sizes) - _plain_size([proto.graph])
    if added > MAX_EXPANDED_NODES:
        raise ModelLoadError(
            f"model-local functions expand to {added:,} more nodes (limit "
            f"{MAX_EXPANDED_NODES:,}): functions calling functions multiply; inline them"
        )


def _key(domain: str, name: str, overload: str) -> FunctionKey:
    return (domain, name, overload)


def _expanded_size(
    root: FunctionKey, functions: dict[FunctionKey, onnx.FunctionProto], sizes: Sizes
) -> int:
    """Nodes of function ``root`` once every call inside it is inlined (iterative DFS)."""
    stack, active = [root], {root}
    while stack:
        key = stack[-1]
        pending = [c for c in _callees(functions[key].node, functions) if c not in sizes]
        cycle = [c for c in pending if c in active]
        if cycle:
            raise ModelLoadError(
                f"model-local function {quote(cycle[0][1])} calls itself (recursive functions "
                "never finish expanding)"
            )
        if pending:
            stack.append(pending[0])
            active.add(pending[0])
            continue
        sizes[key] = min(_nodes_size(functions[key].node, functions, sizes), 2**63)
        stack.pop()
        active.discard(key)
    return sizes[root]


def _callees(
    nodes: Iterable[onnx.NodeProto], functions: dict[FunctionKey, onnx.FunctionProto]
) -> list[FunctionKey]:
    found = []
    for node in _all_nodes(nodes):
        key = _key(node.domain, node.op_type, node.overload)
        if key in functions:
            found.append(key)
    return found


def _nodes_size(
    nodes: Iterable[onnx.NodeProto], functions: dict[FunctionKey, onnx.FunctionProto], sizes: Sizes
) -> int:
    total = 0
    for node in _all_nodes(nodes):
        total += sizes.get(_key(node.domain, node.op_type, node.overload), 1)
    return total


def _graph_size(
    graphs: list[onnx.GraphProto], functions: dict[FunctionKey, onnx.FunctionProto], sizes: Sizes
) -> int:
    return _nodes_size((n for g in graphs for n in g.node), functions, sizes)


def _plain_size(graphs: list[onnx.GraphProto]) -> int:
    return sum(1 for g in graphs for _ in _all_nodes(g.node))


def _all_nodes(nodes: Iterable[onnx.NodeProto]) -> Iterable[onnx.NodeProto]:
    """``nodes`` and the nodes of their subgraphs (If/Loop/Scan bodies), iteratively."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                stack.extend(attr.g.node)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                stack.extend(n for g in attr.graphs for n in g.node)
