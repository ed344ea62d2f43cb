"""The latency CSV: columns, atomic writes, and patient values only on request."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from engine import events as ev
from engine.calls import create_call
from engine.errors import ExportError
from engine.export import LATENCY_COLUMNS, PHI_COLUMNS, latency_rows, write_latency_csv
from engine.paths import PATIENTS_DIR, SCHEMAS_DIR
from engine.pipeline import HealthcareAIPipeline
from tests.support.phi import leaked_values

DATA = Path(__file__).resolve().parent.parent / "data"
ISO_UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def finished_call(schema: Path, patient: Path, *turns: str) -> HealthcareAIPipeline:
    call = create_call(schema, patient)
    await call.start()
    for turn in turns:
        if call.conversation.ended:
            break
        await call.step(turn)
    if not (call.conversation.ended and await call.wait_until_ended(5)):
        await call.stop()
    return call


@pytest.fixture
async def call() -> HealthcareAIPipeline:
    """The minimal schema's call, played to its end."""
    return await finished_call(DATA / "minimal_schema.yaml", DATA / "minimal_patient.json",
                               "hmm, what was that?", "yes, that is fine")


def read_back(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_row_per_latency_event_with_documented_columns(call: HealthcareAIPipeline,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "latency.csv"

    written = write_latency_csv(out, call.events.history, schema=call.schema_name)

    rows = read_back(out)
    latencies = [e for e in call.events.history if isinstance(e, ev.Latency)]
    assert written == len(rows) == len(latencies)
    assert tuple(rows[0]) == LATENCY_COLUMNS
    assert [(r["turn"], r["state"], r["stage"]) for r in rows] == [(str(e.turn), e.state, e.stage)
                                                                   for e in latencies]
    for row, event in zip(rows, latencies, strict=True):
        assert row["call_id"] == call.session_id and row["schema"] == "minimal_schema"
        assert re.fullmatch(r"\d+\.\d{3}", row["ms"])
        assert float(row["ms"]) == pytest.approx(event.ms, abs=5e-4)
        assert row["forced"] in ("true", "false") and row["crossed_transition"] in ("true", "false")
        assert ISO_UTC_MS.match(row["timestamp"])
    assert any(r["stage"] == "turn" and r["crossed_transition"] == "true" for r in rows)


def test_write_is_atomic_and_leaves_no_temp_files(call: HealthcareAIPipeline, tmp_path: Path) -> None:
    out = tmp_path / "latency.csv"
    out.write_text("old content")

    write_latency_csv(out, call.events.history, schema=call.schema_name)

    assert list(tmp_path.iterdir()) == [out]
    assert out.read_text(encoding="utf-8").startswith(",".join(LATENCY_COLUMNS))


def test_a_failed_write_is_an_export_error_and_leaves_nothing(call: HealthcareAIPipeline,
                                                              tmp_path: Path) -> None:
    (tmp_path / "a_folder.csv").mkdir()

    with pytest.raises(ExportError, match="cannot write"):
        write_latency_csv(tmp_path / "a_folder.csv", call.events.history, schema=call.schema_name)
    with pytest.raises(ExportError, match="cannot write"):
        write_latency_csv(tmp_path / "missing" / "x.csv", call.events.history, schema=call.schema_name)
    assert [p.name for p in tmp_path.iterdir()] == ["a_folder.csv"]


def test_patient_values_only_with_include_phi(call: HealthcareAIPipeline, tmp_path: Path) -> None:
    plain, phi = tmp_path / "plain.csv", tmp_path / "phi.csv"

    write_latency_csv(plain, call.events.history, schema=call.schema_name)
    write_latency_csv(phi, call.events.history, schema=call.schema_name, include_phi=True)

    patient_values = ["Ann", "2026-12-01", "December first", "metformin", "yes, that is fine"]
    plain_rows = read_back(plain)
    assert plain_rows and not leaked_values(plain_rows, patient_values)
    assert not set(PHI_COLUMNS) & set(plain_rows[0])
    phi_rows = read_back(phi)
    assert tuple(phi_rows[0]) == LATENCY_COLUMNS + PHI_COLUMNS
    assert {r["patient_id"] for r in phi_rows} == {"ann"}
    turn_two = [r for r in phi_rows if r["turn"] == "2"]
    assert {(r["caller_text"], r["bot_text"]) for r in turn_two} == {("yes, that is fine", "Thanks friend!")}
    assert "Hi Ann, see you Tuesday, December first?" in phi.read_text(encoding="utf-8")
    assert phi.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("schema", sorted(p.stem for p in SCHEMAS_DIR.glob("*.yaml")))
async def test_bundled_patients_stay_out_of_the_plain_csv(tmp_path: Path, schema: str) -> None:
    patient = sorted(PATIENTS_DIR.glob(f"{schema}__*.json"))[0]
    call = await finished_call(SCHEMAS_DIR / f"{schema}.yaml", patient, "yes", "sure", "no", "okay thanks")
    out = tmp_path / "latency.csv"

    write_latency_csv(out, call.events.history, schema=schema)

    words = {w for value in _spoken_values(call) for w in re.findall(r"[A-Za-z]{4,}", value)}
    words -= set(re.findall(r"[A-Za-z]{4,}", " ".join(call.conversation.schema.nodes) + schema))
    text = out.read_text(encoding="utf-8").lower()
    assert words and not [w for w in words if w.lower() in text]
    assert call.patient_id.lower() not in text


def _spoken_values(call: HealthcareAIPipeline) -> list[str]:
    """The patient's values as written and as spoken (names, dates, places)."""
    from engine.logs import patient_strings

    return patient_strings(call.patient_data, call.precomputed.values)


def test_formula_like_text_is_defused() -> None:
    common = {"call_id": "c1", "state": "greet", "at": 0.0}
    events = [
        ev.CallStarted(**common, seq=1, turn=0, schema="s", patient_id="=p", responder="scripted",
                       mode="text", precompute_ms=0.1),
        ev.UserTurn(**common, seq=2, turn=1, text="=HYPERLINK(\"x\")", source="typed"),
        ev.BotTurn(**common, seq=3, turn=1, text="-5 is fine"),
        ev.Latency(**common, seq=4, turn=1, stage="turn", ms=1.23456),
    ]

    [row] = latency_rows(events, schema="s", include_phi=True)

    texts = (row["patient_id"], row["caller_text"], row["bot_text"])
    assert texts == ("'=p", "'=HYPERLINK(\"x\")", "'-5 is fine")
    assert (row["ms"], row["timestamp"]) == ("1.235", "1970-01-01T00:00:00.000Z")
