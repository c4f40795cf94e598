"""The ensemble analysis and the ``ensemble`` check.

The corpus (tests/fixtures/ensembles/manifest.json, built by tools/build_ensemble_corpus.py)
holds ensembles of every construction the rule must catch, multi-view (TTA) models, and single
architectures it must not flag, each with its expected verdict. Small graphs built here pin the
behaviours the corpus does not isolate.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from validator import validate
from validator.findings import Status
from validator.graph.analysis import analyse
from validator.graph.ensemble import EnsembleEvidence, EnsembleVerdict, detect_ensemble
from validator.vocab import MacsConvention

from . import ensemble_builders as builders

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "ensembles"
MANIFEST: dict[str, dict[str, str]] = json.loads((CORPUS / "manifest.json").read_text())
CLASSES = 100


def detect(model: onnx.ModelProto) -> EnsembleEvidence:
    return detect_ensemble(analyse(model), CLASSES, MacsConvention.PTFLOPS)


def corpus(file: str) -> onnx.ModelProto:
    return onnx.load(str(CORPUS / file))


@pytest.mark.parametrize("file", sorted(MANIFEST))
def test_corpus_verdict(file: str) -> None:
    evidence = detect(corpus(file))
    assert evidence.verdict.value == MANIFEST[file]["expected"], evidence.reason


def _renamed(model: onnx.ModelProto, seed: int) -> onnx.ModelProto:
    """Every node and tensor renamed at random (graph input/output included)."""
    rng = random.Random(seed)
    graph = model.graph
    names: dict[str, str] = {}

    def new(name: str) -> str:
        if name and name not in names:
            names[name] = f"t{rng.getrandbits(48):012x}"
        return names.get(name, name)

    for node in graph.node:
        node.name = f"n{rng.getrandbits(48):012x}" if rng.random() < 0.9 else ""
        node.input[:] = [new(n) for n in node.input]
        node.output[:] = [new(n) for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        value.name = new(value.name)
    return model


@pytest.mark.parametrize("file", sorted(f for f in MANIFEST if not f.startswith("..")))
def test_verdict_does_not_depend_on_names(file: str) -> None:
    evidence = detect(_renamed(corpus(file), seed=len(file)))
    assert evidence.verdict.value == MANIFEST[file]["expected"]


def test_corpus_covers_what_the_rule_promises() -> None:
    expected = [entry["expected"] for entry in MANIFEST.values()]
    constructions = {e["construction"] for e in MANIFEST.values() if e["expected"] == "ensemble"}
    assert len(constructions) >= 12
    assert expected.count("single") >= 15
    assert "multi-view" in expected
    assert sum("dynamo" in e["exporter"] for e in MANIFEST.values()) >= 2


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        ("ens_avg_logits_golden.onnx", "mean of member scores"),
        ("ens_softmax_avg_dynamo.onnx", "mean of member probabilities"),
        ("ens_weighted_const.onnx", "weighted mean"),
        ("ens_hard_vote.onnx", "hard voting"),
        ("ens_max_stacked.onnx", "maximum over members"),
        ("ens_max_elementwise_dynamo.onnx", "maximum over members"),
        ("ens_stacking_gemm.onnx", "learned stacking"),
        ("ens_golden_geomean.onnx", "probabilities"),
        ("ens_grouped_packed.onnx", "mean"),
        ("tta_batch_flip.onnx", "views stacked in the batch"),
    ],
)
def test_fusion_kind_names_the_combination(file: str, kind: str) -> None:
    fusion = detect(corpus(file)).fusion
    assert fusion is not None and kind in fusion.kind


def test_ensemble_evidence_names_members_and_fusion() -> None:
    evidence = detect(corpus("ens_avg_logits_golden.onnx"))
    ends = sorted(m.ends[0] for m in evidence.members)
    assert ends == ["a//fc/Gemm", "b//classifier/classifier.1/Gemm"]
    assert sorted(m.starts[0] for m in evidence.members) == [
        "a//conv1/Conv", "b//features/features.0/features.0.0/Conv"]  # fmt: skip
    shares = sorted(round(m.share, 2) for m in evidence.members)
    assert shares == [0.14, 0.86]  # mobilenet_v2 0.30 G next to resnet18 1.81 G
    assert evidence.fusion is not None and evidence.fusion.nodes == ("fuse_add",)
    assert evidence.fusion.ops == ("Add", "Div")
    assert evidence.models == 2


def test_shared_stem_is_reported_as_shared_work() -> None:
    evidence = detect(corpus("ens_shared_stem.onnx"))
    assert evidence.verdict is EnsembleVerdict.ENSEMBLE
    assert all("features of shared node '/stem/" in m.view for m in evidence.members)
    assert 0.0 < evidence.shared_share < 0.1


def test_members_fed_preprocessed_copies_say_how() -> None:
    views = sorted(m.view for m in detect(corpus("ens_preprocessed_inputs.onnx")).members)
    assert views[0].startswith("crop (Slice")
    assert views[1] == "resize to 160x160 (Resize '/Resize')"
    assert views[2] == "the input as is"


def test_same_architecture_with_distinct_weights_is_called_out() -> None:
    for file in ("ens_same_arch_golden_twins.onnx", "ens_same_arch_real_weights.onnx"):
        evidence = detect(corpus(file))
        assert evidence.verdict is EnsembleVerdict.ENSEMBLE
        assert "identical layer shapes" in evidence.reason


def test_tta_of_one_model_next_to_another_counts_two_models() -> None:
    evidence = detect(corpus("ens_tta_plus_model.onnx"))
    assert evidence.verdict is EnsembleVerdict.ENSEMBLE
    assert len(evidence.members) == 3 and evidence.models == 2
    assert any("horizontal flip" in m.view for m in evidence.members)


@pytest.mark.parametrize(
    "file", ["tta_flip.onnx", "tta_golden_resnet18.onnx", "tta_duplicated_real_weights.onnx"]
)
def test_flip_tta_is_one_model_with_a_flipped_view(file: str) -> None:
    evidence = detect(corpus(file))
    assert evidence.verdict is EnsembleVerdict.MULTI_VIEW
    assert evidence.models == 1
    assert sorted(m.view.split(" (")[0] for m in evidence.members) == [
        "horizontal flip", "the input as is"]  # fmt: skip


def test_packed_networks_are_split_by_channel_block() -> None:
    evidence = detect(corpus("ens_grouped_packed.onnx"))
    assert [m.ends[0] for m in evidence.members] == [
        "/head/Conv channels 0-99", "/head/Conv channels 100-199"]  # fmt: skip
    assert all(m.share == pytest.approx(0.5, abs=0.01) for m in evidence.members)
    three = detect(corpus("ens_grouped_packed_split_heads.onnx"))
    assert three.models == 3 and three.shared_share > 0.05  # the dense stem is shared


def test_late_feature_fusion_passes_with_a_note() -> None:
    evidence = detect(corpus("single_two_stream_features.onnx"))
    assert evidence.verdict is EnsembleVerdict.SINGLE
    assert len(evidence.notes) == 1 and "2 separate feature extractors" in evidence.notes[0]
    for file in ("single_fpn_fusion.onnx", "../golden/inception_v3.onnx"):
        assert detect(corpus(file)).notes == ()  # branches of one backbone are not separate


def test_features_concatenated_into_grouped_layers_are_separate_members() -> None:
    evidence = detect(corpus("ens_concat_features_grouped.onnx"))
    assert "concatenated along channels" in evidence.reason
    assert sorted(m.ends[0] for m in evidence.members) == [
        "/a/a.1/a.1.2/Relu", "/b/b.2/b.2.2/Relu"]  # fmt: skip
    assert evidence.models == 2


def test_single_with_two_heads_explains_the_shared_trunk() -> None:
    evidence = detect(corpus("single_multi_exit_dynamo.onnx"))
    assert evidence.verdict is EnsembleVerdict.SINGLE
    assert "2 class-sized heads share one trunk" in evidence.reason


# --- small graphs built here -------------------------------------------------------------------


class Graph:
    """A tiny graph builder: convolutions with zero-filled weights on a 1x3x224x224 input."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def weight(self, shape: list[int]) -> str:
        name = self.name("w")
        self.inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), name))
        return name

    def op(self, op: str, inputs: list[str], **attrs: object) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name("node"), **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, stride: int = 2, group: int = 1) -> str:
        w = self.weight([cout, cin // group, 3, 3])
        y = self.op("Conv", [x, w], strides=[stride] * 2, pads=[1] * 4, group=group)
        return self.op("Relu", [y])

    def head(self, x: str, channels: int) -> str:
        flat = self.op("Flatten", [self.op("GlobalAveragePool", [x])])
        return self.op("Gemm", [flat, self.weight([CLASSES, channels])], transB=1)

    def member(self, x: str, widths: tuple[int, ...], cin: int = 3) -> str:
        for w in widths:
            x, cin = self.conv(x, cin, w), w
        return self.head(x, cin)

    def model(self, output: str, output_dims: list[int] | None = None) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [output], ["output"], name="out"))
        graph = helper.make_graph(
            self.nodes, "g",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                           output_dims or [1, CLASSES])],
            self.inits,
        )  # fmt: skip
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_members_reading_the_input_shape_stay_separate() -> None:
    """Shape arithmetic carries no image data: Shape(input) read by both members joins nothing."""
    g = Graph()
    g.inits += [numpy_helper.from_array(np.array(v, np.int64), n)
                for n, v in (("zero", [0]), ("minus_one", [-1]))]  # fmt: skip
    batch = g.op("Gather", [g.op("Shape", ["input"]), "zero"], axis=0)
    target = g.op("Concat", [batch, "minus_one"], axis=0)  # [N, -1], as exporters write it
    heads = []
    for widths in ((8, 16), (16, 32, 32)):
        x, cin = "input", 3
        for w in widths:
            x, cin = g.conv(x, cin, w), w
        flat = g.op("Reshape", [g.op("GlobalAveragePool", [x]), target])
        heads.append(g.op("Gemm", [flat, g.weight([CLASSES, cin])], transB=1))
    assert detect(g.model(g.op("Add", heads))).verdict is EnsembleVerdict.ENSEMBLE


