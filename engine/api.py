"""The HTTP API: start, drive, inspect and stop calls.

Calls run on the server's event loop and stay in the registry after they end,
so their reports and events can still be read. Error bodies name files, lines
and fields, never patient values.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from engine import driving
from engine import events as ev
from engine.api_guard import LOOPBACK_HOSTS, MAX_BODY_BYTES, RequestGuard
from engine.calls import create_call
from engine.errors import (
    CallLifecycleError,
    EngineError,
    PatientDataError,
    ProblemsError,
    SchemaError,
    UnknownFunctionError,
    UnknownStateError,
)
from engine.logs import redactor_for, safe_line
from engine.patients import PatientFile, PatientStore
from engine.pipeline import HealthcareAIPipeline
from engine.responders.factory import ResponderConfig

SCHEMA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
MAX_ENDED_CALLS = 1000
MAX_LIVE_CALLS = 100
MAX_PROBLEMS_SHOWN = 50
IDLE_TIMEOUT_S = 600.0


class CallRecorder(Protocol):
    def attach(self, call: HealthcareAIPipeline) -> Any: ...


class StartCallRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    patient_id: str = Field(min_length=1, max_length=200)
    schema_name: str = Field(alias="schema", min_length=1, max_length=100)


class TurnRequest(BaseModel):
    text: str = Field(max_length=10_000)


class ForceRequest(BaseModel):
    state: str = Field(min_length=1, max_length=200)


class FunctionCallRequest(BaseModel):
    """The client plays the LLM: a function the current node offers, with exact arguments."""

    name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = {}
    result: dict[str, Any] | None = None  # for a function without a handler


class CallRegistry:
    """session_id -> call. Ended calls stay (the oldest are dropped past `max_ended`)."""

    def __init__(self, max_ended: int = MAX_ENDED_CALLS) -> None:
        self.max_ended = max_ended
        self._calls: dict[str, HealthcareAIPipeline] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._last_used: dict[str, float] = {}

    def add(self, call: HealthcareAIPipeline) -> None:
        self._calls[call.session_id] = call
        self._last_used[call.session_id] = time.monotonic()
        self._drop_old_ended()

    def get(self, session_id: str) -> HealthcareAIPipeline:
        call = self._calls.get(session_id)
        if call is None:
            raise HTTPException(404, f"no call '{session_id}'")
        self._last_used[session_id] = time.monotonic()
        return call

    def lock(self, session_id: str) -> asyncio.Lock:
        """One operation at a time per call, so each reply holds its own turn's lines."""
        return self._locks.setdefault(session_id, asyncio.Lock())

    def all(self) -> list[HealthcareAIPipeline]:
        return list(self._calls.values())

    def live(self) -> list[HealthcareAIPipeline]:
        return [call for call in self._calls.values() if not call.ended]

    async def end_idle_calls(self, timeout_s: float) -> None:
        """Forever: end each live call that no request has touched for `timeout_s`."""
        while True:
            await asyncio.sleep(timeout_s / 4)  # a polling period, not synchronisation
            now = time.monotonic()
            idle = [c for c in self.live() if now - self._last_used.get(c.session_id, now) > timeout_s]
            await asyncio.gather(*(c.stop(f"no request for {timeout_s:g} s") for c in idle),
                                 return_exceptions=True)

    async def stop_all(self, reason: str) -> None:
        await asyncio.gather(*(call.stop(reason) for call in self.live()), return_exceptions=True)

    def _drop_old_ended(self) -> None:
        ended = [session_id for session_id, call in self._calls.items() if call.ended]
        for session_id in ended[:max(0, len(ended) - self.max_ended)]:
            del self._calls[session_id]
            self._locks.pop(session_id, None)
            self._last_used.pop(session_id, None)


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """Who may call the API and how much it takes on."""

    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_live_calls: int = MAX_LIVE_CALLS
    idle_timeout_s: float = IDLE_TIMEOUT_S


