"""validator.text: untrusted text made printable, and invalid UTF-8 in a model mended once."""

from __future__ import annotations

import os

import pytest
from onnx import helper

from tests.conftest import tiny_classifier
from validator.findings import Finding, Severity, Status
from validator.loading.proto_walk import scan
from validator.reporting import report_to_json
from validator.text import TextCollision, mend_model_text, safe_data, safe_text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain name", "plain name"),
        ("ünïcödé 名前", "ünïcödé 名前"),
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("line\nbreak\ttab\r", "line\\x0abreak\\x09tab\\x0d"),
        ("abc\u202eevil", "abc\\u202eevil"),
        ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
        (b"bad\xff\xfe", "bad\\xff\\xfe"),
        (b"ok \xc3\xa9", "ok é"),
        (os.fsdecode(b"file\xff.onnx"), "file\\xff.onnx"),  # surrogate-escaped file name
        ("\U000e0041tag", "\\U000e0041tag"),
        (12, "12"),
    ],
)
def test_safe_text_escapes_what_a_terminal_would_act_on(value: object, shown: str) -> None:
    assert safe_text(value) == shown
    assert safe_text(shown) == shown  # idempotent: escaping twice changes nothing


def test_safe_text_shortens_in_the_middle() -> None:
    assert safe_text("a" * 50 + "b" * 50, limit=21) == "a" * 9 + "..." + "b" * 9


def test_safe_data_escapes_keys_and_nested_values() -> None:
    data = {"k\x1b": ["v\x1b", ("t\x1b", 3)], "n": {"deep": b"\xff"}}
    assert safe_data(data) == {"k\\x1b": ["v\\x1b", ("t\\x1b", 3)], "n": {"deep": "\\xff"}}


def test_a_finding_is_escaped_when_built_so_every_reporter_is_safe() -> None:
    finding = Finding("output", Status.FAIL, Severity.ERROR, "name \x1b[31m",
                      measured="m\u202e", details={"x\x07": "y\x1b"})  # fmt: skip
    assert finding.message == "name \\x1b[31m"
    assert finding.measured == "m\\u202e"
    assert dict(finding.details) == {"x\\x07": "y\\x1b"}


def test_json_report_escapes_a_path_that_is_not_utf8() -> None:
    from validator.findings import Report

    report = Report(model={"path": os.fsdecode(b"/m\xff\x1b.onnx")}, profile={"name": "final"})
    report.notes.append("note \x1b[2J")
    text = report_to_json(report)
    text.encode("utf-8")  # no surrogate survives
    assert "/m\\\\xff\\\\x1b.onnx" in text and "\x1b" not in text


def _bad(model: object, raw: bytes) -> object:
    import onnx

    data = model.SerializeToString().replace(b"ZZMARK", raw)  # type: ignore[attr-defined]
    parsed = onnx.ModelProto()
    parsed.ParseFromString(data)
    return parsed


def test_invalid_utf8_names_become_escaped_text_everywhere() -> None:
    model = tiny_classifier()
    model.graph.node[1].name = "ZZMARK"
    model.graph.node[1].output[0] = "ZZMARK"
    model.graph.node[2].input[0] = "ZZMARK"
    parsed = _bad(model, b"r\xffelu\xfe")
    found = scan(parsed)
    assert len(found.invalid_text) == 3
    assert mend_model_text(parsed, found.invalid_text) == 1  # one distinct string
    node, consumer = parsed.graph.node[1], parsed.graph.node[2]
    assert node.name == node.output[0] == consumer.input[0] == "r\\xffelu\\xfe"
    assert scan(parsed).invalid_text == []


def test_mending_refuses_to_merge_two_different_names() -> None:
    literal = "ab\\xffcd\\xfe"  # the text b"ab\xffcd\xfe" would be mended into
    side = helper.make_node("Relu", ["features"], [literal])
    model = tiny_classifier(extra_nodes=[side])
    model.graph.node[1].name = "ZZMARK"
    parsed = _bad(model, b"ab\xffcd\xfe")
    found = scan(parsed)
    assert len(found.invalid_text) == 1
    with pytest.raises(TextCollision, match="both as invalid UTF-8 and as text"):
        mend_model_text(parsed, found.invalid_text)
