"""Streaming, batched inference over image sets, with decoding overlapped with inference.

Decoding and resizing run in a small thread pool (Pillow and numpy release the GIL for the heavy
parts, and onnxruntime releases it while it runs), a bounded window of images ahead of the batch
being inferred. Memory therefore depends on the batch size and the window, never on the number
of images: nothing but file names is held for a whole set. Images are always gathered into
batches in the set's order, so the same data gives the same batches and the same numbers.

Progress is reported through the :class:`Progress` protocol so that the library never renders
anything itself (validator/console draws a progress bar from it).
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

from validator.config import Profile
from validator.data.datasets import BadImage, ImageSet, Sample
from validator.data.images import load_image
from validator.errors import DataError, ValidatorError
from validator.files import write_failed
from validator.inference import Runner, RuntimeFailure, default_threads
from validator.scoring.arithmetic import NO_PREDICTION, Tally, confidence, predict, tally
from validator.scoring.options import DEFAULT_BATCH as DEFAULT_BATCH  # re-exported
from validator.scoring.options import Progress as Progress  # re-exported
from validator.text import safe_text

MAX_DECODE_WORKERS = 4


class NoProgress:
    """A Progress that shows nothing."""

    def start(self, set_name: str, total: int, activity: str = "scoring") -> None:
        """Ignore."""

    def advance(self, images: int, fooled: int | None = None) -> None:
        """Ignore."""

    def finish(self, skipped: str | None = None) -> None:
        """Ignore."""


@dataclass(frozen=True)
class Prediction:
    """One image's outcome, for the optional predictions file."""

    set_name: str
    image: str
    label: int
    prediction: int
    confidence: float


PredictionSink = Callable[[Sequence[Prediction]], None]


@dataclass(frozen=True)
class SetRun:
    """What scoring one set produced."""

    image_set: ImageSet
    tally: Tally
    skipped: tuple[BadImage, ...]  # found while listing, then while decoding
    nan_rows: int = 0  # images whose output held NaN (counted wrong)


@dataclass(frozen=True)
class EngineSettings:
    """How to run: batch size, decoding threads, and whether bad images are skipped."""

    batch_size: int = DEFAULT_BATCH
    workers: int | None = None  # decoding threads; None = min(4, usable cores)
    skip_bad_images: bool = False


def score_sets(
    runner: Runner,
    sets: Sequence[ImageSet],
    profile: Profile,
    settings: EngineSettings = EngineSettings(),
    progress: Progress | None = None,
    sink: PredictionSink | None = None,
) -> list[SetRun]:
    """Run ``runner`` over every image of ``sets`` and count right answers per set.

    A model with a fixed batch dimension gets batches of exactly that size. Raises DataError
    naming the file for an undecodable image (unless skipping is on) and RuntimeFailure when the
    model fails on a batch or does not return one row of ``profile.num_classes`` scores per image.
    """
    workers = settings.workers or min(MAX_DECODE_WORKERS, default_threads())
    pool = ThreadPoolExecutor(workers, thread_name_prefix="decode")
    try:
        scorer = _SetScorer(runner, profile, settings, pool, workers, progress or NoProgress())
        return [scorer.run(s, sink) for s in sets]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _SetScorer:
    """Scores one set at a time with a shared decoding pool."""

    def __init__(
        self,
        runner: Runner,
        profile: Profile,
        settings: EngineSettings,
        pool: ThreadPoolExecutor,
        workers: int,
        progress: Progress,
    ) -> None:
        self.runner, self.profile, self.settings = runner, profile, settings
        self.pool, self.progress = pool, progress
        self.batch_size = runner.fixed_batch or max(1, settings.batch_size)
        # Enough decodes in flight to fill the next batch while this one is inferred.
        self.window = 2 * self.batch_size + workers

    def decode(self, path: Path) -> np.ndarray:
        profile = self.profile
        return load_image(path, profile.input_size, profile.resize, profile.channel_order)

    def run(self, image_set: ImageSet, sink: PredictionSink | None) -> SetRun:
        skipped = list(image_set.skipped)
        total = Tally()
        nan_rows = 0
        self.progress.start(image_set.name, len(image_set.samples))
        stream = _decoded(image_set.samples, self.decode, self.pool, self.window)
        for samples, tensors, failed in _batches(stream, self.batch_size, self.profile.input_size):
            for sample, error in failed:
                if not self.settings.skip_bad_images:
                    raise DataError(f"{error} (--skip-bad-images scores without it)")
                skipped.append(BadImage(sample.path, image_set.name, _reason(sample, error)))
            if samples:
                outputs = _checked(self.runner.run(tensors), len(samples), self.profile.num_classes)
                guesses = predict(outputs)
                total += tally([s.label for s in samples], guesses)
                nan_rows += int(np.count_nonzero(guesses == NO_PREDICTION))
                if sink is not None:
                    sink(_rows(image_set.name, samples, guesses, confidence(outputs)))
            self.progress.advance(len(samples) + len(failed))
        self.progress.finish()
        return SetRun(image_set, total, tuple(skipped), nan_rows)


