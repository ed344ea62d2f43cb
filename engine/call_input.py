"""What the operator gives a running call, checked before it reaches the pipeline: a typed caller
turn and a function call made in the LLM's place."""

from __future__ import annotations

from engine.errors import CallLifecycleError, EngineError, UnknownFunctionError
from engine.state import ConversationState


def cleaned_turn(text: str | bytes) -> tuple[str | None, str]:
    """The turn with its whitespace collapsed, or None and why the turn is ignored."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None, "caller turn ignored: not valid UTF-8 text"
    cleaned = " ".join(text.split())
    return (cleaned, "") if cleaned else (None, "caller turn ignored: it is empty")


def refused_function_call(responder_kind: str, conversation: ConversationState,
                          name: str) -> EngineError | None:
    """Why the operator cannot call `name` now (None when they can): only the scripted responder takes
    the operator's calls, and only of a function the current node offers."""
    if responder_kind != "scripted":
        return CallLifecycleError("the operator calls functions only with the scripted responder; "
                                  f"this call's {responder_kind} responder calls them itself")
    state = conversation.current
    offered = [f.name for f in conversation.compiled.offered_functions(state)]
    if name not in offered:
        known = ", ".join(offered) or "none"
        return UnknownFunctionError(f"state '{state}' offers no function '{name}' (it offers: {known})")
    return None
