"""Making a call from a schema and a patient: the one entry point the CLI, API and console use."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from engine.events import EventStream
from engine.patients import PatientFile, load_patient
from engine.pipeline import HealthcareAIPipeline
from engine.precompute import DataPrecomputer
from engine.responders.factory import ResponderConfig
from engine.schema.compiled import CompiledSchema, load_schema
from engine.state import StateManagerFactory


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


def create_call(
    schema: Path | str | CompiledSchema,
    patient: PatientFile | Path | str,
    *,
    session_id: str | None = None,
    responder: ResponderConfig | None = None,
    events: EventStream | None = None,
    voice: Any = None,
) -> HealthcareAIPipeline:
    """Validate the patient against the schema, precompute, and build the (not yet started) call.

    Raises SchemaError or PatientDataError with located problems.
    """
    compiled = schema if isinstance(schema, CompiledSchema) else load_schema(schema)
    patient_file = patient if isinstance(patient, PatientFile) else load_patient(patient)
    record = patient_file.validated(compiled)
    return call_for_record(compiled, record, patient_file.id, session_id=session_id, responder=responder,
                           events=events, voice=voice)


def call_for_record(
    compiled: CompiledSchema,
    record: dict[str, Any],
    patient_id: str,
    *,
    session_id: str | None = None,
    responder: ResponderConfig | None = None,
    events: EventStream | None = None,
    voice: Any = None,
) -> HealthcareAIPipeline:
    """A call for an already validated (normalized) record."""
    compiled.prepare_calls()
    precomputed = DataPrecomputer(compiled).precompute_all(record)
    session_id = session_id or new_session_id()
    state = StateManagerFactory(compiled).create_state(session_id)
    return HealthcareAIPipeline(
        record, session_id, state, precomputed, compiled.renderer,
        responder=responder, events=events, patient_id=patient_id, voice=voice,
    )
