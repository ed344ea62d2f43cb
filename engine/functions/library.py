"""The bundled function library (library.yaml), loaded once per process."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import TypeAdapter

from engine.schema.model import FunctionDecl

LIBRARY_FILE = Path(__file__).with_name("library.yaml")


@cache
def bundled_functions() -> dict[str, FunctionDecl]:
    """Declarations every schema may name without declaring them."""
    from engine.schema.yaml_loader import load_yaml

    raw, _ = load_yaml(LIBRARY_FILE)
    return TypeAdapter(dict[str, FunctionDecl]).validate_python(raw)
