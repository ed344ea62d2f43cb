"""The semantic stage in real calls: a near tie asks and the answer resolves it, the event stream
says why, and the bundled schema tests pass with the semantic stage off as well as on."""

from __future__ import annotations

import io
import json

import pytest

from cli.main import main
from engine import events as ev
from engine.calls import create_call
from engine.nlu import NLU_ENV, NluMode
from engine.paths import DEFAULT_SCHEMA, SCHEMA_TESTS_DIR, default_patient_for
from engine.store import CallStore
from engine.testing import load_test_script, run_script


async def reminder_call(store: CallStore | None = None):
    call = create_call(DEFAULT_SCHEMA, default_patient_for(DEFAULT_SCHEMA.stem))
    if store is not None:
        store.attach(call)
    await call.start()
    await call.step("yes, speaking")
    assert call.conversation.current == "reminder"
    return call


def classified(call) -> list[ev.Classified]:
    return [e for e in call.events.history if isinstance(e, ev.Classified)]


async def test_a_near_tie_asks_which_and_the_answer_moves_the_call() -> None:
    call = await reminder_call()
    await call.step("I can't come that day")
    assert call.conversation.current == "reminder"
    asked = classified(call)[-1]
    assert (asked.intent, asked.rule, set(asked.asked)) == (None, "near_tie", {"cancel", "reschedule"})
    question = [e.text for e in call.events.history if isinstance(e, ev.BotTurn)][-1]
    assert question.startswith("Sorry, I want to be sure I understood. Do you mean")
    assert "I need to cancel" in question and "I need to reschedule" in question

    await call.step("the second one, I need to move it to another day")
    answer = classified(call)[-1]
    assert (answer.intent, answer.rule) == ("reschedule", "clarified")
    assert call.conversation.current == "reschedule_time"
    await call.stop()


async def test_the_classified_event_carries_candidates_scores_and_rule() -> None:
    call = await reminder_call()
    await call.step("I'd like to drop the appointment altogether")
    decided = classified(call)[-1]
    assert decided.intent == "cancel" and decided.rule == "semantic"
    assert decided.candidates[0] == "cancel" and len(decided.candidates) == len(decided.scores) == 4
    assert list(decided.scores) == sorted(decided.scores, reverse=True)
    assert decided.margin == pytest.approx(decided.scores[0] - decided.scores[1], abs=0.002)
    assert call.conversation.current == "cancel_reason"
    await call.stop()


async def test_classified_events_round_trip_through_the_call_history(tmp_path) -> None:
    with CallStore.open_default(tmp_path) as store:
        call = await reminder_call(store)
        await call.step("I can't come that day")
        await call.stop()
        stored = [e for e in store.events(call.session_id) if isinstance(e, ev.Classified)]
    assert stored == classified(call) and len(stored) == 2
    assert isinstance(stored[-1].asked, tuple) and isinstance(stored[-1].scores, tuple)


@pytest.mark.parametrize("mode", list(NluMode))
async def test_bundled_schema_tests_pass_in_both_modes(mode: NluMode, monkeypatch) -> None:
    monkeypatch.setenv(NLU_ENV, mode.value)
    for path in sorted(SCHEMA_TESTS_DIR.glob("*.test.yaml")):
        script = load_test_script(path)
        assert script.schema.classifier.mode is mode
        result = await run_script(script, budgets=False)  # behaviour: budgets measure the machine
        failures = [f"{c.case}: {c.detail}" for c in result.cases if not c.passed]
        assert not failures, "\n".join(failures)


def test_classify_prints_one_json_object_per_stdin_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("I'll swing by as planned\nyes\nwho is this?\n"))
    assert main(["classify", str(DEFAULT_SCHEMA), "--state", "reminder", "-", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["I'll swing by as planned", "yes", "who is this?"]
    assert lines[1]["intent"] == "confirm" and lines[1]["rule"] == "keyword"
    assert lines[2]["intent"] is None and lines[2]["mode"] == "semantic"
    assert all(len(line["candidates"]) >= 1 for line in lines)


def test_classify_with_nlu_keywords_runs_keywords_only_and_restores_the_mode(capsys, monkeypatch) -> None:
    monkeypatch.delenv(NLU_ENV, raising=False)
    text = "scrap it, I'm not coming in"
    command = ["classify", str(DEFAULT_SCHEMA), "--state", "reminder", text, "--json"]
    assert main([*command, "--nlu", "keywords"]) == 0
    keywords = json.loads(capsys.readouterr().out)
    assert keywords["mode"] == "keywords" and keywords["intent"] is None
    assert main(command) == 0
    assert json.loads(capsys.readouterr().out)["intent"] == "cancel"


def test_classify_names_an_unknown_state(capsys) -> None:
    assert main(["classify", str(DEFAULT_SCHEMA), "--state", "nowhere", "hello"]) == 1
    assert "unknown node 'nowhere'" in capsys.readouterr().err
