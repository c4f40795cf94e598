"""The straight-through gradient for ArgMax quantisers on the input path: the forward pass is
onnxruntime's, the backward pass is the identity to the quantiser's input (BPDA), for every
encoding covered; an encoding outside the pattern gets no gradient (and stays flagged)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.unit.masked_variants import ARGMAX_ENCODINGS, ARGMAX_UNCOVERED, masked_variant
from tests.unit.test_attacks_models import query_model, random_images, save
from validator.attacks.masking import input_path_ops

torch = pytest.importorskip("torch")

from validator.attacks.torch_graph import TorchGraph  # noqa: E402 (needs torch)
from validator.attacks.whitebox import WhiteBox  # noqa: E402


def _inputs() -> np.ndarray:
    return (random_images(4, seed=3) / 255.0).astype(np.float32)


@pytest.mark.parametrize("encoding", ARGMAX_ENCODINGS)
def test_argmax_quantiser_forward_is_exact_and_backward_is_identity(
    encoding: str, tmp_path: Path
) -> None:
    model = masked_variant(f"argmax-{encoding}")
    x = _inputs()
    session = ort.InferenceSession(str(save(model, tmp_path, encoding)))
    reference = session.run(None, {"input": x})[0]
    module = TorchGraph(model, torch)
    leaf = torch.from_numpy(x).requires_grad_(True)
    out = module(leaf)
    assert np.max(np.abs(out.detach().numpy() - reference)) < 1e-4
    out[:, 3].sum().backward()
    weights = next(t for t in model.graph.initializer if t.name == "W")
    row = np.frombuffer(weights.raw_data, np.float32).reshape(10, -1)[3].reshape(3, 16, 16)
    # logits are linear in the quantised input: the straight-through gradient is the row
    assert leaf.grad is not None
    assert np.allclose(leaf.grad.numpy(), np.broadcast_to(row, x.shape), atol=1e-6)


def test_an_argmax_outside_the_pattern_gets_no_gradient_and_stays_flagged(tmp_path: Path) -> None:
    model = masked_variant(f"argmax-{ARGMAX_UNCOVERED}")
    out = TorchGraph(model, torch)(torch.from_numpy(_inputs()).requires_grad_(True))
    assert not out.requires_grad
    assert "ArgMax" in {op for _, op in input_path_ops(model)}


@pytest.mark.parametrize("encoding", ARGMAX_ENCODINGS)
def test_without_a_gradient_nothing_changes(encoding: str) -> None:
    model = masked_variant(f"argmax-{encoding}")
    x = torch.from_numpy(_inputs())
    with torch.no_grad():
        plain = TorchGraph(model, torch)(x)
    assert not plain.requires_grad


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        (f"argmax-{ARGMAX_UNCOVERED}", "pgd+no-gradient"),  # was a RuntimeError traceback
        ("argmax-quantise", "pgd"),
    ],
)
def test_white_box_attacks_run_with_or_without_a_gradient(
    kind: str, method: str, tmp_path: Path
) -> None:
    model = query_model(save(masked_variant(kind), tmp_path, kind))
    images = random_images(4, seed=5)
    labels = model.predict(images)
    result = WhiteBox(method="pgd", eps=4 / 255).run(model, images, labels, [1, 2, 3, 4], 5)
    assert result.per_image["method"] == [method] * 4
    assert np.all(np.abs(result.images - images) <= 4 + 1e-6)
