"""The functions registry: what a schema's states may call.

Each registry function is a named tool with typed parameters. Its handler
records the call in the conversation state's slots and returns a result for the
LLM. Schemas name these functions in `states.*.functions` (the LLM may call them
and stay in the node) and in `states.*.transitions[*].call` (run on the way to
the next state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ParamType = Literal["string", "boolean"]


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: ParamType
    description: str
    choices: tuple[str, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema

    def accepts(self, value: Any) -> bool:
        if self.type == "boolean":
            return isinstance(value, bool)
        return isinstance(value, str) and (not self.choices or value in self.choices)


@dataclass(frozen=True, slots=True)
class RegistryFunction:
    name: str
    description: str
    parameters: tuple[Parameter, ...] = ()
    outcome: str = ""

    @property
    def properties(self) -> dict[str, Any]:
        return {p.name: p.json_schema() for p in self.parameters}

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def invoke(self, arguments: Mapping[str, Any], slots: dict[str, Any]) -> dict[str, Any]:
        """Record valid arguments in `slots` and return the tool result."""
        accepted = {
            name: value
            for name, value in arguments.items()
            if (param := self.parameter(name)) is not None and param.accepts(value)
        }
        slots.update(accepted)
        slots.setdefault("outcomes", []).append(self.outcome or self.name)
        return {"status": "recorded", "function": self.name, **accepted}


def _text(name: str, description: str) -> Parameter:
    return Parameter(name, "string", description)


def _flag(name: str, description: str) -> Parameter:
    return Parameter(name, "boolean", description)


def _choice(name: str, description: str, *choices: str) -> Parameter:
    return Parameter(name, "string", description, choices)


class FunctionsRegistry:
    """Named registry functions, shared read-only by every call."""

    def __init__(self, functions: list[RegistryFunction]) -> None:
        self._functions = {f.name: f for f in functions}

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __getitem__(self, name: str) -> RegistryFunction:
        return self._functions[name]

    def names(self) -> list[str]:
        return sorted(self._functions)


DEFAULT_FUNCTIONS = [
    RegistryFunction("confirm_appointment", "Record that the patient confirmed the appointment.",
                     outcome="appointment_confirmed"),
    RegistryFunction("request_reschedule", "Record a request to move the appointment.",
                     (_text("preferred_time", "When the patient would prefer to come, in their words."),),
                     outcome="reschedule_requested"),
    RegistryFunction("cancel_appointment", "Record that the patient cancels the appointment.",
                     (_text("reason", "Why the patient cancels, in their words."),),
                     outcome="appointment_cancelled"),
    RegistryFunction("report_wrong_person", "Record that the person who answered is not the patient.",
                     outcome="wrong_person"),
    RegistryFunction("leave_voicemail", "Record that a voicemail message was left.", outcome="voicemail"),
    RegistryFunction("verify_identity", "Record whether the patient confirmed their identity.",
                     (_flag("date_of_birth_confirmed", "True when the patient confirmed who they are."),),
                     outcome="identity_checked"),
    RegistryFunction("record_adherence", "Record whether the patient takes their medicines as prescribed.",
                     (_flag("taking_as_prescribed", "True when every medicine is taken as prescribed."),
                      _text("details", "Missed doses or changes, in the patient's words.")),
                     outcome="adherence_recorded"),
    RegistryFunction("report_side_effect", "Record a side effect the patient describes.",
                     (_text("description", "The side effect, in the patient's words."),
                      _choice("severity", "How severe the side effect is.", "mild", "moderate", "severe")),
                     outcome="side_effect_reported"),
    RegistryFunction("escalate_to_nurse", "Hand the patient over to a nurse.",
                     (_text("reason", "Why a nurse is needed."),
                      _choice("urgency", "How urgent it is.", "routine", "urgent", "emergency")),
                     outcome="escalated_to_nurse"),
    RegistryFunction("record_symptoms", "Record symptoms the patient describes.",
                     (_text("description", "The symptoms, in the patient's words."),),
                     outcome="symptoms_recorded"),
    RegistryFunction("report_red_flag", "Record a red-flag symptom that needs urgent care.",
                     (_text("symptom", "The red-flag symptom, in the patient's words."),),
                     outcome="red_flag_reported"),
    RegistryFunction("book_follow_up", "Record a request to book a follow-up appointment.",
                     (_text("preferred_time", "When the patient would prefer to come."),),
                     outcome="follow_up_requested"),
    RegistryFunction("request_callback", "Record a request for a call back from staff.",
                     (_text("preferred_time", "When the patient would like the call."),),
                     outcome="callback_requested"),
    RegistryFunction("request_refill", "Record a prescription refill request.",
                     (_text("medication", "Which medicine needs a refill."),),
                     outcome="refill_requested"),
    RegistryFunction("end_call", "Record how the call ended.",
                     (_text("outcome", "A short summary of the call's outcome."),),
                     outcome="call_ended"),
]

DEFAULT_REGISTRY = FunctionsRegistry(DEFAULT_FUNCTIONS)
