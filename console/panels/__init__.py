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


class SchemaInfo(TypedDict):
    name: str
    path: str
    states: list[str]
    edges: list[Edge]
    initial: str
    endings: set[str]


class NodeView(TypedDict):
    """A node's texts, ready to show: rendered segments and template sources."""

    state: str
    current: bool  # the live call is in this node
    say: list[Segment]
    prompt: list[Segment]
    say_source: str
    prompt_source: str
    intents: list[IntentChoice]  # the node's transitions



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
