"""The private Pipecat names engine.voice.pipecat_private relies on still exist in the installed Pipecat.

A Pipecat upgrade that renames or re-signs one fails here, naming it, instead of deep inside a call.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from types import ModuleType

import pytest

from engine.voice import pipecat_private
from engine.voice.pipecat_private import (
    PRIVATE_ATTRIBUTES,
    PRIVATE_FUNCTIONS,
    PRIVATE_METHODS,
    PRIVATE_PROPERTIES,
)

PIPECAT = f"pipecat-ai {version('pipecat-ai')}"


@pytest.mark.parametrize(("owner", "name", "parameters"), [
    (owner, name, parameters) for owner, methods in PRIVATE_METHODS.items()
    for name, parameters in methods.items()])
def test_each_private_method_exists_with_its_parameters(owner: type, name: str,
                                                        parameters: tuple[str, ...]) -> None:
    method = owner.__dict__.get(name)
    assert callable(method), (f"{PIPECAT}: {owner.__qualname__}.{name} is gone; "
                              "engine/voice/pipecat_private.py needs updating")
    found = tuple(inspect.signature(method).parameters)
    assert found == parameters, (f"{PIPECAT}: {owner.__qualname__}.{name} now takes {found}, "
                                 f"not {parameters}; engine/voice/pipecat_private.py needs updating")


@pytest.mark.parametrize(("owner", "name"), [
    (owner, name) for owner, names in PRIVATE_PROPERTIES.items() for name in names])
def test_each_private_property_is_still_a_property(owner: type, name: str) -> None:
    assert isinstance(owner.__dict__.get(name), property), (
        f"{PIPECAT}: {owner.__qualname__}.{name} is no longer a property; "
        "engine/voice/pipecat_private.py needs updating")


@pytest.mark.parametrize(("module", "name", "parameters"), [
    (module, name, parameters) for module, functions in PRIVATE_FUNCTIONS.items()
    for name, parameters in functions.items()])
def test_each_private_function_exists_with_its_parameters(module: ModuleType, name: str,
                                                          parameters: tuple[str, ...]) -> None:
    function = getattr(module, name, None)
    assert callable(function), f"{PIPECAT}: {module.__name__}.{name} is gone; update pipecat_private.py"
    found = tuple(inspect.signature(function).parameters)
    assert found == parameters, (f"{PIPECAT}: {module.__name__}.{name} now takes {found}, "
                                 f"not {parameters}; engine/voice/pipecat_private.py needs updating")


@pytest.mark.parametrize(("owner", "name"), [
    (owner, name) for owner, names in PRIVATE_ATTRIBUTES.items() for name in names])
def test_each_private_attribute_is_still_set_by_its_class(owner: type, name: str) -> None:
    assigned = re.search(rf"\bself\.{name}\s*(:[^=\n]+)?=", inspect.getsource(owner))
    assert assigned, (f"{PIPECAT}: {owner.__qualname__} no longer sets self.{name}; "
                      "engine/voice/pipecat_private.py needs updating")


def test_no_other_voice_module_names_a_private_pipecat_attribute() -> None:
    """Only pipecat_private may reach into Pipecat: every private name it lists is used nowhere else."""
    from pathlib import Path

    private = {name for names in PRIVATE_ATTRIBUTES.values() for name in names}
    private |= {name for methods in PRIVATE_METHODS.values() for name in methods}
    private |= {name for names in PRIVATE_PROPERTIES.values() for name in names}
    folder = Path(pipecat_private.__file__).parent
    for module in folder.glob("*.py"):
        if module.name == "pipecat_private.py":
            continue
        text = module.read_text()
        used = sorted(name for name in private if re.search(rf"\.{name}\b", text))
        assert not used, f"{module.name} uses private Pipecat names {used}; move them to pipecat_private.py"
