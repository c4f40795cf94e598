"""What scoring is asked to do, as plain values: the options and the progress protocol.

Kept apart from validator.scoring.evaluation and validator.scoring.engine (which import the
scoring, dataset and onnxruntime machinery) so that the command line and the checks-only path can
name these types without loading what they do not use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from validator.errors import UsageError

DEFAULT_BATCH = 16  # enough to keep onnxruntime's kernels busy; ~10 MB of input at 224 x 224


class Progress(Protocol):
    """What a progress display receives while sets are scored or attacked.

    Every argument is a plain value (str, int, None), so a child process can forward the calls
    as messages."""

    def start(self, set_name: str, total: int, activity: str = "scoring") -> None:
        """A set of ``total`` images begins; ``activity`` says what is done to it ("scoring",
        "attacking")."""

    def advance(self, images: int, fooled: int | None = None) -> None:
        """``images`` more images of the current set are done (scored, skipped or attacked);
        ``fooled`` of them were misclassified after an attack (None when scoring)."""

    def finish(self, skipped: str | None = None) -> None:
        """The current set is done (or, with ``skipped``, given up for that reason)."""


@dataclass(frozen=True)
class ScoreOptions:
    """How to score: on which dataset root, what to do with bad images, where predictions go."""

    data: Path | None = None  # a root with clean/ and attacked/<name>/; None = reference set
    skip_bad_images: bool = False  # skip (and list) bad images instead of stopping
    predictions: Path | None = None  # CSV: image, set, label, prediction, confidence
    batch_size: int = DEFAULT_BATCH
    workers: int | None = None  # decoding threads
    attack: str | None = None  # attack suite (name or TOML) run on the fly against this model
    max_images: int | None = None  # score (and attack) only the first N images of each set
    score_anyway: bool = False  # score even after an error-severity check failed
    gallery: int = 0  # clean vs attacked pairs kept per attacked set (for the HTML report)
    # A PyTorch submission's unpacked folder (the zip route sets it): on-the-fly white-box
    # attacks then differentiate its module, held by a confined child (submission.remote_module).
    module: Path | None = None


def scoring_options(
    checks_only: bool,
    data: Path | None = None,
    skip_bad_images: bool = False,
    predictions: Path | None = None,
    attack: str | None = None,
    max_images: int | None = None,
    score_anyway: bool = False,
    gallery: int = 0,
) -> ScoreOptions | bool:
    """The ``score`` argument of validate() for the command line's options (scoring is on
    unless ``checks_only``, which contradicts the scoring options)."""
    if checks_only:
        options = {
            "--data": data,
            "--skip-bad-images": skip_bad_images,
            "--predictions": predictions,
            "--attack": attack,
            "--max-images": max_images,
            "--score-anyway": score_anyway,
        }
        given = [name for name, value in options.items() if value]
        if given:
            raise UsageError(f"--checks-only does not score, so {', '.join(given)} has no use")
        return False
    return ScoreOptions(
        data, skip_bad_images, predictions, attack=attack, max_images=max_images,
        score_anyway=score_anyway, gallery=gallery,
    )  # fmt: skip
