"""Scoring throughput and memory, against the physical limit measured in the same run.

For each model (a ResNet-50-sized model with random weights, and the reference baseline when
present) the reference set is scored two ways on the same images:

- ``ours``: validator.scoring.engine.score_sets from the file names (decoding, resizing,
  batching and inference, decoding overlapped with inference);
- ``plain``: a loop over tensors decoded beforehand (not timed) calling
  ``onnxruntime.InferenceSession.run`` on batches of the same size: the limit any scorer can reach.

It prints images/s for both and their ratio (target >= 0.85 for the ResNet-50-sized model), checks
that both give the same predictions, and then measures peak RSS growth while scoring N and 2N
images in fresh processes, to show that memory does not grow with the dataset.

Run from the repository root (a few minutes on 2 cores)::

    python bench/bench_scoring.py                 # everything
    python bench/bench_scoring.py --images 128    # fewer images: quicker, noisier
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from validator.config import PROFILES, Profile
from validator.data.datasets import Dataset, ImageSet, open_dataset
from validator.data.images import load_image
from validator.inference import Runner
from validator.resources import reference_set
from validator.scoring.engine import DEFAULT_BATCH, EngineSettings, Prediction, score_sets

REPO = Path(__file__).resolve().parent.parent
GOLDEN_RESNET50 = REPO / "tests" / "fixtures" / "golden" / "resnet50.onnx"
PROFILE: Profile = PROFILES.get("final")


def resnet50_sized(
    out: Path, num_classes: int = 100, seed: int = 0, golden: Path = GOLDEN_RESNET50
) -> Path:
    """The golden ResNet-50 graph (or another golden torchvision graph) with every
    ConstantOfShape zero-filler turned into a random float32 initializer (He-scaled), and the
    classifier cut to ``num_classes``."""
    model = onnx.load(golden)
    graph = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    rng = np.random.default_rng(seed)
    fillers = [n for n in graph.node if n.op_type == "ConstantOfShape" and n.input[0] in shapes]
    weights = []
    for node in fillers:
        shape = [int(d) for d in shapes[node.input[0]]]
        if node.output[0].startswith("fc."):
            shape[0] = num_classes
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 0
        scale = np.sqrt(1.0 / fan_in) if fan_in else 0.01
        weights.append(
            numpy_helper.from_array(
                (rng.standard_normal(shape) * scale).astype(np.float32), node.output[0]
            )
        )
    used = {n.input[0] for n in fillers}
    kept_nodes = [n for n in graph.node if n not in fillers]
    kept_inits = [t for t in graph.initializer if t.name not in used]
    del graph.node[:], graph.initializer[:]
    graph.node.extend(kept_nodes)
    graph.initializer.extend(kept_inits + weights)
    graph.output[0].type.tensor_type.shape.dim[1].dim_value = num_classes
    onnx.checker.check_model(model)
    onnx.save(model, out)
    return out


def small_cnn(out: Path, num_classes: int = 100) -> Path:
    """A cheap stand-in (conv, relu, pool, dense) for the memory runs when there is no baseline."""
    rng = np.random.default_rng(1)
    helper = onnx.helper
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.2, (16, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 0.2, (16, num_classes)).astype(np.float32), "d"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], strides=[4, 4]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "d"], ["output"]),
    ]
    size = PROFILE.input_size
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("input", 1, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output", 1, ["N", num_classes])],
        weights,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), out)
    return out


def dataset_of(count: int, workdir: Path) -> Dataset:
    """A clean set of ``count`` reference images (cycled through if there are fewer), built
    from symbolic links so the files decoded are the reference set's own."""
    source = reference_set(PROFILE.reference_data)
    if source is None:
        sys.exit("no reference data: run reference_data/scripts/generate.py first")
    images = open_dataset(source, PROFILE.num_classes).sets[0].samples
    clean = workdir / f"n{count}" / "clean"
    clean.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        sample = images[i % len(images)]
        link = clean / f"{i:06d}{sample.path.suffix}"
        if not link.exists():
            link.symlink_to(sample.path.resolve())
        lines.append(f"{link.name} {sample.label}\n")
    (clean / "label.txt").write_text("".join(lines))
    return open_dataset(clean.parent, PROFILE.num_classes)


def time_ours(model: Path, image_set: ImageSet, batch: int) -> tuple[float, list[int]]:
    runner = Runner(model)
    rows: list[Prediction] = []
    start = time.perf_counter()
    score_sets(runner, [image_set], PROFILE, EngineSettings(batch_size=batch), sink=rows.extend)
    return time.perf_counter() - start, [r.prediction for r in rows]


def time_plain(model: Path, tensors: np.ndarray, batch: int) -> tuple[float, list[int]]:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    fixed = session.get_inputs()[0].shape[0]
    step = fixed if isinstance(fixed, int) else batch
    predictions: list[int] = []
    start = time.perf_counter()
    for first in range(0, len(tensors), step):
        out = session.run(None, {name: tensors[first : first + step]})[0]
        predictions.extend(int(p) for p in np.argmax(out, axis=1))
    return time.perf_counter() - start, predictions


