"""Pydantic models of a conversation schema, as written in YAML.

A schema is a superset of Pipecat's `FlowConfig`: `initial_node`, `nodes` (each a FlowConfig node)
and `global_functions` mean what they mean there. The schema adds the data contract, the lexicon,
intents, declared functions, scripted lines, attempts and decision nodes (docs/schema-format.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
END_CONVERSATION = "end_conversation"


def is_template(value: object) -> bool:
    """Whether an `args` value is a Jinja template over the record rather than a fixed value."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)



def case_key(value: Any) -> str:
    """The string a branch matches a case on: Pipecat's own rule (`pipecat.flows.config.case_key`),
    restated so that loading a schema does not import all of Pipecat Flows (a test keeps them equal)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    lowered = text.lower()
    return lowered if lowered in ("true", "false") else text

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldType(StrEnum):
    STRING = "string"
    NAME = "name"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"
    PHONE = "phone"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ENUM = "enum"
    LIST = "list"


class DataField(Strict):
    """One field of the data contract. A `list` field holds records of `fields`."""

    type: FieldType
    required: StrictBool = True
    description: str = ""
    example: Any = None
    values: list[str] | None = None
    fields: dict[str, DataField] | None = None
    pronounce: StrictBool = False  # pass the spoken form through the lexicon
    say_year: StrictBool = False  # a date spoken with its year and no weekday (dates of birth)
    max_length: int | None = Field(default=None, ge=1, le=100_000)  # characters, or a list's records

    @model_validator(mode="after")
    def _check_type_options(self) -> DataField:
        if self.type is FieldType.ENUM and not self.values:
            raise ValueError("an enum field needs 'values'")
        if self.type is not FieldType.ENUM and self.values is not None:
            raise ValueError("only an enum field takes 'values'")
        if self.type is FieldType.LIST and not self.fields:
            raise ValueError("a list field needs 'fields' describing each record")
        if self.say_year and self.type is not FieldType.DATE:
            raise ValueError("only a date field takes 'say_year'")
        if self.type is not FieldType.LIST and self.fields is not None:
            raise ValueError("only a list field takes 'fields'")
        if self.fields and any(f.type is FieldType.LIST for f in self.fields.values()):
            raise ValueError("records inside a list cannot hold lists")
        return self


class Intent(Strict):
    """A caller intent, with what the offline classifier matches on."""

    description: str = Field(min_length=1)
    examples: list[str] = Field(min_length=1)
    keywords: list[str] = []
    # "alert": needs a keyword or the stricter similarity bar; "all_clear": never by similarity alone
    # when the turn names a symptom
    safety: Literal["alert", "all_clear"] | None = None


# ----- declared functions ----------------------------------------------------------------------


class ParamType(StrEnum):
    STRING = "string"
    ENUM = "enum"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    TIME = "time"
    PHONE = "phone"
    NAME = "name"
    ITEM = "item"  # an item of a list data field, named by its `name`


class Parameter(Strict):
    type: ParamType
    description: str = ""
    required: StrictBool = False
    values: list[str] | None = None  # enum
    of: str | None = None  # item: the list data field

    @model_validator(mode="after")
    def _check_type_options(self) -> Parameter:
        if self.type is ParamType.ENUM and not self.values:
            raise ValueError("an enum parameter needs 'values'")
        if self.type is not ParamType.ENUM and self.values is not None:
            raise ValueError("only an enum parameter takes 'values'")
        if (self.type is ParamType.ITEM) != (self.of is not None):
            raise ValueError("an item parameter, and only one, takes 'of' (the list data field it names)")
        return self


class Verify(Strict):
    """Compare the spoken value of `parameter` with the record's field `against`."""

    parameter: str
    against: str


class Handover(Strict):
    """Escalate or transfer; `reason` and `urgency` are used when no argument gives them."""

    reason: str = ""
    urgency: str = "routine"


class FunctionDecl(Strict):
    """A function a node may offer: typed parameters and one built-in effect."""

    description: str = Field(min_length=1)
    parameters: dict[str, Parameter] = {}
    outcome: str = ""  # appended to slots.outcomes; the function's name when empty
    verify: Verify | None = None
    escalate: Handover | None = None
    transfer: Handover | None = None

    @model_validator(mode="after")
    def _one_effect(self) -> FunctionDecl:
        if sum(effect is not None for effect in (self.verify, self.escalate, self.transfer)) > 1:
            raise ValueError("a function has one effect: 'verify', 'escalate' or 'transfer'")
        return self


# ----- nodes -----------------------------------------------------------------------------------


class Message(Strict):
    role: str = "developer"
    content: str = Field(min_length=1)