def create_app(*, patients: PatientStore, schemas_dir: Path, store: CallRecorder | None = None,
               responder: ResponderConfig | None = None, limits: ApiLimits | None = None) -> FastAPI:
    limits = limits or ApiLimits()
    registry = CallRegistry()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        reaper = asyncio.create_task(registry.end_idle_calls(limits.idle_timeout_s), name="api-idle-calls")
        try:
            yield
        finally:
            reaper.cancel()
            await asyncio.gather(reaper, return_exceptions=True)
            await registry.stop_all("the server is shutting down")

    app = FastAPI(title="voice-console", lifespan=lifespan)
    app.state.calls = registry
    app.add_middleware(RequestGuard, allowed_hosts=limits.allowed_hosts, token=limits.token,
                       max_body=limits.max_body_bytes)
    _add_error_handlers(app)
    _add_start_route(app, registry, patients, schemas_dir, store, responder, limits.max_live_calls)
    _add_call_routes(app, registry)
    return app


def _add_start_route(app: FastAPI, registry: CallRegistry, patients: PatientStore, schemas_dir: Path,
                     store: CallRecorder | None, responder: ResponderConfig | None, max_live: int) -> None:
    @app.post("/start-call")
    async def start_call(body: StartCallRequest) -> dict[str, Any]:
        if len(registry.live()) >= max_live:
            raise HTTPException(429, f"{max_live} calls are live already; end one first")
        schema_path = resolve_schema(schemas_dir, body.schema_name)
        patient = await _patient(patients, body.patient_id, body.schema_name)
        call = create_call(schema_path, patient, responder=responder)
        if store is not None:
            store.attach(call)
        registry.add(call)
        async with registry.lock(call.session_id):
            happened = await driving.start_call(call)
        logger.info(f"call {call.session_id} ({body.schema_name}) started; "
                    f"precompute took {call.precomputed.elapsed_ms:.3f} ms")
        return {"session_id": call.session_id, "precompute_ms": call.precomputed.elapsed_ms,
                **reply(call, happened)}


def _add_call_routes(app: FastAPI, registry: CallRegistry) -> None:
    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "live_calls": len(registry.live())}

    @app.get("/calls")
    async def live_calls() -> dict[str, Any]:
        return {"calls": [summary(call) for call in registry.live()]}

    @app.get("/calls/{session_id}")
    async def one_call(session_id: str) -> dict[str, Any]:
        return summary(registry.get(session_id))

    @app.get("/calls/{session_id}/events")
    async def call_events(session_id: str, after: int = 0) -> dict[str, Any]:
        history = registry.get(session_id).events.history
        return {"events": [event_json(e) for e in history if e.seq > after]}

    @app.get("/call-performance/{session_id}")
    async def performance(session_id: str) -> dict[str, Any]:
        return registry.get(session_id).get_performance_report()

    @app.post("/calls/{session_id}/turn")
    async def turn(session_id: str, body: TurnRequest) -> dict[str, Any]:
        call = registry.get(session_id)
        if not body.text.strip():
            raise HTTPException(400, "the turn's text is empty")
        async with registry.lock(session_id):
            _require_live(call)
            happened = await driving.take_turn(call, body.text, source="api")
        return reply(call, happened)

    @app.post("/calls/{session_id}/force")
    async def force(session_id: str, body: ForceRequest) -> dict[str, Any]:
        call = registry.get(session_id)
        async with registry.lock(session_id):
            _require_live(call)
            happened = await driving.force(call, body.state)
        return reply(call, happened)

    @app.post("/calls/{session_id}/function")
    async def function(session_id: str, body: FunctionCallRequest) -> dict[str, Any]:
        call = registry.get(session_id)
        async with registry.lock(session_id):
            _require_live(call)
            happened = await driving.call_function(call, body.name, body.arguments, body.result)
        return reply(call, happened)

    @app.delete("/calls/{session_id}")
    async def stop(session_id: str) -> dict[str, Any]:
        call = registry.get(session_id)
        await call.stop("stopped through the API")
        return {"status": call.status.value}


# ----- requests -----------------------------------------------------------------------------

def resolve_schema(schemas_dir: Path, name: str) -> Path:
    """The bundled schema `name` (a bare name, no path); 404 when there is none."""
    if not SCHEMA_NAME.fullmatch(name):
        raise HTTPException(404, f"no schema '{name}'")
    root = schemas_dir.resolve()
    path = (root / f"{name}.yaml").resolve()
    if path.parent != root or not path.is_file():
        raise HTTPException(404, f"no schema '{name}'")
    return path


