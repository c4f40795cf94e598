"""validator.model: every hostile or malformed file becomes a one-line reason, never a crash,
nothing is unpickled or read outside the model's folder, and sound models load."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import onnx
import pytest

from tests.conftest import (
    HOSTILE,
    MARKER,
    Hostile,
    nested_if_model,
    pickle_payload,
    save_model,
    tiny_classifier,
)
from validator.model import ModelLoadError, iter_graphs, load_model


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
