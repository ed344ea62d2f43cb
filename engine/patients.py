"""Patient records: one JSON file each, `{"schema": ..., "id": ..., "data": {...}}`.

`PatientStore` is the small interface the API and the console read patients
through; `JsonFolderPatientStore` is the default, over `resources/patients/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engine.errors import PatientDataError
from engine.schema.compiled import CompiledSchema
from engine.paths import PATIENTS_DIR
from engine.schema.yaml_loader import Positions, YamlLoadError, load_yaml


@dataclass(frozen=True)
class PatientFile:
    id: str
    schema: str
    data: dict[str, Any]  # raw, as written
    path: Path
    positions: Positions

    def validated(self, compiled: CompiledSchema) -> dict[str, Any]:
        """The normalized record; raises PatientDataError naming file, line and field."""
        return compiled.validate_data(self.data, positions=self.positions, file=str(self.path))


def load_patient(path: Path | str) -> PatientFile:
    path = Path(path)
    try:
        raw, positions = load_yaml(path)
    except YamlLoadError as error:
        raise PatientDataError(error.problems) from error
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        problem = positions.problem(("data",), "a patient file needs a 'data' mapping of contract fields")
        raise PatientDataError([problem])
    return PatientFile(
        id=str(raw.get("id") or path.stem),
        schema=str(raw.get("schema") or ""),
        data=raw["data"],
        path=path,
        positions=positions,
    )


class PatientStore(Protocol):
    def get(self, patient_id: str) -> PatientFile | None: ...

    def list(self, schema: str | None = None) -> list[PatientFile]: ...


class JsonFolderPatientStore:
    """Patients as JSON files in one folder; ids are the files' `id` (or stem)."""

    def __init__(self, folder: Path = PATIENTS_DIR) -> None:
        self.folder = folder

    def list(self, schema: str | None = None) -> list[PatientFile]:
        patients = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                patient = load_patient(path)
            except PatientDataError:
                continue
            if schema is None or patient.schema == schema:
                patients.append(patient)
        return patients

    def get(self, patient_id: str) -> PatientFile | None:
        return next((p for p in self.list() if p.id == patient_id or p.path.stem == patient_id), None)
