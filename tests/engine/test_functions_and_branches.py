"""Declared functions, their effects, spoken parameters, branches, decisions and attempts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.functions import bundled_functions, from_speech, invoke
from engine.nodes import CallSession, node_factory_for
from engine.paths import PATIENTS_DIR, SCHEMAS_DIR, bundled_schemas
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.schema.compiled import ATTEMPTS, load_schema
from engine.schema.model import FieldType, FunctionDecl, Parameter, ParamType
from engine.state import StateManagerFactory

LAB = SCHEMAS_DIR / "lab_results_callback.yaml"
RECORD = {"date_of_birth": date(1970, 5, 4), "medications": [{"name": "Metformin"}, {"name": "Lisinopril"}]}
VERIFY = FunctionDecl.model_validate({
    "description": "Check the date of birth.",
    "parameters": {"date_of_birth": {"type": "date"}},
    "verify": {"parameter": "date_of_birth", "against": "date_of_birth"},
})


def session_for(patient: str) -> CallSession:
    compiled = load_schema(LAB)
    record = load_patient(PATIENTS_DIR / f"lab_results_callback__{patient}.json").validated(compiled)
    precomputed = DataPrecomputer(compiled).precompute_all(record)
    conversation = StateManagerFactory(compiled).create_state("test")
    return CallSession(conversation, precomputed, node_factory_for(compiled))


def test_the_bundled_library_holds_the_fifteen_functions() -> None:
    library = bundled_functions()
    assert len(library) == 15 and library["verify_identity"].verify is not None
    assert library["request_refill"].parameters["medication"].of == "medications"


def test_typed_parameters_take_the_value_not_the_sentence() -> None:
    on_date = Parameter(type=ParamType.DATE)
    assert from_speech(on_date, "uh, it's May fourth, nineteen seventy", RECORD) == "1970-05-04"
    assert from_speech(on_date, "Yes.", RECORD) is None
    medicine = Parameter(type=ParamType.ITEM, of="medications")
    assert from_speech(medicine, "yes I need a refill of my metforman please", RECORD) == "Metformin"
    assert from_speech(medicine, "yes I need a refill please", RECORD) is None
    severity = Parameter(type=ParamType.ENUM, values=["mild", "severe"])
    assert from_speech(severity, "it's pretty severe", RECORD) == "severe"
    assert from_speech(Parameter(type=ParamType.BOOLEAN), "yeah, that's right", RECORD) is True
    assert from_speech(Parameter(type=ParamType.TIME), "half past two in the afternoon", RECORD) == "14:30"
    assert from_speech(Parameter(type=ParamType.STRING), "in my own words", RECORD) == "in my own words"


def test_verify_compares_the_spoken_date_with_the_record() -> None:
    slots: dict = {}
    wrong = invoke("check", VERIFY, {"date_of_birth": "1990-01-01"}, slots, RECORD, FieldType.DATE)
    assert wrong["verified"] is False and slots["verified"] is False
    right = invoke("check", VERIFY, {"date_of_birth": "May 4th, 1970"}, slots, RECORD, FieldType.DATE)
    assert right["verified"] is True and "date_of_birth" not in slots
    assert invoke("check", VERIFY, {}, {}, RECORD, FieldType.DATE)["verified"] is False
    assert slots["outcomes"] == ["check", "check"]


def test_edges_count_each_branch_target_decision_and_attempts() -> None:
    edges = set(load_schema(LAB).edges())
    assert {("verify_identity", "dob_given", "result_decision"),
            ("verify_identity", "dob_given", "verify_identity"),
            ("verify_identity", ATTEMPTS, "unable_to_verify"),
            ("result_decision", "result_status", "deliver_critical"),
            ("questions", "asks_question", "nurse_transfer")} <= edges


def test_args_bound_to_a_template_render_from_the_record_at_call_start() -> None:
    session = session_for("linda_park")
    entry = session.compiled.entry("deliver_critical", "no_questions")
    assert entry.properties == {}  # both parameters are bound: the LLM fills none
    assert session.bound_arguments(entry) == {"reason": "potassium level result is critical",
                                              "urgency": "urgent"}


def test_a_verified_caller_passes_the_decision_to_the_node_of_the_record() -> None:
    session = session_for("derek_osei")
    session.conversation.current = "verify_identity"
    entry = session.compiled.entry("verify_identity", "dob_given")
    result, node = session.call_function("verify_identity", entry, {"date_of_birth": "1962-11-23"})
    assert result["verified"] is True and node is not None and node["name"] == "deliver_abnormal"
    assert session.conversation.visited[-2:] == ["result_decision", "deliver_abnormal"]


def test_failed_checks_count_until_the_attempts_run_out() -> None:
    session = session_for("maria_santos")
    session.conversation.current = "verify_identity"
    entry = session.compiled.entry("verify_identity", "dob_given")
    _, first = session.call_function("verify_identity", entry, {"date_of_birth": "1990-01-01"})
    assert first is not None and first["name"] == "verify_identity"
    _, second = session.call_function("verify_identity", entry, {})
    assert second is not None and second["name"] == "unable_to_verify"
    assert [t.intent for t in session.conversation.transitions] == ["dob_given", ATTEMPTS]


def test_a_not_understood_turn_counts_too() -> None:
    session = session_for("linda_park")
    session.conversation.current = "deliver_critical"  # attempts: {max: 1, then: nurse_transfer}
    node = session.not_understood()
    assert node is not None and node["name"] == "nurse_transfer"
    assert session.conversation.current == "nurse_transfer"


@pytest.mark.parametrize("path", bundled_schemas(), ids=lambda p: p.stem)
def test_every_bundled_schema_verifies_identity_for_real(path: Path) -> None:
    compiled = load_schema(path)
    for name in compiled.schema.nodes:
        for entry in compiled.entries_of(name):
            if entry.name == "verify_identity":
                assert "date_of_birth" in entry.properties and not entry.fixed_args


@pytest.mark.parametrize("value", [True, False, "True", "FALSE", "false", 0, 1, 2.5, None, "critical"])
def test_branch_cases_match_as_pipecat_matches_them(value: object) -> None:
    from pipecat.flows.config import case_key as pipecat_case_key

    from engine.schema.model import case_key

    assert case_key(value) == pipecat_case_key(value)


def test_a_result_supplied_for_a_stale_call_is_not_used_by_the_next_call() -> None:
    session = session_for("linda_park")
    entry = next(e for e in session.compiled.entries_of("greeting") if e.tool == "is_patient")
    session.supply_result("is_patient", {"status": "from the operator"})
    stale, _ = session.call_function("verify_identity", entry, {})
    assert stale["status"] == "ignored" and session.conversation.current == "greeting"
    result, _ = session.call_function("greeting", entry, {})
    assert result == {"status": "ok", "intent": "is_patient"}
