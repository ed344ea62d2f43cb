"""The operator plays the LLM: offered functions and `call_function` on a real pipeline + FlowManager."""

from __future__ import annotations

import pytest

from engine import events as ev
from engine.calls import create_call
from engine.driving import call_function, finish, start_call
from engine.errors import UnknownFunctionError
from engine.paths import PATIENTS_DIR, SCHEMAS_DIR
from engine.pipeline import HealthcareAIPipeline
from engine.schema.compiled import load_schema
from engine.schema.model import ParamType

LAB = SCHEMAS_DIR / "lab_results_callback.yaml"


def lab_call(patient: str = "linda_park") -> HealthcareAIPipeline:
    return create_call(LAB, PATIENTS_DIR / f"lab_results_callback__{patient}.json")


def test_offered_functions_describe_parameters_branches_and_handlers() -> None:
    compiled = load_schema(LAB)
    offered = {f.name: f for f in compiled.offered_functions("verify_identity")}
    assert list(offered) == ["dob_given", "dob_refused"]
    verify = offered["dob_given"]
    assert verify.has_handler and verify.parameters["date_of_birth"].type is ParamType.DATE
    assert verify.result_cases == {"verified": ("true", "false")}
    assert set(verify.targets) == {"result_decision", "verify_identity"}
    refused = offered["dob_refused"]
    assert not refused.has_handler and refused.parameters == {} and refused.result_cases == {}
    assert refused.targets == ("unable_to_verify",)


async def test_a_function_call_with_exact_arguments_moves_on_its_result() -> None:
    call = lab_call()
    await start_call(call)
    await call_function(call, "is_patient", {})
    wrong = await call_function(call, "dob_given", {"date_of_birth": "1990-01-01"})
    called = next(e for e in wrong if isinstance(e, ev.FunctionCalled))
    assert called.name == "verify_identity" and called.arguments == {"date_of_birth": "1990-01-01"}
    assert called.result["verified"] is False and call.conversation.current == "verify_identity"
    right = await call_function(call, "dob_given", {"date_of_birth": "1948-03-12"})
    assert any(isinstance(e, ev.BotTurn) for e in right)
    assert call.conversation.current == "deliver_critical"
    assert call.conversation.visited[-3:] == ["verify_identity", "result_decision", "deliver_critical"]
    await finish(call, "test over")


async def test_a_result_stands_in_only_for_a_function_without_a_handler() -> None:
    call = lab_call()
    await start_call(call)
    happened = await call_function(call, "is_patient", {}, {"status": "confirmed"})
    called = next(e for e in happened if isinstance(e, ev.FunctionCalled))
    assert called.result == {"status": "confirmed"}
    assert call.conversation.current == "verify_identity"
    # verify_identity has a handler (its built-in check): a supplied `verified` is not believed
    await call_function(call, "dob_given", {"date_of_birth": "1990-01-01"}, {"verified": True})
    assert call.conversation.current == "verify_identity"
    await finish(call, "test over")


async def test_a_function_the_node_does_not_offer_is_a_located_error_not_a_call() -> None:
    call = lab_call()
    await start_call(call)
    with pytest.raises(UnknownFunctionError, match="state 'greeting' offers no function 'dob_given'"):
        await call_function(call, "dob_given", {"date_of_birth": "1970-05-04"})
    error = call.events.history[-1]
    assert isinstance(error, ev.CallError) and error.source == "function"
    assert call.conversation.current == "greeting" and not call.ended
    await finish(call, "test over")
