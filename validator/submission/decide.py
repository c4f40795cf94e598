"""The parent's decisions on a PyTorch submission: the platform's module checks (in the
official checker's words) from the figures the confined child measured, and the merge of the
ONNX report of the exported graph into the submission's report."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from validator.config import Profile
from validator.findings import Finding, Report, Severity, Status
from validator.phases import ordered_checks, skipped
from validator.vocab import CheckId

MODULE_ORDER = (
    CheckId.TORCH_OUTPUT, CheckId.TORCH_PARAMS, CheckId.TORCH_FLOPS,
    CheckId.TORCH_TRAINABLE, CheckId.TORCH_COMPAT, CheckId.EXPORT,
)  # fmt: skip
MODULE_CHECKS = frozenset(c.value for c in MODULE_ORDER)
ON_EXPORT = " [on the exported ONNX graph]"
PTFLOPS_UNIT = "multiply-adds per 3x224x224 image at batch 1, ptflops 0.6.8 module hooks"


def _finding(prof: Profile, check: CheckId, ok: bool, message: str, **extra: Any) -> Finding:
    severity = prof.severity_of(check)
    status = Status.PASS if ok else (Status.FAIL if severity is Severity.ERROR else Status.WARN)
    return Finding(check.value, status, severity, message, **extra)


def fail_load(report: Report, prof: Profile, reason: str) -> None:
    """A failed ``load`` and every other check skipped."""
    report.add(_finding(prof, CheckId.LOAD, False, reason))
    for check in MODULE_ORDER:
        report.add(skipped(check, prof, "the submission did not load"))
    for spec in ordered_checks():
        if spec.id is not CheckId.LOAD:
            report.add(skipped(spec.id, prof, "the submission did not load"))


def module_findings(
    report: Report, figures: dict[str, Any], prof: Profile, chosen: Iterable[str] | None
) -> None:
    """``load`` passed, then the platform's checks on the module (those in ``chosen``)."""
    wanted = set(MODULE_CHECKS if chosen is None else chosen)
    report.add(_finding(prof, CheckId.LOAD, True, "model.py imported; Model().float() built"))
    module = figures.get("module") or {}
    breach = (figures.get("breach") or {}).get("reason")
    found = [
        _output(prof, module.get("numel"), breach),
        _params(prof, module.get("params"), breach),
        _flops(prof, module.get("macs"), breach),
        _trainable(prof, module.get("params"), breach),
        _compat(prof, module.get("newer_modules"), breach),
    ]
    for finding in found:
        if finding.id in wanted:
            report.add(finding)
    params, macs = _value(module.get("params")), _value(module.get("macs"))
    report.measurements["module"] = {
        "params_trainable": params,
        "macs_ptflops": macs,
        "macs_unit": PTFLOPS_UNIT,
        "convention": "ptflops 0.6.8 counting table, mirrored (validator/submission/"
        "ptflops_count.py); functional calls count zero",
    }


