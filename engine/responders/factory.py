"""Choosing a responder per call: `scripted` (offline default) or `openai` (any compatible server)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from pipecat.services.llm_service import LLMService

from engine.errors import ResponderError
from engine.nodes import CallSession
from engine.responders import LLM_TIMEOUT_S

ResponderKind = Literal["scripted", "openai"]


@dataclass(frozen=True)
class ResponderConfig:
    """`openai` reads unset fields from VOICE_CONSOLE_LLM_URL / _MODEL / _API_KEY, then OPENAI_*."""

    kind: ResponderKind = "scripted"
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = LLM_TIMEOUT_S  # per request, connecting included; a slower answer is an error

    def resolved(self) -> ResponderConfig:
        env = os.environ.get
        return ResponderConfig(
            kind=self.kind,
            base_url=self.base_url or env("VOICE_CONSOLE_LLM_URL") or env("OPENAI_BASE_URL"),
            model=self.model or env("VOICE_CONSOLE_LLM_MODEL") or "gpt-4.1-mini",
            api_key=self.api_key or env("VOICE_CONSOLE_LLM_API_KEY") or env("OPENAI_API_KEY") or "not-needed",
            timeout_s=self.timeout_s,
        )


def build_responder(config: ResponderConfig, session: CallSession) -> LLMService[Any]:  # any adapter
    if config.kind == "scripted":
        from engine.responders.scripted import ScriptedResponder

        return ScriptedResponder(session)
    if config.kind == "openai":
        return _openai_responder(config.resolved())
    raise ResponderError(f"unknown responder '{config.kind}' (expected scripted or openai)")


def _openai_responder(config: ResponderConfig) -> LLMService[Any]:
    from pipecat.services.openai.llm import OpenAILLMService

    from engine.responders.bounded_openai import BoundedOpenAILLMService

    if not config.base_url and config.api_key == "not-needed":
        raise ResponderError("the openai responder needs a base URL (--llm-url or VOICE_CONSOLE_LLM_URL) "
                             "or an API key (OPENAI_API_KEY)")
    return BoundedOpenAILLMService(
        timeout_s=config.timeout_s,
        api_key=config.api_key,
        base_url=config.base_url,
        settings=OpenAILLMService.Settings(model=config.model),
    )
