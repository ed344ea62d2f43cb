"""The HTTP API, served by a real uvicorn server on 127.0.0.1 and driven by a real httpx client."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bench.api import caller, lost_events
from cli.cmd_serve import is_loopback
from engine.api import create_app, serving
from engine.patients import JsonFolderPatientStore
from engine.responders.factory import ResponderConfig
from tests.fakes.openai_server import FakeOpenAI, http_error

DATA = Path(__file__).resolve().parent.parent / "data"
GREETING = "Hi Ann, see you Tuesday, December first?"
SEED_REPORT_KEYS = ("total_call_time_ms", "precompute_time_ms", "avg_prompt_render_ms", "state_transitions",
                    "transition_details", "schema_overhead_estimate_ms")
BAD_PATIENT = {"schema": "minimal_schema", "id": "bad",
               "data": {"first_name": 42, "appt": "2026-13-45",
                        "meds": [{"name": "metformin", "dose": "lots", "unit": "kg"}]}}


class Recorder:
    """Stands in for engine/store.py's CallStore: what the API attached."""

    def __init__(self) -> None:
        self.attached: list = []

    def attach(self, call) -> None:
        self.attached.append(call)


@pytest.fixture
def patients_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "patients"
    folder.mkdir()
    shutil.copy(DATA / "minimal_patient.json", folder / "ann.json")
    (folder / "bad.json").write_text(json.dumps(BAD_PATIENT, indent=2))
    return folder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def api(patients_dir: Path, recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA, store=recorder)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


async def start(api: httpx.AsyncClient) -> dict:
    response = await api.post("/start-call", json={"patient_id": "ann", "schema": "minimal_schema"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_start_call_starts_a_live_call(api: httpx.AsyncClient, recorder: Recorder) -> None:
    call = await start(api)
    assert call["status"] == "running" and call["state"] == "greet"
    assert call["bot"] == [GREETING]
    assert isinstance(call["precompute_ms"], float) and call["precompute_ms"] > 0
    assert [c.session_id for c in recorder.attached] == [call["session_id"]]
    live = (await api.get("/calls")).json()["calls"]
    assert [c["session_id"] for c in live] == [call["session_id"]]
    assert (await api.get("/health")).json() == {"status": "ok", "live_calls": 1}


@pytest.mark.parametrize("body, detail", [
    ({"patient_id": "nobody", "schema": "minimal_schema"}, "no patient 'nobody'"),
    ({"patient_id": "ann", "schema": "no_such_schema"}, "no schema 'no_such_schema'"),
    ({"patient_id": "ann", "schema": "../data/minimal_schema"}, "no schema '../data/minimal_schema'"),
    ({"patient_id": "ann", "schema": "bad_schemas/unknown_state"}, "no schema 'bad_schemas/unknown_state'"),
    ({"patient_id": "ann", "schema": "/etc/passwd"}, "no schema '/etc/passwd'"),
])
async def test_unknown_patient_or_schema_is_404(api: httpx.AsyncClient, body: dict, detail: str) -> None:
    response = await api.post("/start-call", json=body)
    assert (response.status_code, response.json()) == (404, {"detail": detail})


async def test_invalid_patient_data_is_400_with_every_field_error(api: httpx.AsyncClient) -> None:
    response = await api.post("/start-call", json={"patient_id": "bad", "schema": "minimal_schema"})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "the patient data breaks the schema's data contract (4 problems)"
    fields = [error["field"] for error in body["errors"]]
    assert sorted(fields) == ["data.appt", "data.first_name", "data.meds[0].dose", "data.meds[0].unit"]
    for error in body["errors"]:
        assert error["file"] == "bad.json" and error["line"] > 1 and error["column"] > 0 and error["message"]
    for value in ("42", "2026-13-45", "lots"):
        assert value not in response.text
    assert (await api.get("/calls")).json() == {"calls": []}


async def test_turns_force_report_and_delete(api: httpx.AsyncClient) -> None:
    session = (await start(api))["session_id"]

    turn = await api.post(f"/calls/{session}/turn", json={"text": "hmm, what was that?"})
    assert turn.json() == {"state": "greet", "status": "running", "bot": [GREETING], "errors": []}
    empty = await api.post(f"/calls/{session}/turn", json={"text": "   "})
    assert (empty.status_code, empty.json()) == (400, {"detail": "the turn's text is empty"})

    unknown = await api.post(f"/calls/{session}/force", json={"state": "nowhere"})
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith("unknown state 'nowhere' in schema 'minimal_schema'")
    forced = await api.post(f"/calls/{session}/force", json={"state": "greet"})
    assert forced.json() == {"state": "greet", "status": "running", "bot": [GREETING], "errors": []}

    report = (await api.get(f"/call-performance/{session}")).json()
    for key in SEED_REPORT_KEYS:
        assert key in report
    assert report["state_transitions"] == 1 and report["transition_details"][0]["forced"] is True
    assert report["precompute_time_ms"] > 0 and report["turns"] == 1

    assert (await api.delete(f"/calls/{session}")).json() == {"status": "ended"}
    late = await api.post(f"/calls/{session}/turn", json={"text": "hello?"})
    assert (late.status_code, late.json()) == (409, {"detail": f"call '{session}' has ended"})
    assert (await api.post(f"/calls/{session}/force", json={"state": "bye"})).status_code == 409
    assert (await api.get("/calls")).json() == {"calls": []}
    ended = (await api.get(f"/call-performance/{session}")).json()
    assert ended["status"] == "ended" and ended["total_call_time_ms"] >= report["total_call_time_ms"]


async def test_a_turn_into_an_ending_state_ends_the_call(api: httpx.AsyncClient) -> None:
    session = (await start(api))["session_id"]
    turn = await api.post(f"/calls/{session}/turn", json={"text": "yes, that is fine"})
    assert turn.json() == {"state": "done", "status": "ended", "bot": ["Thanks friend!"], "errors": []}
    late = await api.post(f"/calls/{session}/turn", json={"text": "wait"})
    assert late.status_code == 409


async def test_forcing_an_ending_state_ends_the_call(api: httpx.AsyncClient) -> None:
    session = (await start(api))["session_id"]
    forced = await api.post(f"/calls/{session}/force", json={"state": "bye"})
    assert forced.json() == {"state": "bye", "status": "ended", "bot": ["Bye."], "errors": []}


async def test_an_openai_call_reports_responder_errors_and_goes_on(patients_dir: Path) -> None:
    with FakeOpenAI(default_text="Hello Ann.") as fake:
        responder = ResponderConfig(kind="openai", base_url=fake.base_url, model="fake", api_key="test")
        app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA, responder=responder)
        async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            call = await start(client)
            assert (call["bot"], call["errors"]) == (["Hello Ann."], [])
            turn_url = f"/calls/{call['session_id']}/turn"
            fake.script(http_error(500))  # the responder does not retry
            failed = (await client.post(turn_url, json={"text": "hmm?"})).json()
            assert failed == {"state": "greet", "status": "running", "bot": [],
                              "errors": ["Error during completion: Error code: 500 - the fake model failed"]}
            moved = (await client.post(turn_url, json={"text": "yes"})).json()
            assert moved == {"state": "done", "status": "ended", "bot": ["Hello Ann."], "errors": []}


async def test_concurrent_turns_on_one_call_each_get_their_own_answer(api: httpx.AsyncClient) -> None:
    session = (await start(api))["session_id"]
    replies = await asyncio.gather(*(api.post(f"/calls/{session}/turn", json={"text": f"hmm {n}?"})
                                     for n in range(3)))
    assert [r.json()["bot"] for r in replies] == [[GREETING]] * 3
    assert (await api.get(f"/call-performance/{session}")).json()["turns"] == 3


async def test_a_call_that_cannot_start_is_a_500_with_the_reason(
        patients_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VOICE_CONSOLE_LLM_URL", "OPENAI_BASE_URL", "VOICE_CONSOLE_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA,
                     responder=ResponderConfig(kind="openai"))
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/start-call", json={"patient_id": "ann", "schema": "minimal_schema"})
        assert response.status_code == 500
        assert response.json()["detail"].startswith("the call could not start: the openai responder needs")
        assert (await client.get("/calls")).json() == {"calls": []}


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("example.org", False),
])
def test_serve_treats_only_loopback_hosts_as_private(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_unknown_session_is_404(api: httpx.AsyncClient) -> None:
    for response in await asyncio.gather(
            api.get("/call-performance/nope"), api.post("/calls/nope/turn", json={"text": "hi"}),
            api.post("/calls/nope/force", json={"state": "greet"}), api.delete("/calls/nope")):
        assert (response.status_code, response.json()) == (404, {"detail": "no call 'nope'"})


async def test_live_calls_are_stopped_when_the_server_shuts_down(patients_dir: Path) -> None:
    app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        await start(client)
        await start(client)
    calls = app.state.calls
    assert calls.live() == [] and [c.status.value for c in calls.all()] == ["ended"] * 2


async def test_fifty_concurrent_calls_lose_no_event(patients_dir: Path) -> None:
    app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA)
    turns = ("hmm, what was that?", "yes, that is fine")
    began = time.perf_counter()
    async with serving(app) as url:
        runs = await asyncio.gather(*(caller(url, "minimal_schema", "ann", turns) for _ in range(50)))
    assert [run.lost_events for run in runs] == [0] * 50
    assert all(len(run.turn_ms) == 2 for run in runs)
    assert time.perf_counter() - began < 10


