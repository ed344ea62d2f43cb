"""Where a test script's `schema:` and `patient:` references point."""

from __future__ import annotations

from pathlib import Path

from engine.paths import PATIENTS_DIR, PROJECT_ROOT, SCHEMAS_DIR


def schema_candidates(script: Path, reference: str) -> list[Path]:
    """`schema: NAME` is NAME.yaml beside the scripts' folder (schemas/ for schemas/tests/), else bundled;
    a value with a `/` or a `.yaml` ending is a path relative to the script."""
    if "/" in reference or reference.endswith((".yaml", ".yml")):
        return [script.parent / reference]
    beside = script.parent.parent / f"{reference}.yaml"
    bundled = SCHEMAS_DIR / f"{reference}.yaml"
    return [beside] if beside.resolve() == bundled.resolve() else [beside, bundled]


def patient_candidates(script: Path, value: str) -> list[Path]:
    """Absolute, or relative to the script's folder, the repo, or resources/patients/."""
    given = Path(value)
    if given.is_absolute():
        return [given]
    candidates = [script.parent / given, PROJECT_ROOT / given, PATIENTS_DIR / given]
    unique: list[Path] = []
    for candidate in candidates:
        if candidate.resolve() not in [u.resolve() for u in unique]:
            unique.append(candidate)
    return unique
