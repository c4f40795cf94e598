"""Export weight-free ONNX fixtures of real torchvision architectures.

Development script only: it needs torch, torchvision and (optionally) ptflops 0.6.8,
none of which the validator itself depends on.

For every architecture in ``ARCHS`` it:

1. builds the torchvision model with random (seeded) weights in eval mode,
2. exports it with torch's classic TorchScript-based ONNX exporter (``dynamo=False``):
   opset 17, input ``input`` / output ``output``, dynamic batch axis ``N``, input
   1x3x224x224, constant folding on, BatchNorm folded into the convolutions (except for
   the ``resnet50_bn`` variant, which keeps ``BatchNormalization`` nodes),
3. checks the full-weight ONNX model against torch with onnxruntime (batch 1 and 2),
4. strips the weights: every floating-point initializer or ``Constant`` with more than
   one element becomes a ``ConstantOfShape`` (value 0.0) fed by an int64 shape
   initializer, keeping the tensor's name, dtype and shape (like onnx's "light" models),
   and drops all ``value_info``,
5. checks the stripped model (onnx checker, onnxruntime batch 1 and 2, output [N, classes])
   and writes it to ``<out>/<name>.onnx``,
6. records the published figures (torchvision weights meta, torch parameter count,
   ptflops 0.6.8 multiply-adds) in ``<out>/published.json``.

Usage (from the repository root)::

    pip install --no-deps --target /tmp/ptflops_068 ptflops==0.6.8
    python tools/export_golden.py --ptflops-path /tmp/ptflops_068
    python tools/export_golden.py --only resnet18 swin_t
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import io
import json
import math
import sys
import types
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

SEED = 20220620
OPSET = 17
INPUT_SIZE = 224
PTFLOPS_VERSION = "0.6.8"
FLOAT_TYPES = {
    TensorProto.FLOAT,
    TensorProto.FLOAT16,
    TensorProto.DOUBLE,
    TensorProto.BFLOAT16,
}
DEFAULT_OUT = Path("tests/fixtures/golden")


@dataclass(frozen=True)
class ArchSpec:
    """One fixture: which torchvision builder, with which arguments, exported how."""

    name: str
    arch: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    fold_bn: bool = True
    notes: str | None = None

    @property
    def num_classes(self) -> int:
        """Number of output classes of the built model."""
        return int(self.kwargs.get("num_classes", 1000))


_INCEPTION_KW = {"aux_logits": False, "init_weights": True}
ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in [
        ArchSpec("resnet18", "resnet18"),
        ArchSpec("resnet50", "resnet50"),
        ArchSpec("resnet101", "resnet101"),
        ArchSpec("wide_resnet50_2", "wide_resnet50_2"),
        ArchSpec("resnext50_32x4d", "resnext50_32x4d"),
        ArchSpec("vgg16", "vgg16"),
        ArchSpec("mobilenet_v2", "mobilenet_v2"),
        ArchSpec("mobilenet_v3_small", "mobilenet_v3_small"),
        ArchSpec("efficientnet_b0", "efficientnet_b0"),
        ArchSpec("densenet121", "densenet121"),
        ArchSpec("convnext_tiny", "convnext_tiny"),
        ArchSpec("swin_t", "swin_t"),
        ArchSpec("vit_b_16", "vit_b_16"),
        ArchSpec("googlenet", "googlenet", dict(_INCEPTION_KW)),
        ArchSpec(
            "inception_v3",
            "inception_v3",
            dict(_INCEPTION_KW),
            notes="exported at 224x224; torchvision's published _ops are for 299x299 "
            "and its num_params include the auxiliary classifier",
        ),
        ArchSpec("squeezenet1_0", "squeezenet1_0"),
        ArchSpec("shufflenet_v2_x1_0", "shufflenet_v2_x1_0"),
        ArchSpec(
            "convnext_tiny_100",
            "convnext_tiny",
            {"num_classes": 100},
            notes="100-class head; torchvision_* figures are those of the 1000-class model",
        ),
        ArchSpec(
            "resnet50_bn",
            "resnet50",
            fold_bn=False,
            notes="BatchNormalization nodes kept (TrainingMode.PRESERVE on an eval model, "
            "no constant folding)",
        ),
    ]
}


# --------------------------------------------------------------------------- torch side


def import_torchvision() -> types.ModuleType:
    """Import torchvision without its compiled ops (they do not load with this torch)."""
    stub = "torchvision._meta_registrations"
    sys.modules.setdefault(stub, types.ModuleType(stub))
    import torchvision

    return torchvision


def perturb_tensors(model: torch.nn.Module, seed: int) -> None:
    """Give every float parameter/buffer distinct, plausible values (seeded).

    Freshly initialised models have many identical tensors (zero biases, unit BN
    statistics) that the exporter would deduplicate into ``Identity`` nodes, which
    trained models never show. Running variances are kept positive.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            else:
                tensor.add_(0.01 * torch.randn(tensor.shape, generator=gen))