def test_lost_events_notices_a_missing_event() -> None:
    events = [{"kind": "user_turn", "seq": 1}, {"kind": "latency", "stage": "turn", "seq": 3}]
    report = {"state_transitions": 0, "turns": 1, "stages": {"turn": {"count": 2}}}
    assert lost_events(events, report, bot_lines_seen=0) == 2  # seq 2 is missing; one turn sample too few


async def test_a_wrong_date_of_birth_does_not_verify_over_the_api(tmp_path: Path, recorder: Recorder) -> None:
    from engine.paths import PATIENTS_DIR, SCHEMAS_DIR

    shutil.copy(PATIENTS_DIR / "lab_results_callback__linda_park.json", tmp_path / "linda.json")
    app = create_app(patients=JsonFolderPatientStore(tmp_path), schemas_dir=SCHEMAS_DIR, store=recorder)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as api:
        started = await api.post("/start-call", json={"patient_id": "linda_park",
                                                       "schema": "lab_results_callback"})
        assert started.status_code == 200, started.text
        session = started.json()["session_id"]
        await api.post(f"/calls/{session}/turn", json={"text": "Yes, this is she."})
        wrong = (await api.post(f"/calls/{session}/turn", json={"text": "January first, 1990."})).json()
        assert wrong["state"] == "verify_identity" and "potassium" not in " ".join(wrong["bot"])
        right = (await api.post(f"/calls/{session}/turn", json={"text": "March twelfth, 1948."})).json()
        assert right["state"] == "deliver_critical" and "potassium level" in " ".join(right["bot"])
        await api.delete(f"/calls/{session}")
