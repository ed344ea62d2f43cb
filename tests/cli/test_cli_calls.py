"""`voice-console call` and `voice-console calls`, as real subprocesses."""

from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.phi import leaked_values

DATA = Path(__file__).resolve().parent.parent / "data"
SCHEMA, PATIENT = DATA / "minimal_schema.yaml", DATA / "minimal_patient.json"
VOICE_CONSOLE = Path(sys.executable).parent / "voice-console"
SEED_KEYS = ("total_call_time_ms", "precompute_time_ms", "avg_prompt_render_ms", "state_transitions",
             "transition_details", "schema_overhead_estimate_ms")
PATIENT_VALUES = ("Ann", "ann", "2026-12-01", "December first", "metformin")


def voice_console(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VOICE_CONSOLE), *map(str, args)], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)


def call_id_of(stdout: str) -> str:
    return re.search(r"recorded as call ([0-9a-f]+) in", stdout).group(1)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("scripted")
    script = folder / "turns.txt"
    script.write_text("# the caller is unsure, then agrees\nhmm, what was that?\n\nyes, that is fine\n")
    result = voice_console("call", SCHEMA, "--patient", PATIENT, "--script", script, "--data-dir", folder,
                           "--report", folder / "report.json", "--csv", folder / "latency.csv")
    return result, folder


def test_scripted_call_prints_the_transcript_and_exits_0(scripted) -> None:
    result, _ = scripted
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = ["bot: Hi Ann, see you Tuesday, December first?", "caller: hmm, what was that?",
                "bot: Hi Ann, see you Tuesday, December first?", "caller: yes, that is fine"]
    assert lines[1:5] == expected
    assert re.fullmatch(r"-> transition greet -> done on yes \(\d+\.\d ms\)", lines[5])
    assert lines[6:8] == ["bot: Thanks friend!", "== call ended: reached an ending state"]
    assert any(line.startswith("latency (ms)") for line in lines)
    assert "Traceback" not in result.stderr


def test_report_json_has_the_seed_keys_and_no_patient_values(scripted) -> None:
    result, folder = scripted
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert all(key in report for key in SEED_KEYS)
    assert report["state_transitions"] == 1 and report["session_id"] == call_id_of(result.stdout)
    assert not leaked_values(report, PATIENT_VALUES)


def test_csv_of_the_call_is_readable_and_holds_no_patient_values(scripted) -> None:
    _, folder = scripted
    rows = read_csv(folder / "latency.csv")
    assert rows and {r["stage"] for r in rows} >= {"precompute", "render", "classify", "transition", "turn"}
    assert not leaked_values(rows, PATIENT_VALUES)


def test_calls_list_report_and_export(scripted) -> None:
    result, folder = scripted
    call_id = call_id_of(result.stdout)

    listed = voice_console("calls", "list", "--data-dir", folder)
    assert listed.returncode == 0 and call_id in listed.stdout and "minimal_schema" in listed.stdout

    reported = voice_console("calls", "report", call_id, "--data-dir", folder)
    assert reported.returncode == 0, reported.stderr
    report = json.loads(reported.stdout)
    assert all(key in report for key in SEED_KEYS) and report["call"]["status"] == "ended"
    assert "patient_id" not in report["call"]

    exported = voice_console("calls", "export", call_id, "--csv", folder / "again.csv", "--data-dir", folder)
    assert exported.returncode == 0, exported.stderr
    assert read_csv(folder / "again.csv") == read_csv(folder / "latency.csv")

    unknown = voice_console("calls", "report", "nope", "--data-dir", folder)
    assert unknown.returncode == 1
    assert unknown.stderr == f"error: no call 'nope' in {folder / 'calls.sqlite3'}\n"


def test_export_with_include_phi_adds_the_words(scripted) -> None:
    result, folder = scripted
    out = folder / "phi.csv"
    exported = voice_console("calls", "export", call_id_of(result.stdout), "--csv", out, "--include-phi",
                             "--data-dir", folder)
    assert exported.returncode == 0, exported.stderr
    rows = read_csv(out)
    assert {r["patient_id"] for r in rows} == {"ann"}
    assert "yes, that is fine" in {r["caller_text"] for r in rows}


