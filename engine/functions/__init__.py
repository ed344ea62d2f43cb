"""Declared functions: the bundled library and the built-in effects they run."""

from engine.functions.effects import accepts, from_speech, from_text, invoke, json_schema
from engine.functions.library import bundled_functions

__all__ = ["accepts", "bundled_functions", "from_speech", "from_text", "invoke", "json_schema"]