_Decoded = tuple[Sample, "np.ndarray | DataError"]


def _decoded(
    samples: Sequence[Sample],
    decode: Callable[[Path], np.ndarray],
    pool: ThreadPoolExecutor,
    window: int,
) -> Iterator[_Decoded]:
    """Decoded tensors in sample order, keeping at most ``window`` decodes in flight."""
    pending: deque[tuple[Sample, Future[np.ndarray]]] = deque()
    upcoming = iter(samples)
    for sample in upcoming:
        pending.append((sample, pool.submit(decode, sample.path)))
        if len(pending) >= window:
            break
    while pending:
        sample, future = pending.popleft()
        following = next(upcoming, None)
        if following is not None:
            pending.append((following, pool.submit(decode, following.path)))
        try:
            yield sample, future.result()
        except DataError as exc:
            yield sample, exc


def _batches(
    stream: Iterator[_Decoded], batch_size: int, size: int
) -> Iterator[tuple[list[Sample], np.ndarray, list[tuple[Sample, DataError]]]]:
    """Group the stream into batches: (good samples, their tensors, failed decodes). The tensor
    buffer is reused, so each batch must be consumed before the next is drawn."""
    buffer = np.empty((batch_size, 3, size, size), dtype=np.float32)
    samples: list[Sample] = []
    failed: list[tuple[Sample, DataError]] = []
    for sample, result in stream:
        if isinstance(result, DataError):
            failed.append((sample, result))
            continue
        buffer[len(samples)] = result
        samples.append(sample)
        if len(samples) == batch_size:
            yield samples, buffer, failed
            samples, failed = [], []
    if samples or failed:
        yield samples, buffer[: len(samples)], failed


def _checked(outputs: np.ndarray, images: int, num_classes: int) -> np.ndarray:
    if outputs.size != images * num_classes or (outputs.ndim and outputs.shape[0] != images):
        shape = " x ".join(map(str, outputs.shape))
        raise RuntimeFailure(
            f"the model returned {shape} for {images} images; scoring needs "
            f"{images} x {num_classes} (one score per class)"
        )
    return outputs.reshape(images, num_classes)


def _reason(sample: Sample, error: DataError) -> str:
    text = str(error)
    prefix = f"{sample.path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _rows(
    set_name: str, samples: Sequence[Sample], guesses: np.ndarray, confidences: np.ndarray
) -> list[Prediction]:
    return [
        Prediction(set_name, s.name, s.label, int(g), float(c))
        for s, g, c in zip(samples, guesses, confidences, strict=True)
    ]


class PredictionsCsv:
    """A predictions file (image, set, label, prediction, confidence), written as scoring goes.

    Use as a context manager; each call writes one batch of rows."""

    HEADER = ("image", "set", "label", "prediction", "confidence")

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._file: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise ValidatorError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(self.HEADER)

    def __call__(self, rows: Sequence[Prediction]) -> None:
        try:
            self._write(rows)
        except OSError as exc:  # disk full, I/O error: one line, not a traceback
            raise write_failed(self.path, exc) from None

    def _write(self, rows: Sequence[Prediction]) -> None:
        self._writer.writerows(
            (
                safe_text(r.image),  # file names may be anything but UTF-8 text
                safe_text(r.set_name),
                r.label,
                r.prediction,
                "" if np.isnan(r.confidence) else f"{r.confidence:.6f}",
            )
            for r in rows
        )

    def close(self) -> None:
        """Flush and close the file."""
        try:
            self._file.close()
        except OSError as exc:
            raise write_failed(self.path, exc) from None

    def __enter__(self) -> PredictionsCsv:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
