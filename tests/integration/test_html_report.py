"""The --html report in a real headless Chromium (Debian's ``chromium`` driven by playwright with
``executable_path``): it loads without console errors or network requests, its numbers equal
the JSON report's, and every gallery image decodes. Skips, with the reason, when playwright or
chromium is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import builders
from tests.browser import CHROMIUM, open_page
from validator.cli.main import cli

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable on PATH")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("html")
    model = builders.colour_model(tmp / "m.onnx")
    profile = builders.colour_profile(tmp / "tiny.toml")
    data = builders.colour_dataset(tmp / "d")
    html, report = tmp / "report.html", tmp / "report.json"
    args = [str(model), "--profile", str(profile), "--data", str(data), "--html", str(html),
            "--json", str(report)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return html, json.loads(report.read_text(encoding="utf-8"))


def test_report_loads_and_matches_the_json(reports: tuple[Path, dict]) -> None:
    html, report = reports
    with open_page(html) as page:
        assert page.inner_text("#verdict") == report["verdict"].upper()
        assert page.inner_text("#final") == f"{report['score']['final']:.4f}"
        checks = page.eval_on_selector_all(
            "#checks tbody tr",
            "rows => rows.map(r => [r.cells[0].innerText, r.cells[1].innerText])",
        )
        assert checks == [[c["id"], c["status"].upper()] for c in report["checks"]]
        cells = page.eval_on_selector_all(
            "#score tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
        )
        for row, entry in zip(cells, report["score"]["sets"], strict=False):
            assert row[0] == entry["name"] and int(row[2]) == entry["images"]
            assert int(row[3]) == entry["correct"] and row[4] == f"{entry['accuracy']:.4f}"
        decoded = page.eval_on_selector_all(
            "#gallery img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
        )
        assert len(decoded) == 2 * len(report["score"]["gallery"]) > 0
        assert all(decoded)
        assert page.locator("svg.chart").count() >= 5
