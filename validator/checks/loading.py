"""The ``load`` rule: the file is a sound ONNX model (validator.loading.model: the safeguards)."""

from __future__ import annotations

from pathlib import Path

from validator.config import Profile
from validator.findings import Finding, Status
from validator.loading.model import LoadedModel, ModelLoadError, load_model
from validator.units import size_bytes
from validator.vocab import CheckId


def check_load(path: Path, profile: Profile) -> tuple[Finding, LoadedModel | None]:
    """Load ``path``: a passing finding and the model, or a failed finding and None."""
    severity = profile.severity_of(CheckId.LOAD)
    try:
        model = load_model(path)
    except ModelLoadError as exc:
        return Finding(CheckId.LOAD.value, Status.FAIL, severity, exc.reason), None
    except MemoryError:
        reason = "the model needs more memory than this machine has to parse"
        return Finding(CheckId.LOAD.value, Status.FAIL, severity, reason), None
    graph = model.proto.graph
    message = (
        f"ONNX IR {model.proto.ir_version}, {len(graph.node)} nodes, "
        f"{size_bytes(model.total_bytes)}; passes onnx.checker"
    )
    details = {"producer": f"{model.proto.producer_name} {model.proto.producer_version}".strip()}
    return Finding(CheckId.LOAD.value, Status.PASS, severity, message, details=details), model
