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
from engine.api import ApiLimits, create_app, serving
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


# ----- hostile requests -------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, detail", [
    (b'{"patient_id": NaN, "schema": "minimal_schema"}', 400, "NaN is not a JSON number"),
    (b'{"patient_id": "ann", "schema": Infinity}', 400, "Infinity is not a JSON number"),
    (b'{"a": ' * 40 + b'1' + b'}' * 40, 400, "nested deeper than 16 levels"),
    (b'[' * 100_000 + b']' * 100_000, 413, "larger than"),
    (b'{"patient_id": ' + b'9' * 5000 + b'}', 400, "longer than 100 digits"),
])
async def test_hostile_bodies_get_json_refusals(api: httpx.AsyncClient, body: bytes, status: int,
                                                detail: str) -> None:
    response = await api.post("/start-call", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert len(response.content) < 200


async def test_a_rejected_body_is_never_echoed(api: httpx.AsyncClient) -> None:
    secret = "Ann Example 555-0100"
    response = await api.post("/start-call", json={"patient_id": ["x"], "schema": secret})
    assert response.status_code == 422
    assert secret not in response.text and response.json()["detail"][0]["loc"] == ["body", "patient_id"]


async def test_other_host_names_are_refused(api: httpx.AsyncClient) -> None:
    rebinding = await api.get("/health", headers={"host": "attacker.example:8765"})
    assert rebinding.status_code == 421
    assert (await api.get("/health", headers={"host": "localhost:8765"})).status_code == 200


async def test_a_token_is_required_when_set(patients_dir: Path) -> None:
    limits = ApiLimits(token="s3cret")
    app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA, limits=limits)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/health")).status_code == 401
        assert (await client.get("/health", headers={"authorization": "Bearer wrong"})).status_code == 401
        assert (await client.get("/health", headers={"authorization": "Bearer s3cret"})).status_code == 200


async def test_live_calls_are_capped_with_429(patients_dir: Path) -> None:
    app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA,
                     limits=ApiLimits(max_live_calls=2))
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        first, _second = await start(client), await start(client)
        refused = await client.post("/start-call", json={"patient_id": "ann", "schema": "minimal_schema"})
        assert refused.status_code == 429
        assert refused.json() == {"detail": "2 calls are live already; end one first"}
        await client.delete(f"/calls/{first['session_id']}")
        await start(client)


async def test_idle_calls_are_ended(patients_dir: Path) -> None:
    app = create_app(patients=JsonFolderPatientStore(patients_dir), schemas_dir=DATA,
                     limits=ApiLimits(idle_timeout_s=0.2))
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        session = (await start(client))["session_id"]
        call = app.state.calls.get(session)
        await asyncio.wait_for(call.wait_until_ended(), timeout=5)
        summary = (await client.get(f"/calls/{session}")).json()
        assert summary["status"] == "ended"
        assert call.end_reason == "no request for 0.2 s"


def test_serving_beyond_loopback_needs_a_private_generated_token(tmp_path: Path) -> None:
    from cli.cmd_serve import TOKEN_FILE, api_limits

    loopback = api_limits("127.0.0.1", None, tmp_path)
    assert loopback.token is None and not (tmp_path / TOKEN_FILE).exists()
    exposed = api_limits("192.0.2.7", None, tmp_path)
    assert exposed.token and "192.0.2.7" in exposed.allowed_hosts and "localhost" in exposed.allowed_hosts
    assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    assert api_limits("192.0.2.7", None, tmp_path).token == exposed.token  # kept, not remade
    assert api_limits("192.0.2.7", "mine", tmp_path).token == "mine"


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


async def test_the_client_plays_the_llm_with_a_function_call(api: httpx.AsyncClient) -> None:
    session = (await start(api))["session_id"]
    wrong = await api.post(f"/calls/{session}/function", json={"name": "book", "arguments": {}})
    assert wrong.status_code == 400 and "offers no function 'book'" in wrong.json()["detail"]
    called = await api.post(f"/calls/{session}/function", json={"name": "yes", "arguments": {}})
    assert called.status_code == 200, called.text
    assert called.json()["state"] == "done" and called.json()["bot"] == ["Thanks friend!"]
