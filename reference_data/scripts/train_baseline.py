"""Train the baseline CNN of a profile on generated images and export it to ONNX.

The model takes the competition input (N x 3 x 224 x 224 float32, BGR, [0, 1]); its first operator
is a fixed 4 x 4 average pool (224 -> 56), then per-channel normalisation (ImageNet mean/std, BGR
order) and a small VGG-style CNN. Because the first two operators are fixed and linear, training
runs on the pooled 56 x 56 inputs, computed once per image from the real loader output
(:func:`common.array_to_input`): mathematically the same network, ~16 x less input work.

Training images come from the generator with stream ``STREAM_TRAIN`` (never the test stream) and
are augmented with the 8 flips/quarter-turns (every class is invariant to them). Seeded and run
with deterministic torch algorithms: same seed, same thread count and same machine type give the
same weights.

Run from the repository root (final: ~11 minutes, preliminary: ~7.5 minutes on 2 idle CPU cores)::

    python reference_data/scripts/train_baseline.py --profile final
    python reference_data/scripts/train_baseline.py --profile preliminary
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

import common
from common import PROFILES, ProfileSpec
from generate import render_one
from torch_utils import OnnxModule, setup_torch

POOL = 4
"""The model's first operator: AvgPool(POOL) turns the 224 x 224 input into 56 x 56."""
MEAN_BGR = (0.406, 0.456, 0.485)
STD_BGR = (0.225, 0.224, 0.229)
OPSET = 13

