"""Compare ``measurements.macs.platform`` with the organizers' own ONNX route, re-run for real.

Development script, never run in CI. The official code is NOT part of this repository: fetch
CdtQin/CVPR2022-AISafety-Helper into a scratch folder outside it and make a scratch venv with
torch (CPU), ptflops==0.6.8, onnx, onnxruntime and sympy. This script then, per model:

1. restores the golden fixtures' stripped weights as zero initializers (tests/golden_weights.py),
2. runs the helper's ``onnx/onnx_pytorch/code_gen.py`` on it, from a scratch copy to which only
   import and version fixes are applied (``onnx.mapping`` is gone from current onnx; attributes
   without a default are skipped as onnx 1.11 made it do; the generated model imports
   torchvision, which it never uses, so an empty stand-in module is put on the path),
3. loads the generated ``Model`` the way ``torch/check_model.py`` does (``Model().float()``) and
   calls ``ptflops.get_model_complexity_info(model, (3, 224, 224), as_strings=False,
   print_per_layer_stat=False)``, then runs a 1x3x224x224 zero batch and checks numel == 100,
4. analyses the same file with robust-validate and writes a comparison table.

Usage (repository root, project venv)::

    python tools/platform_reference.py --helper /tmp/aisafety/helper \\
        --python /tmp/aisafety/venv/bin/python --work /tmp/aisafety/run \\
        --table docs/platform-comparison.md tests/fixtures/golden/*.onnx more/*.onnx
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.golden_weights import restore_weights  # noqa: E402
from validator.graph.analysis import analyse  # noqa: E402
from validator.graph.platform_rules import find_blockers  # noqa: E402
from validator.vocab import MacsConvention  # noqa: E402

_MAPPING_IMPORT = "from onnx.mapping import TENSOR_TYPE_TO_NP_TYPE"
_MAPPING_FIX = (
    "from onnx._mapping import TENSOR_TYPE_MAP as _MAP\n"
    "TENSOR_TYPE_TO_NP_TYPE = {k: v.np_dtype for k, v in _MAP.items()}"
)
# onnx 1.11 (the platform's) raised on an attribute without a default and the converter skipped
# it; current onnx returns None, which the converter then reads as a value ("pads": None).
_DEFAULT_LINE = "          self.attr_default[a] = default_value"
_DEFAULT_FIX = (
    "          if i.default_value.type:  # onnx 1.11 behaviour\n"
    "            self.attr_default[a] = default_value"
)
_MEASURE = """
import json, sys, torch
sys.path.append(sys.argv[1])
from model import Model
from ptflops.flops_counter import get_model_complexity_info
result = {}
model = Model().float()
result["first_param_dtype"] = str(next(model.parameters()).dtype)
flops, params = get_model_complexity_info(
    model, (3, 224, 224), as_strings=False, print_per_layer_stat=False)
result.update(flops=int(flops), params=int(params))
model.eval()
with torch.no_grad():
    out = model(torch.zeros(1, 3, 224, 224))
result["output_numel"] = int(out.numel()) if hasattr(out, "numel") else None
print("RESULT " + json.dumps(result))
"""


def prepare_converter(helper: Path, work: Path) -> Path:
    """A scratch copy of the converter with the import fixes applied; returns its folder."""
    target = work / "onnx_pytorch"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(helper / "onnx" / "onnx_pytorch", target)
    for path in target.rglob("*.py"):
        text = path.read_text()
        fixed = text.replace(_MAPPING_IMPORT, _MAPPING_FIX).replace(_DEFAULT_LINE, _DEFAULT_FIX)
        if fixed != text:
            path.write_text(fixed)
    stub = work / "stubs" / "torchvision"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text("")
    return target


def official(python: str, converter: Path, model: Path, work: Path) -> dict[str, object]:
    """Run converter + measurement; the failing stage and its last error line on failure."""
    out = work / "out" / model.stem
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {"PYTHONPATH": str(work / "stubs"), "PATH": "/usr/bin:/bin"}
    cmd = [python, "code_gen.py", "--onnx_model_path", str(model), "--output_dir", str(out)]
    run = subprocess.run(cmd, cwd=converter, env=env, capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        return {"converts": False, "error": _last_line(run.stderr)}
    run = subprocess.run(
        [python, "-c", _MEASURE, str(out)], env=env, capture_output=True, text=True, timeout=900
    )
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    if run.returncode != 0 or not lines:
        return {"converts": True, "checker_error": _last_line(run.stderr)}
    return {"converts": True, **json.loads(lines[-1][7:])}


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def ours(model: onnx.ModelProto) -> dict[str, object]:
    """robust-validate's platform figure and blockers for the same file."""
    analysis = analyse(model)
    blockers = find_blockers(analysis.index)
    converter = [b.construct for b in blockers if b.stage == "converter"]
    return {
        "macs": analysis.macs.total[MacsConvention.PLATFORM],
        "converts": not converter,
        "blockers": [b.describe(2) for b in blockers],
    }


def table(rows: list[dict[str, object]]) -> str:
    """Markdown: model, official figure, ours, diff %, convert yes/no for both (official: the
    converted model loads and ptflops returns a figure)."""
    head = (
        "| model | official MACs | ours (platform) | diff % | converts (official / ours) "
        "| official failure | our blockers |\n| --- | ---: | ---: | ---: | --- | --- | --- |\n"
    )
    body = []
    for r in rows:
        off, us = r["official"], r["ours"]
        figure = off.get("flops")  # type: ignore[union-attr]
        diff = f"{100 * (us['macs'] - figure) / figure:+.3f}" if figure else ""  # type: ignore[index,operator]
        body.append(
            f"| {r['model']} | {figure if figure is not None else '-'} "
            f"| {us['macs'] if us['converts'] else 'null'} | {diff} "  # type: ignore[index]
            f"| {'yes' if figure is not None else 'no'} / {'yes' if us['converts'] else 'no'} "
            f"| {off.get('error') or off.get('checker_error') or ''} "  # type: ignore[union-attr]
            f"| {'; '.join(us['blockers'])[:300]} |"  # type: ignore[index,arg-type]
        )
    return head + "\n".join(body) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--helper", type=Path, required=True)
    parser.add_argument("--python", required=True, help="the scratch venv's python")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--table", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    converter = prepare_converter(args.helper, args.work)
    rows = []
    for path in args.models:
        model = restore_weights(onnx.load(str(path)), materialise=True)
        restored = args.work / "models" / path.name
        restored.parent.mkdir(exist_ok=True)
        onnx.save(model, str(restored))
        row = {"model": path.stem, "official": official(args.python, converter, restored, args.work),
               "ours": ours(model)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    if args.table:
        args.table.write_text(table(rows))


if __name__ == "__main__":
    main()
