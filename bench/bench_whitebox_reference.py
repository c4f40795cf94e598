"""White-box strength: our PGD, APGD-CE and APGD-DLR against torchattacks', same run.

Same model (reference_data/final/baseline.onnx; torchattacks attacks it converted by
onnx2torch, whose logits are checked against onnxruntime first), same images (the first N clean
reference images the model classifies correctly), same radius (L-inf, default 1/255: at 8/255
every attack reaches 0% on the baseline, which tells nothing) and same steps (PGD 20 with step
eps / 4 and a random start, APGD 50 with one restart). Every adversarial image, ours and the
references', is rounded to the 8-bit grid inside the ball and judged by onnxruntime, as
submissions are scored; the references' own float figure (before rounding, judged by the
converted model) is printed beside it. Prints images left correct per attack and ours minus
the reference in points (target: ours <= reference + 2 points, i.e. as strong or stronger).

torchattacks and onnx2torch are benchmark dependencies only::

    pip install -e ".[whitebox,bench]"
    python bench/bench_whitebox_reference.py                    # 64 images, eps 1/255
    python bench/bench_whitebox_reference.py --images 16 --eps 2
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_attacks import BASELINE, PROFILE, clean_images, session

from validator.attacks.base import LEVELS
from validator.attacks.model_fn import QueryModel, to_input
from validator.attacks.tap import tapped_forward
from validator.attacks.whitebox import WhiteBox
from validator.inference import Runner
from validator.vocab import ChannelOrder

# (our method, our steps, torchattacks class, its keyword arguments given eps)
ATTACKS = (
    ("pgd", 20, "PGD", lambda eps: {"eps": eps, "alpha": eps / 4, "steps": 20,
                                    "random_start": True}),
    ("apgd-ce", 50, "APGD", lambda eps: {"norm": "Linf", "eps": eps, "steps": 50,
                                         "n_restarts": 1, "loss": "ce", "seed": 0}),
    ("apgd-dlr", 50, "APGD", lambda eps: {"norm": "Linf", "eps": eps, "steps": 50,
                                          "n_restarts": 1, "loss": "dlr", "seed": 0}),
)  # fmt: skip
TARGET_POINTS = 2.0


def import_onnx2torch() -> Any:
    """onnx2torch, importable with the CPU torch wheel. onnx2torch imports torchvision for its
    NMS and RoiAlign converters only; PyPI's torchvision is built against the CUDA torch and
    fails to register its operators next to the CPU wheel. Then a stand-in that refuses those
    two operators replaces it (a classifier uses neither; the logits are checked anyway)."""
    try:
        importlib.import_module("torchvision")
    except Exception:
        for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        stub, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")

        def refuse(*args: object, **kwargs: object) -> None:
            raise RuntimeError("torchvision is unusable here (NMS/RoiAlign not converted)")

        ops.roi_align, ops.boxes = refuse, types.SimpleNamespace(batched_nms=refuse)  # type: ignore[attr-defined]
        stub.ops = ops  # type: ignore[attr-defined]
        sys.modules.update({"torchvision": stub, "torchvision.ops": ops})
    return importlib.import_module("onnx2torch")


class Reference(torch.nn.Module):
    """The onnx2torch module behind the same input convention as ours: RGB in [0, 1]."""

    def __init__(self, path: Path, order: ChannelOrder) -> None:
        super().__init__()
        self.net = import_onnx2torch().convert(str(path)).eval()
        self.flip = order is ChannelOrder.BGR

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x.flip(1) if self.flip else x)
        return out


def on_grid(adv: np.ndarray, levels: np.ndarray, e: float) -> np.ndarray:
    """An adversarial image in [0, 1] as 8-bit levels within ``e`` levels of the clean one."""
    rounded = np.rint(adv * LEVELS)
    return np.clip(rounded, np.maximum(levels - e, 0), np.minimum(levels + e, LEVELS)).astype(
        np.float32
    )


def run_reference(
    net: Reference, name: str, kwargs: dict[str, Any], levels: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, int, float]:
    """torchattacks' attack: (adversarial levels, float images left correct, wall seconds)."""
    import torchattacks

    torch.manual_seed(0)
    attack = getattr(torchattacks, name)(net, **kwargs)
    x = torch.from_numpy(levels / np.float32(LEVELS))
    y = torch.from_numpy(labels.astype(np.int64))
    start = time.perf_counter()
    adv = attack(x, y)
    wall = time.perf_counter() - start
    with torch.no_grad():
        right = int((net(adv).argmax(1) == y).sum())
    return adv.detach().numpy(), right, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--eps", type=float, default=1.0, help="radius in 8-bit levels")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sess = session(BASELINE)
    name = sess.get_inputs()[0].name
    levels, labels = clean_images(args.images, lambda x: np.asarray(sess.run(None, {name: x})[0]))
    order, e = PROFILE.channel_order, args.eps
    runner = Runner(BASELINE, threads=args.threads)

    def judge(adv_levels: np.ndarray) -> int:
        return int((runner.run(to_input(adv_levels, order)).argmax(1) == labels).sum())

    net = Reference(BASELINE, order)
    with torch.no_grad():
        theirs = net(torch.from_numpy(levels / np.float32(LEVELS))).numpy()
    gap = float(np.max(np.abs(theirs - runner.run(to_input(levels, order)))))
    print(f"model {BASELINE.name}: {len(levels)} correctly classified clean images, "
          f"eps {e:g}/255, onnx2torch logits within {gap:.1e} of onnxruntime")  # fmt: skip
    print(f"{'attack':9s} {'steps':>5s} {'ours':>5s} {'ref':>5s} {'ref float':>9s} "
          f"{'ours-ref pts':>12s} {'ours s':>7s} {'ref s':>6s}  verdict")  # fmt: skip
    worst = -np.inf
    for method, steps, ref_name, ref_kwargs in ATTACKS:
        model = QueryModel(runner.run, order, batch_size=len(levels), source=BASELINE,
                           tapped=tapped_forward(BASELINE))  # fmt: skip
        start = time.perf_counter()
        result = WhiteBox(method=method, eps=e / LEVELS).run(
            model, levels, labels, list(range(len(levels))), steps
        )
        ours_wall = time.perf_counter() - start
        ours = judge(result.images)
        adv, ref_float, ref_wall = run_reference(
            net, ref_name, ref_kwargs(e / LEVELS), levels, labels
        )
        ref = judge(on_grid(adv, levels, e))
        points = 100 * (ours - ref) / len(levels)
        worst = max(worst, points)
        verdict = "stronger" if points < 0 else "within 2" if points <= TARGET_POINTS else "WEAKER"
        print(f"{method:9s} {steps:5d} {ours:5d} {ref:5d} {ref_float:9d} {points:+12.1f} "
              f"{ours_wall:7.1f} {ref_wall:6.1f}  {verdict}")  # fmt: skip
    print(f"largest gap ours - reference: {worst:+.1f} points (target <= {TARGET_POINTS:+.0f})")
    return 0 if worst <= TARGET_POINTS else 1


if __name__ == "__main__":
    sys.exit(main())