def build_model(spec: ArchSpec, seed: int = SEED) -> torch.nn.Module:
    """Build the torchvision model of ``spec`` with seeded random weights, in eval mode."""
    models = import_torchvision().models
    torch.manual_seed(seed)
    model = getattr(models, spec.arch)(weights=None, **spec.kwargs)
    perturb_tensors(model, seed)
    return model.eval()


def export_onnx(model: torch.nn.Module, spec: ArchSpec) -> onnx.ModelProto:
    """Export ``model`` with the classic (TorchScript) exporter and return the proto."""
    mode = torch.onnx.TrainingMode.EVAL if spec.fold_bn else torch.onnx.TrainingMode.PRESERVE
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
            training=mode,
            do_constant_folding=spec.fold_bn,
        )
    return onnx.load_from_string(buf.getvalue())


def torch_params(model: torch.nn.Module) -> int:
    """Sum of ``numel`` over the model's parameters (trainable tensors)."""
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- stripping


def _zero_filler(name: str, tensor: TensorProto, used: set[str]) -> tuple[TensorProto, Any]:
    """Return (int64 shape initializer, ConstantOfShape node) recreating ``tensor`` as zeros."""
    shape_name = f"{name}__shape"
    while shape_name in used:
        shape_name += "_"
    used.add(shape_name)
    shape = numpy_helper.from_array(np.array(tensor.dims, dtype=np.int64), shape_name)
    zero = helper.make_tensor("value", tensor.data_type, [1], [0])
    node = helper.make_node(
        "ConstantOfShape", [shape_name], [name], name=f"{name}__zeros", value=zero
    )
    return shape, node


def _is_strippable(tensor: TensorProto) -> bool:
    """True for floating-point tensors with more than one element."""
    return tensor.data_type in FLOAT_TYPES and math.prod(tensor.dims) > 1


def _all_names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor and node name used in ``graph`` (top level)."""
    names = {t.name for t in graph.initializer} | {i.name for i in graph.input}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        names.add(node.name)
    return names


def _strip_initializers(graph: onnx.GraphProto, used: set[str]) -> list[Any]:
    """Replace big float initializers in place; return the ConstantOfShape nodes to prepend."""
    kept, shapes, nodes = [], [], []
    for init in graph.initializer:
        if _is_strippable(init):
            shape, node = _zero_filler(init.name, init, used)
            shapes.append(shape)
            nodes.append(node)
        else:
            kept.append(init)
    stripped = {node.output[0] for node in nodes}
    inputs = [i for i in graph.input if i.name not in stripped]
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.initializer[:]
    graph.initializer.extend(kept + shapes)
    return nodes


def _strip_constant_nodes(graph: onnx.GraphProto, used: set[str]) -> list[Any]:
    """Return the node list with big float ``Constant`` nodes turned into ConstantOfShape."""
    out = []
    for node in graph.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        if node.op_type == "Constant" and value is not None and _is_strippable(value):
            shape, filler = _zero_filler(node.output[0], value, used)
            graph.initializer.append(shape)
            out.append(filler)
        else:
            out.append(node)
    return out


def strip_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a weight-free copy of ``model`` (see module docstring) without value_info."""
    stripped = copy.deepcopy(model)
    graph = stripped.graph
    if any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for n in graph.node
        for a in n.attribute
    ):
        raise ValueError("subgraphs are not supported by the stripper")
    used = _all_names(graph)
    fillers = _strip_initializers(graph, used)
    nodes = fillers + _strip_constant_nodes(graph, used)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    onnx.checker.check_model(stripped, full_check=True)
    return stripped


