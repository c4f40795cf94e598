"""White-box gradients from a PyTorch submission's own module (skipped without torch): the
terminal softmax looked through however the module calls it, probabilities without a softmax
call attacked through their logarithm, and a suite run that differentiates the module and says
so in its manifest (the module held by its confined child)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.test_attacks_models import CLASSES, SIZE, test_profile, write_dataset
from validator.attacks.runner import run_suite
from validator.attacks.suites import suite_from_mapping
from validator.attacks.whitebox import MODULE
from validator.scoring.evaluation import module_gradients

torch = pytest.importorskip("torch")
from validator.submission.module_gradients import ModuleGradients  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy exporter
TAILS = ["none", "nn-softmax", "functional", "method", "masked", "exp-sum"]


class Net(torch.nn.Module):  # type: ignore[misc]
    """A linear classifier over the pixels, ending as ``tail`` says."""

    def __init__(self, tail: str, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fc = torch.nn.Linear(3 * SIZE * SIZE, CLASSES)
        self.tail, self.soft = tail, torch.nn.Softmax(dim=1)

    def logits(self, x: Any) -> Any:
        z = self.fc(x.flatten(1))
        return 10000 * z if self.tail == "masked" else z

    def forward(self, x: Any) -> Any:
        z = self.logits(x)
        if self.tail in ("nn-softmax", "masked"):
            return self.soft(z)
        if self.tail == "functional":
            return torch.nn.functional.softmax(z, dim=1)
        if self.tail == "method":
            return z.softmax(1)
        if self.tail == "exp-sum":
            return torch.exp(z) / torch.exp(z).sum(1, keepdim=True)
        return z


@pytest.mark.parametrize("tail", TAILS)
def test_scores_are_the_logits_before_a_terminal_softmax(tail: str) -> None:
    net = Net(tail)
    gradients = ModuleGradients(net, torch)
    gradients.probabilities = tail != "none"
    x = torch.rand(4, 3, SIZE, SIZE)
    scores = gradients(x)
    logits = net.logits(x)
    # exp-sum: no softmax call to look through, so log-probabilities
    expected = torch.log_softmax(logits, 1) if tail == "exp-sum" else logits
    assert torch.allclose(scores, expected, atol=1e-4)
    assert gradients.ends_in_softmax is (tail not in ("none", "exp-sum"))
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def _export(net: Any, path: Path) -> Path:
    net.eval()
    torch.onnx.export(
        net, (torch.zeros(1, 3, SIZE, SIZE),), str(path), input_names=["input"],
        output_names=["output"], dynamic_axes={"input": {0: "b"}, "output": {0: "b"}},
        dynamo=False,
    )  # fmt: skip
    return path


# model.py of Net(tail): the same weights, read from a file beside it (as a zip holds them).
MODEL_PY = """
import os
import numpy as np
import torch

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * SIZE * SIZE, CLASSES)
        stored = np.load(os.path.join(os.path.dirname(__file__), "fc.npz"))
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(stored["w"]))
            self.fc.bias.copy_(torch.from_numpy(stored["b"]))

    def forward(self, x):
        z = self.fc(x.flatten(1))
        return torch.nn.functional.softmax(10000 * z, dim=1) if MASKED else z
"""


def _submission(net: Net, folder: Path) -> Path:
    folder.mkdir()
    source = MODEL_PY.replace("SIZE", str(SIZE)).replace("CLASSES", str(CLASSES))
    (folder / "model.py").write_text(source.replace("MASKED", str(net.tail == "masked")))
    weights = {"w": net.fc.weight.detach().numpy(), "b": net.fc.bias.detach().numpy()}
    np.savez(folder / "fc.npz", **weights)
    return folder


@pytest.mark.parametrize("tail", ["none", "masked"])
def test_suite_differentiates_the_module_and_says_so(tmp_path: Path, tail: str) -> None:
    """Through the confined child that holds the module (the only place it runs, since the
    attacking process no longer imports model.py), as ``robust-validate attack`` does."""
    net = Net(tail)
    model = _export(net, tmp_path / "net.onnx")
    data = write_dataset(tmp_path / "data", model, count=6)
    suite = suite_from_mapping({"attack": [{"kind": "pgd-linf", "budget": 10}]})
    with module_gradients(_submission(net, tmp_path / "sub"), test_profile(), 1) as gradients:
        run = run_suite(model, data, suite, test_profile(), gradients=gradients)
    assert run.manifest["whitebox_gradients"] == MODULE
    convertible = run.findings[1]
    assert "not a conversion" in convertible.message
    assert ("terminal softmax looked through" in convertible.message) is (tail == "masked")
    assert run.sets[0].fooled >= 5  # an undefended linear model; the masking looked through
    plain = run_suite(model, data, suite, test_profile())
    assert plain.manifest["whitebox_gradients"] == "converted graph"
    assert np.isclose(plain.sets[0].fooled, run.sets[0].fooled, atol=1)