def _value(figure: Any) -> int | None:
    value = figure.get("value") if isinstance(figure, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _missing(figure: Any, breach: str | None) -> str:
    error = figure.get("error") if isinstance(figure, dict) else None
    return f"not evaluated: {str(error or breach or 'no figure from the child')[:300]}"


def _output(prof: Profile, figure: Any, breach: str | None) -> Finding:
    numel, n = _value(figure), prof.num_classes
    if numel is None:
        return _finding(prof, CheckId.TORCH_OUTPUT, False, _missing(figure, breach))
    text = f"output.numel() == {numel} for torch.zeros(1, 3, 224, 224) (must be {n})"
    return _finding(prof, CheckId.TORCH_OUTPUT, numel == n, text, measured=numel, limit=n)


def _params(prof: Profile, figure: Any, breach: str | None) -> Finding:
    params = _value(figure)
    if params is None:
        return _finding(prof, CheckId.TORCH_PARAMS, False, _missing(figure, breach))
    text = (
        f"total params : {params / 1e6}M (trainable parameters, as ptflops 0.6.8 counts them; "
        f"must be < {prof.max_params / 1e6:g}M)"
    )
    ok = params < prof.max_params
    return _finding(prof, CheckId.TORCH_PARAMS, ok, text, measured=params, limit=prof.max_params)


def _flops(prof: Profile, figure: Any, breach: str | None) -> Finding:
    macs = _value(figure)
    if macs is None:
        return _finding(prof, CheckId.TORCH_FLOPS, False, _missing(figure, breach))
    text = (
        f"Flops: {macs / 1e9}G (multiply-adds per image as ptflops 0.6.8 counts them on the "
        f"module; must be < {prof.max_macs / 1e9:g}G)"
    )
    return _finding(prof, CheckId.TORCH_FLOPS, macs < prof.max_macs, text, measured=macs,
                    limit=prof.max_macs)  # fmt: skip


def _trainable(prof: Profile, figure: Any, breach: str | None) -> Finding:
    params = _value(figure)
    if params is None:
        return _finding(prof, CheckId.TORCH_TRAINABLE, False, _missing(figure, breach))
    text = (
        f"{params} trainable parameters (the platform wraps the model in "
        "DistributedDataParallel, which refuses a module without one)"
    )
    return _finding(prof, CheckId.TORCH_TRAINABLE, params > 0, text, measured=params, limit=1)


def _compat(prof: Profile, figure: Any, breach: str | None) -> Finding:
    if not isinstance(figure, list):
        return _finding(prof, CheckId.TORCH_COMPAT, False, _missing(None, breach))
    names = [str(x)[:100] for x in figure][:20]
    if not names:
        text = "no module that torch 1.5 (the official environment) lacks (module types only)"
        return _finding(prof, CheckId.TORCH_COMPAT, True, text)
    text = f"modules torch 1.5 (the official environment) lacks: {', '.join(names)}"
    return _finding(prof, CheckId.TORCH_COMPAT, False, text, measured=len(names))


def export_failure(figures: dict[str, Any]) -> str:
    """Why the module did not export (one line)."""
    exported = figures.get("export") or {}
    failures = [str(f) for f in exported.get("failures") or []]
    breach = (figures.get("breach") or {}).get("reason")
    return f"the module did not export to ONNX: {(failures or [breach or 'no result'])[-1]}"[:400]


def export_failed(report: Report, prof: Profile, figures: dict[str, Any]) -> str:
    """A failed ``export`` (a warning by default: the platform itself does not export); a
    breach while running the module also fails ``runtime``. Returns the reason."""
    reason = export_failure(figures)
    report.add(_finding(prof, CheckId.EXPORT, False, reason))
    breach = (figures.get("breach") or {}).get("reason")
    if breach:
        report.add(_finding(prof, CheckId.RUNTIME, False, str(breach)[:400]))
    return reason


def merge_onnx(report: Report, graph: Report, exported: dict[str, Any], prof: Profile) -> None:
    """The exported graph's findings (each saying so), measurements, score and notes."""
    opset = exported.get("opset")
    lower = "; ".join(str(f) for f in exported.get("failures") or [])
    message = f"exported to ONNX at opset {opset} (input 'input', output 'output', dynamic batch)"
    load = graph.get(CheckId.LOAD.value)
    ok = load is not None and load.status is Status.PASS
    if not ok:
        message = f"the exported graph did not load: {load.message if load else 'no result'}"
    elif lower:
        message += f"; lower opsets failed: {lower}"
    report.add(_finding(prof, CheckId.EXPORT, ok, message[:600], measured=opset))
    for finding in graph.findings:
        if finding.id != CheckId.LOAD.value:
            details = {**finding.details, "graph": "exported"}
            report.add(dataclasses.replace(finding, message=finding.message + ON_EXPORT,
                                           details=details))  # fmt: skip
    module = report.measurements.get("module")
    report.measurements = {**graph.measurements, "module": module, "export_opset": opset}
    report.score = graph.score
    report.notes.extend(graph.notes)
    report.isolation["breaches"].extend(graph.isolation.get("breaches", []))
    report.model["exported_onnx_bytes"] = graph.model.get("file_bytes")
