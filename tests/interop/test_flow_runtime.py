"""The exported handlers' own code: spoken values and contract checks as the engine's, lint-clean, and
located errors for what has no Pipecat form."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from num2words import num2words

from cli.main import main
from engine.errors import FlowExportError
from engine.interop import flow_runtime as rt
from engine.interop.flow_out import build_export
from engine.paths import PATIENTS_DIR, bundled_schemas
from engine.precompute import DataPrecomputer
from engine.schema.compiled import load_schema
from tests.interop.test_flow_out import load_export

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = bundled_schemas()
LAB = next(p for p in SCHEMAS if p.stem == "lab_results_callback")


def test_number_words_are_num2words() -> None:
    for number in [*range(-20, 2200), 10_000, 20_500, 123_456, 1_000_050, 2_500_000, 7_000_000_021]:
        assert rt.number_words(number) == num2words(number), number
    for year in range(900, 2200):
        assert rt.year_words(year) == num2words(year, to="year"), year
    for day in range(1, 32):
        assert rt.ordinal_words(day) == num2words(day, to="ordinal"), day


def test_a_time_matches_with_or_without_its_seconds() -> None:
    assert rt.matches("14:30:00", "14:30", "time") and rt.matches("14:30", "14:30:00", "time")
    assert not rt.matches("14:31", "14:30", "time") and not rt.matches("half past", "14:30", "time")


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.stem for p in SCHEMAS])
def test_initial_state_speaks_every_patient_as_the_engine_does(path: Path, tmp_path: Path) -> None:
    compiled = load_schema(path)
    _, handlers = load_export(compiled, tmp_path)
    patients = sorted(PATIENTS_DIR.glob(f"{compiled.name}__*.json"))
    assert patients
    for patient in patients:
        raw = json.loads(patient.read_text())["data"]
        spoken = DataPrecomputer(compiled).precompute_all(compiled.validate_data(raw)).values
        state = handlers.initial_state(raw)
        assert {name: state[name] for name in spoken} == dict(spoken), patient.name
        assert state["record"] == compiled.validate_data(raw), patient.name


def test_initial_state_lists_every_broken_field_without_its_value(tmp_path: Path) -> None:
    _, handlers = load_export(load_schema(LAB), tmp_path)
    raw = json.loads(next(PATIENTS_DIR.glob("lab_results_callback__*.json")).read_text())["data"]
    broken = {**raw, "result_status": "fatal-ish", "date_of_birth": "May 4", "surprise": 1}
    del broken["patient_last_name"]
    with pytest.raises(handlers.RecordError) as raised:
        handlers.initial_state(broken)
    problems = raised.value.problems
    assert [p.split(":")[0] for p in problems] == ["surprise", "patient_last_name", "date_of_birth",
                                                   "result_status"]
    assert "fatal-ish" not in str(raised.value) and "May 4" not in str(raised.value)


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.stem for p in SCHEMAS])
def test_exported_handlers_pass_ruff_with_the_projects_config(path: Path, tmp_path: Path) -> None:
    build_export(load_schema(path)).write(tmp_path)
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"),
                           str(tmp_path / "handlers.py")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_runtime_imports_nothing_of_this_project() -> None:
    tree = ast.parse(Path(rt.__file__).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import)]
    imported += [alias.name for node in imports for alias in node.names]
    assert imported and not [m for m in imported if m.split(".")[0] in ("engine", "console", "cli", "bench")]


def _lab_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = LAB.read_text()
    assert old in text
    path = tmp_path / "lab_variant.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_template_with_no_python_form_is_a_located_error(tmp_path: Path) -> None:
    path = _lab_variant(tmp_path, "Say nothing about a test or a result. Work out",
                        "Say nothing about a test or a result.{% set word = 'Work' %} {{ word }} out")
    compiled = load_schema(path)
    with pytest.raises(FlowExportError) as raised:
        build_export(compiled)
    [problem] = raised.value.problems
    assert problem.file.endswith("lab_variant.yaml") and problem.line > 0
    assert problem.field == "nodes.greeting.task_messages"
    assert "assign" in problem.message


def test_a_function_named_like_the_attempts_counter_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "lab_variant.yaml"
    path.write_text(LAB.read_text().replace("is_patient", "not_understood"))  # an intent's tool
    with pytest.raises(FlowExportError) as raised:
        build_export(load_schema(path))
    [problem] = raised.value.problems
    assert problem.file.endswith("lab_variant.yaml") and problem.line > 0
    assert problem.field == "nodes.greeting.functions[0]"
    assert "'not_understood' is a name the exported handlers.py uses itself" in problem.message


START_DECIDING = ("initial_node: greeting\n\nnodes:\n",
                  "initial_node: start\n\nnodes:\n  start:\n    decide: {field: result_status, "
                  "cases: {normal: greeting}, default: greeting}\n")


def test_a_decision_node_cannot_start_the_flow(tmp_path: Path) -> None:
    path = _lab_variant(tmp_path, *START_DECIDING)
    with pytest.raises(FlowExportError) as raised:
        build_export(load_schema(path))
    assert [p.field for p in raised.value.problems] == ["initial_node"]


def test_cli_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["export-flow", str(LAB), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "flow.yaml", "handlers.py"]
    assert "wrote" in capsys.readouterr().out


def test_cli_prints_located_errors_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _lab_variant(tmp_path, *START_DECIDING)
    assert main(["export-flow", str(path), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert f"{path}:" in error and "initial_node" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()


def test_cli_names_a_file_it_cannot_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / "flow.yaml").mkdir(parents=True)  # a folder where the file goes
    assert main(["export-flow", str(LAB), "-o", str(out)]) == 1
    error = capsys.readouterr().err
    assert f"{out / 'flow.yaml'}: cannot write: Is a directory" in error and "Traceback" not in error


def test_globals_actions_and_context_strategy_reach_the_flow(tmp_path: Path) -> None:
    path = _lab_variant(tmp_path, "initial_node: greeting\n",
                        "initial_node: greeting\n\nglobal_functions:\n"
                        "  - {intent: wants_a_person, name: escalate_to_nurse}\n")
    text = path.read_text().replace(
        "intents:\n", "intents:\n  wants_a_person:\n    description: The caller asks for a person.\n"
        "    examples: [\"can I talk to a real person\"]\n", 1).replace(
        "  verify_identity:\n    task_messages:",
        "  verify_identity:\n    context_strategy: reset\n"
        "    pre_actions: [{type: tts_say, text: \"One moment, please.\"}]\n    task_messages:", 1)
    path.write_text(text)
    compiled = load_schema(path)
    flow, handlers = load_export(compiled, tmp_path / "out")
    nodes = flow.config.nodes
    for name, node in compiled.schema.nodes.items():
        if node.decide is None:
            offered = "wants_a_person" in [f.name for f in nodes[name].functions]
            assert offered == (not node.ending), name
    assert flow.config.global_functions == []  # written into each node, as the engine offers them
    assert nodes["verify_identity"].context_strategy == "reset"
    assert [a.type for a in nodes["verify_identity"].pre_actions] == ["tts_say"]
    assert flow.node("verify_identity")["pre_actions"][0]["text"] == "One moment, please."
