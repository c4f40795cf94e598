"""validator.loading.model: every hostile or malformed file becomes a one-line reason, never a
crash, nothing is unpickled or read outside the model's folder, and sound models load."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.conftest import (
    HOSTILE,
    MARKER,
    Hostile,
    nested_if_model,
    pickle_payload,
    save_model,
    tiny_classifier,
)
from validator.loading.model import ModelLoadError, iter_graphs, load_model


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.id)
def test_hostile_file_is_refused_with_a_one_line_reason(case: Hostile, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    with pytest.raises(ModelLoadError) as raised:
        load_model(path)
    reason = raised.value.reason
    assert "\n" not in reason
    assert len(reason) < 400
    for word in case.words:
        assert word in reason
    assert not list(tmp_path.rglob(MARKER)), "a pickle in the file was unpickled"


def test_pickle_payload_really_fires_when_unpickled(tmp_path: Path) -> None:
    # Guards the tests above: a marker that could never appear would prove nothing.
    pickle.loads(pickle_payload(tmp_path)).close()
    assert (tmp_path / MARKER).exists()


@pytest.mark.parametrize(
    "location",
    ["weights.bin", "data/weights.bin"],
    ids=["beside-the-model", "in-a-subfolder"],
)
def test_external_data_inside_the_folder_loads_and_is_counted(
    tmp_path: Path, location: str
) -> None:
    path = tmp_path / "model.onnx"
    (tmp_path / "data").mkdir()
    onnx.save_model(
        tiny_classifier(),
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    data_bytes = (tmp_path / location).stat().st_size
    model = load_model(path)
    assert data_bytes > 3000  # the classifier's 4 weights went out of the file
    assert model.external_data_bytes == data_bytes  # one shared file counted once
    assert model.total_bytes == path.stat().st_size + data_bytes
    external = [t for t in model.proto.graph.initializer if t.external_data]
    assert len(external) == 4
    assert all(not t.raw_data for t in external)  # verified, not loaded into memory


def test_loaded_model_reports_size_and_sha256(tmp_path: Path) -> None:
    path = save_model(tiny_classifier(), tmp_path / "model.onnx")
    model = load_model(path)
    assert model.file_bytes == path.stat().st_size
    assert model.external_data_bytes == 0
    assert model.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(model.proto.graph.node) == 5


def test_subgraphs_nested_below_the_limit_load(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(nested_if_model(20))
    model = load_model(path)
    assert max(depth for _, depth in iter_graphs(model.proto.graph)) == 20


def test_graph_of_200k_nodes_loads(chain_200k: Path) -> None:
    model = load_model(chain_200k)
    assert len(model.proto.graph.node) > 200_000


def _with_large_weight(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` plus an unused 2 MB float initializer, so the checker sees a light copy."""
    weight = numpy_helper.from_array(np.ones((512, 1024), np.float32), "big")
    model.graph.initializer.append(weight)
    return model


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("unknown operator", "No Op registered for NoSuchOp"),
        ("two value fields", "one and only one value field"),
    ],
)
def test_the_checker_on_the_light_copy_keeps_its_verdict(
    breakage: str, reason: str, tmp_path: Path
) -> None:
    model = _with_large_weight(tiny_classifier())
    if breakage == "unknown operator":
        model.graph.node[0].op_type = "NoSuchOp"
    else:  # raw_data and float_data both set: the stand-in must not hide it
        model.graph.initializer[-1].float_data.extend([1.0])
    with pytest.raises(ModelLoadError, match=reason):
        load_model(save_model(model, tmp_path / "m.onnx"))


def test_a_sound_model_with_large_weights_passes_the_checker(tmp_path: Path) -> None:
    model = load_model(save_model(_with_large_weight(tiny_classifier()), tmp_path / "m.onnx"))
    assert model.proto.graph.initializer[-1].dims == [512, 1024]  # the model itself untouched