@pytest.mark.parametrize("stages", [1, 3])
def test_streams_with_lateral_connections_are_one_network(stages: int) -> None:
    """Two streams whose second reads the first at every stage (SlowFast-style lateral links)
    interact all along: one network, even with one head per stream."""
    g = Graph()
    a, b = g.conv("input", 3, 16), g.conv("input", 3, 16)
    for _ in range(stages):
        a, b = g.conv(g.op("Add", [a, b]), 16, 16), g.conv(b, 16, 16)
    logits = g.op("Add", [g.head(g.op("Add", [a, b]), 16), g.head(b, 16)])
    assert detect(g.model(logits)).verdict is EnsembleVerdict.SINGLE


def test_streams_that_meet_only_early_then_split_are_members() -> None:
    """Mixing in the first layers, then two separate networks to two heads: a shared stem."""
    g = Graph()
    stem = g.op("Add", [g.conv("input", 3, 16), g.conv("input", 3, 16)])
    heads = [g.member(stem, (32, 64), cin=16), g.member(stem, (24, 48, 96), cin=16)]
    assert detect(g.model(g.op("Add", heads))).verdict is EnsembleVerdict.ENSEMBLE


def test_a_small_network_next_to_a_big_one_is_a_member() -> None:
    """Under 1 % of the work, but a network of its own (three weighted layers) with its own head."""
    g = Graph()
    big, small = g.member("input", (64, 128, 256)), g.member("input", (4, 8))
    evidence = detect(g.model(g.op("Add", [big, small])))
    assert evidence.verdict is EnsembleVerdict.ENSEMBLE
    assert min(m.share for m in evidence.members) < 0.01