# --------------------------------------------------------------------------- verification


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    """A single-threaded CPU onnxruntime session for ``model``."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _batch(n: int, seed: int = SEED) -> np.ndarray:
    """A deterministic input batch of pixels in [0, 1]."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)


def check_against_torch(model: onnx.ModelProto, torch_model: torch.nn.Module) -> float:
    """Run the full-weight ONNX model on batches of 1 and 2; return max |ort - torch|."""
    sess = _session(model)
    worst = 0.0
    for n in (1, 2):
        x = _batch(n)
        (got,) = sess.run(["output"], {"input": x})
        with torch.no_grad():
            want = torch_model(torch.from_numpy(x)).numpy()
        scale = max(1.0, float(np.abs(want).max()))
        worst = max(worst, float(np.abs(got - want).max()) / scale)
    if worst > 1e-3:
        raise AssertionError(f"onnxruntime disagrees with torch: rel. error {worst:.2e}")
    return worst


def check_stripped(model: onnx.ModelProto, num_classes: int) -> None:
    """Run the stripped model on batches of 1 and 2 and check the output shape."""
    sess = _session(model)
    for n in (1, 2):
        (out,) = sess.run(["output"], {"input": _batch(n)})
        if list(out.shape) != [n, num_classes]:
            raise AssertionError(f"output shape {out.shape}, expected {[n, num_classes]}")
        if not np.isfinite(out).all():
            raise AssertionError("stripped model produced non-finite output")


# --------------------------------------------------------------------------- published figures


def load_ptflops(path: str | None) -> Any | None:
    """Return ptflops' ``get_model_complexity_info`` if version 0.6.8 is importable."""
    if path:
        sys.path.insert(0, path)
    try:
        version = importlib.metadata.version("ptflops")
        from ptflops import get_model_complexity_info
    except (importlib.metadata.PackageNotFoundError, ImportError):
        print("warning: ptflops not importable; ptflops figures left null", file=sys.stderr)
        return None
    if version != PTFLOPS_VERSION:
        print(
            f"warning: ptflops {version} != {PTFLOPS_VERSION}; figures left null", file=sys.stderr
        )
        return None
    return get_model_complexity_info


def ptflops_macs(counter: Any | None, model: torch.nn.Module) -> tuple[int, int] | None:
    """(MACs, params) from ptflops on a copy of ``model``, or None without ptflops."""
    if counter is None:
        return None
    with torch.no_grad():
        macs, params = counter(
            copy.deepcopy(model),
            (3, INPUT_SIZE, INPUT_SIZE),
            as_strings=False,
            print_per_layer_stat=False,
        )
    return int(macs), int(params)


def bn_folded_macs(counter: Any | None, model: torch.nn.Module) -> int | None:
    """ptflops MACs after folding Conv+BatchNorm pairs with torch.fx (None if untraceable)."""
    if counter is None or not any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()
    ):
        return None
    from torch.fx.experimental.optimization import fuse

    try:
        fused = fuse(copy.deepcopy(model))
    except Exception as exc:  # tracing failures vary by architecture
        print(f"  note: BN folding by torch.fx failed: {type(exc).__name__}", file=sys.stderr)
        return None
    result = ptflops_macs(counter, fused)
    return None if result is None else result[0]


def weights_meta(arch: str) -> dict[str, Any]:
    """The ``meta`` dict of the IMAGENET1K_V1 (else first) weights of ``arch``."""
    enum = import_torchvision().models.get_model_weights(arch)
    weights = getattr(enum, "IMAGENET1K_V1", None) or next(iter(enum))
    return dict(weights.meta)