class Branch(Strict):
    """Pipecat's branch: the value of `field` (in the function's result, or the record) picks a case."""

    field: str
    cases: dict[str, str] = Field(min_length=1)
    default: str | None = None

    @field_validator("cases", mode="before")
    @classmethod
    def _canonical_keys(cls, value: Any) -> Any:
        return {case_key(k): v for k, v in value.items()} if isinstance(value, dict) else value

    def targets(self) -> list[str]:
        return list(dict.fromkeys([*self.cases.values(), *([self.default] if self.default else [])]))

    def target_for(self, value: Any) -> str | None:
        return self.cases.get(case_key(value), self.default)


class FunctionEntry(Strict):
    """A FlowConfig function entry, plus `intent` and `args`. Without `name` it is transition-only."""

    name: str | None = None
    intent: str | None = None
    transition_only: StrictBool = False
    description: str | None = None
    transition_to: str | Branch | None = None
    args: dict[str, StrictBool | StrictInt | float | str] = {}

    @model_validator(mode="after")
    def _check_shape(self) -> FunctionEntry:
        if self.name is None and self.intent is None:
            raise ValueError("a function entry needs a 'name' or an 'intent'")
        if self.only_transitions and not isinstance(self.transition_to, str):
            raise ValueError("a transition-only entry must name the node it moves to in 'transition_to'")
        if self.only_transitions and self.args:
            raise ValueError("a transition-only entry takes no 'args'")
        return self

    @property
    def only_transitions(self) -> bool:
        return self.transition_only or self.name is None

    @property
    def tool(self) -> str:
        """The tool's name as the LLM sees it: the intent when there is one."""
        return self.intent or self.name or ""

    def targets(self) -> list[str]:
        if self.transition_to is None:
            return []
        return [self.transition_to] if isinstance(self.transition_to, str) else self.transition_to.targets()


class Action(BaseModel):
    """A FlowConfig pre- or post-action (`tts_say`, `end_conversation`, `function`, or custom)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(min_length=1)
    handler: str | None = None
    text: str | None = None


class Attempts(Strict):
    max: StrictInt = Field(ge=1)
    then: str


class Node(Strict):
    role_message: str | None = None
    task_messages: list[Message] = []
    say: str | None = Field(default=None, min_length=1)
    reprompt: str | None = Field(default=None, min_length=1)
    functions: list[FunctionEntry] = []
    pre_actions: list[Action] = []
    post_actions: list[Action] = []
    context_strategy: Literal["append", "reset"] | None = None
    respond_immediately: StrictBool = True
    attempts: Attempts | None = None
    decide: Branch | None = None

    @model_validator(mode="after")
    def _check_kind(self) -> Node:
        if self.decide is not None:
            spoken = [k for k in ("task_messages", "say", "reprompt", "functions") if getattr(self, k)]
            if spoken:
                raise ValueError(f"a decision node ('decide') takes no {', '.join(spoken)}")
            return self
        if not self.task_messages:
            raise ValueError("missing required field 'task_messages'")
        if self.say is None:
            raise ValueError("missing required field 'say'")
        if self.ending and any(f.transition_to is not None for f in self.functions):
            raise ValueError("an ending node (post_actions end_conversation) cannot transition")
        return self

    @property
    def ending(self) -> bool:
        return any(action.type == END_CONVERSATION for action in self.post_actions)


class Schema(Strict):
    name: str = Field(pattern=IDENTIFIER)
    version: str = Field(min_length=1)
    description: str = Field(min_length=1)
    role_message: str = Field(min_length=1)
    data: dict[str, DataField] = Field(min_length=1)
    pronunciations: dict[str, str] = {}
    functions: dict[str, FunctionDecl] = {}
    intents: dict[str, Intent] = Field(min_length=1)
    initial_node: str
    global_functions: list[FunctionEntry] = []
    nodes: dict[str, Node] = Field(min_length=1)


# ----- plain Pipecat flows ---------------------------------------------------------------------


def is_union_tag(part: Any) -> bool:
    """A part of a pydantic error location that names a validator or union member, not a key."""
    return isinstance(part, str) and ("[" in part or part in {"str", "bool", "int", "float", "Branch"})


SCHEMA_ONLY_KEYS = ("name", "version", "description", "data", "intents", "functions", "pronunciations")


def is_plain_flow(raw: Any) -> bool:
    """A Pipecat FlowConfig rather than a schema: it has nodes and none of a schema's own keys (a
    schema that forgot its `name` is still a schema, reported as one)."""
    return isinstance(raw, dict) and "nodes" in raw and not any(key in raw for key in SCHEMA_ONLY_KEYS)


class FlowNode(Node):
    """A node of a plain Pipecat FlowConfig: no scripted lines; Pipecat's own loader checked it."""

    @model_validator(mode="after")
    def _check_kind(self) -> FlowNode:
        return self


class FlowSchema(Schema):
    """A plain Pipecat FlowConfig as a schema: an empty data contract, no intents, no scripted lines."""

    version: str = "flow"
    description: str = "A Pipecat flow"
    role_message: str = ""
    data: dict[str, DataField] = {}
    intents: dict[str, Intent] = {}
    nodes: dict[str, FlowNode] = Field(min_length=1)  # type: ignore[assignment]  # a looser node