def test_a_negligible_side_path_is_not_a_member() -> None:
    """A linear layer on the pooled input added to a CNN's logits holds no real work."""
    g = Graph()
    cnn = g.member("input", (32, 64, 128))
    side = g.head("input", 3)
    assert detect(g.model(g.op("Add", [cnn, side]))).verdict is EnsembleVerdict.SINGLE


def _packed(gate: bool = False, mix: bool = False) -> onnx.ModelProto:
    g = Graph()
    x = g.op("Concat", ["input", "input"], axis=1)
    x = g.conv(x, 6, 32, group=2)
    x = g.conv(x, 32, 64, group=2)
    if gate:  # squeeze-excite whose dense layers see both halves
        s = g.conv(g.op("GlobalAveragePool", [x]), 64, 64, stride=1)
        x = g.op("Mul", [x, g.op("Sigmoid", [s])])
    x = g.conv(x, 64, 64, group=1 if mix else 2)
    scores = g.op("Conv", [x, g.weight([2 * CLASSES, 32, 1, 1])], group=2)
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [scores])])
    g.inits.append(numpy_helper.from_array(np.array([1, 2, CLASSES], np.int64), "stack"))
    stacked = g.op("Reshape", [pooled, "stack"])
    return g.model(g.op("ReduceMean", [stacked], axes=[1], keepdims=0))


@pytest.mark.parametrize(
    ("kwargs", "verdict"),
    [
        ({}, EnsembleVerdict.ENSEMBLE),
        ({"gate": True}, EnsembleVerdict.SINGLE),  # the gate mixes the halves
        ({"mix": True}, EnsembleVerdict.SINGLE),  # a dense conv mixes the halves
    ],
)
def test_packed_halves_must_never_mix(kwargs: dict[str, bool], verdict: EnsembleVerdict) -> None:
    assert detect(_packed(**kwargs)).verdict is verdict


# --- the check ---------------------------------------------------------------------------------


def _function(name: str, widths: tuple[int, ...]) -> onnx.FunctionProto:
    body = Graph()
    logits = body.member("x", widths)
    consts = [helper.make_node("Constant", [], [t.name], value=t) for t in body.inits]
    return helper.make_function(
        "local", name, ["x"], [logits], consts + body.nodes, [helper.make_opsetid("", 17)]
    )


