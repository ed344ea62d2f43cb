"""Patient records: one JSON file each, `{"schema": ..., "id": ..., "data": {...}}`.

`PatientStore` is the small interface the API and the console read patients
through; `JsonFolderPatientStore` is the default, over `resources/patients/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engine.errors import PatientDataError
from engine.files import RECORD_MAX_BYTES
from engine.paths import PATIENTS_DIR
from engine.schema.compiled import CompiledSchema
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
        raw, positions = load_yaml(path, max_bytes=RECORD_MAX_BYTES)
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
    """Patients as JSON files in one folder; an id is the file's `id` field or its stem.

    Files are parsed once and re-read only when they change.
    """

    def __init__(self, folder: Path = PATIENTS_DIR) -> None:
        self.folder = folder
        self._cache: dict[Path, tuple[int, PatientFile | PatientDataError]] = {}

    def _load(self, path: Path) -> PatientFile | PatientDataError:
        mtime = path.stat().st_mtime_ns
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            try:
                cached = (mtime, load_patient(path))
            except PatientDataError as error:
                cached = (mtime, error)
            self._cache[path] = cached
        return cached[1]

    def list(self, schema: str | None = None) -> list[PatientFile]:
        """Readable patients, optionally of one schema; unreadable files are left out."""
        loaded = (self._load(path) for path in sorted(self.folder.glob("*.json")))
        return [p for p in loaded if isinstance(p, PatientFile) and (schema is None or p.schema == schema)]

    def get(self, patient_id: str) -> PatientFile | None:
        """The patient, or None; a file named after the id that cannot be read raises PatientDataError."""
        direct = self.folder / f"{patient_id}.json"
        if "/" not in patient_id and direct.is_file():
            found = self._load(direct)
            if isinstance(found, PatientDataError):
                raise found
            return found
        return next((p for p in self.list() if p.id == patient_id), None)