@pytest.mark.parametrize("action", [("report", "nope"), ("export", "nope", "--csv", "x.csv")])
def test_unknown_call_id_is_a_one_line_error(tmp_path: Path, action: tuple[str, ...]) -> None:
    result = voice_console("calls", *action, "--data-dir", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: no call 'nope' in {tmp_path / 'calls.sqlite3'}"]
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "calls.sqlite3").exists()


def test_empty_history_lists_nothing(tmp_path: Path) -> None:
    result = voice_console("calls", "list", "--data-dir", tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("no calls recorded in")
    assert list(tmp_path.iterdir()) == []  # reading does not create a history


def test_script_force_and_force_at(tmp_path: Path) -> None:
    script = tmp_path / "turns.txt"
    script.write_text("hmm\n!force done\n")
    result = voice_console("call", SCHEMA, "--patient", PATIENT, "--script", script, "--data-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^!! forced greet -> done \(\d+\.\d ms\)$", result.stdout, re.MULTILINE)

    result = voice_console("call", SCHEMA, "--patient", PATIENT, "--script", script, "--data-dir", tmp_path,
                           "--force-at", "0:bye")
    assert result.returncode == 0, result.stderr
    assert "!! forced greet -> bye" in result.stdout and "caller: hmm" not in result.stdout


def test_bad_script_lines_are_located_errors(tmp_path: Path) -> None:
    script = tmp_path / "turns.txt"
    script.write_text("hello\n!force nowhere\n!force\n")
    result = voice_console("call", SCHEMA, "--patient", PATIENT, "--script", script, "--data-dir", tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{script}:2:1: unknown state 'nowhere' (states: greet, done, bye)",
                                          f"{script}:3:1: expected '!force STATE'"]


def test_turns_from_stdin_with_force_and_quit(tmp_path: Path) -> None:
    result = voice_console("call", SCHEMA, "--patient", PATIENT, "--data-dir", tmp_path,
                           stdin="hmm\n/force nowhere\n/quit\nyes\n")
    assert result.returncode == 0, result.stderr
    assert "caller: hmm" in result.stdout and "caller: yes" not in result.stdout
    assert "!! error (force): unknown state 'nowhere'" in result.stdout
    assert "== call ended: the operator quit" in result.stdout


def test_stdin_eof_ends_the_call(tmp_path: Path) -> None:
    result = voice_console("call", SCHEMA, "--patient", PATIENT, "--data-dir", tmp_path, stdin="hmm\n")
    assert result.returncode == 0, result.stderr
    assert "== call ended: the caller turns ran out" in result.stdout


def test_a_failing_responder_exits_1(tmp_path: Path) -> None:
    result = voice_console("call", SCHEMA, "--patient", PATIENT, "--data-dir", tmp_path,
                           "--responder", "openai", "--llm-url", "http://127.0.0.1:9/v1", stdin="hello\n")
    assert result.returncode == 1
    assert "error" in result.stderr and "Traceback" not in result.stderr


def test_an_llm_server_that_accepts_and_then_hangs_is_an_error_within_llm_timeout(tmp_path: Path) -> None:
    """The server takes the connection and never answers: with --llm-timeout 1 each of the two requests
    (opening line, one turn) is an error after a second; the default 15 s each would pass the 28 s budget."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # connections complete in the kernel's backlog; nothing ever reads them
        url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        script = tmp_path / "turns.txt"
        script.write_text("yes, that is fine\n")
        result = subprocess.run(
            [str(VOICE_CONSOLE), "call", SCHEMA, "--patient", PATIENT, "--script", script, "--data-dir",
             tmp_path, "--responder", "openai", "--llm-url", url, "--llm-model", "m", "--llm-timeout", "1"],
            capture_output=True, text=True, timeout=28, check=False)
    assert "Traceback" not in result.stderr
    assert "!! error (responder): Error during completion: Request timed out." in result.stdout, result.stdout


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "601", "soon"])
def test_llm_timeout_refuses_what_is_no_usable_number_of_seconds(value: str) -> None:
    result = voice_console("call", SCHEMA, "--llm-timeout", value)
    assert result.returncode == 2
    assert "--llm-timeout" in result.stderr and "seconds" in result.stderr


def test_a_function_call_nested_too_deeply_is_a_value_error() -> None:
    from cli.options import parse_function_call

    assert parse_function_call('book_slot {"slot": 2}') == ("book_slot", {"slot": 2}, None)
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_function_call("book_slot " + "[" * 100_000)
