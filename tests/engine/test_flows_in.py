"""Plain Pipecat flows in: Pipecat's loader validates them, errors are located, and a flow runs as a
real Pipecat pipeline + FlowManager with the operator playing the LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import events as ev
from engine.calls import call_for_record
from engine.driving import call_function, finish, start_call, take_turn
from engine.errors import SchemaError
from engine.pipeline import HealthcareAIPipeline
from engine.schema.compiled import CompiledSchema, load_schema
from engine.schema.model import ParamType

FLOWS = Path(__file__).resolve().parent.parent / "fixtures" / "flows"
CLINIC = FLOWS / "clinic_intake.yaml"
HANDLERS = FLOWS / "clinic_handlers.py"
STATE = json.loads((FLOWS / "clinic_state.json").read_text())


def clinic(*, handlers: Path | None = HANDLERS) -> CompiledSchema:
    return load_schema(CLINIC, handlers=handlers, state=STATE)


def flow_call(compiled: CompiledSchema) -> HealthcareAIPipeline:
    return call_for_record(compiled, {}, "")


def of(kind: type[ev.CallEvent], happened: list[ev.CallEvent]) -> list:
    return [e for e in happened if isinstance(e, kind)]


def test_a_plain_flow_opens_with_its_handlers_parameters() -> None:
    compiled = clinic()
    assert compiled.is_flow and compiled.schema.data == {} and compiled.schema.intents == {}
    offered = {f.name: f for f in compiled.offered_functions("check_insurance")}
    check = offered["check_insurance"]
    assert check.has_handler and check.parameters["member_id"].type is ParamType.STRING
    assert "member ID" in check.parameters["member_id"].description
    assert check.result_cases == {"status": ("active", "expired")}
    assert not offered["ask_for_staff"].has_handler  # a global transition-only function
    assert compiled.offered_functions("pick_slot")[0].parameters["slot"].type is ParamType.INTEGER


def test_placeholders_with_no_value_are_located_before_the_call() -> None:
    with pytest.raises(SchemaError) as raised:
        load_schema(CLINIC, handlers=HANDLERS, state={"caller_name": "Sam"})
    problems = raised.value.problems
    assert {(p.line, p.field) for p in problems} == {(7, "nodes.greeting.role_message"),
                                                     (13, "nodes.greeting.pre_actions[0].text")}
    assert all("clinic.name" in p.message and "node 'greeting'" in p.message for p in problems)


async def test_a_flow_runs_its_direct_functions_branches_and_actions() -> None:
    call = flow_call(clinic())
    opening = await start_call(call)
    assert [e.text for e in of(ev.BotTurn, opening)] == ["Hello Sam, this is Lakeside Clinic."]
    entered = of(ev.NodeEntered, opening)[-1]
    assert entered.prompt.startswith("Greet Sam and ask")
    await call_function(call, "wants_booking", {})
    expired = await call_function(call, "check_insurance", {"member_id": "B200"})
    assert of(ev.FunctionCalled, expired)[0].result == {"status": "expired"}
    assert call.conversation.current == "self_pay"
    await call_function(call, "accepts_self_pay", {})
    assert call.flow_manager is not None and call.flow_manager.state["open_slots"][1]["day"] == "Thursday"
    booked = await call_function(call, "book_slot", {"slot": 2})
    assert call.conversation.current == "confirmed"
    assert "Confirm the visit on Thursday at 14:00" in of(ev.NodeEntered, booked)[-1].prompt
    assert call.ended or await call.wait_until_ended(5)
    spoken = [e.text for e in of(ev.BotTurn, call.events.history)]
    assert spoken[-1] == "You are booked for Thursday at 14:00. Goodbye!"
    assert call.conversation.visited == ["greeting", "check_insurance", "self_pay", "pick_slot", "confirmed"]


async def test_a_function_that_stays_settles_and_a_caller_turn_is_answered_with_an_error() -> None:
    call = flow_call(clinic())
    await start_call(call)
    await call_function(call, "wants_billing", {})
    stayed = await call_function(call, "lookup_balance", {"invoice": "INV-7"})
    assert of(ev.FunctionCalled, stayed)[0].result == {"invoice": "INV-7", "balance": 42.5}
    assert call.conversation.current == "billing"
    answered = await take_turn(call, "what do I owe?")
    message = of(ev.CallError, answered)[0].message
    assert "call one of this node's functions (lookup_balance, billing_done" in message
    await finish(call, "test over")


async def test_a_direct_function_that_raises_reports_an_error_and_the_step_settles() -> None:
    call = flow_call(clinic())
    await start_call(call)
    await call_function(call, "wants_booking", {})
    await call_function(call, "check_insurance", {"member_id": "B200"})
    await call_function(call, "accepts_self_pay", {})
    failed = await call_function(call, "book_slot", {"slot": 99})
    errors = of(ev.CallError, failed)
    assert [(e.message, e.source, e.fatal) for e in errors] == [
        ("the function book_slot raised IndexError: list index out of range", "function", False)]
    assert of(ev.FunctionCalled, failed)[0].result == {"status": "error"}
    await finish(call, "test over")


async def test_a_direct_function_breaking_pipecats_contract_is_reported(tmp_path: Path) -> None:
    handlers = tmp_path / "handlers.py"
    handlers.write_text(HANDLERS.read_text().replace(
        'return {"invoice": invoice, "balance": 42.5}, TRANSITION_IN_YAML', 'return {"balance": 1}'))
    call = flow_call(clinic(handlers=handlers))
    await start_call(call)
    await call_function(call, "wants_billing", {})
    broke = await call_function(call, "lookup_balance", {"invoice": "INV-7"})
    [error] = of(ev.CallError, broke)
    assert error.message.startswith("the function lookup_balance returned what Pipecat refuses: direct "
                                    "function tool 'lookup_balance' must return a (result, next) tuple")
    assert of(ev.FunctionCalled, broke)[0].result == {"status": "error"}
    await finish(call, "test over")


async def test_a_direct_function_returning_no_response_is_accepted_and_stays(tmp_path: Path) -> None:
    handlers = tmp_path / "handlers.py"
    handlers.write_text(HANDLERS.read_text().replace("TRANSITION_IN_YAML", "NO_RESPONSE"))
    call = flow_call(clinic(handlers=handlers))
    await start_call(call)
    await call_function(call, "wants_billing", {})
    quiet = await call_function(call, "lookup_balance", {"invoice": "INV-7"})
    assert of(ev.FunctionCalled, quiet)[0].result == {"invoice": "INV-7", "balance": 42.5}
    assert not of(ev.CallError, quiet) and not of(ev.BotTurn, quiet)
    assert call.conversation.current == "billing"
    await finish(call, "test over")


async def test_without_handlers_the_operator_supplies_results_and_unloaded_actions_are_reported() -> None:
    state = {**STATE, "plan": "Gold", "booked": {"day": "Monday", "time": "9:30"}}
    compiled = load_schema(CLINIC, state=state)
    assert not any(f.has_handler for f in compiled.offered_functions("check_insurance"))
    call = flow_call(compiled)
    await start_call(call)
    await call_function(call, "wants_booking", {})
    moved = await call_function(call, "check_insurance", {"member_id": "A100"}, {"status": "active"})
    assert call.conversation.current == "pick_slot"
    errors = of(ev.CallError, moved)
    assert errors and "handler 'load_open_slots' did not run" in errors[0].message and not errors[0].fatal
    await finish(call, "test over")


async def test_the_example_flow_runs_a_post_action_function_and_ends() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "flows"
    compiled = load_schema(examples / "refill_request.yaml", handlers=examples / "handlers.py",
                           state=json.loads((examples / "state.json").read_text()))
    call = flow_call(compiled)
    await start_call(call)
    await call_function(call, "find_prescription", {"medicine": "Metformin"})
    assert call.conversation.current == "needs_prescriber"
    assert call.ended or await call.wait_until_ended(5)
    assert call.flow_manager is not None and call.flow_manager.state["prescriber_notified"] is True
