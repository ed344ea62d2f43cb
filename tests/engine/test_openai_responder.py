"""The `openai` responder (Pipecat's OpenAILLMService) against a fake OpenAI server over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from engine import driving
from engine import events as ev
from engine.calls import create_call
from engine.errors import EngineError
from engine.lifecycle import CallStatus
from engine.pipeline import HealthcareAIPipeline
from engine.responders.bounded_openai import MAX_FUNCTION_CALLS_PER_TURN
from engine.responders.factory import ResponderConfig
from tests.fakes.openai_server import FakeOpenAI, Reply, call_tool, garbage, http_error, slow, speak

Calls = list[HealthcareAIPipeline]
DATA = Path(__file__).resolve().parent.parent / "data"
SCHEMA, PATIENT = DATA / "minimal_schema.yaml", DATA / "minimal_patient.json"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default_text="Hi Ann, this is the clinic calling.") as server:
        yield server


def openai_config(fake: FakeOpenAI) -> ResponderConfig:
    return ResponderConfig(kind="openai", base_url=fake.base_url, model="fake", api_key="test")


def of_type(call: HealthcareAIPipeline, kind: type) -> list:
    return [e for e in call.events.history if isinstance(e, kind)]


async def until(call: HealthcareAIPipeline, seen: Callable[[ev.CallEvent], bool], wait_s: float = 5.0,
                after: int = 0) -> ev.CallEvent:
    """The first event from index `after` on that `seen` accepts, waiting for it."""
    if not await driving.wait_until(call.events, seen, wait_s, since=after):
        raise AssertionError(f"no such event within {wait_s} s: {[e.kind for e in call.events.history]}")
    return next(e for e in call.events.history[after:] if seen(e))


def answered(event: ev.CallEvent) -> bool:
    return isinstance(event, (ev.BotTurn, ev.CallError))


@pytest.fixture
async def calls() -> AsyncIterator[Calls]:
    """The calls a test starts; stopped after it."""
    started_calls: Calls = []
    yield started_calls
    for call in started_calls:
        await call.stop()


async def started(config: ResponderConfig, calls: Calls) -> HealthcareAIPipeline:
    """A running call whose first node has answered (its greeting, or an error)."""
    call = create_call(SCHEMA, PATIENT, responder=config)
    calls.append(call)
    await call.start()
    await until(call, answered)
    return call


async def test_bot_speaks_the_streamed_text_and_the_request_carries_prompt_and_tools(
        fake: FakeOpenAI, calls: Calls) -> None:
    fake.script(speak("Hi Ann, your appointment is on Tuesday.", chunks=5))
    call = await started(openai_config(fake), calls)

    assert [e.text for e in of_type(call, ev.BotTurn)] == ["Hi Ann, your appointment is on Tuesday."]
    request = fake.requests[0]
    assert request["model"] == "fake" and request["stream"] is True
    node_prompt = of_type(call, ev.NodeEntered)[0].prompt
    assert node_prompt == "Remind Ann about Tuesday, December first. met-FOR-min five hundred milligrams"
    texts = FakeOpenAI.system_texts(request)
    assert node_prompt in texts
    assert any(text.startswith("You call Ann.") for text in texts)
    assert FakeOpenAI.tool_names(request) == ["yes", "nope"]
    nope = request["tools"][1]["function"]
    assert nope["parameters"]["properties"]["reason"]["type"] == "string"


async def test_a_streamed_tool_call_moves_the_call_exactly_as_the_scripted_responder_does(
        fake: FakeOpenAI, calls: Calls) -> None:
    call = await started(openai_config(fake), calls)
    await call.step("yes, that is fine")
    assert await call.wait_until_ended(5)

    scripted = await started(ResponderConfig(kind="scripted"), calls)
    await scripted.step("yes, that is fine")
    assert await scripted.wait_until_ended(5)

    for each in (call, scripted):
        assert each.status is CallStatus.ENDED and each.conversation.visited == ["greet", "done"]
        [transition] = of_type(each, ev.Transition)
        assert (transition.source, transition.target, transition.intent, transition.forced) == (
            "greet", "done", "yes", False)
        [function] = of_type(each, ev.FunctionCalled)
        assert (function.name, function.arguments) == ("confirm_appointment", {})
    tool_turn, done_node = fake.requests[1], fake.requests[2]
    assert tool_turn["messages"][-1] == {"role": "user", "content": "yes, that is fine"}
    assert "Thank them." in FakeOpenAI.system_texts(done_node)
    assert FakeOpenAI.tool_names(done_node) == []
    assert of_type(call, ev.BotTurn)[-1].text == "Hi Ann, this is the clinic calling."


async def test_tool_arguments_streamed_in_pieces_reach_the_function(fake: FakeOpenAI, calls: Calls) -> None:
    call = await started(openai_config(fake), calls)
    await call.step("nope, my bus is late")
    assert await call.wait_until_ended(5)

    [function] = of_type(call, ev.FunctionCalled)
    assert (function.name, function.arguments) == ("cancel_appointment", {"reason": "nope, my bus is late"})
    [transition] = of_type(call, ev.Transition)
    assert (transition.target, transition.intent) == ("bye", "nope")


async def assert_still_usable(call: HealthcareAIPipeline, fake: FakeOpenAI) -> None:
    """After a responder fault the call runs on: a turn gets an answer, and force moves it."""
    assert call.status is CallStatus.RUNNING
    fake.script(speak("Sorry, I said: see you Tuesday?"))
    mark = len(call.events.history)
    await call.step("hmm, what was that?", wait_s=5)
    assert (await until(call, answered, after=mark)).text == "Sorry, I said: see you Tuesday?"
    await call.force("bye")
    assert await call.wait_until_ended(5)
    assert of_type(call, ev.Transition)[-1].forced is True


async def fault_after_greeting(fake: FakeOpenAI, calls: Calls, *faults: Reply,
                               wait_s: float = 5.0) -> tuple[HealthcareAIPipeline, str]:
    call = await started(openai_config(fake), calls)
    fake.script(*faults)
    mark = len(call.events.history)
    await call.step("hmm?", wait_s=wait_s)
    error = await until(call, lambda e: isinstance(e, ev.CallError), wait_s=wait_s, after=mark)
    assert error.source == "responder" and error.fatal is False
    return call, error.message


async def test_a_refused_connection_fails_the_call_with_one_clear_message(calls: Calls) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as refusing:  # bound, not listening: refused
        refusing.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{refusing.getsockname()[1]}/v1"
        call = create_call(SCHEMA, PATIENT, responder=ResponderConfig(kind="openai", base_url=url,
                                                                      model="fake", api_key="test"))
        calls.append(call)
        with pytest.raises(EngineError) as raised:
            await call.start()
        expected = f"the LLM server at {url} refused the connection: is it running?"
        assert str(raised.value) == f"the call could not start: {expected}"
        [error] = of_type(call, ev.CallError)
        assert (error.message, error.source, error.fatal) == (expected, "responder", True)
        [ended] = of_type(call, ev.CallEnded)
        assert ended.status is CallStatus.FAILED and ended.reason == expected
        assert call.status is CallStatus.FAILED and not of_type(call, ev.BotTurn)


async def test_http_500_is_a_call_error_and_the_call_goes_on(fake: FakeOpenAI, calls: Calls) -> None:
    # the responder's client does not retry: a call cannot wait for retries
    call, message = await fault_after_greeting(fake, calls, http_error(500))
    assert message == "Error during completion: Error code: 500 - the fake model failed"
    await assert_still_usable(call, fake)


async def test_a_garbage_stream_is_a_call_error_and_the_call_goes_on(fake: FakeOpenAI, calls: Calls) -> None:
    call, message = await fault_after_greeting(fake, calls, garbage(sse=True))
    assert message.startswith("Error during completion: Expecting property name")
    await assert_still_usable(call, fake)


async def test_a_garbage_html_body_is_a_call_error(fake: FakeOpenAI, calls: Calls) -> None:
    call, message = await fault_after_greeting(fake, calls, garbage(sse=False), wait_s=5)
    assert message == "the responder returned an empty answer (no text and no function call)"
    await assert_still_usable(call, fake)


async def test_a_slow_answer_arrives_after_a_short_turn_wait_and_the_call_goes_on(
        fake: FakeOpenAI, calls: Calls) -> None:
    call = await started(openai_config(fake), calls)
    fake.script(slow(0.6, speak("Here I am.")))
    mark = len(call.events.history)
    await call.step("hello?", wait_s=0.2)
    assert call.status is CallStatus.RUNNING and not of_type(call, ev.BotTurn)[1:]
    assert (await until(call, answered, after=mark)).message == "the responder gave no answer within 0.2 s"
    late = await until(call, lambda e: isinstance(e, ev.BotTurn), after=mark)
    assert late.text == "Here I am."
    await assert_still_usable(call, fake)


async def test_an_answer_slower_than_the_turn_wait_is_a_call_error(fake: FakeOpenAI, calls: Calls) -> None:
    call = await started(openai_config(fake), calls)
    fake.script(slow(1.0))
    mark = len(call.events.history)
    await call.step("hello?", wait_s=0.3)
    errors = [e.message for e in call.events.history[mark:] if isinstance(e, ev.CallError)]
    assert errors == ["the responder gave no answer within 0.3 s"]
    assert call.status is CallStatus.RUNNING


async def test_a_request_slower_than_the_client_timeout_is_a_call_error(
        fake: FakeOpenAI, calls: Calls) -> None:
    config = ResponderConfig(kind="openai", base_url=fake.base_url, model="fake", api_key="test",
                             timeout_s=0.5)
    call = await started(config, calls)
    fake.script(slow(3.0))
    mark = len(call.events.history)
    await call.step("hello?", wait_s=2.5)
    errors = [e.message for e in call.events.history[mark:] if isinstance(e, ev.CallError)]
    assert errors == ["Error during completion: Request timed out."]
    await assert_still_usable(call, fake)


async def test_a_call_to_a_function_not_in_the_node_is_an_error_event(fake: FakeOpenAI, calls: Calls) -> None:
    call = await started(openai_config(fake), calls)
    mark = len(call.events.history)
    fake.script(call_tool("cancel_everything"))
    await call.step("hmm")
    error = await until(call, lambda e: isinstance(e, ev.CallError), after=mark)
    assert error.message == "the model called 'cancel_everything', which is not a function of this node"
    assert call.status is CallStatus.RUNNING and call.conversation.current == "greet"


async def test_a_model_that_keeps_calling_functions_is_stopped_with_an_error_event(
        fake: FakeOpenAI, calls: Calls) -> None:
    call = await started(openai_config(fake), calls)
    requests_before, mark = len(fake.requests), len(call.events.history)
    fake.script(*[call_tool("cancel_everything")] * (MAX_FUNCTION_CALLS_PER_TURN + 20))
    await call.step("hmm")
    stopped = await until(call, lambda e: isinstance(e, ev.CallError) and "without speaking" in e.message,
                          after=mark)
    assert stopped.message == (f"the model called functions more than {MAX_FUNCTION_CALLS_PER_TURN} times "
                               "without speaking; the last calls were not run")
    assert len(fake.requests) - requests_before == MAX_FUNCTION_CALLS_PER_TURN + 1
    assert call.status is CallStatus.RUNNING
