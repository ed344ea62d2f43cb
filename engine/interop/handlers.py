"""A flow's Python side: its handlers module (imported only when named), its direct functions and
action handlers as Pipecat resolves them, and its initial `flow_manager.state`."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pipecat.flows import NO_RESPONSE, FlowError, FlowManager
from pipecat.flows.flow import _check_contract  # listed in engine/voice/pipecat_private.py
from pipecat.flows.types import FlowsDirectFunctionWrapper

from engine.errors import Problem, SchemaError
from engine.files import RECORD_MAX_BYTES, InputFileError, read_bounded_bytes
from engine.schema.model import Parameter, ParamType

Announce = Callable[[Path], None]
_JSON_TYPES = {"string": ParamType.STRING, "integer": ParamType.INTEGER, "number": ParamType.NUMBER,
               "boolean": ParamType.BOOLEAN}


@dataclass(frozen=True, eq=False)
class FlowParts:
    """What a plain flow brings beside its nodes."""

    handlers_path: Path | None = None
    functions: dict[str, FlowsDirectFunctionWrapper] = field(default_factory=dict)
    actions: dict[str, Callable[..., Any]] = field(default_factory=dict)  # handler name -> callable
    initial_state: dict[str, Any] = field(default_factory=dict)

    def parameters(self, function: str) -> dict[str, Parameter]:
        """A direct function's parameters, from Pipecat's introspection of its signature and docstring."""
        wrapper = self.functions.get(function)
        if wrapper is None:
            return {}
        schema = wrapper.to_function_schema()
        return {name: _parameter(spec, name in schema.required) for name, spec in schema.properties.items()}

    def properties(self, function: str) -> dict[str, Any]:
        wrapper = self.functions.get(function)
        return dict(wrapper.to_function_schema().properties) if wrapper else {}


def _parameter(spec: dict[str, Any], required: bool) -> Parameter:
    description = str(spec.get("description", ""))
    if spec.get("enum"):
        return Parameter(type=ParamType.ENUM, values=[str(v) for v in spec["enum"]], description=description,
                         required=required)
    kind = _JSON_TYPES.get(str(spec.get("type", "string")), ParamType.STRING)
    return Parameter(type=kind, description=description, required=required)


class ContractError(Exception):
    """A direct function returned what stock Pipecat's configured flows refuse."""


async def run_direct(wrapper: FlowsDirectFunctionWrapper, args: dict[str, Any],
                     flow_manager: FlowManager) -> tuple[dict[str, Any], bool]:
    """Run a direct function for real: its result as a mapping (a bare value under `result`) and
    whether the bot answers (False when it returned NO_RESPONSE).

    Raises what the function raised, or ContractError where Pipecat's `Flow` would raise FlowError.
    """
    response = await wrapper.invoke(args, flow_manager)
    try:
        result, next_node = _check_contract(response, wrapper.name, "direct function")
    except FlowError as error:
        raise ContractError(str(error)) from error
    mapping = dict(result) if isinstance(result, dict) else {} if result is None else {"result": result}
    return mapping, next_node is not NO_RESPONSE


def import_handlers(path: Path, announce: Announce | None = None) -> ModuleType:
    """Import the handlers module at `path` (this runs its code: `announce` is told first)."""
    if path.suffix != ".py" or not path.is_file():
        raise SchemaError([Problem(str(path), 0, 0, "", "--handlers needs a Python file (.py)")])
    if announce is not None:
        announce(path)
    name = f"voice_console_flow_handlers_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SchemaError([Problem(str(path), 0, 0, "", "cannot import this file as a module")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the module's own code failed: report it where it failed
        sys.modules.pop(name, None)
        line = _error_line(error, path)
        raise SchemaError([Problem(str(path), line, 0, "", f"importing it failed: "
                                                            f"{type(error).__name__}: {error}")]) from error
    return module


def _error_line(error: BaseException, path: Path) -> int:
    if isinstance(error, SyntaxError) and error.lineno:
        return error.lineno
    trace = error.__traceback__
    line = 0
    while trace is not None:
        if Path(trace.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def load_state(path: Path) -> dict[str, Any]:
    """The initial `flow_manager.state` from a JSON file holding one object (at most RECORD_MAX_BYTES)."""
    try:
        value = json.loads(read_bounded_bytes(path, RECORD_MAX_BYTES).decode("utf-8"))
    except InputFileError as error:
        raise SchemaError([Problem(str(path), 0, 0, "", str(error))]) from error
    except UnicodeDecodeError as error:
        raise SchemaError([Problem(str(path), 0, 0, "", "not UTF-8 text")]) from error
    except json.JSONDecodeError as error:
        raise SchemaError([Problem(str(path), error.lineno, error.colno, "",
                                   f"not valid JSON: {error.msg}")]) from error
    except RecursionError as error:
        raise SchemaError([Problem(str(path), 0, 0, "", "not valid JSON: nested too deeply")]) from error
    if not isinstance(value, dict):
        raise SchemaError([Problem(str(path), 1, 1, "", "the state file must hold one JSON object")])
    return value
