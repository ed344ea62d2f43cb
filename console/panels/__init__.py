"""Console panels: small Qt widgets fed plain Python data; they never import the engine or Pipecat.

The types below are the plain data the controller hands to panels (and back).
"""

from __future__ import annotations

from typing import NamedTuple, TypedDict

Segment = tuple[str, str, str]  # (text, field, raw value); field is "" for template text
Edge = tuple[str, str, str]  # (source, intent, target)
Choice = tuple[str, str]  # (label, value), e.g. a patient's id and its file path


class IntentChoice(NamedTuple):
    intent: str
    examples: list[str]
    target: str  # the node it leads to ('a | b' when its function branches)
    ends_call: bool  # every target is an ending node


class ParameterSpec(NamedTuple):
    """One parameter of an offered function, as its form field shows it."""

    name: str
    type: str  # string, enum, boolean, integer, number, date, time, phone, name or item
    description: str
    required: bool
    choices: list[str]  # an enum's values, or the names of the record's list items for an item


class FunctionChoice(NamedTuple):
    """A function the current node offers, for the operator to call as the LLM would."""

    name: str
    description: str
    parameters: list[ParameterSpec]
    result_cases: dict[str, list[str]]  # the result fields a branch reads, with their case values
    has_handler: bool  # False: the operator gives the result (its branch fields)


class SchemaInfo(TypedDict):
    name: str
    path: str
    states: list[str]
    edges: list[Edge]
    initial: str
    endings: set[str]
    edge_labels: dict[Edge, str]  # a branch edge's label: its intent (or decided field) and case values
    decisions: set[str]  # nodes decided by the record on entry, with no caller turn
    is_flow: bool  # a plain Pipecat flow: no patient; it may take a handlers module and a state file


class NodeView(TypedDict):
    """A node's texts, ready to show: rendered segments and template sources."""

    state: str
    current: bool  # the live call is in this node
    say: list[Segment]
    prompt: list[Segment]
    say_source: str
    prompt_source: str
    intents: list[IntentChoice]  # the node's transitions
    functions: list[FunctionChoice]  # what the node offers the LLM


class CallSetup(TypedDict, total=False):
    schema: str
    patient: str
    responder: str  # "scripted" or "openai"
    llm_url: str
    llm_model: str
    mode: str  # "text" or "voice"
    input_device: str
    output_device: str
    record: bool  # voice mode: record the call's audio into <data dir>/calls/<call id>/
    handlers: str  # a plain flow's handlers module (.py), the operator having agreed to import it
    state: str  # a plain flow's initial state (.json)