DEFAULTS: dict[str, dict[str, float]] = {
    # images per class, epochs, base width
    "final": {"train_per_class": 250, "epochs": 8, "width": 32},
    "preliminary": {"train_per_class": 1000, "epochs": 8, "width": 32},
}


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3 x 3 convolution (no bias) + batch norm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class BaselineNet(nn.Module):
    """Small VGG-style CNN with the input pooling and normalisation inside the model."""

    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        w = width
        self.pool = nn.AvgPool2d(POOL)
        self.register_buffer("mean", torch.tensor(MEAN_BGR).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD_BGR).view(1, 3, 1, 1))
        self.features = nn.Sequential(
            conv_bn(3, w, stride=2),  # 56 -> 28
            conv_bn(w, 2 * w),
            nn.MaxPool2d(2),  # 14
            conv_bn(2 * w, 4 * w),
            nn.MaxPool2d(2),  # 7
            conv_bn(4 * w, 8 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(8 * w, num_classes)

    def forward_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits from the already pooled (N, 3, 56, 56) input."""
        mean: torch.Tensor = self.mean  # type: ignore[assignment]
        std: torch.Tensor = self.std  # type: ignore[assignment]
        x = (pooled - mean) / std
        return self.classifier(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the competition input (N, 3, 224, 224), BGR in [0, 1]."""
        return self.forward_pooled(self.pool(x))


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def pooled_input(job: tuple[str, int, int, int, int]) -> np.ndarray:
    """Render one training image, run the real loader, average-pool 4 x 4: (3, 56, 56) float32."""
    x = common.array_to_input(render_one(job))
    c, h, w = x.shape
    return x.reshape(c, h // POOL, POOL, w // POOL, POOL).mean(axis=(2, 4), dtype=np.float32)


def make_dataset(
    profile: ProfileSpec, seed: int, start: int, count: int, workers: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled inputs and labels of training-stream images ``start .. start + count - 1``."""
    jobs = [
        (profile.name, seed, common.STREAM_TRAIN, i, common.IMAGE_SIZE)
        for i in range(start, start + count)
    ]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            arrays = list(pool.map(pooled_input, jobs, chunksize=128))
    else:
        arrays = [pooled_input(j) for j in jobs]
    labels = torch.tensor([i % profile.num_classes for i in range(start, start + count)])
    return torch.from_numpy(np.stack(arrays)), labels


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random element of the dihedral group (flips and quarter turns), one per batch."""
    k = int(torch.randint(0, 4, (1,), generator=gen))
    x = torch.rot90(x, k, dims=(2, 3))
    if int(torch.randint(0, 2, (1,), generator=gen)):
        x = x.flip(3)
    return x


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def evaluate_pooled(model: BaselineNet, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``model`` on pooled inputs."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), 500):
            correct += int((model.forward_pooled(x[s : s + 500]).argmax(1) == y[s : s + 500]).sum())
    return correct / len(x)


def train(
    model: BaselineNet,
    data: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
) -> list[dict[str, float]]:
    """AdamW (weight decay 0.05), one-cycle learning rate, label smoothing 0.1."""
    x, y = data
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(x) // batch
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2
    )
    log: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            xb = augment(x[idx], gen)
            loss = F.cross_entropy(model.forward_pooled(xb), y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        val_acc = evaluate_pooled(model, *val)
        log.append({"epoch": epoch + 1, "loss": total / steps_per_epoch, "val_acc": val_acc,
                    "seconds": time.time() - t0})
        print(f"epoch {epoch + 1}/{epochs} loss {total / steps_per_epoch:.3f} "
              f"val {val_acc:.3f} ({time.time() - t0:.0f}s)", flush=True)
    return log


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def export_onnx(model: BaselineNet, path: Path) -> None:
    """Export like the organizers asked: input ``input``, output ``output``, dynamic batch ``N``,
    opset 13, FP32, batch norm folded into the convolutions (eval mode)."""
    model.eval()
    dummy = torch.rand(1, 3, common.INPUT_SIZE, common.INPUT_SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (dummy,), str(path), input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, opset_version=OPSET,
            do_constant_folding=True, dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def check_export(model: BaselineNet, path: Path, seed: int) -> float:
    """Max |difference| between torch, onnxruntime and the ONNX-in-torch copy on random inputs."""
    x = torch.rand(3, 3, common.INPUT_SIZE, common.INPUT_SIZE,
                   generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model.eval()(x).numpy()
        mirror = OnnxModule(path)(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(["output"], {"input": x.numpy()})[0]
    return float(max(np.abs(out - ref).max(), np.abs(mirror - ref).max()))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", choices=list(PROFILES), default="final")
    p.add_argument("--out", type=Path, default=None,
                   help="ONNX file to write (default: reference_data/<profile>/baseline.onnx)")
    p.add_argument("--seed", type=int, default=7, help="training seed (data and weights)")
    p.add_argument("--train-per-class", type=int, default=None)
    p.add_argument("--val-per-class", type=int, default=20)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--width", type=int, default=None, help="channels of the first block")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="data processes (output unchanged)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate data, train, export, verify, and write ``baseline_train.json`` beside the model."""
    args = parse_args(argv)
    profile = PROFILES[args.profile]
    cfg = DEFAULTS[profile.name]
    per_class = int(args.train_per_class or cfg["train_per_class"])
    epochs = int(args.epochs or cfg["epochs"])
    width = int(args.width or cfg["width"])
    out = args.out or profile.root / "baseline.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    setup_torch(args.threads)
    torch.manual_seed(args.seed)

    t0 = time.time()
    n_train = per_class * profile.num_classes
    data = make_dataset(profile, args.seed, 0, n_train, args.workers)
    val = make_dataset(profile, args.seed, n_train, args.val_per_class * profile.num_classes,
                       args.workers)
    t_data = time.time() - t0
    print(f"{profile.name}: {n_train} training images, {len(val[0])} validation ({t_data:.0f}s)")

    model = BaselineNet(profile.num_classes, width)
    t1 = time.time()
    log = train(model, data, val, epochs, args.batch, args.lr, args.seed)
    t_train = time.time() - t1

    export_onnx(model, out)
    diff = check_export(model, out, args.seed)
    print(f"exported {out} (max |torch - onnx| = {diff:.2e})")
    info = {
        "profile": profile.name, "seed": args.seed, "train_images": n_train,
        "val_images": len(val[0]), "epochs": epochs, "width": width, "batch": args.batch,
        "lr": args.lr, "threads": args.threads,
        "params": sum(p.numel() for p in model.parameters()),
        "data_seconds": round(t_data, 1), "train_seconds": round(t_train, 1),
        "val_acc": log[-1]["val_acc"], "export_max_abs_diff": diff, "log": log,
        "torch": torch.__version__, "onnx_opset": OPSET,
    }
    (out.parent / "baseline_train.json").write_text(json.dumps(info, indent=2) + "\n")
    return 0 if math.isfinite(diff) and diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
