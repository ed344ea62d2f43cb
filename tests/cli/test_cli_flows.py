"""Plain Pipecat flows through `validate`, `render` and `call` (real subprocesses), with CSV and history."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from tests.cli.test_cli_calls import call_id_of, voice_console

FLOWS = Path(__file__).resolve().parent.parent / "fixtures" / "flows"
CLINIC, HANDLERS = FLOWS / "clinic_intake.yaml", FLOWS / "clinic_handlers.py"
STATE = FLOWS / "clinic_state.json"
WITH = ("--handlers", HANDLERS, "--state", STATE)


def test_validate_says_before_it_imports_the_handlers() -> None:
    result = voice_console("validate", CLINIC, *WITH)
    assert result.returncode == 0, result.stderr
    assert "importing the handlers module" in result.stderr and str(HANDLERS) in result.stderr
    assert result.stdout.startswith("OK: Pipecat flow: 7 nodes, 14 transitions")
    assert "importing" not in voice_console("validate", FLOWS / "refill_line.json").stderr


def test_pipecat_loader_errors_are_located() -> None:
    result = voice_console("validate", FLOWS / "bad" / "unknown_target.yaml")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    located = result.stderr + result.stdout
    assert re.search(r"unknown_target\.yaml:15:\d+: nodes\.other\.colour: unknown field 'colour'", located)
    graph = voice_console("validate", FLOWS / "bad" / "unknown_node.json")
    assert re.search(r"unknown_node\.json:8:\d+: nodes\.start\.functions\[1\]\.transition_to: node 'start' "
                     r"function 'go_on' transitions to unknown node 'nowhere'", graph.stderr + graph.stdout)
    missing = voice_console("validate", CLINIC, "--handlers", FLOWS / "bad" / "missing_handler.py",
                            "--state", STATE)
    text = missing.stderr + missing.stdout
    assert re.search(r"clinic_intake\.yaml:29:\d+: nodes\.check_insurance\.functions\[0\]: .*"
                     r"'check_insurance', which is not in the handlers", text)
    assert re.search(r"clinic_intake\.yaml:4\d:\d+: nodes\.pick_slot\.pre_actions\[0\]\.handler: .*"
                     r"'load_open_slots'", text)


def test_render_fills_the_initial_state() -> None:
    result = voice_console("render", CLINIC, *WITH, "--node", "greeting")
    assert result.returncode == 0, result.stderr
    assert "Greet Sam and ask whether" in result.stdout and "pre_action tts_say: Hello Sam" in result.stdout
    assert "## pick_slot" not in result.stdout


def test_a_flow_call_steps_by_function_calls_into_csv_and_history(tmp_path: Path) -> None:
    script = tmp_path / "turns.txt"
    script.write_text('!call wants_booking\n!call check_insurance {"member_id": "A100"}\n'
                      '!call book_slot {"slot": 1}\n')
    result = voice_console("call", CLINIC, *WITH, "--script", script, "--data-dir", tmp_path,
                           "--csv", tmp_path / "latency.csv")
    assert result.returncode == 0, result.stderr
    assert '() check_insurance({"member_id": "A100"}) -> {"status": "active"}' in result.stdout
    assert "bot: You are booked for Monday at 9:30. Goodbye!" in result.stdout
    with (tmp_path / "latency.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(r["stage"] == "transition" for r in rows) == 3
    report = voice_console("calls", "report", call_id_of(result.stdout), "--data-dir", tmp_path)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["visited"] == ["greeting", "check_insurance", "pick_slot", "confirmed"]


def test_without_handlers_the_operator_gives_the_result(tmp_path: Path) -> None:
    script = tmp_path / "turns.txt"
    script.write_text('!call request_refill {"medicine": "insulin"} {"in_stock": false}\n')
    state = tmp_path / "state.json"
    state.write_text('{"pharmacy": "Elm Street Pharmacy"}')
    result = voice_console("call", FLOWS / "refill_line.json", "--state", state, "--script", script,
                           "--data-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "-> transition ask -> backorder on request_refill" in result.stdout
