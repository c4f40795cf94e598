"""The pytest plugin's ``robust_min_f1`` threshold on a Track 2 profile."""

from __future__ import annotations

import pytest

from tests.track2_builders import data, detector, profile

pytest_plugins = ["pytester"]


@pytest.mark.parametrize("minimum, outcome", [("0.7", "passed"), ("0.8", "failed")])
def test_min_f1_threshold(pytester: pytest.Pytester, minimum: str, outcome: str) -> None:
    detector(pytester.path / "red.onnx", (0.0, 0.0, 1.0))
    profile(pytester.path / "t2.toml")
    data(pytester.path / "data")
    pytester.makefile(
        ".toml",
        pyproject='[tool.pytest.ini_options]\nrobust_model = ["red.onnx"]\n'
        f'robust_profile = "t2.toml"\nrobust_data = "data"\nrobust_min_f1 = "{minimum}"\n',
    )
    result = pytester.runpytest(
        "-v", "-W", "ignore::pytest.PytestAssertRewriteWarning", "-k", "score"
    )
    result.stdout.fnmatch_lines([f"*red.onnx::score-f1 {outcome.upper()}*"])
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*score-f1: 0.7500 < required 0.8000*"])
