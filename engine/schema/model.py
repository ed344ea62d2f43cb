"""Pydantic models of a conversation schema, as written in YAML."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

IDENTIFIER = r"^[a-z][a-z0-9_]*$"


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


class Transition(Strict):
    """On `intent`, move to state `to`, calling registry function `call` first if given."""

    intent: str
    to: str
    call: str | None = None
    args: dict[str, StrictBool | str] = {}


class State(Strict):
    prompt: str = Field(min_length=1)
    say: str = Field(min_length=1)
    reprompt: str | None = None
    functions: list[str] = []
    transitions: list[Transition] = []
    respond_immediately: StrictBool = True
    end: StrictBool = False

    @model_validator(mode="after")
    def _end_states_do_not_move(self) -> State:
        if self.end and self.transitions:
            raise ValueError("an ending state ('end: true') cannot have transitions")
        return self


class Schema(Strict):
    name: str = Field(pattern=IDENTIFIER)
    version: str = Field(min_length=1)
    description: str = Field(min_length=1)
    role: str = Field(min_length=1)
    data: dict[str, DataField] = Field(min_length=1)
    pronunciations: dict[str, str] = {}
    initial_state: str
    intents: dict[str, Intent] = Field(min_length=1)
    states: dict[str, State] = Field(min_length=1)
