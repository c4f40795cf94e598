"""A few clean vs attacked image pairs with their predictions, gathered while scoring.

The engine hands every batch of predictions to a sink; this one keeps only a bounded number
(the first ``CLEAN_KEPT`` clean images, the first ``per_set * 4`` images of each attacked set),
so memory never grows with the dataset. A pair needs the attacked image's clean source: the
``source`` field of a set's ``manifest.json`` (written by ``robust-validate attack``) or, failing
that, a clean image of the same name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from validator.data.datasets import Dataset, ImageSet
from validator.scoring.engine import Prediction, PredictionSink

CLEAN_KEPT = 512
MAX_SETS = 8


class GallerySink:
    """Keeps the predictions a gallery needs; call ``pairs`` after scoring."""

    def __init__(self, per_set: int, clean_name: str = "clean") -> None:
        self.per_set, self.clean_name = per_set, clean_name
        self.kept: dict[str, dict[str, Prediction]] = {}

    def __call__(self, rows: Sequence[Prediction]) -> None:
        for row in rows:
            limit = CLEAN_KEPT if row.set_name == self.clean_name else self.per_set * 4
            kept = self.kept.setdefault(row.set_name, {})
            if len(kept) < limit:
                kept[row.image] = row

    def pairs(self, dataset: Dataset) -> list[dict[str, Any]]:
        """Up to ``per_set`` pairs for each of the first ``MAX_SETS`` attacked sets, images the
        attack fooled first."""
        clean_set, clean = dataset.sets[0], self.kept.get(self.clean_name, {})
        gallery: list[dict[str, Any]] = []
        for image_set in dataset.attacked[:MAX_SETS]:
            sources = _sources(image_set)
            rows = self.kept.get(image_set.name, {}).values()
            found = [
                _pair(image_set, row, clean_set.folder, clean[src])
                for row in rows
                if (src := sources.get(row.image, row.image)) in clean
            ]
            found.sort(key=lambda p: p["attacked"]["prediction"] == p["label"])  # fooled first
            gallery.extend(found[: self.per_set])
        return gallery


def tee(*sinks: PredictionSink | None) -> PredictionSink | None:
    """One sink that feeds each of ``sinks`` (None when there is none)."""
    present = [s for s in sinks if s is not None]
    if not present:
        return None

    def feed(rows: Sequence[Prediction]) -> None:
        for sink in present:
            sink(rows)

    return feed


def _sources(image_set: ImageSet) -> dict[str, str]:
    try:
        manifest = json.loads((image_set.folder / "manifest.json").read_text(encoding="utf-8"))
        records = manifest.get("images", [])
        return {str(r["image"]): str(r["source"]) for r in records if "source" in r}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _pair(
    image_set: ImageSet, row: Prediction, clean_folder: Path, clean: Prediction
) -> dict[str, Any]:
    return {
        "set": image_set.name,
        "label": row.label,
        "clean": {"path": str(clean_folder / clean.image), "prediction": clean.prediction},
        "attacked": {"path": str(image_set.folder / row.image), "prediction": row.prediction},
    }
