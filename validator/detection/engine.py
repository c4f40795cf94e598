"""Streaming inference for Track 2: one score per image, in set order.

Decoding overlaps inference exactly as in validator/scoring/engine.py (the same bounded window and
batching); only the scores are kept (8 bytes per image), never the images.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from validator.config import Profile
from validator.data.datasets import Sample
from validator.data.images import load_image
from validator.detection.data import DetectionSet
from validator.inference import Runner, RuntimeFailure, default_threads
from validator.scoring.engine import MAX_DECODE_WORKERS, NoProgress, Progress, _batches, _decoded


@dataclass(frozen=True)
class SetScores:
    """The raw model score of each image of one set (NaN where the model returned NaN)."""

    image_set: DetectionSet
    scores: np.ndarray


def score_images(
    runner: Runner,
    sets: Sequence[DetectionSet],
    profile: Profile,
    batch_size: int,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[SetScores]:
    """Run ``runner`` over every image of ``sets``; RuntimeFailure when the model fails or does
    not return exactly one value per image, DataError naming an undecodable image."""
    workers = workers or min(MAX_DECODE_WORKERS, default_threads())
    batch = runner.fixed_batch or max(1, batch_size)
    shown = progress or NoProgress()
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        return [_one_set(runner, s, profile, pool, batch, workers, shown) for s in sets]


def _one_set(
    runner: Runner,
    image_set: DetectionSet,
    profile: Profile,
    pool: ThreadPoolExecutor,
    batch: int,
    workers: int,
    progress: Progress,
) -> SetScores:
    def decode(path: Path) -> np.ndarray:
        return load_image(path, profile.input_size, profile.resize, profile.channel_order)

    # The shared batching helpers carry classification samples; the label is unused here.
    samples = [Sample(s.path, s.name, s.label) for s in image_set.samples]
    scores: list[np.ndarray] = []
    progress.start(image_set.name, len(samples))
    stream = _decoded(samples, decode, pool, 2 * batch + workers)
    for chunk, tensors, failed in _batches(stream, batch, profile.input_size):
        if failed:
            raise failed[0][1]
        if chunk:
            scores.append(_one_column(runner.run(tensors), len(chunk)))
        progress.advance(len(chunk))
    progress.finish()
    return SetScores(image_set, np.concatenate(scores) if scores else np.empty(0))


def _one_column(outputs: np.ndarray, images: int) -> np.ndarray:
    if outputs.size != images or (outputs.ndim and outputs.shape[0] != images):
        shape = " x ".join(map(str, outputs.shape))
        raise RuntimeFailure(
            f"the model returned {shape} for {images} images; a detector returns "
            f"{images} x 1 (one score per image)"
        )
    return np.asarray(outputs, dtype=np.float64).reshape(images)
