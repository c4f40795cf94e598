"""Shapes static inference cannot find, measured by one real onnxruntime run.

ONNX shape inference stops at operators it has no schema for (onnxruntime's contrib ops such
as ``com.microsoft`` Gelu) and at some exotic exports; everything after such a node would go
uncounted. When static shapes have gaps, a copy of the graph gets a ``Shape`` node on each
tensor of unknown shape, exposed as an extra output, and runs once on zeros at the bound input
size. Only those shape vectors come back (a few bytes each), so the cost is one forward pass.

This runs an untrusted model: it is skipped for huge graphs and files, the number of exposed
shapes is capped, and any failure leaves the shapes unknown (the nodes are then listed as
uncounted, as before). It never runs when static shapes are complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx.external_data_helper import load_external_data_for_model

from validator.graph.shapes import ShapeMap, TensorShape
from validator.loading.model import LoadedModel, iter_tensors

if TYPE_CHECKING:
    import onnxruntime as ort

MAX_PROBED = 2048  # exposed shape outputs per run
MAX_NODES = 50_000  # a larger graph is not run for its shapes
MAX_BYTES = 500_000_000  # nor a larger model (file plus external data)


class RuntimeShapeProbe:
    """Measures tensor shapes of one model by running a copy of it (the session is built once
    and reused for another batch size)."""

    def __init__(self, model: LoadedModel, threads: int | None = None) -> None:
        self.model = model
        self.threads = threads
        self.failure: str | None = None
        self._session: ort.InferenceSession | None = None
        self._exposed: dict[str, str] = {}

    def __call__(self, inputs: Mapping[str, TensorShape], wanted: Sequence[str]) -> ShapeMap:
        """Shapes of ``wanted`` tensors with the graph inputs at the ``inputs`` shapes; {} when
        the model is too large, the inputs are not fully sized, or onnxruntime fails."""
        proto = self.model.proto
        if not wanted or len(proto.graph.node) > MAX_NODES or self.model.total_bytes > MAX_BYTES:
            return {}
        feeds = _feeds(inputs)
        if feeds is None:
            return {}
        try:
            session = self._session_for(list(wanted)[:MAX_PROBED])
            names = list(self._exposed.values())
            arrays = session.run(names, feeds)
        except Exception as exc:  # onnxruntime raises its own exception zoo; best effort
            self.failure = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            return {}
        types = _static_types(proto)
        return {
            tensor: TensorShape(types.get(tensor, 0), tuple(int(d) for d in np.ravel(value)))
            for tensor, value in zip(self._exposed, arrays, strict=True)
        }

    def _session_for(self, wanted: list[str]) -> ort.InferenceSession:
        import onnxruntime as ort  # only a graph with gaps in its static shapes gets here

        if self._session is not None and list(self._exposed) == wanted:
            return self._session
        copy = onnx.ModelProto()
        copy.CopyFrom(self.model.proto)
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in iter_tensors(copy)):
            # the loader confined every external file to the model's folder already
            load_external_data_for_model(copy, str(self.model.path.parent))
        self._exposed = _expose_shapes(copy.graph, wanted)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            copy.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return self._session


def _expose_shapes(graph: onnx.GraphProto, wanted: list[str]) -> dict[str, str]:
    """Add ``Shape(t)`` as a graph output for each wanted tensor; tensor -> output name."""
    taken = {o for n in graph.node for o in n.output} | {v.name for v in graph.input}
    exposed: dict[str, str] = {}
    for i, tensor in enumerate(wanted):
        name = f"{tensor}__probed_shape_{i}"
        while name in taken:
            name += "_"
        graph.node.append(onnx.helper.make_node("Shape", [tensor], [name]))
        graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, None))
        exposed[tensor] = name
    return exposed


def _feeds(inputs: Mapping[str, TensorShape]) -> dict[str, np.ndarray] | None:
    feeds = {}
    for name, shape in inputs.items():
        if not shape.known or shape.dims is None:
            return None
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(shape.elem_type)
        except (KeyError, ValueError, TypeError):
            return None
        feeds[name] = np.zeros([int(d or 0) for d in shape.dims], dtype=dtype)
    return feeds


def _static_types(proto: onnx.ModelProto) -> dict[str, int]:
    """Element types the file declares for intermediate tensors (value_info)."""
    return {v.name: v.type.tensor_type.elem_type for v in proto.graph.value_info}