def _functions_ensemble() -> onnx.ModelProto:
    """Two members hidden in model-local functions, averaged."""
    functions = [_function("MemberA", (8, 16)), _function("MemberB", (16, 32, 32))]
    nodes = [
        helper.make_node("MemberA", ["input"], ["a"], domain="local", name="m1"),
        helper.make_node("MemberB", ["input"], ["b"], domain="local", name="m2"),
        helper.make_node("Add", ["a", "b"], ["output"], name="fuse"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", CLASSES])])  # fmt: skip
    return helper.make_model(
        graph, functions=functions,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])  # fmt: skip


def _saved(tmp_path: Path, model: onnx.ModelProto) -> Path:
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("file", "status", "words"),
    [
        (
            "ens_stack_reducemean.onnx",
            Status.FAIL,
            ["ensemble of 2", "'/a/fc/Gemm'", "'/b/fc/Gemm'", "fused at '/Concat'"],
        ),
        ("tta_flip.onnx", Status.WARN, ["multi-view", "horizontal flip", "not a failure"]),
        ("single_fpn_fusion.onnx", Status.PASS, ["single network", "'/fc/Gemm'"]),
    ],
)
def test_check_status_and_message(file: str, status: Status, words: list[str]) -> None:
    report = validate(CORPUS / file, "final", select=["ensemble"])
    finding = report.get("ensemble")
    assert finding is not None and finding.status is status, finding
    for word in words:
        assert word in finding.message
    assert finding.details["verdict"] == MANIFEST[file]["expected"]
    assert set(finding.details) >= {"verdict", "members", "fusion"}
    assert report.verdict.value == ("fail" if status is Status.FAIL else "pass")


def test_check_looks_inside_model_local_functions(tmp_path: Path) -> None:
    finding = validate(_saved(tmp_path, _functions_ensemble()), "final",
                       select=["ensemble"]).get("ensemble")  # fmt: skip
    assert finding is not None and finding.status is Status.FAIL
    assert finding.details["models"] == 2


# --- packed networks and fusions built in code (tests/unit/ensemble_builders.py) ---------------


@pytest.mark.parametrize(
    ("build", "evidence_of_weights"),
    [
        (lambda: builders.packed_in_weights(2), True),
        (lambda: builders.packed_in_weights(3, residual=False), True),
        (lambda: builders.packed_grouped_head_folded(2), False),
        (lambda: builders.packed_grouped_dense_head(2), False),
    ],
    ids=["weights-only", "weights-only-3", "grouped-head-folded-mean", "grouped-dense-head"],
)
def test_channel_partitions_that_never_interact_are_an_ensemble(
    build: Any, evidence_of_weights: bool
) -> None:
    evidence = detect(build())
    assert evidence.verdict is EnsembleVerdict.ENSEMBLE, evidence.reason
    assert len(evidence.members) >= 2
    assert all(" channels " in m.ends[0] for m in evidence.members)
    assert ("exactly zero" in evidence.reason) is evidence_of_weights
    assert evidence.fusion is not None and "final layer" in evidence.fusion.kind
    renamed = detect(_renamed(build(), seed=7))
    assert renamed.verdict is EnsembleVerdict.ENSEMBLE


@pytest.mark.parametrize(
    "kwargs", [{}, {"groups": 4}, {"prune": True}, {"groups": 2, "prune": True}]
)
def test_single_networks_with_real_weights_are_not_packed(kwargs: dict[str, Any]) -> None:
    evidence = detect(builders.single_real_weights(**kwargs))
    assert evidence.verdict is EnsembleVerdict.SINGLE, evidence.reason


def test_packed_members_need_separate_nonzero_blocks() -> None:
    model = builders.packed_in_weights(2)
    for tensor in model.graph.initializer:  # a weight-free copy: nothing shows the blocks
        array = numpy_helper.to_array(tensor)
        tensor.CopyFrom(numpy_helper.from_array(np.zeros_like(array), tensor.name))
    assert detect(model).verdict is EnsembleVerdict.SINGLE


@pytest.mark.parametrize(
    ("fusion", "kind"),
    [
        ("median", "median of member scores"),
        ("product", "product of member probabilities"),
        ("selection", "selection"),
        ("einsum-mean", "mean of member scores (equal constant weights in Einsum"),
        ("matmul-weighted", "weighted mean of member scores (constant weights in MatMul"),
    ],
)
def test_fusion_is_named_precisely(fusion: str, kind: str) -> None:
    evidence = detect(builders.fused_branches(fusion))
    assert evidence.verdict is EnsembleVerdict.ENSEMBLE
    assert evidence.fusion is not None and evidence.fusion.kind.startswith(kind)


def test_member_fed_a_grey_scale_input_says_so() -> None:
    views = sorted(m.view for m in detect(builders.fused_branches("grey")).members)
    assert views[0].startswith("grey-scale (ReduceMean")
    assert views[1] == "the input as is"
