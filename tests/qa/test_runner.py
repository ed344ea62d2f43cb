"""Running schema test scripts through the real pipeline: the bundled suite, mutations, JUnit, the CLI."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.lifecycle import CallStatus
from engine.paths import PROJECT_ROOT, SCHEMA_TESTS_DIR, SCHEMAS_DIR
from engine.pipeline import HealthcareAIPipeline
from engine.responders.factory import ResponderConfig
from engine.testing import (
    CaseResult,
    Mismatch,
    ScriptResult,
    coverage,
    discover_scripts,
    load_test_script,
    run_case,
    run_script,
    write_junit,
)
from tests.fakes.openai_server import FakeOpenAI

DATA = Path(__file__).resolve().parents[1] / "data"
BUNDLED = sorted(SCHEMA_TESTS_DIR.glob("*.test.yaml"))

# One retargeted transition per schema; each keeps every state reachable, so the schema still loads.
MUTATIONS = {
    "appointment_reminder": ("{intent: confirm, name: confirm_appointment, transition_to: preparation}",
                             "{intent: confirm, name: confirm_appointment, transition_to: reschedule_time}"),
    "medication_adherence": ("name: report_side_effect, transition_to: refills,",
                             "name: report_side_effect, transition_to: nurse_escalation,"),
    "post_discharge_followup": ("{intent: confirms_warning_sign, name: report_red_flag, "
                                "transition_to: emergency}",
                                "{intent: confirms_warning_sign, name: report_red_flag, "
                                "transition_to: medications_check}"),
}


def voice_console(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`voice-console test ARGS...` in a subprocess, from the repository root."""
    beside = Path(sys.executable).parent / "voice-console"
    command = str(beside) if beside.exists() else shutil.which("voice-console")
    if command is None:
        pytest.fail("the voice-console script is not installed (pip install -e .)")
    return subprocess.run([command, "test", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def mutated_copy(tmp_path: Path, schema: str) -> Path:
    """Copies the schema, with one transition retargeted, and its script into tmp_path; returns the schema."""
    old, new = MUTATIONS[schema]
    text = (SCHEMAS_DIR / f"{schema}.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    (tmp_path / f"{schema}.yaml").write_text(text.replace(old, new), encoding="utf-8")
    (tmp_path / "tests").mkdir(exist_ok=True)
    shutil.copy(SCHEMA_TESTS_DIR / f"{schema}.test.yaml", tmp_path / "tests")
    return tmp_path / f"{schema}.yaml"


def minimal_script(tmp_path: Path, steps: str, name: str = "minimal.test.yaml") -> Path:
    text = (f"schema: {DATA / 'minimal_schema.yaml'}\npatient: {DATA / 'minimal_patient.json'}\n"
            f"cases:\n  - name: only case\n    steps:\n{steps}")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----- the bundled suite ------------------------------------------------------------------------



async def test_bundled_suite_passes_and_covers_its_schemas() -> None:
    """Behaviour only: the suite's latency budgets measure the machine (the bench measures speed)."""
    scripts = [load_test_script(path) for path in BUNDLED]
    results = [await run_script(script, budgets=False) for script in scripts]

    failures = [f"{c.schema} / {c.case}\n{c.detail}" for r in results for c in r.cases if not c.passed]
    assert not failures, "\n\n".join(failures)
    for script, result in zip(scripts, results, strict=True):
        cov = coverage(script.schema, result.cases)
        assert cov.state_percent == 100.0, f"{script.schema_name}: never reached {cov.unreached_states}"
        assert cov.edge_percent >= 90.0, f"{script.schema_name}: never taken {cov.untaken_edges}"


async def test_cases_can_run_concurrently() -> None:
    script = load_test_script(SCHEMA_TESTS_DIR / "medication_adherence.test.yaml")
    seen: list[str] = []
    result = await run_script(script, concurrency=4, budgets=False,
                              on_result=lambda case: seen.append(case.case))
    assert result.passed and sorted(seen) == sorted(c.name for c in script.cases)
    assert [c.case for c in result.cases] == [c.name for c in script.cases]  # in script order


@pytest.mark.parametrize("schema", sorted(MUTATIONS))
async def test_a_retargeted_transition_fails_the_script(tmp_path: Path, schema: str) -> None:
    mutated = mutated_copy(tmp_path, schema)
    [script_path] = discover_scripts([mutated])
    script = load_test_script(script_path)
    assert script.schema.path == mutated

    result = await run_script(script)

    assert not result.passed
    old_target = re.search(r"to: (\w+)", MUTATIONS[schema][0]).group(1)
    new_target = re.search(r"to: (\w+)", MUTATIONS[schema][1]).group(1)
    wrong_state = Mismatch("state", repr(old_target), repr(new_target))
    assert any(wrong_state in c.failure.mismatches for c in result.failed), [c.message for c in result.failed]
    assert all(c.failure.transcript[0].startswith("bot: ") for c in result.failed)


# ----- what a case result holds -----------------------------------------------------------------


async def test_failure_names_the_step_expected_and_actual_and_the_transcript(tmp_path: Path) -> None:
    path = minimal_script(tmp_path, '      - say: "yes, that is fine"\n'
                                    '        expect: {state: bye, bot_says: "Bye.",\n'
                                    '                 within_ms: {turn: 0.0001}}\n')
    script = load_test_script(path)
    result = await run_case(script, script.cases[0])

    assert not result.passed and result.failure is not None
    failure = result.failure
    assert (failure.step, failure.line, failure.action) == (1, 6, 'say "yes, that is fine"')
    fields = [m.field for m in failure.mismatches]
    assert fields == ["state", "bot_says", "within_ms.turn"]
    assert failure.mismatches[0] == Mismatch("state", "'bye'", "'done'")
    assert failure.transcript[:3] == ("bot: Hi Ann, see you Tuesday, December first?",
                                      "caller: yes, that is fine", "   confirm_appointment()")
    assert "expected: 'bye'" in result.detail and "transcript:" in result.detail
    assert result.message.startswith('step 1 (line 6) say "yes, that is fine": state: expected')


async def test_latency_budgets_are_checked_unless_turned_off(tmp_path: Path) -> None:
    path = minimal_script(tmp_path, '      - say: "yes, that is fine"\n'
                                    '        expect: {state: done,\n'
                                    '                 within_ms: {turn: 0.0001, render: 100000}}\n')
    script = load_test_script(path)
    checked = await run_case(script, script.cases[0])
    unchecked = await run_case(script, script.cases[0], budgets=False)
    assert checked.failure is not None and [m.field for m in checked.failure.mismatches] == ["within_ms.turn"]
    assert unchecked.passed, unchecked.detail


async def test_acting_after_the_call_ended_fails(tmp_path: Path) -> None:
    path = minimal_script(tmp_path, '      - say: "yes"\n'
                                    '        expect: {ended: true}\n'
                                    '      - say: "hello?"\n')
    script = load_test_script(path)
    result = await run_case(script, script.cases[0])
    assert result.failure.step == 2
    assert result.failure.mismatches == (Mismatch("call", "still running", "the call ended in 'done'"),)


async def test_forced_moves_visit_states_but_cover_no_edge() -> None:
    script = load_test_script(SCHEMA_TESTS_DIR / "appointment_reminder.test.yaml")
    result = await run_case(script, script.case("operator forces the goodbye"))
    assert result.passed
    assert result.visited == ("greeting", "reminder", "closing")
    assert result.edges == (("greeting", "is_patient", "reminder"),)
    cov = coverage(script.schema, [result])
    assert ("reminder", "decline", "closing") not in cov.taken and "closing" in cov.visited
    assert len(cov.taken) == 1 and cov.edge_percent == pytest.approx(100 / 22)


async def test_console_hooks_see_the_live_call_and_pace_each_step() -> None:
    script = load_test_script(SCHEMA_TESTS_DIR / "appointment_reminder.test.yaml")
    case = script.case("cancel with a reason and no new appointment")
    calls: list[HealthcareAIPipeline] = []
    statuses: list[CallStatus] = []
    states_at_pause: list[str] = []

    def on_call(call: HealthcareAIPipeline) -> None:
        calls.append(call)
        statuses.append(call.status)

    async def pause() -> None:
        states_at_pause.append(calls[0].conversation.current)

    result = await run_case(script, case, on_call=on_call, pause=pause)

    assert result.passed
    assert statuses == [CallStatus.CREATED]  # handed over before it starts: no event is missed
    assert states_at_pause == ["greeting", "reminder", "cancel_reason", "rebook_offer"]
    assert calls[0].events.history[0].kind == "call_started" and calls[0].ended


async def test_cancelling_a_paused_case_stops_its_call() -> None:
    """The console abandons a step-through by cancelling the task; the call must not be left running."""
    script = load_test_script(SCHEMA_TESTS_DIR / "appointment_reminder.test.yaml")
    calls: list[HealthcareAIPipeline] = []
    paused = asyncio.Event()

    async def pause_forever() -> None:
        paused.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(run_case(script, script.cases[0], on_call=calls.append, pause=pause_forever))
    await paused.wait()
    assert calls[0].status is CallStatus.RUNNING
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls[0].ended


async def test_openai_compatible_responder_runs_the_same_cases(tmp_path: Path) -> None:
    path = minimal_script(tmp_path, '      - expect: {bot_says: "from the fake model"}\n'
                                    '      - say: "yes"\n'
                                    '        expect: {state: done, intent: yes,\n'
                                    '                 function: confirm_appointment}\n')
    script = load_test_script(path)
    with FakeOpenAI() as fake:
        config = ResponderConfig(kind="openai", base_url=fake.base_url, model="fake", api_key="test")
        result = await run_case(script, script.cases[0], responder=config)
    assert result.passed, result.detail
    assert any(tool["function"]["name"] == "yes" for tool in fake.requests[0]["tools"])


# ----- discovery --------------------------------------------------------------------------------


def test_discover_scripts_from_folders_schemas_and_scripts(tmp_path: Path) -> None:
    everything = discover_scripts([SCHEMAS_DIR])
    assert everything == BUNDLED
    schema = SCHEMAS_DIR / "medication_adherence.yaml"
    script = SCHEMA_TESTS_DIR / "medication_adherence.test.yaml"
    assert discover_scripts([schema, script, SCHEMAS_DIR]) == [script, *[p for p in BUNDLED if p != script]]
    shutil.copy(schema, tmp_path / "lonely.yaml")
    missing = {tmp_path / "nope": "no such schema", tmp_path / "lonely.yaml": "has no test script",
               tmp_path: "no test scripts", tmp_path / "x.test.yaml": "no such test script"}
    for path, message in missing.items():
        with pytest.raises(FileNotFoundError, match=message):
            discover_scripts([path])


# ----- JUnit XML --------------------------------------------------------------------------------

JUNIT_TIME = re.compile(r"^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$")  # junit-10.xsd SUREFIRE_TIME
ANT_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$")  # Ant JUnit.xsd


def junit_problems(root: ET.Element) -> Iterator[str]:
    """Where `root` breaks Jenkins' junit-10.xsd or the Ant JUnit.xsd (windyroad), the two common schemas."""
    if root.tag != "testsuites" or root.attrib:
        yield "the root must be <testsuites> with no attributes"
    for index, suite in enumerate(root):
        yield from _suite_problems(index, suite)


def _suite_problems(index: int, suite: ET.Element) -> Iterator[str]:
    name = suite.get("name", "")
    required = {"name", "tests", "failures", "errors", "time", "timestamp", "hostname", "package", "id"}
    attributes = set(suite.attrib)
    if suite.tag != "testsuite" or not required <= attributes or attributes - required - {"skipped"}:
        yield f"suite {index}: <testsuite> needs exactly {sorted(required)} (+ skipped): {suite.attrib}"
        return
    if not name.strip() or not suite.get("hostname", "").strip() or not suite.get("package", "").strip():
        yield f"{name}: name, hostname and package must not be empty"
    for key in ("tests", "failures", "errors", "skipped", "id"):
        if not re.fullmatch(r"-?[0-9]+", suite.get(key, "0")):
            yield f"{name}: {key} must be an integer"
    if not JUNIT_TIME.match(suite.get("time")) or not ANT_TIMESTAMP.match(suite.get("timestamp")):
        yield f"{name}: bad time or timestamp"
    if suite.get("id") != str(index):
        yield f"{name}: ids count from 0"
    tags = [child.tag for child in suite]
    if tags[:1] != ["properties"] or tags[-2:] != ["system-out", "system-err"] or \
            any(tag != "testcase" for tag in tags[1:-2]):
        yield f"{name}: children must be properties, testcase*, system-out, system-err: {tags}"
    for prop in suite.iter("property"):
        if not prop.get("name", "").strip() or "value" not in prop.attrib:
            yield f"{name}: a property needs a name and a value"
    cases = suite.findall("testcase")
    counts = {key: str(sum(1 for c in cases if c.find(key) is not None)) for key in ("failure", "error")}
    if (suite.get("tests"), suite.get("failures"), suite.get("errors")) != \
            (str(len(cases)), counts["failure"], counts["error"]):
        yield f"{name}: tests/failures/errors do not match its cases"
    for case in cases:
        yield from _case_problems(name, case)


def _case_problems(suite: str, case: ET.Element) -> Iterator[str]:
    if set(case.attrib) != {"name", "classname", "time"} or not JUNIT_TIME.match(case.get("time", "")):
        yield f"{suite}: a testcase needs exactly name, classname and a decimal time: {case.attrib}"
    outcomes = list(case)
    if len(outcomes) > 1 or any(o.tag not in ("failure", "error", "skipped") for o in outcomes):
        yield f"{suite}/{case.get('name')}: at most one failure, error or skipped"
    for outcome in outcomes:
        typed = "type" in outcome.attrib and not set(outcome.attrib) - {"type", "message"}
        if outcome.tag != "skipped" and not typed:
            yield f"{suite}/{case.get('name')}: <{outcome.tag}> needs a type (and may have a message)"
        if len(outcome):
            yield f"{suite}/{case.get('name')}: <{outcome.tag}> holds text only"


async def test_junit_is_valid_and_carries_the_failure_detail(tmp_path: Path) -> None:
    [mutated] = discover_scripts([mutated_copy(tmp_path, "appointment_reminder")])
    failing = await run_script(load_test_script(mutated))
    passing = await run_script(load_test_script(minimal_script(tmp_path, '      - say: "yes"\n')))
    broken = CaseResult(schema="minimal_schema", case="could not start", passed=False, ms=1.5,
                        error="the call failed: no responder <&>")
    results = [failing, passing, ScriptResult(Path("x.test.yaml"), "minimal_schema", (broken,), 1.5)]
    out = tmp_path / "junit.xml"

    write_junit(out, results)

    root = ET.parse(out).getroot()
    assert list(junit_problems(root)) == []
    suites = {s.get("name"): s for s in root}
    assert list(suites) == ["appointment_reminder", "minimal_schema"]
    reminder = suites["appointment_reminder"]
    assert reminder.get("tests") == str(len(failing.cases)) and int(reminder.get("failures")) >= 1
    failure = next(f for c in reminder.iter("testcase") if (f := c.find("failure")) is not None)
    assert "expected 'preparation', got 'reschedule_time'" in failure.get("message")
    assert "transcript:" in failure.text and "caller: " in failure.text
    minimal = suites["minimal_schema"]
    assert (minimal.get("tests"), minimal.get("failures"), minimal.get("errors")) == ("2", "0", "1")
    assert minimal.find("testcase/error").get("message") == "the call failed: no responder <&>"
    assert len(minimal.findall("properties/property")) == 2


# ----- the command ------------------------------------------------------------------------------


def test_cli_runs_the_bundled_suite_and_writes_junit(tmp_path: Path) -> None:
    out = tmp_path / "results.xml"
    done = voice_console("schemas/", "--junit", str(out), "--coverage-min", "90", "--no-budgets")
    assert done.returncode == 0, done.stdout + done.stderr
    total = sum(len(load_test_script(p).cases) for p in BUNDLED)
    assert len(re.findall(r"^  PASS  .+ ms$", done.stdout, re.MULTILINE)) == total
    assert f"{total} cases: {total} passed, 0 failed in " in done.stdout
    for schema in ("appointment_reminder", "medication_adherence", "post_discharge_followup"):
        assert re.search(rf"^{schema} +\d+/\d+ 100\.0% +\d+/\d+ +\d+\.\d%$", done.stdout, re.MULTILINE)
    assert list(junit_problems(ET.parse(out).getroot())) == []


def test_cli_exits_1_on_a_failing_case_and_shows_it(tmp_path: Path) -> None:
    done = voice_console(str(mutated_copy(tmp_path, "post_discharge_followup")), "--jobs", "2")
    assert done.returncode == 1
    assert "  FAIL  yes to the warning signs without naming one" in done.stdout
    assert "expected: 'emergency'" in done.stdout and "actual:   'medications_check'" in done.stdout
    assert "caller: Yes, a couple of those." in done.stdout
    assert re.search(r"^post_discharge_followup +13/13 100\.0% +23/23 100\.0%$", done.stdout, re.MULTILINE)
    assert "1 failed in " in done.stdout
    assert "Traceback" not in done.stderr


def test_cli_exits_1_when_coverage_is_below_the_minimum(tmp_path: Path) -> None:
    path = minimal_script(tmp_path, '      - say: "yes"\n        expect: {state: done}\n')
    done = voice_console(str(path), "--coverage-min", "80")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PASS  only case" in done.stdout
    assert "states never reached: bye" in done.stdout
    assert "coverage below 80%: minimal_schema" in done.stdout


def test_cli_runs_cases_with_an_openai_compatible_responder(tmp_path: Path) -> None:
    path = minimal_script(tmp_path, '      - say: "yes"\n'
                                    '        expect: {state: done, function: confirm_appointment}\n')
    with FakeOpenAI() as fake:
        done = voice_console(str(path), "--responder", "openai", "--llm-url", fake.base_url,
                             "--llm-model", "fake")
    assert done.returncode == 0, done.stdout + done.stderr
    assert fake.requests and fake.requests[0]["model"] == "fake"


@pytest.mark.parametrize("args, message", [
    (["no/such/folder"], "no such schema, test script or folder"),
    (["tests/data/minimal_schema.yaml"], "schema has no test script"),
    (["--coverage-min", "150"], "expected a percentage from 0 to 100"),
    (["--jobs", "0"], "expected a whole number of at least 1"),
    (["--responder", "openai"], "the openai responder needs --llm-url"),
    (["appointment_reminder", "--case", "voicemail leaves no appointment details", "--case", "nope"],
     "no case named 'nope'"),
])
def test_cli_usage_errors_exit_2(args: list[str], message: str) -> None:
    llm_settings = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VOICE_CONSOLE_LLM_URL", "VOICE_CONSOLE_LLM_API_KEY")
    env = {key: value for key, value in os.environ.items() if key not in llm_settings}
    done = voice_console(*args, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