async def _patient(patients: PatientStore, patient_id: str, schema_name: str) -> PatientFile:
    patient = await asyncio.to_thread(patients.get, patient_id)
    if patient is None:
        raise HTTPException(404, f"no patient '{patient_id}'")
    if patient.schema and patient.schema != schema_name:
        raise HTTPException(400, f"patient '{patient_id}' is for schema '{patient.schema}', "
                                 f"not '{schema_name}'")
    return patient


def _require_live(call: HealthcareAIPipeline) -> None:
    if call.ended:
        raise HTTPException(409, f"call '{call.session_id}' has {call.status.value}")


# ----- replies ------------------------------------------------------------------------------

def reply(call: HealthcareAIPipeline, happened: list[ev.CallEvent]) -> dict[str, Any]:
    """Where the call is, what the bot said, and what went wrong meanwhile."""
    errors = [e.message for e in happened if isinstance(e, ev.CallError)]
    if errors:
        redactor = redactor_for(call.session_id, call.patient_data, call.precomputed.values)
        errors = [safe_line(message, redactor) for message in errors]
    return {"state": call.conversation.current, "status": call.status.value,
            "bot": [e.text for e in happened if isinstance(e, ev.BotTurn)], "errors": errors}


def summary(call: HealthcareAIPipeline) -> dict[str, Any]:
    return {"session_id": call.session_id, "schema": call.schema_name, "patient_id": call.patient_id,
            "state": call.conversation.current, "status": call.status.value, "turns": call.turn,
            "responder": call.responder_config.kind}


def event_json(event: ev.CallEvent) -> dict[str, Any]:
    return {"kind": event.kind.value, "seq": event.seq, "turn": event.turn, "state": event.state,
            "at": event.at, **event.payload()}


def problems_json(error: ProblemsError) -> list[dict[str, Any]]:
    """The first MAX_PROBLEMS_SHOWN problems (the detail line counts them all)."""
    return [{"file": Path(p.file).name, "line": p.line, "column": p.column, "field": p.field,
             "message": p.message} for p in error.problems[:MAX_PROBLEMS_SHOWN]]


ErrorHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def _problem_count(error: Exception) -> int:
    return len(error.problems) if isinstance(error, ProblemsError) else 0


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    """422 naming each bad field, without echoing what was sent."""
    found = error.errors() if isinstance(error, RequestValidationError) else []
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in found[:20]]
    return JSONResponse({"detail": errors}, status_code=422)


def _add_error_handlers(app: FastAPI) -> None:
    def handle(status: int, detail: Callable[[Exception], str], with_problems: bool = False) -> ErrorHandler:
        async def handler(_request: Request, error: Exception) -> JSONResponse:
            body: dict[str, Any] = {"detail": safe_line(detail(error))}
            if with_problems and isinstance(error, ProblemsError):
                body["errors"] = problems_json(error)
            return JSONResponse(body, status_code=status)
        return handler

    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(PatientDataError, handle(
        400, lambda e: f"the patient data breaks the schema's data contract ({_problem_count(e)} problems)",
        with_problems=True))
    app.add_exception_handler(SchemaError, handle(
        500, lambda e: f"the schema cannot be loaded ({_problem_count(e)} problems)", with_problems=True))
    app.add_exception_handler(UnknownStateError, handle(400, str))
    app.add_exception_handler(UnknownFunctionError, handle(400, str))
    app.add_exception_handler(CallLifecycleError, handle(409, str))
    app.add_exception_handler(EngineError, handle(500, str))


# ----- serving in the current event loop ----------------------------------------------------

class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `app` on this event loop (port 0: a free one) and yield its base URL; shut down on exit."""
    # IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections (else Nagle adds ~40 ms a reply)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30,
                            timeout_graceful_shutdown=5)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="api-server")
    try:
        while not server.started:
            if task.done():
                raise EngineError(f"the API server did not start on {host}:{port}")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()
