"""A fake OpenAI-compatible chat-completions server, over real HTTP on 127.0.0.1.

It runs uvicorn on a free port in a background thread and answers
`POST /v1/chat/completions` with `stream: true` SSE chunks, as OpenAI does.
Every request body is recorded in `requests`. Each answer is the next reply
queued with `script(...)`, else the default policy: when the last message is
the caller's and names one of the request's tools as a word (e.g. "yes"), it
streams a call of that tool, with the caller's words in each string parameter;
otherwise it streams `default_text`.

    with FakeOpenAI() as fake:
        fake.script(http_error(500), speak("Hello there."))
        ResponderConfig(kind="openai", base_url=fake.base_url, model="fake", api_key="test")
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

ReplyKind = Literal["text", "tool", "status", "garbage", "garbage_sse"]


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    text: str = ""
    chunks: int = 3
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    delay_s: float = 0.0  # before the first byte (headers included)


def speak(text: str, chunks: int = 3) -> Reply:
    return Reply("text", text=text, chunks=chunks)


def call_tool(name: str, arguments: dict[str, Any] | None = None, chunks: int = 3) -> Reply:
    return Reply("tool", tool=name, arguments=arguments or {}, chunks=chunks)


def http_error(status: int = 500) -> Reply:
    return Reply("status", status=status)


def garbage(sse: bool = False) -> Reply:
    """A 200 whose body is not an API answer: an HTML page, or SSE `data:` lines that are not JSON."""
    return Reply("garbage_sse" if sse else "garbage")


def slow(seconds: float, reply: Reply | None = None) -> Reply:
    return replace(reply or speak("Sorry for the wait."), delay_s=seconds)


def free_port() -> int:
    """A port nothing listens on (once this returns)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeOpenAI:
    def __init__(self, default_text: str = "Hello from the fake model.") -> None:
        self.default_text = default_text
        self.requests: list[dict[str, Any]] = []
        self._queued: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False, lifespan="off",
                                loop="asyncio", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="fake-openai", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order; then the default policy again."""
        self._queued.extend(replies)

    # ----- what the fake was asked -----------------------------------------------------------

    @property
    def last_request(self) -> dict[str, Any]:
        return self.requests[-1]

    @staticmethod
    def system_texts(request: dict[str, Any]) -> list[str]:
        return [m["content"] for m in request["messages"] if m["role"] in ("system", "developer")]

    @staticmethod
    def tool_names(request: dict[str, Any]) -> list[str]:
        return [tool["function"]["name"] for tool in request.get("tools") or []]

    # ----- answering -------------------------------------------------------------------------

    def decide(self, request: dict[str, Any]) -> Reply:
        if self._queued:
            return self._queued.popleft()
        messages = request.get("messages") or []
        last = messages[-1] if messages else {}
        if last.get("role") == "user":
            caller = _text_of(last)
            for tool in request.get("tools") or []:
                function = tool["function"]
                if re.search(rf"\b{re.escape(function['name'])}\b", caller, re.IGNORECASE):
                    return call_tool(function["name"], _string_arguments(function, caller))
        return speak(self.default_text)

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            reply = self.decide(body)
            await self._delay(reply.delay_s)
            return self._respond(reply, body)

        return app

    async def _delay(self, seconds: float) -> None:
        """Sleep, but end early when the server stops (so shutdown need not cancel a request)."""
        await asyncio.to_thread(self._stopping.wait, seconds)

    def _respond(self, reply: Reply, body: dict[str, Any]) -> Response:
        if reply.kind == "status":
            error = {"error": {"message": "the fake model failed", "type": "server_error", "code": None}}
            return JSONResponse(error, status_code=reply.status, headers={"retry-after-ms": "10"})
        if reply.kind == "garbage":
            return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
        if reply.kind == "garbage_sse":
            return StreamingResponse(_lines(["data: {this is not json", "data: [DONE]"]),
                                     media_type="text/event-stream")
        chunks = self._tool_chunks(reply) if reply.kind == "tool" else self._text_chunks(reply)
        model = body.get("model", "fake")
        return StreamingResponse(self._sse(chunks, model), media_type="text/event-stream")

    def _text_chunks(self, reply: Reply) -> list[tuple[dict[str, Any], str | None]]:
        deltas = [({"role": "assistant", "content": ""}, None)]
        deltas += [({"content": piece}, None) for piece in _split(reply.text, reply.chunks)]
        return deltas + [({}, "stop")]

    def _tool_chunks(self, reply: Reply) -> list[tuple[dict[str, Any], str | None]]:
        call_id = f"call_fake_{next(self._ids)}"
        function = {"name": reply.tool, "arguments": ""}
        first = {"index": 0, "id": call_id, "type": "function", "function": function}
        deltas = [({"role": "assistant", "content": None, "tool_calls": [first]}, None)]
        for piece in _split(json.dumps(reply.arguments), reply.chunks):
            deltas.append(({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None))
        return deltas + [({}, "tool_calls")]

    async def _sse(self, deltas: list[tuple[dict[str, Any], str | None]], model: str) -> AsyncIterator[str]:
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        for delta, finish_reason in deltas:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [choice]}
            yield f"data: {json.dumps(chunk)}\n\n"
            await asyncio.sleep(0)
        yield "data: [DONE]\n\n"


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _string_arguments(function: dict[str, Any], caller: str) -> dict[str, Any]:
    properties = (function.get("parameters") or {}).get("properties") or {}
    return {name: caller for name, spec in properties.items() if spec.get("type") == "string"}


def _split(text: str, parts: int) -> list[str]:
    """`text` in `parts` pieces (fewer when it is short); joined, they give it back."""
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield f"{line}\n\n"
