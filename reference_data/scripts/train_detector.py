"""Train the Track 2 baseline detector and export ``reference_data/track2/baseline.onnx``.

A development tool (torch): the validator only reads the ONNX file. Training images are fresh
open-set images (stream 30, never the reference set's): clean ones, and adversarial ones made
against the Track 1 ``final`` baseline (the surrogate) with white-box PGD-Linf (eps 4-10/255) and
PGD-L2 (eps 1-2), plus random +-8/255 square noise (a stand-in for Square-attack traces); benign
changes (blur, brightness, grey, colour) on 30 % of the images on both sides.

Model (input N x 3 x 224 x 224 BGR in [0, 1], output N x 1 = probability that the image is
adversarial): a fixed high-pass (x - 3x3 mean) per channel, log of its mean absolute value per
channel (fine-detail energy, which perturbations add), Linear 3->1, Sigmoid; the 4 weights are
fitted by logistic regression (a small CNN trained end to end stayed at chance on 2 busy cores).
Then the detector is scored on the reference set by the validator; everything lands in
``baseline_train.json``.

    python reference_data/scripts/train_detector.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import common
from torch_utils import PilBilinearLoader, StoredImageModel, hwc_uint8_to_tensor, setup_torch
from track2_common import STREAM_TRAIN, SURROGATE, pgd, render, surrogate_labels
from validator.attacks.base import image_seed
from validator.detection import benign

OUT = common.REFERENCE_ROOT / "track2"


class Detector(torch.nn.Module):
    """The baseline detector (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        kernel = -torch.full((3, 1, 3, 3), 1 / 9)
        kernel[:, :, 1, 1] += 1
        self.high_pass = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
        self.high_pass.weight.data = kernel
        self.high_pass.weight.requires_grad_(False)
        self.head = torch.nn.Linear(3, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """log mean |high-pass| per channel: the energy of fine detail, which perturbations add."""
        energy = self.high_pass(x).abs().mean(dim=(2, 3))
        return torch.log(energy + 1e-4)

    def logit(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit(x))


def square_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random +-8/255 squares (side 4-16 px) until ~40 % of the image is covered."""
    out = images.astype(np.int16)
    for img in out:
        for _ in range(8):
            side = int(rng.integers(4, 17))
            y, x = rng.integers(0, 64 - side, 2)
            img[y:y + side, x:x + side] += rng.choice([-8, 8], size=(1, 1, 3))
    return np.clip(out, 0, 255).astype(np.uint8)


def with_benign(images: np.ndarray, tag: str, seed: int) -> np.ndarray:
    names = [f"{tag}-{i}" for i in range(len(images))]
    out = images.copy()
    for i, change in enumerate(benign.assign(names, 0.3, seed, tag)):
        if change is not None:
            levels = benign.apply(images[i].transpose(2, 0, 1).astype(np.float64), change,
                                  image_seed(seed, change, names[i]))
            out[i] = np.clip(levels, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return out


def training_data(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` clean and ``count`` adversarial 64 x 64 images, labels 0 / 1."""
    surrogate = StoredImageModel(SURROGATE).eval()
    clean = render(seed, STREAM_TRAIN, range(count))
    third = count // 3
    sources = render(seed, STREAM_TRAIN, range(count, 2 * count))
    rng = np.random.default_rng(seed)
    parts = []
    for k, (norm, low, high) in enumerate((("linf", 4 / 255, 10 / 255), ("l2", 1.0, 2.0))):
        chunk = sources[k * third:(k + 1) * third]
        labels = surrogate_labels(surrogate, chunk)
        for s in range(0, len(chunk), 50):
            eps = float(rng.uniform(low, high))
            parts.append(pgd(surrogate, chunk[s:s + 50], labels[s:s + 50], norm, eps, 10, seed + s))
    parts.append(square_noise(sources[2 * third:], rng))
    adversarial = np.concatenate(parts)
    images = np.concatenate([with_benign(clean, "clean", seed), with_benign(adversarial, "adv", seed)])
    return images, np.concatenate([np.zeros(count), np.ones(len(adversarial))]).astype(np.float32)


def train(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> tuple[Detector, list[float]]:
    """Logistic regression on the features (the high-pass is fixed): full-batch Adam."""
    torch.manual_seed(seed)
    model, loader = Detector(), PilBilinearLoader()
    with torch.no_grad():
        feats = torch.cat([model.features(loader(hwc_uint8_to_tensor(images[s:s + 64])))
                           for s in range(0, len(images), 64)])
    target = torch.from_numpy(labels)
    opt = torch.optim.Adam(model.head.parameters(), lr=0.05)
    losses = []
    for step in range(epochs):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.head(feats)[:, 0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            losses.append(round(float(loss.detach()), 4))
            print(f"step {step + 1}: loss {losses[-1]}", flush=True)
    return model.eval(), losses


def export(model: Detector, path: Path) -> float:
    """ONNX export; returns the max |torch - onnxruntime| on random inputs."""
    x = torch.rand(4, 3, 224, 224)
    torch.onnx.export(model, x, str(path), input_names=["input"], output_names=["output"],
                      opset_version=13, dynamo=False,
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        return float(np.abs(got - model(x).numpy()).max())


def reference_score(path: Path) -> dict[str, object]:
    from validator import validate

    report = validate(path, "track2", score=True)
    keys = ("f1", "f1_interval", "threshold", "precision", "recall", "auroc",
            "average_precision", "images", "adversarial", "sets", "corruptions")
    return {"verdict": report.verdict.value, **{k: (report.score or {}).get(k) for k in keys}}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--count", type=int, default=150, help="clean (and adversarial) images")
    p.add_argument("--epochs", type=int, default=1000, help="full-batch steps")
    args = p.parse_args(argv)
    setup_torch()
    start = time.time()
    images, labels = training_data(args.seed, args.count)
    made = time.time()
    model, losses = train(images, labels, args.epochs, args.seed)
    trained = time.time()
    diff = export(model, OUT / "baseline.onnx")
    record = {
        "seed": args.seed, "images": int(len(labels)), "adversarial": int(labels.sum()),
        "epochs": args.epochs, "losses": losses, "export_max_abs_diff": diff,
        "seconds": {"data": round(made - start, 1), "training": round(trained - made, 1)},
        "torch": torch.__version__, "onnxruntime": ort.__version__,
        "reference_score": reference_score(OUT / "baseline.onnx"),
    }
    (OUT / "baseline_train.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record["reference_score"], indent=1)[:1500])
    return 0


if __name__ == "__main__":
    sys.exit(main())
