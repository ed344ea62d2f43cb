"""Where bundled files live and where user data goes."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from engine.errors import CallStoreError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
SCHEMA_TESTS_DIR = SCHEMAS_DIR / "tests"
PATIENTS_DIR = PROJECT_ROOT / "resources" / "patients"
DEFAULT_SCHEMA = SCHEMAS_DIR / "appointment_reminder.yaml"


def bundled_schemas() -> list[Path]:
    return sorted(SCHEMAS_DIR.glob("*.yaml"))


def default_patient_for(schema_name: str) -> Path | None:
    found = sorted(PATIENTS_DIR.glob(f"{schema_name}__*.json"))
    return found[0] if found else None


def data_dir(override: str | Path | None = None) -> Path:
    """The call-history folder: `--data-dir`, else $VOICE_CONSOLE_DATA_DIR, else the user's data dir."""
    chosen = override or os.environ.get("VOICE_CONSOLE_DATA_DIR") or user_data_dir("voice-console", False)
    path = Path(chosen)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise CallStoreError(f"the data folder {path} cannot be used: {error.strerror or error}") from error
    if not path.is_dir():
        raise CallStoreError(f"the data folder {path} is not a folder")
    return path