def preload(image_set: ImageSet) -> np.ndarray:
    return np.stack(
        [
            load_image(s.path, PROFILE.input_size, PROFILE.resize, PROFILE.channel_order)
            for s in image_set.samples
        ]
    )


def throughput(label: str, model: Path, image_set: ImageSet, batch: int, repeats: int) -> float:
    """Print and return ours/plain for ``model``; best of ``repeats`` alternating runs each, so
    a burst of load from other processes hits both sides alike."""
    tensors = preload(image_set)
    count = len(image_set.samples)
    time_plain(model, tensors[:batch], batch)  # warm-up: session build, first-run allocations
    ours_times, plain_times = [], []
    for _ in range(repeats):
        plain_time, plain_pred = time_plain(model, tensors, batch)
        ours_time, ours_pred = time_ours(model, image_set, batch)
        plain_times.append(plain_time)
        ours_times.append(ours_time)
        if ours_pred != plain_pred:
            differ = sum(a != b for a, b in zip(ours_pred, plain_pred, strict=True))
            sys.exit(f"{label}: ours and plain disagree on {differ} images")
    del tensors
    ours, plain = count / min(ours_times), count / min(plain_times)
    print(f"{label:<22} {count:>6} {batch:>5} {plain:>12.1f} {ours:>12.1f} {ours / plain:>7.3f}x")
    return ours / plain


def memory_child(model: Path, root: Path) -> None:
    """In a fresh process: RSS before scoring and peak RSS after (bytes), as JSON. The peak is
    VmHWM: ru_maxrss would carry over the parent's peak, as Linux keeps it across exec."""
    dataset = open_dataset(root, PROFILE.num_classes)
    runner = Runner(model)
    before = _status_bytes("VmRSS")
    score_sets(runner, dataset.sets, PROFILE, EngineSettings())
    print(json.dumps({"before": before, "peak": _status_bytes("VmHWM")}))


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory(model: Path, counts: Sequence[int], workdir: Path) -> None:
    print(f"\npeak RSS while scoring ({model.name}, batch {DEFAULT_BATCH}, fresh process each)")
    print(f"{'images':>8} {'RSS before':>12} {'peak RSS':>12} {'growth':>10} {'if preloaded':>14}")
    for count in counts:
        root = dataset_of(count, workdir).root
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(model), str(root)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        growth = figures["peak"] - figures["before"]
        tensors = count * 3 * PROFILE.input_size**2 * 4
        print(
            f"{count:>8} {figures['before'] / 1e6:>10.1f}MB {figures['peak'] / 1e6:>10.1f}MB "
            f"{growth / 1e6:>8.1f}MB {tensors / 1e6:>12.1f}MB"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images",
        type=int,
        default=128,
        help="images for the ResNet-50-sized model (default 128, ~15 s a pass)",
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--repeats", type=int, default=3, help="alternating passes; best kept")
    parser.add_argument("--memory-images", type=int, default=500, help="N for the N/2N runs")
    parser.add_argument(
        "--memory-child", nargs=2, metavar=("MODEL", "ROOT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(Path(args.memory_child[0]), Path(args.memory_child[1]))
        return 0
    source = reference_set(PROFILE.reference_data)
    if source is None:
        sys.exit("no reference data: run reference_data/scripts/generate.py first")
    baseline = source / "baseline.onnx"
    whole_set = len(open_dataset(source, PROFILE.num_classes).sets[0].samples)
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        workdir = Path(tmp)
        resnet = resnet50_sized(workdir / "resnet50_sized.onnx")
        print(
            f"onnxruntime {ort.__version__}, {os.cpu_count()} cores, images of {source}/clean;"
            f" best of {args.repeats} alternating passes each"
        )
        print(
            f"{'model':<22} {'images':>6} {'batch':>5} {'plain img/s':>12} {'ours img/s':>12} "
            f"{'ours/plain':>8}"
        )
        ratio = throughput(
            "resnet50-sized",
            resnet,
            dataset_of(args.images, workdir).sets[0],
            args.batch,
            args.repeats,
        )
        if baseline.is_file():
            throughput(
                "baseline",
                baseline,
                dataset_of(whole_set, workdir).sets[0],
                args.batch,
                args.repeats,
            )
        else:
            print(f"{'baseline':<22} (not present: {baseline})")
        small = baseline if baseline.is_file() else small_cnn(workdir / "small_cnn.onnx")
        memory(small, [args.memory_images, 2 * args.memory_images], workdir)
        verdict = "met" if ratio >= 0.85 else "NOT met"
        print(f"\nresnet50-sized: ours/plain {ratio:.3f}x (target >= 0.85x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
