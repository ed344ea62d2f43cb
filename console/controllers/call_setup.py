"""Making the call that Call setup describes: its responder, and the call for a schema's patient or
for a plain flow (which has no patient record)."""

from __future__ import annotations

from typing import Any

from console.controllers.flow_files import flow_patient_id
from console.panels import CallSetup
from engine.calls import call_for_record, create_call
from engine.errors import ResponderError
from engine.pipeline import HealthcareAIPipeline
from engine.responders.factory import ResponderConfig
from engine.schema.compiled import CompiledSchema


def responder_of(setup: CallSetup) -> ResponderConfig:
    """The responder set up; an OpenAI-compatible one needs its server's address."""
    responder = ResponderConfig(kind=setup.get("responder", "scripted"),  # type: ignore[arg-type]
                                base_url=setup.get("llm_url") or None,
                                model=setup.get("llm_model") or None)
    resolved = responder.resolved()
    if resolved.kind == "openai" and not resolved.base_url and resolved.api_key == "not-needed":
        raise ResponderError("the OpenAI-compatible responder needs its server's address: "
                             "fill in LLM URL in Call setup")
    return responder


def make_call(compiled: CompiledSchema, setup: CallSetup, voice: Any = None) -> HealthcareAIPipeline:
    responder = responder_of(setup)
    if compiled.is_flow:
        return call_for_record(compiled, {}, flow_patient_id(setup), responder=responder, voice=voice)
    return create_call(compiled, setup["patient"], responder=responder, voice=voice)
