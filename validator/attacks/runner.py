"""Running a suite against one model file: attacked sets on disk (``attack_dataset``) or only
their numbers (``run_suite``, for scoring on the fly).

The clean images are decoded with the profile's documented preprocessing (size, resize rule),
kept as 8-bit RGB levels, and attacked in chunks; every image's seed is derived from the suite's
seed, the set name and the image name, so a set is the same whatever the chunking and however
many other sets run. Masking evidence is gathered first (outputs, graph) and last (black-box vs
white-box success) and returned as findings.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from validator.attacks.base import Family, image_seed
from validator.attacks.clean_levels import CleanLevels
from validator.attacks.manifest import image_records, set_manifest, top_manifest
from validator.attacks.masking import (
    EOT_DRAWS,
    Sign,
    comparison_signs,
    convertible_finding,
    graph_signs,
    masking_finding,
    output_signs,
    probe_outputs,
    random_sources,
    unseen_random_sign,
)
from validator.attacks.model_fn import SCORE_DRAWS, QueryModel
from validator.attacks.outcomes import SetOutcome, SuiteRun, eot_summary, worst_case
from validator.attacks.suites import Entry, Suite, load_suite
from validator.attacks.tap import tapped_forward
from validator.attacks.whitebox import Conversion, Unavailable
from validator.attacks.writer import (
    MANIFEST,
    BackgroundPngs,
    claim_output,
    discard_folder,
    prepare_folder,
    publish_folder,
    write_json,
    write_labels,
)
from validator.config import Profile, load_profile
from validator.data.datasets import CLEAN_DIR, ImageSet, Sample, SetKind, list_set
from validator.errors import DataError, UsageError
from validator.findings import Finding
from validator.inference import Runner, RuntimeFailure
from validator.scoring.engine import Progress
from validator.vocab import Device, MaskingPolicy

__all__ = ["SetOutcome", "SuiteRun", "attack_dataset", "clean_set", "copy_clean", "run_suite"]

# Images attacked together, and the most images per model call. Query attacks send one
# query per live image per step, so a larger chunk keeps onnxruntime's batches large (on the
# bundled baseline a batch of 64 runs ~1.25x the images/s of 32); results never depend on it.
DEFAULT_BATCH: dict[str, int] = {Device.CPU.value: 64, Device.CUDA.value: 256}
WHITEBOX_CHUNK = 32  # white-box attacks hold gradients: their memory grows much faster
PROBE_IMAGES = 16


def attack_dataset(
    model_path: str | Path,
    data: str | Path,
    out_root: str | Path,
    suite: str | Path | Suite = "standard",
    profile: str | Path | Profile = "final",
    *,
    threads: int | None = None,
    progress: Progress | None = None,
    max_images: int | None = None,
    overwrite: bool = False,
    gradients: Any = None,
    batch: int | None = None,
) -> SuiteRun:
    """Attack the clean set of ``data`` (a dataset root with ``clean/``, or a single set) and
    write ``out_root/clean/``, ``out_root/attacked/<set>/`` (PNGs, label.txt, manifest.json) and
    ``out_root/manifest.json``. Returns the run; its ``manifest`` is the top-level manifest.

    An ``out_root`` that already holds a run is refused (UsageError) before any work unless
    ``overwrite``, which replaces that run whole. A set that cannot be made (a white-box attack
    without torch) leaves no folder; the manifest lists it with the reason. ``gradients`` (a
    PyTorch submission's module, see run_suite) goes on to run_suite, as does
    ``batch``."""
    out = Path(out_root)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    clean = clean_set(Path(data), prof.num_classes)
    claim_output(out, overwrite, keep=clean.folder)
    run = run_suite(
        model_path, clean, suite, prof, out_root=out, threads=threads, progress=progress,
        max_images=max_images, gradients=gradients, batch=batch,
    )  # fmt: skip
    write_json(out / MANIFEST, run.manifest)
    return run


def run_suite(
    model_path: str | Path,
    data: str | Path | ImageSet,
    suite: str | Path | Suite = "standard",
    profile: str | Path | Profile = "final",
    *,
    out_root: Path | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    forward: Callable[[np.ndarray], np.ndarray] | None = None,
    max_images: int | None = None,
    device: str = "cpu",
    gradients: Any = None,
    batch: int | None = None,
) -> SuiteRun:
    """Run ``suite`` on the clean images of ``data``; write sets only when ``out_root`` is given.
    ``forward`` replaces the onnxruntime session (tests and wrappers); ``max_images`` caps the
    suite's own limit (the first N clean images); ``device`` is where the query session runs
    (validator.inference.Runner); ``gradients`` (validator.submission.remote_module) makes
    white-box attacks differentiate a PyTorch submission's own module, not a conversion; ``batch``
    (else the suite's, else :data:`DEFAULT_BATCH` for the device) is how many images are
    attacked together and the most images per model call: speed and memory only, the sets are
    byte-identical whatever it is."""
    chosen = suite if isinstance(suite, Suite) else load_suite(suite)
    if max_images is not None:
        cap = min(max_images, chosen.max_images or max_images)
        chosen = dataclasses.replace(chosen, max_images=cap)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    path = Path(model_path)
    clean = data if isinstance(data, ImageSet) else clean_set(Path(data), prof.num_classes)
    samples = clean.samples[: chosen.max_images] if chosen.max_images else clean.samples
    size = max(1, batch or chosen.batch or DEFAULT_BATCH.get(device, DEFAULT_BATCH["cpu"]))
    model = _query_model(path, prof, threads, forward, device, size)
    if gradients is not None:
        model.cache["module"] = gradients
    context = _Context(model, prof, chosen, samples, out_root, progress)
    signs = context.probe(path)
    if out_root is not None:
        copy_clean(clean, samples, out_root / CLEAN_DIR)
    with BackgroundPngs() as context.pngs:  # every set written (and renamed) on leaving
        outcomes = [context.run_entry(entry) for entry in chosen.entries]
    signs += comparison_signs(
        (o.name, o.family, float(o.params.get("eps", -1.0)), o.fooled / max(o.images, 1))
        for o in outcomes
        if o.skipped is None and o.params.get("norm") == "linf"
    )
    error = prof.masking is MaskingPolicy.ERROR
    findings = (masking_finding(signs, error), context.convertible())
    worst = worst_case(context.outcomes_by_image)
    manifest = top_manifest(path, prof, chosen, outcomes, findings)
    manifest["worst_case"] = worst
    manifest["whitebox_gradients"] = context.gradient_source()
    return SuiteRun(chosen, tuple(outcomes), findings, tuple(signs), manifest, worst)


def clean_set(data: Path, num_classes: int) -> ImageSet:
    """The clean set of a dataset root (``clean/``) or of a folder that is itself a set."""
    if not data.exists():
        raise DataError(f"{data}: no such dataset folder")
    folder = data / CLEAN_DIR if (data / CLEAN_DIR).is_dir() else data
    return list_set(folder, CLEAN_DIR, SetKind.CLEAN, num_classes)


def copy_clean(clean: ImageSet, samples: Sequence[Sample], folder: Path) -> None:
    """Copy the clean images used (byte for byte) and their labels, unless ``folder`` is the
    clean set itself."""
    if folder.resolve() == clean.folder.resolve():
        return
    prepare_folder(folder)
    for sample in samples:
        target = folder / sample.name
        prepare_folder(target.parent)
        try:
            shutil.copyfile(sample.path, target)
        except OSError as exc:
            raise DataError(
                f"cannot copy {sample.path} to {target}: {exc.strerror or exc}"
            ) from None
    write_labels(folder, [s.name for s in samples], [s.label for s in samples])


def _query_model(
    path: Path,
    profile: Profile,
    threads: int | None,
    forward: Callable[[np.ndarray], np.ndarray] | None,
    device: str = "cpu",
    batch: int = DEFAULT_BATCH["cpu"],
) -> QueryModel:
    custom = forward
    if forward is None:
        try:
            forward = Runner(path, threads, device).run
        except RuntimeFailure as exc:
            raise UsageError(f"{path}: {exc.reason}") from None
    tapped = tapped_forward(path, threads) if path.is_file() and custom is None else None
    return QueryModel(forward, profile.channel_order, batch_size=batch, source=path, tapped=tapped)


class _Context:
    """State shared by the sets of one suite run."""

    def __init__(
        self,
        model: QueryModel,
        profile: Profile,
        suite: Suite,
        samples: Sequence[Sample],
        out_root: Path | None,
        progress: Progress | None,
    ) -> None:
        self.model, self.profile, self.suite = model, profile, suite
        self.samples, self.out_root, self.progress = samples, out_root, progress
        self.conversion_problem: str | None = None
        self.outcomes_by_image: dict[str, dict[str, bool]] = {}  # set -> source -> still right
        self.whitebox_missing: str | None = None
        self.pngs: BackgroundPngs | None = None  # the run's writer, when sets are written
        self.clean = CleanLevels(profile)

    def probe(self, path: Path) -> list[Sign]:
        """Output and graph evidence; sets ``draws`` for a random model."""
        if not self.samples:
            return []
        first = self.load(self.samples[:PROBE_IMAGES])
        probe = probe_outputs(self.model, first)
        self.model.queries = 0
        self.model.margin_scale = max(probe.median_gap, 1e-6)
        if probe.random:
            self.model.make_random(EOT_DRAWS)
        signs = output_signs(probe, tapped=self.model.tapped is not None)
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception:  # a file onnxruntime runs but onnx cannot parse: no graph evidence
            return signs
        hidden = [] if probe.random else random_sources(proto)
        if hidden:  # a coin (two weight sets) can land the same way in every probe run
            self.model.make_random(EOT_DRAWS)
            signs.append(unseen_random_sign(hidden))
        return signs + graph_signs(proto)

    def load(self, samples: Sequence[Sample]) -> np.ndarray:
        """Clean images as 8-bit RGB levels (N x 3 x H x W float32), decoded once per run
        where they fit (validator.attacks.clean_levels)."""
        return self.clean.load(samples)

    def run_entry(self, entry: Entry) -> SetOutcome:
        """Attack the images of one set and (optionally) write it."""
        attack = entry.attack
        chosen = [s for i, s in enumerate(self.samples) if entry.takes(i)]
        params = dict(attack.params)
        base = SetOutcome(attack.name, attack.family.value, params, entry.budget, len(chosen), 0, 0)
        if self.progress is not None:
            self.progress.start(attack.name, len(chosen), "attacking")
        final = self.out_root / "attacked" / attack.name if self.out_root is not None else None
        # Written under a hidden name (scoring ignores hidden folders) and renamed when whole:
        # a set that cannot be made, or an interrupted run, never leaves a set to be scored.
        folder = final.with_name(f".{attack.name}.partial") if final is not None else None
        try:
            records = list(self._attack(entry, chosen, folder))
        except Unavailable as exc:
            self._note_unavailable(exc)
            if folder is not None:
                self._writer().then(functools.partial(discard_folder, folder))  # after its images
            if self.progress is not None:
                self.progress.finish(exc.reason)
            return _skipped(base, exc.reason)
        if self.progress is not None:
            self.progress.finish()
        if folder is not None and final is not None:
            manifest = set_manifest(entry, records, self.suite, self.profile, self.model.draws)
            self._writer().then(functools.partial(_finish_set, folder, final, records, manifest))
            folder = final
        fooled = sum(1 for r in records if r["success"])
        queries = sum(int(r["queries"]) for r in records)
        random = self.model.random and bool(records)
        methods: dict[str, int] = {}
        for r in records:
            methods[str(r.get("method", attack.name))] = (
                methods.get(str(r.get("method", attack.name)), 0) + 1
            )
        self.outcomes_by_image[attack.name] = {
            r["source"]: not r["success"] and bool(r.get("correct_every_run", True))
            for r in records
        }
        return SetOutcome(
            attack.name,
            base.family,
            params,
            entry.budget,
            len(records),
            fooled,
            queries,
            None,
            folder,
            sum(float(r["p_correct"]) for r in records) if random else None,
            sum(1 for r in records if r["correct_every_run"]) if random else None,
            methods,
            eot_summary(records),
        )

    def _attack(
        self, entry: Entry, chosen: Sequence[Sample], folder: Path | None
    ) -> Iterator[dict[str, Any]]:
        """Attack chunk by chunk; images are written as they come (never all held at once)."""
        taken: set[str] = set()
        if folder is not None:
            discard_folder(folder)  # a staging folder left by an interrupted run
            prepare_folder(folder)
        chunk = self.model.batch_size
        if entry.attack.family is Family.WHITEBOX:
            chunk = min(chunk, WHITEBOX_CHUNK)
        for start in range(0, len(chosen), chunk):
            batch = chosen[start : start + chunk]
            images = self.load(batch)
            labels = np.array([s.label for s in batch], dtype=np.int64)
            seeds = [image_seed(self.suite.seed, entry.attack.name, s.name) for s in batch]
            result = entry.attack.run(self.model, images, labels, seeds, entry.budget)
            extra = self._score_runs(result.images, labels)
            for k, record in enumerate(image_records(batch, seeds, result, taken)):
                record.update({key: values[k] for key, values in extra.items()})
                levels = record.pop("_levels")
                if folder is not None:
                    self._writer().write(folder / record["image"], levels)
                yield record
            if self.progress is not None:
                self.progress.advance(len(batch), int(np.count_nonzero(result.success)))

    def _writer(self) -> BackgroundPngs:
        if self.pngs is None:
            raise RuntimeError("sets are written only inside run_suite's writer")
        return self.pngs

    def _score_runs(self, images: np.ndarray, labels: np.ndarray) -> dict[str, list[Any]]:
        """For a random model: each attacked image's share of correct separate runs (its
        expected correctness) and whether every run was right (the worst case over runs)."""
        if not self.model.random:
            return {}
        right = self.model.correct_draws(images, labels, SCORE_DRAWS)
        return {
            "p_correct": [round(float(v), 6) for v in right.mean(axis=0)],
            "correct_every_run": [bool(v) for v in np.all(right, axis=0).tolist()],
        }

    def _note_unavailable(self, exc: Unavailable) -> None:
        if exc.convertible is False:
            self.conversion_problem = exc.reason
        elif exc.convertible is None:
            self.whitebox_missing = exc.reason

    def gradient_source(self) -> str | None:
        """Where white-box gradients came from (None when no white-box set ran)."""
        cached = self.model.cache.get("conversion")
        return cached.source if isinstance(cached, Conversion) else None

    def convertible(self) -> Finding:
        """The ``convertible`` finding for this run."""
        if self.conversion_problem is not None:
            return convertible_finding(self.conversion_problem)
        if "conversion" in self.model.cache:
            note = getattr(self.model.cache["conversion"], "note", None)
            return convertible_finding(None, passed=note)
        return convertible_finding(
            self.whitebox_missing or "no white-box attack in the suite", skipped=True
        )


def _finish_set(
    folder: Path, final: Path, records: list[dict[str, Any]], manifest: dict[str, Any]
) -> None:
    """Label file and manifest of a set whose images are written, then its final name."""
    write_labels(folder, [r["image"] for r in records], [r["label"] for r in records])
    write_json(folder / MANIFEST, manifest)
    publish_folder(folder, final)


def _skipped(base: SetOutcome, reason: str) -> SetOutcome:
    return SetOutcome(base.name, base.family, base.params, base.budget, 0, 0, 0, reason)
