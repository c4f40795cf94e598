"""The pytest plugin through pytester: generated tests per check, thresholds, selection, settings
from the ini file and the command line, JUnit XML, fixtures and assertion helpers.

Inner sessions run in process (one runs in a subprocess to see what it imports); the plugin is
active through its pytest11 entry point, as for a user who installed the package. The models are
tiny and written into each pytester folder.
"""

from __future__ import annotations

import importlib.metadata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import validator.checks.loading as loading
from pytest_plugin import reports
from pytest_plugin.items import check_ids
from tests.integration import plugin_models as models
from validator.scoring.evaluation import ScoreOptions

pytest_plugins = ["pytester"]

ALL = check_ids()


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner session, verbose. In process, pytest would warn that it cannot rewrite this
    distribution's modules (the outer session imported them); that is not the plugin's doing."""
    return pytester.runpytest("-v", "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """``{"<model>::<check>": outcome}`` of the generated tests, from the verbose lines."""
    found: dict[str, str] = {}
    for line in result.outlines:
        words = line.split()
        if len(words) > 1 and "robust::" in words[0]:  # "../robust::..." from a subfolder
            found[words[0].partition("robust::")[2]] = words[1]
    return found


def pyproject(pytester: pytest.Pytester, **settings: str | list[str] | bool) -> None:
    """Write [tool.pytest.ini_options] with ``settings`` (TOML values) into pyproject.toml."""
    lines = ["[tool.pytest.ini_options]"]
    for key, value in settings.items():
        text = str(value).lower() if isinstance(value, bool) else repr(value).replace("'", '"')
        lines.append(f"{key} = {text}")
    pytester.makefile(".toml", pyproject="\n".join(lines) + "\n")


def test_the_plugin_is_registered_through_its_entry_point() -> None:
    points = importlib.metadata.entry_points(group="pytest11")
    assert "pytest_plugin.plugin" in {p.value for p in points if p.name == "robust_validate"}


def test_without_a_model_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish():\n"
        "    print('validator imported:', 'validator' in sys.modules)\n"
    )
    result = pytester.runpytest_subprocess("-v", "-s")  # a fresh interpreter: what it imports
    result.assert_outcomes(passed=1)
    assert "robust::" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*validator imported: False*"])


def test_a_passing_model_passes_every_check(pytester: pytest.Pytester) -> None:
    models.passing(pytester.path)
    result = run(pytester, "--robust-model", "ok.onnx")
    result.assert_outcomes(passed=len(ALL))
    for check in ALL:
        result.stdout.fnmatch_lines([f"robust::ok.onnx::{check} PASSED*"])


def test_fp16_fails_fp32_and_input_and_skips_what_cannot_run(pytester: pytest.Pytester) -> None:
    models.half(pytester.path)
    result = run(pytester, "--robust-model", "half.onnx", "-rs")
    seen = outcomes(result)
    failed = {name for name, outcome in seen.items() if outcome == "FAILED"}
    assert failed == {"half.onnx::fp32", "half.onnx::input"}
    assert seen["half.onnx::runtime"] == "SKIPPED"
    assert seen["half.onnx::flops"] == "PASSED"
    result.stdout.fnmatch_lines([
        "*_ half.onnx: fp32 _*",
        "fp32 fail (severity error): not FP32: 10 float16 tensors*",
        "    float16 weights: [[]conv.weight, conv.bias, fc.weight, fc.bias[]]",
        "SKIPPED [[]3[]] half.onnx: the input is not N x 3 x S x S float32*",
    ])  # fmt: skip
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_failure_shows_the_measured_value_and_the_limit(pytester: pytest.Pytester) -> None:
    models.too_many_params(pytester.path)
    result = run(pytester, "--robust-model", "wide.onnx", "-k", "params")
    result.assert_outcomes(failed=1, deselected=len(ALL) - 1)
    result.stdout.fnmatch_lines([
        "params fail (severity error): 30,105,618 parameters*",
        "  measured: 30,105,618",
        "  limit:    30,000,000",
        "  evidence:",
        "    largest_tensors: {fc: 30,105,600, *}",
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("flops", ["flops"]),
        ("fp32 or input", ["fp32", "input"]),
        ("ok.onnx and not runtime and not consistency", [c for c in ALL if c not in
                                                          ("runtime", "batch-consistency")]),
    ],
)  # fmt: skip
def test_k_selects_generated_tests_by_check_id(
    pytester: pytest.Pytester, expression: str, selected: list[str]
) -> None:
    models.passing(pytester.path)
    result = run(pytester, "--robust-model", "ok.onnx", "-k", expression)
    result.assert_outcomes(passed=len(selected), deselected=len(ALL) - len(selected))
    assert sorted(outcomes(result)) == sorted(f"ok.onnx::{c}" for c in selected)


def test_m_robust_selects_or_drops_all_generated_tests(pytester: pytest.Pytester) -> None:
    models.passing(pytester.path)
    pytester.makepyfile("def test_plain():\n    pass\n")
    only = run(pytester, "--robust-model", "ok.onnx", "-m", "robust")
    only.assert_outcomes(passed=len(ALL), deselected=1)
    without = run(pytester, "--robust-model", "ok.onnx", "-m", "not robust")
    without.assert_outcomes(passed=1, deselected=len(ALL))


def test_several_models_give_several_groups(pytester: pytest.Pytester) -> None:
    models.passing(pytester.path)
    models.half(pytester.path)
    result = run(pytester, "--robust-model", "ok.onnx", "--robust-model", "half.onnx",
                                "-k", "fp32")  # fmt: skip
    assert outcomes(result) == {"ok.onnx::fp32": "PASSED", "half.onnx::fp32": "FAILED"}


def test_ini_settings_work_and_relative_paths_follow_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    models.passing(pytester.mkdir("models"))
    pyproject(pytester, robust_model=["models/ok.onnx"])
    monkeypatch.chdir(pytester.mkdir("elsewhere"))  # ini paths do not depend on the cwd
    result = run(pytester, "-k", "load or flops")
    assert outcomes(result) == {"models/ok.onnx::load": "PASSED",
                                "models/ok.onnx::flops": "PASSED"}  # fmt: skip


def test_the_command_line_wins_over_the_ini_file(pytester: pytest.Pytester) -> None:
    models.passing(pytester.path)
    models.new_opset(pytester.path)
    pyproject(pytester, robust_model=["ok.onnx"], robust_strict=True)
    from_ini = run(pytester, "-k", "opset")
    assert outcomes(from_ini) == {"ok.onnx::opset": "PASSED"}
    # the model on the command line replaces the ini list; --robust-no-strict the ini's strict
    strict = run(pytester, "--robust-model", "new.onnx", "-k", "opset")
    assert outcomes(strict) == {"new.onnx::opset": "FAILED"}
    strict.stdout.fnmatch_lines(["opset warn (severity warning): opset 17 > 15*",
                                 "  (a warning fails in strict mode)"])  # fmt: skip
    relaxed = run(pytester, "--robust-model", "new.onnx", "--robust-no-strict", "-k", "opset")
    relaxed.assert_outcomes(passed=1, deselected=len(ALL) - 1, warnings=1)


def test_a_warning_check_passes_with_a_pytest_warning(pytester: pytest.Pytester) -> None:
    models.new_opset(pytester.path)
    result = run(pytester, "--robust-model", "new.onnx")
    result.assert_outcomes(passed=len(ALL), warnings=1)
    result.stdout.fnmatch_lines(["robust::new.onnx::opset",
                                 "*RobustCheckWarning: opset 17 > 15*"])  # fmt: skip


def test_a_missing_model_is_one_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = run(pytester, "--robust-model", "gone.onnx")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"robust_model: no such file: {pytester.path / 'gone.onnx'} *",
                                 "ERROR robust::gone.onnx",
                                 "*Interrupted: 1 error during collection*"])  # fmt: skip
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--robust-min-final", "high"], "robust_min_final: expected a number from 0 to 1*"),
        (["--robust-min-clean", "85"], "robust_min_clean: expected a number from 0 to 1*"),
        (["--robust-profile", "finale"], "robust_profile: unknown profile 'finale'; did you*"),
    ],
)
def test_a_bad_setting_is_a_one_line_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    models.passing(pytester.path)
    result = run(pytester, "--robust-model", "ok.onnx", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()


def test_junit_xml_names_each_check(pytester: pytest.Pytester) -> None:
    models.half(pytester.path)
    run(pytester, "--robust-model", "half.onnx", "--junitxml", "out.xml")
    cases = ET.parse(pytester.path / "out.xml").getroot().iter("testcase")
    by_name = {case.get("name"): case for case in cases}
    assert sorted(by_name) == sorted(ALL)
    assert {case.get("classname") for case in by_name.values()} == {"robust.half.onnx"}
    failure = by_name["fp32"].find("failure")
    assert failure is not None
    assert "10 float16 tensors" in (failure.get("message") or "")
    assert by_name["runtime"].find("skipped") is not None


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    """``{test name: {property: value}}`` from a JUnit XML file."""
    return {
        case.get("name") or "": {
            prop.get("name") or "": prop.get("value") or "" for prop in case.iter("property")
        }
        for case in ET.parse(path).getroot().iter("testcase")
    }


def test_junit_properties_carry_measured_limit_and_warning(pytester: pytest.Pytester) -> None:
    models.new_opset(pytester.path)
    run(pytester, "--robust-model", "new.onnx", "--junitxml", "out.xml")
    props = junit_properties(pytester.path / "out.xml")
    assert sorted(props) == sorted(ALL)
    assert props["opset"] == {
        "check": "opset", "status": "warn", "severity": "warning", "measured": "17",
        "limit": "15", "message": props["opset"]["message"],
        "warning": f"RobustCheckWarning: {props['opset']['message']}",
    }  # fmt: skip
    assert "fix: export with opset_version <= 15" in props["opset"]["message"]
    params = props["params"]  # a passing check carries its figures too
    assert (params["status"], params["measured"], params["limit"]) == ("pass", "2148", "30000000")
    assert "warning" not in params
    assert props["file-size"]["severity"] == "warning" and props["file-size"]["status"] == "pass"


def test_junit_properties_of_failed_and_skipped_checks(pytester: pytest.Pytester) -> None:
    models.half(pytester.path)
    run(pytester, "--robust-model", "half.onnx", "--junitxml", "out.xml")
    props = junit_properties(pytester.path / "out.xml")
    assert props["fp32"]["status"] == "fail" and props["fp32"]["measured"] == ""
    assert "fix: export in float32" in props["fp32"]["message"]
    assert props["runtime"]["status"] == "skip"


# Scoring: the colour model scores clean 1.0, attacked 1/3, final 0.6 on the colour dataset.


@pytest.fixture
def colour_setup(pytester: pytest.Pytester) -> pytest.Pytester:
    models.colour(pytester.path)
    models.colour_profile(pytester.path)
    models.colour_dataset(pytester.path / "data")
    pyproject(pytester, robust_model=["colour.onnx"], robust_profile="tiny.toml",
              robust_data="data")  # fmt: skip
    return pytester


def test_junit_properties_of_a_threshold(colour_setup: pytest.Pytester) -> None:
    run(colour_setup, "--robust-min-final", "0.7", "--junitxml", "out.xml")
    final = junit_properties(colour_setup.path / "out.xml")["score-final"]
    assert (final["check"], final["status"], final["limit"]) == ("score-final", "fail", "0.7")
    assert float(final["measured"]) == pytest.approx(models.FINAL)


def test_a_threshold_above_the_score_fails_that_test_only(colour_setup: pytest.Pytester) -> None:
    result = run(colour_setup, "--robust-min-final", "0.7", "--robust-min-clean", "0.9")
    seen = outcomes(result)
    assert {n for n, o in seen.items() if o != "PASSED"} == {"colour.onnx::score-final"}
    assert seen["colour.onnx::score-clean"] == "PASSED"
    assert len(seen) == len(ALL) + 2
    result.stdout.fnmatch_lines([
        "score-final: 0.6000 < required 0.7000 (short by 0.1000)",
        "  clean: accuracy 1.0000 on 6/6 images (95% interval 0.610-1.000)",
        "  attacked: accuracy 0.3333 on 2/6 images (95% interval *)",
    ])  # fmt: skip


def test_ini_thresholds_work_and_the_command_line_wins(colour_setup: pytest.Pytester) -> None:
    pyproject(colour_setup, robust_model=["colour.onnx"], robust_profile="tiny.toml",
              robust_data="data", robust_min_attacked="0.5")  # fmt: skip
    from_ini = run(colour_setup, "-k", "score")
    assert outcomes(from_ini) == {"colour.onnx::score-attacked": "FAILED"}
    overridden = run(colour_setup, "-k", "score", "--robust-min-attacked", "0.3")
    assert outcomes(overridden) == {"colour.onnx::score-attacked": "PASSED"}


def count_loads(monkeypatch: pytest.MonkeyPatch, log: Path) -> Callable[[], list[str]]:
    """Record every model parse. Parses happen in the forked child processes of the sandbox,
    which inherit this patch, so each appends a line to ``log``; the result reads it back."""
    real: Callable[..., Any] = loading.load_model

    def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"{path}\n")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loading, "load_model", counting)
    return lambda: log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_the_model_is_parsed_once_per_session(
    colour_setup: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    colour_setup.makepyfile(
        test_mine="""
        from pytest_plugin import assert_check_passes, assert_score_at_least

        def test_budget(robust_report):
            assert_check_passes(robust_report, "flops")
            assert_score_at_least(robust_report, 0.5)

        def test_factory(robust_validate, robust_model_path):
            assert robust_validate(robust_model_path, data="data").score["final"] == 0.6
        """
    )
    loads = count_loads(monkeypatch, colour_setup.path / "loads.log")
    result = run(colour_setup, "--robust-min-final", "0.5")
    result.assert_outcomes(passed=len(ALL) + 1 + 2)
    assert len(loads()) == 1


@pytest.mark.parametrize(
    ("expression", "select", "score"),
    [
        ("flops", {"flops"}, False),  # static checks only: no session, no scoring
        ("flops or ensemble", {"flops", "ensemble"}, False),
        ("runtime", None, False),  # a runtime check needs the interface checks
        ("score", None, True),
    ],
)
def test_only_what_the_selection_needs_runs(
    colour_setup: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    expression: str,
    select: set[str] | None,
    score: bool,
) -> None:
    calls: list[tuple[object, object]] = []
    real = reports.validate

    def recording(*args: Any, select: Any = None, score: Any = False, **kwargs: Any) -> Any:
        calls.append((select, score))
        return real(*args, select=select, score=score, **kwargs)

    monkeypatch.setattr(reports, "validate", recording)
    result = run(colour_setup, "--robust-min-final", "0.5", "-k", expression)
    result.assert_outcomes(passed=len(select or [None]))
    options = ScoreOptions(data=colour_setup.path / "data") if score else False
    assert calls == [(None if select is None else frozenset(select), options)]


def test_unreadable_data_fails_the_thresholds_not_the_checks(
    colour_setup: pytest.Pytester,
) -> None:
    result = run(colour_setup, "--robust-min-final", "0.5", "--robust-data", "nowhere")
    result.assert_outcomes(passed=len(ALL), failed=1)
    result.stdout.fnmatch_lines(["score-final: no final score to compare with 0.5",
                                 "  score skipped: *nowhere*"])  # fmt: skip


def test_helpers_fail_with_measured_value_limit_and_evidence(pytester: pytest.Pytester) -> None:
    models.too_many_params(pytester.path)
    models.half(pytester.path)
    pytester.makepyfile(
        """
        import pytest
        from pytest_plugin import assert_check_fails, assert_check_passes

        def test_budget(robust_validate):
            report = robust_validate("wide.onnx")
            assert_check_passes(report, "params")

        def test_rejected(robust_validate):
            assert_check_fails(robust_validate("half.onnx"), "fp32")

        def test_typo(robust_validate):
            assert_check_passes(robust_validate("half.onnx"), "flop")
        """
    )
    result = run(
        pytester,
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        ">       assert_check_passes(report, \"params\")",
        "E       AssertionError: */wide.onnx: expected params to pass",
        "E       params fail (severity error): 30,105,618 parameters*",
        "E         measured: 30,105,618",
        "E         limit:    30,000,000",
        "E         evidence:",
        "*UsageError: unknown check 'flop'; did you mean 'flops'?*",
    ])  # fmt: skip


def test_robust_report_runs_once_per_configured_model(pytester: pytest.Pytester) -> None:
    models.passing(pytester.path)
    models.new_opset(pytester.path)
    pytester.makepyfile(
        """
        def test_opset(robust_report):
            assert robust_report.measurements["opset"] == 13
        """
    )
    result = run(pytester, "--robust-model", "ok.onnx", "--robust-model", "new.onnx",
                                "-k", "test_opset")  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_opset?ok.onnx? PASSED*",
                                 "*test_opset?new.onnx? FAILED*"])  # fmt: skip


def test_robust_report_without_a_model_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_mine(robust_report):\n    pass\n")
    result = run(
        pytester,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no model configured for robust-validate: pass --robust-model*"])
