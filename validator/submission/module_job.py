"""What the confined child does with a PyTorch submission: import ``model.py`` as the platform
did, measure the module (output size, parameters, ptflops multiply-adds, trainable parameters,
modules torch 1.5 lacks) and export it to ONNX into its folder.

The child only measures and sends plain figures; the parent decides the findings, so nothing
the child sends is more than numbers and short text. Runs only in the confined child.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from validator.sandbox import PhaseClock, Sender
from validator.submission.ptflops_count import count_macs, trainable_params
from validator.vocab import Phase

EXPORT_NAME = "_robust_validate_export.onnx"
EXPORT_OPSETS = (10, 13, 17)  # the organizers' opset 10 first; higher only when it must

# Modules (by class name) that torch 1.5, the official environment, does not have: version added.
NEWER_MODULES = {
    "SiLU": "1.7", "Hardswish": "1.6", "Hardsigmoid": "1.6", "Mish": "1.9",
    "Unflatten": "1.7", "PixelUnshuffle": "1.8", "ChannelShuffle": "1.11",
    "Dropout1d": "1.12", "ZeroPad1d": "2.1", "ZeroPad3d": "2.1", "CircularPad2d": "2.1",
    "RMSNorm": "2.4", "LazyLinear": "1.8", "LazyConv2d": "1.8", "LazyBatchNorm2d": "1.8",
}  # fmt: skip


def run_module_job(sender: Sender, folder: Path, size: int, threads: int) -> None:
    """The child's whole job; ends with a ``done`` message when it got through."""
    torch = sys.modules["torch"]  # preloaded before confinement
    torch.set_num_threads(threads)
    clock = PhaseClock(sender)
    clock.enter(Phase.ANALYSIS)
    model = import_model(sender, folder)
    if model is not None:
        clock.enter(Phase.RUNTIME)
        sender.send("module", **measure(model, torch, size))
        sender.send("export", **export(model, torch, folder / EXPORT_NAME, size))
    sender.send("done")


def import_model(sender: Sender, folder: Path) -> Any:
    """``sys.path.append(dir); from model import Model; Model().float()``, as the platform."""
    sys.path.append(str(folder))
    try:
        module = importlib.import_module("model")
        model = module.Model().float()
    except MemoryError:
        raise  # the sandbox reports the memory limit
    except BaseException as exc:  # SystemExit, KeyboardInterrupt raised by hostile code too
        sender.send("import", ok=False, reason=_reason(exc, "importing model.py"))
        return None
    sender.send("import", ok=True, reason="")
    return model


def measure(model: Any, torch: Any, size: int) -> dict[str, Any]:
    """The official checker's figures on the module, each or the error that stopped it."""
    figures: dict[str, Any] = {"newer_modules": newer_modules(model)}
    figures["params"] = _attempt(lambda: trainable_params(model), "counting parameters")
    figures["macs"] = _attempt(lambda: count_macs(model, torch, size), "counting multiply-adds")

    def numel() -> int:
        model.eval()
        with torch.no_grad():
            return int(model(torch.zeros(1, 3, size, size)).numel())

    figures["numel"] = _attempt(numel, "running the module on zeros(1, 3, 224, 224)")
    return figures


def newer_modules(model: Any) -> list[str]:
    """Modules of ``model`` that torch 1.5 lacks, as "nn.SiLU (torch 1.7)" lines."""
    found: dict[str, str] = {}
    for module in model.modules():
        name = type(module).__name__
        if type(module).__module__.startswith("torch.nn") and name in NEWER_MODULES:
            found[f"nn.{name}"] = NEWER_MODULES[name]
        if name == "GELU" and getattr(module, "approximate", "none") != "none":
            found["nn.GELU(approximate='tanh')"] = "1.12"
        if getattr(module, "batch_first", False) and name.startswith(("Multihead", "Transformer")):
            found[f"nn.{name}(batch_first=True)"] = "1.9"
    return [f"{name} (torch {version})" for name, version in sorted(found.items())]


def export(model: Any, torch: Any, path: Path, size: int) -> dict[str, Any]:
    """Export to ONNX at the lowest opset of EXPORT_OPSETS that works: input ``input``, output
    ``output``, dynamic batch. Returns the opset used (or None) and why lower ones failed."""
    failures: list[str] = []
    for opset in EXPORT_OPSETS:
        if path.exists():
            os.remove(path)
        try:
            _export_once(model, torch, path, size, opset)
            return {"ok": True, "opset": opset, "failures": failures}
        except MemoryError:
            raise
        except BaseException as exc:
            failures.append(f"opset {opset}: {_reason(exc, 'export')}")
    return {"ok": False, "opset": None, "failures": failures}


def _export_once(model: Any, torch: Any, path: Path, size: int, opset: int) -> None:
    model.eval()
    dynamic = {"input": {0: "batch"}, "output": {0: "batch"}}
    torch.onnx.export(
        model, (torch.zeros(1, 3, size, size),), str(path), opset_version=opset,
        input_names=["input"], output_names=["output"], dynamic_axes=dynamic, dynamo=False,
    )  # fmt: skip


def _attempt(fn: Any, what: str) -> dict[str, Any]:
    try:
        return {"value": int(fn()), "error": None}
    except MemoryError:
        raise
    except BaseException as exc:
        return {"value": None, "error": _reason(exc, what)}


def _reason(exc: BaseException, what: str) -> str:
    """One line: what failed, the exception, and where in the submission's code."""
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.getcwd()  # the submission's folder in the confined child
    own = [f for f in frames if f.filename.startswith(here)]
    where = f" ({Path(own[-1].filename).name}, line {own[-1].lineno})" if own else ""
    text = f"{what} raised {type(exc).__name__}: {exc}"[:300]
    return text + where
