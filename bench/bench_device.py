"""The quick attack suite on the CPU against CUDA (issue 15), on a ResNet-50-sized model.

The model is ``bench_scoring.resnet50_sized`` (the golden ResNet-50 graph with random He-scaled
weights, 100 classes; no torch needed). Its images are the first clean reference images,
labelled with the model's own CPU predictions (with the real labels a random model is wrong on
~99% of them before any attack runs, and the suite would have nothing to attack). For each
device it runs ``run_suite`` (no files written) on the first ``--images`` of them
(``--cpu-images`` on the CPU: the CPU is the slow row) and times it, then times a bare
``InferenceSession.run`` loop on the same device and provider, at the suite's batch size: the
plain baseline of that device, measured in the same run. It prints per device the suite's
seconds per image, its model queries per second against plain ``run``'s images per second, and
per set the fooled fraction; then the CUDA speed-up per image and the largest difference between
the two devices' fooled fractions (a GPU adds in another order, so an image at a decision
boundary can flip: this says how much it moved the sets). The quick suite's white-box set runs
torch on the CPU on either row (only onnxruntime moves to the GPU), and its queries count in the
queries per second.

    python bench/bench_device.py                            # 64 images on CUDA, 16 on the CPU
    python bench/bench_device.py --images 8 --cpu-images 4  # a short check of the script

Where onnxruntime has no CUDA provider (the plain ``onnxruntime`` package), or cannot use the
GPU, the CUDA row says why in one line and the CPU row still runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_attacks import CLEAN, PROFILE
from bench_scoring import resnet50_sized

from validator.attacks.model_fn import to_input
from validator.attacks.outcomes import SuiteRun
from validator.attacks.runner import DEFAULT_BATCH, run_suite
from validator.data.datasets import SetKind, list_set
from validator.data.images import load_image
from validator.errors import UsageError
from validator.inference import providers_for
from validator.vocab import ChannelOrder


def own_labels(path: Path, folder: Path, count: int) -> np.ndarray:
    """Copy the first ``count`` clean images into ``folder`` with a label file of the model's
    own predictions (CPU); returns their model inputs."""
    samples = list_set(CLEAN, "clean", SetKind.CLEAN, PROFILE.num_classes).samples[:count]
    levels = np.stack([load_image(s.path, 224, PROFILE.resize, ChannelOrder.RGB) for s in samples])
    inputs = to_input(np.rint(levels * 255).astype(np.float32), PROFILE.channel_order)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {session.get_inputs()[0].name: inputs})[0].argmax(axis=1)
    folder.mkdir()
    for sample in samples:
        shutil.copyfile(sample.path, folder / sample.path.name)
    lines = [f"{s.path.name} {int(k)}\n" for s, k in zip(samples, predicted, strict=True)]
    (folder / "label.txt").write_text("".join(lines))
    return inputs


def plain_rate(path: Path, device: str, inputs: np.ndarray, batch: int) -> float:
    """Images per second of bare session.run on ``device`` at ``batch`` (after one warm-up)."""
    session = ort.InferenceSession(str(path), providers=providers_for(device))
    if session.get_providers()[0] != providers_for(device)[0]:
        raise UsageError(f"onnxruntime fell back to {session.get_providers()[0]}")
    name = session.get_inputs()[0].name
    chunk = np.ascontiguousarray(np.resize(inputs, (batch, *inputs.shape[1:])))
    session.run(None, {name: chunk})
    runs = max(1, len(inputs) // batch) * 3
    start = time.perf_counter()
    for _ in range(runs):
        session.run(None, {name: chunk})
    return runs * batch / (time.perf_counter() - start)


def suite_row(
    path: Path, data: Path, device: str, images: int, suite: str
) -> tuple[float, SuiteRun]:
    """(wall seconds, the run) of ``suite`` on the first ``images`` images of ``data``."""
    start = time.perf_counter()
    run = run_suite(path, data, suite, PROFILE, max_images=images, device=device)
    return time.perf_counter() - start, run


def report(device: str, images: int, wall: float, run: SuiteRun, plain: float) -> None:
    queries = sum(o.queries for o in run.sets if o.skipped is None)
    print(f"{device}: {images} images in {wall:.1f} s ({wall / images:.2f} s per image); "
          f"{queries} queries, {queries / wall:.1f}/s against plain run {plain:.1f} images/s "
          f"= {queries / wall / plain:.2f}x")  # fmt: skip
    for outcome in run.sets:
        state = outcome.skipped or f"fooled {outcome.fooled}/{outcome.images}"
        print(f"  {outcome.name:24s} {state}")


def fooled_share(run: SuiteRun) -> dict[str, float]:
    return {o.name: o.fooled / o.images for o in run.sets if not o.skipped and o.images}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64, help="images on CUDA")
    parser.add_argument("--cpu-images", type=int, default=16, help="images on the CPU")
    parser.add_argument("--suite", default="quick")
    args = parser.parse_args()
    print(f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}")
    per_image: dict[str, float] = {}
    shares: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = resnet50_sized(Path(tmp) / "resnet50_sized.onnx")
        data = Path(tmp) / "clean"
        inputs = own_labels(path, data, max(args.images, args.cpu_images))
        for device, images in (("cpu", args.cpu_images), ("cuda", args.images)):
            try:
                plain = plain_rate(path, device, inputs, DEFAULT_BATCH[device])
                wall, run = suite_row(path, data, device, images, args.suite)
            except UsageError as exc:
                print(f"{device}: not measured: {exc}")
                continue
            report(device, images, wall, run, plain)
            per_image[device], shares[device] = wall / images, fooled_share(run)
    if len(per_image) == 2:
        common = shares["cpu"].keys() & shares["cuda"].keys()
        moved = max((abs(shares["cpu"][k] - shares["cuda"][k]) for k in common), default=0.0)
        print(f"cuda is {per_image['cpu'] / per_image['cuda']:.1f}x faster per image; largest "
              f"difference in a set's fooled share: {moved:.3f} (the rows attack different "
              f"numbers of images unless --cpu-images equals --images)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
