"""Engine errors: one root, one subclass per kind of failure.

Errors that come from a file carry `Problem`s: file, line, column and the
dotted field path, so the CLI, the API and the console can print one line each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in one field of one file."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class ProblemsError(EngineError):
    """An error made of one or more located problems, reported all at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.field))
        super().__init__("\n".join(str(p) for p in self.problems))


class SchemaError(ProblemsError):
    """A conversation schema that cannot be loaded."""


class FlowExportError(ProblemsError):
    """A schema construct with no faithful form in a stock Pipecat flow (voice-console export-flow)."""


class PatientDataError(ProblemsError):
    """A patient record that breaks its schema's data contract."""


class TestScriptError(ProblemsError):
    """A schema test script that cannot be loaded."""

    __test__ = False  # not a pytest test class


class UnknownStateError(EngineError):
    """A state name that the schema does not define."""


class UnknownFunctionError(EngineError):
    """A function call names a function the call's current node does not offer."""


class CallLifecycleError(EngineError):
    """An operation that the call's current lifecycle state does not allow."""


class ResponderError(EngineError):
    """The responder (LLM endpoint) failed or returned something unusable."""


class AudioDeviceError(EngineError):
    """An audio device that is missing or cannot be opened."""


class ModelFileError(EngineError):
    """A bundled model file that is missing or fails its checksum."""


class CallNotFoundError(EngineError):
    """A call id that the call history does not hold."""


class CallStoreError(EngineError):
    """The call-history database cannot be opened, read or written."""


class ExportError(EngineError):
    """An export file (CSV, JSON report) that cannot be written."""


class TurnScriptError(ProblemsError):
    """A file of caller turns for a headless call that cannot be used."""


class AudioDeviceLostError(AudioDeviceError):
    """An audio device that stopped working during a call."""


class VoiceConfigError(EngineError):
    """A voice setting (STT, TTS, turn detection) that cannot be used."""