def fixture_stats(stripped: onnx.ModelProto, n_bytes: int) -> dict[str, Any]:
    """Size, node count and op-type histogram of a stripped fixture."""
    graph = stripped.graph
    ops = Counter(node.op_type for node in graph.node)
    shapes = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    fillers = [n for n in graph.node if n.name.endswith("__zeros")]
    return {
        "bytes": n_bytes,
        "nodes": len(graph.node),
        "zero_fillers": len(fillers),
        "zero_filled_elements": sum(int(np.prod(shapes[n.input[0]])) for n in fillers),
        "op_types": dict(sorted(ops.items())),
    }


def published_entry(spec: ArchSpec, model: torch.nn.Module, counter: Any | None) -> dict[str, Any]:
    """The published/reference figures recorded for one fixture."""
    meta = weights_meta(spec.arch)
    flops = ptflops_macs(counter, model)
    return {
        "file": f"{spec.name}.onnx",
        "arch": spec.arch,
        "num_classes": spec.num_classes,
        "torchvision_gmacs": meta["_ops"],
        "torchvision_params": meta["num_params"],
        "torch_params": torch_params(model),
        "ptflops_0_6_8_macs": None if flops is None else flops[0],
        "ptflops_0_6_8_params": None if flops is None else flops[1],
        "bn_folded_ptflops_macs": bn_folded_macs(counter, model),
        "bn_folded_in_onnx": spec.fold_bn,
        "source": "torchvision 0.28 weights meta",
        "notes": spec.notes,
    }


# --------------------------------------------------------------------------- driver


def check_bn_nodes(model: onnx.ModelProto, spec: ArchSpec) -> None:
    """Folded exports must have no BatchNormalization node; unfolded ones must have some."""
    has_bn = any(n.op_type == "BatchNormalization" for n in model.graph.node)
    if not spec.fold_bn and not has_bn:
        raise AssertionError(f"{spec.name}: expected BatchNormalization nodes")
    if spec.fold_bn and has_bn and spec.arch.startswith("resnet"):
        raise AssertionError(f"{spec.name}: BatchNormalization was not folded")


def make_fixture(spec: ArchSpec, out: Path, counter: Any | None) -> dict[str, Any]:
    """Build, export, verify, strip and write one fixture; return its published entry."""
    model = build_model(spec)
    full = export_onnx(model, spec)
    check_bn_nodes(full, spec)
    err = check_against_torch(full, model)
    stripped = strip_weights(full)
    check_stripped(stripped, spec.num_classes)
    data = stripped.SerializeToString()
    (out / f"{spec.name}.onnx").write_bytes(data)
    entry = published_entry(spec, model, counter)
    entry["fixture"] = fixture_stats(stripped, len(data))
    print(
        f"{spec.name}: {len(data)} bytes, {entry['fixture']['nodes']} nodes, "
        f"ort-vs-torch rel. err {err:.1e}, ptflops {entry['ptflops_0_6_8_macs']}"
    )
    return entry


def write_published(out: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Merge ``entries`` into ``<out>/published.json`` (kept in ``ARCHS`` order)."""
    path = out / "published.json"
    doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    models = {**doc.get("models", {}), **entries}
    doc = {
        "generated_by": "tools/export_golden.py",
        "versions": {
            "torch": torch.__version__,
            "torchvision": import_torchvision().__version__,
            "onnx": onnx.__version__,
            "ptflops": PTFLOPS_VERSION,
        },
        "input": [1, 3, INPUT_SIZE, INPUT_SIZE],
        "opset": OPSET,
        "models": {k: models[k] for k in [*ARCHS, *models] if k in models},
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(ARCHS),
        metavar="NAME",
        help=f"fixtures to (re)build; default all of: {', '.join(ARCHS)}",
    )
    parser.add_argument("--ptflops-path", help="folder to put first on sys.path for ptflops")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the requested fixtures and update published.json."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    counter = load_ptflops(args.ptflops_path)
    entries, failed = {}, []
    for name in args.only or list(ARCHS):
        try:
            entries[name] = make_fixture(ARCHS[name], args.out, counter)
        except Exception as exc:
            print(f"{name}: SKIPPED: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(name)
    write_published(args.out, entries)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
