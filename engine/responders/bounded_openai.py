"""Pipecat's OpenAI service with the bounds a call needs.

OpenAI's client waits 600 s and retries twice by default; here a request has
the responder's timeout and no retry. A model that keeps calling functions
without speaking is stopped after MAX_FUNCTION_CALLS_PER_TURN, and a call to a
function the node does not offer is an error event (Pipecat only logs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openai import AsyncOpenAI
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import Frame, FunctionCallFromLLM, LLMTextFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.llm import OpenAILLMService

MAX_FUNCTION_CALLS_PER_TURN = 10  # function calls in a row without the bot saying anything


class BoundedOpenAILLMService(OpenAILLMService):
    def __init__(self, *, timeout_s: float, **kwargs: Any) -> None:
        self._timeout_s = timeout_s
        self._calls_since_text = 0
        super().__init__(**kwargs)

    def create_client(self, *args: Any, **kwargs: Any) -> AsyncOpenAI:
        client: AsyncOpenAI = super().create_client(*args, **kwargs)  # type: ignore[no-untyped-call]  # Pipecat's is untyped
        return client.with_options(timeout=self._timeout_s, max_retries=0)

    async def cleanup(self) -> None:
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat's cleanup is untyped
        await self._client.close()  # Pipecat leaves the HTTP connections open

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        if isinstance(frame, LLMTextFrame) and frame.text.strip():
            self._calls_since_text = 0
        await super().push_frame(frame, direction)

    async def run_function_calls(self, function_calls: Sequence[FunctionCallFromLLM]) -> None:
        self._calls_since_text += len(function_calls)
        if self._calls_since_text > MAX_FUNCTION_CALLS_PER_TURN:
            await self.push_error(f"the model called functions more than {MAX_FUNCTION_CALLS_PER_TURN} times "
                                  "without speaking; the last calls were not run")
            return
        unknown = {c.function_name for c in function_calls if c.function_name not in _offered(c)}
        for name in sorted(unknown):
            await self.push_error(f"the model called '{name[:80]}', which is not a function of this node")
        await super().run_function_calls(function_calls)


def _offered(function_call: FunctionCallFromLLM) -> set[str]:
    """The functions the model was offered with the context it answered (the node's tools)."""
    tools = function_call.context.tools
    standard = tools.standard_tools if isinstance(tools, ToolsSchema) else []
    return {tool.name for tool in standard}
