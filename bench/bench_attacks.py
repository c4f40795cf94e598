"""Square Attack L-inf: ours against ART's SquareAttack on a black-box wrapper, same run.

Same model (reference_data/final/baseline.onnx when present, else a small random CNN built
here), same images (the first N correctly classified clean reference images), same eps (8/255)
and same query budget. Prints, for each: success rate on the correctly classified images and
wall time; then our model queries per second against plain ``InferenceSession.run`` throughput
replayed on exactly the batch sizes our attack sent (targets: our success >= ART's - 2 points,
our wall time lower, throughput ratio >= 0.8).

With ``--seeds K`` both attacks run K times with different seeds (ours: the per-image seeds
shifted; ART: numpy's global seed, which its SquareAttack draws from), and each success rate is
reported as the mean and the spread (min-max and standard deviation) over the seeds: on a few
dozen images one run's success moves by several points, so a comparison needs the spread.

ART (adversarial-robustness-toolbox) is a benchmark dependency only (the ``bench`` extra)::

    pip install -e ".[bench]"
    python bench/bench_attacks.py                      # 32 images, 300 queries, 1 seed
    python bench/bench_attacks.py --images 200 --seeds 3
    python bench/bench_attacks.py --images 64 --budget 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from validator.attacks.model_fn import QueryModel, to_input
from validator.attacks.square import SquareLinf
from validator.config import PROFILES
from validator.data.datasets import SetKind, list_set
from validator.data.images import load_image
from validator.inference import default_threads
from validator.vocab import ChannelOrder

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "reference_data" / "final" / "baseline.onnx"
CLEAN = REPO / "reference_data" / "final" / "clean"
PROFILE = PROFILES.get("final")
EPS = 8 / 255


def small_cnn(out: Path, classes: int = 100, seed: int = 0) -> Path:
    """Conv 8x8/8 (3->16) + ReLU + Conv 3x3 (16->32) + ReLU + global pool + linear: random."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(
            (rng.standard_normal((16, 3, 8, 8)) * 0.1).astype(np.float32), "w1"
        ),
        numpy_helper.from_array(
            (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32), "w2"
        ),
        numpy_helper.from_array(
            (rng.standard_normal((classes, 32)) * 0.3).astype(np.float32), "fc"
        ),
        numpy_helper.from_array(np.zeros(classes, np.float32), "b"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], strides=[8, 8]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "b"], ["output"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(out))
    return out


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = default_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def clean_images(
    count: int, forward: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` clean reference images the model classifies correctly (levels, RGB),
    with their labels; with a random model, its own predictions stand in for labels."""
    listed = list_set(CLEAN, "clean", SetKind.CLEAN, PROFILE.num_classes)
    samples = listed.samples[: count * 4]
    tensors = [load_image(s.path, 224, PROFILE.resize, ChannelOrder.RGB) for s in samples]
    levels = np.rint(np.stack(tensors) * 255).astype(np.float32)
    labels = np.array([s.label for s in samples])
    predicted = forward(to_input(levels, PROFILE.channel_order)).argmax(1)
    right = np.flatnonzero(predicted == labels)
    if len(right) < count // 2:  # a random stand-in model: attack its own decisions
        return levels[:count], predicted[:count]
    return levels[right[:count]], labels[right[:count]]


def run_ours(
    sess: ort.InferenceSession, levels: np.ndarray, labels: np.ndarray, budget: int, seed: int = 0
) -> dict[str, Any]:
    sizes: list[int] = []
    name = sess.get_inputs()[0].name

    def forward(batch: np.ndarray) -> np.ndarray:
        sizes.append(len(batch))
        return np.asarray(sess.run(None, {name: batch})[0])

    model = QueryModel(forward, PROFILE.channel_order, batch_size=len(levels))
    start = time.perf_counter()
    seeds = [seed * 1_000_003 + i for i in range(len(levels))]
    result = SquareLinf(eps=EPS).run(model, levels, labels, seeds, budget)
    wall = time.perf_counter() - start
    return {
        "success": float(result.success.mean()),
        "wall": wall,
        "queries": model.queries,
        "sizes": sizes,
    }


def run_art(
    sess: ort.InferenceSession, levels: np.ndarray, labels: np.ndarray, budget: int, seed: int = 0
) -> dict[str, float]:
    from art.attacks.evasion import SquareAttack
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    name = sess.get_inputs()[0].name
    calls = {"images": 0}

    def predict(x: np.ndarray) -> np.ndarray:
        calls["images"] += len(x)
        return np.asarray(sess.run(None, {name: x.astype(np.float32)})[0])

    x = to_input(levels, PROFILE.channel_order)
    classes = int(predict(x[:1]).shape[1])
    calls["images"] = 0
    clf = BlackBoxClassifierNeuralNetwork(predict, x.shape[1:], classes, clip_values=(0.0, 1.0))
    # ART queries the clean images and the stripes start before its max_iter iterations; our
    # budget counts both: max_iter = budget - 2 gives both attacks the same queries per image.
    attack = SquareAttack(clf, norm=np.inf, eps=EPS, max_iter=max(budget - 2, 1), p_init=0.05,
                          nb_restarts=1, batch_size=len(x), verbose=False)  # fmt: skip
    np.random.seed(seed)  # ART's SquareAttack draws from numpy's global generator
    start = time.perf_counter()
    adversarial = attack.generate(x, y=np.eye(classes)[labels])
    wall = time.perf_counter() - start
    fooled = predict(adversarial.astype(np.float32)).argmax(1) != labels
    return {"success": float(fooled.mean()), "wall": wall, "queries": calls["images"]}


def plain_throughput(sess: ort.InferenceSession, sizes: list[int], shape: tuple[int, ...]) -> float:
    """Images per second of bare session.run over the same sequence of batch sizes."""
    name = sess.get_inputs()[0].name
    rng = np.random.default_rng(0)
    batches = {n: rng.random((n, *shape), dtype=np.float32) for n in set(sizes)}
    start = time.perf_counter()
    for n in sizes:
        sess.run(None, {name: batches[n]})
    return sum(sizes) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=1, help="runs of each attack, seeds 0..K-1")
    parser.add_argument("--model", type=Path, help="ONNX model (default: the reference baseline)")
    args = parser.parse_args()
    path = args.model or (
        BASELINE if BASELINE.is_file() else small_cnn(Path("/tmp/bench_small_cnn.onnx"))
    )
    sess = session(path)
    name = sess.get_inputs()[0].name
    levels, labels = clean_images(args.images, lambda x: np.asarray(sess.run(None, {name: x})[0]))
    print(f"model {path.name}: {len(levels)} correctly classified images, eps 8/255, "
          f"budget {args.budget}")  # fmt: skip
    ours_runs = [run_ours(sess, levels, labels, args.budget, k) for k in range(args.seeds)]
    art_runs = [run_art(sess, levels, labels, args.budget, k) for k in range(args.seeds)]
    ours = ours_runs[0]
    plain = plain_throughput(sess, ours["sizes"], levels.shape[1:])
    ours_qps = ours["queries"] / ours["wall"]
    print(f"{'':6s} {'success mean':>12s} {'min':>6s} {'max':>6s} {'std':>6s} {'wall s':>8s} "
          f"{'queries':>9s}   ({args.seeds} seeds)")  # fmt: skip
    means = {}
    for label, runs in (("ours", ours_runs), ("ART", art_runs)):
        success = np.array([r["success"] for r in runs])
        means[label] = float(success.mean())
        wall = float(np.mean([r["wall"] for r in runs]))
        queries = int(np.mean([r["queries"] for r in runs]))
        print(f"{label:6s} {success.mean():12.3f} {success.min():6.3f} {success.max():6.3f} "
              f"{success.std():6.3f} {wall:8.2f} {queries:9d}")  # fmt: skip
    art_success = np.array([r["success"] for r in art_runs])
    inside = art_success.min() <= means["ours"] <= art_success.max()
    where = "within" if inside else "OUTSIDE"
    print(f"success ours - ART: {100 * (means['ours'] - means['ART']):+.1f} points; our mean "
          f"is {where} ART's range over the seeds")  # fmt: skip
    walls = [np.mean([r["wall"] for r in runs]) for runs in (ours_runs, art_runs)]
    print(f"wall time ours / ART: {walls[0] / walls[1]:.2f} (target < 1)")
    print(f"queries/s ours {ours_qps:.0f} vs plain session.run {plain:.0f} on the same batch "
          f"sizes: ratio {ours_qps / plain:.2f} (target >= 0.9)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
