"""What every request to the HTTP API passes before a route sees it.

`RequestGuard` is a plain ASGI middleware. It answers only for the host names
the server was bound to (a web page reaching 127.0.0.1 through DNS rebinding
sends its own host name), asks for the bearer token when there is one, caps
the body's size, and refuses JSON that Python would parse but no JSON reader
should (NaN, Infinity, nesting beyond a few levels, huge integers). Its refusals
are JSON and never echo the body.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RefusedRequest(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail
        super().__init__(detail)


class RequestGuard:
    """ASGI middleware: host allow-list, bearer token, body size and JSON sanity."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: frozenset[str] = LOOPBACK_HOSTS,
                 token: str | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.allowed_hosts, self.token, self.max_body = app, allowed_hosts, token, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self._check_host(headers.get("host", ""))
            self._check_token(headers.get("authorization", ""))
            body = await self._read_body(headers, receive)
            if body:
                check_json(body)
        except RefusedRequest as refused:
            await _refuse(send, refused)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check_host(self, host: str) -> None:
        if host_name(host) not in self.allowed_hosts:
            raise RefusedRequest(421, "this server does not answer for that host name")

    def _check_token(self, authorization: str) -> None:
        if self.token is None:
            return
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise RefusedRequest(401, "a valid bearer token is required (Authorization: Bearer TOKEN)")

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > self.max_body:
            raise RefusedRequest(413, f"the request body is larger than {self.max_body:,} bytes")
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RefusedRequest(400, "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise RefusedRequest(413, f"the request body is larger than {self.max_body:,} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def host_name(host_header: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:80' -> '::1', 'LocalHost' -> 'localhost'."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_json(body: bytes) -> None:
    """Refuse JSON with NaN or Infinity, deep nesting or huge integers; leave syntax errors to the route."""
    try:
        value = json.loads(body, parse_constant=_no_constants, parse_int=_bounded_int)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # the route answers malformed JSON with its own 422
    except (ValueError, RecursionError) as error:
        raise RefusedRequest(400, f"the request body is not acceptable JSON: {_reason(error)}") from error
    if _depth(value) > MAX_JSON_DEPTH:
        raise RefusedRequest(400, f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 100:
        raise ValueError("an integer longer than 100 digits")
    return int(text)


def _reason(error: BaseException) -> str:
    return "nested too deeply" if isinstance(error, RecursionError) else str(error)


def _depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _replay(body: bytes, then: Receive) -> Receive:
    """The body already read, then the client's own messages (its disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _refuse(send: Send, refused: RefusedRequest) -> None:
    body = json.dumps({"detail": refused.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
