"""Every printed line is redacted and terminal-safe; an unplanned error is one line and a private log."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cli.main import RAISE_UNEXPECTED, main, unexpected_error_line
from engine.logs import printable, redactor_for, safe_line, write_crash_log


def test_safe_line_redacts_the_calls_values_and_escapes_control_characters() -> None:
    redactor = redactor_for("c1", {"first_name": "Ann Example", "phone": "5552013344"})
    line = "LLM said: hello Ann Example at 5552013344\x1b[2J\x07"
    assert safe_line(line, redactor) == "LLM said: hello [REDACTED] at [REDACTED]\\x1b[2J\\x07"


def test_printable_keeps_newlines_and_tabs() -> None:
    assert printable("a\tb\nc\x9bd\x00") == "a\tb\nc\\x9bd\\x00"


def test_a_crash_log_is_private_and_redacted(tmp_path: Path) -> None:
    from engine.logs import REDACTOR

    REDACTOR.register("crash-test", ["Zelda Example"])
    try:
        try:
            raise RuntimeError("failed for Zelda Example")
        except RuntimeError as error:
            path = write_crash_log(error, tmp_path)
    finally:
        REDACTOR.forget("crash-test")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "Traceback" in text and "RuntimeError: failed for [REDACTED]" in text and "Zelda" not in text


def test_an_unexpected_error_is_one_line_pointing_at_the_log(tmp_path: Path) -> None:
    line = unexpected_error_line(ZeroDivisionError("secret detail"), tmp_path)
    assert line == (f"error: an unexpected ZeroDivisionError stopped the command "
                    f"(the details are in {tmp_path / 'errors.log'})")
    assert "secret detail" in (tmp_path / "errors.log").read_text()


def test_the_guard_gives_the_line_and_exit_1_outside_tests(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(RAISE_UNEXPECTED)
    monkeypatch.setattr("engine.schema.compiled.load_schema", _explode)
    assert main(["validate", "anything.yaml"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: an unexpected ZeroDivisionError stopped the command (the details are in ")


def test_under_tests_the_guard_lets_the_error_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.schema.compiled.load_schema", _explode)
    with pytest.raises(ZeroDivisionError):
        main(["validate", "anything.yaml"])


def _explode(*_args: object, **_options: object) -> None:
    raise ZeroDivisionError("an unplanned failure")
