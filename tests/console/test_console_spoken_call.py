"""A spoken voice call in the real console window: caller turns spoken into the virtual microphone.

The call runs on a private PulseAudio server (see engine.voice.devices) with the small rehearsal
schema of the voice tests; the caller's turns are synthesised with Piper and played into the
microphone with paplay, each once the bot's line has been spoken, as a caller would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from console.controllers import CallController, VoiceAdapter
from tests.voice.helpers import PATIENT, SCHEMA, heard

if TYPE_CHECKING:
    from console.main_window import MainWindow
    from tests.console.conftest import Aio, ScriptedDialogs

    MakeWindow = Callable[..., MainWindow]

GREETING = "Hello Ann, this is River Clinic. Is now a good time to talk?"
GREETING_REPROMPT = "Sorry, is now a good time to talk?"
CONFIRM = "Your visit is on Monday at nine. Can you make it?"
LATER = "No problem, we will call you back. Goodbye!"
# (what the caller says, the state the call is in after the bot has answered)
CALLER_TURNS = [("Who is calling?", "greet"), ("Yes it is.", "confirm"), ("I need another day.", "later")]




@pytest.fixture(scope="module")
def caller_wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from bench.voice import caller_wav_name, synthesize_caller_wav

    folder = tmp_path_factory.mktemp("caller-wavs")
    return {text: synthesize_caller_wav(text, folder / caller_wav_name(text)) for text, _ in CALLER_TURNS}


class SessionKeepingVoice(VoiceAdapter):
    """The console's voice support, keeping each call's VoiceSession so the test can see the bot speak."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[Any] = []

    async def build(self, setup: Any) -> Any:
        session = await super().build(setup)
        self.sessions.append(session)
        return session


def bot_silent(session: Any, lines: int, settle_s: float = 0.3) -> bool:
    """The bot has started `lines` lines and finished speaking the last one `settle_s` ago."""
    line = session.timeline
    return (len(line.bot_started) >= lines and len(line.bot_stopped) == len(line.bot_started)
            and time.monotonic() - line.bot_stopped[-1] > settle_s)


def transcript_lines(window: MainWindow, who: str) -> list[str]:
    """The texts of the transcript's lines by `who` ("Caller" or "Bot"), without time and note."""
    found = []
    for line in window.transcript.text().splitlines():
        _time, _, rest = line.partition(" ")
        if rest.startswith(who + " "):
            found.append(rest[len(who) + 1:])
    return found


@pytest.mark.voice
def test_a_spoken_call_moves_the_graph_and_fills_the_transcript_and_latency(
        virtual_audio: Any, caller_wavs: dict[str, Path], make_window: MakeWindow, aio: Aio,
        dialogs: ScriptedDialogs) -> None:
    voice = SessionKeepingVoice()
    window = make_window(str(SCHEMA), str(PATIENT), controller=CallController(voice=voice))
    controller, setup = window.controller, window.setup
    assert Path(setup.schema_path) == SCHEMA and Path(setup.patient_path) == PATIENT, setup.problems
    setup.mode_box.setCurrentIndex(setup.mode_box.findData("voice"))
    assert setup.mode_box.currentData() == "voice" and setup.start_button.isEnabled()

    setup.start_button.click()
    aio.until(lambda: controller.call_state == "running", timeout=60)
    session = voice.sessions[-1]
    assert "voice" in window.transcript.text().splitlines()[0]
    assert window.graph.node_style("greet") == "current"
    aio.until(lambda: bot_silent(session, 1), timeout=30)  # the greeting has been spoken

    for number, (said, state) in enumerate(CALLER_TURNS, start=1):
        spoken_lines = len(session.timeline.bot_started)
        player = virtual_audio.play_to_microphone(caller_wavs[said])
        aio.until(lambda player=player: player.poll() is not None, timeout=20)
        assert player.returncode == 0, player.stderr.read()
        aio.until(lambda lines=spoken_lines: bot_silent(session, lines + 1), timeout=30)  # answered
        aio.until(lambda state=state: controller.current_state == state, timeout=10)
        assert window.graph.node_style(state) == "current", (state, window.graph.node_style(state))
        callers = transcript_lines(window, "Caller")
        assert len(callers) == number and heard(said, callers[-1]), (said, callers)

    aio.until(lambda: controller.call_state == "ended", timeout=15)  # "later" is an ending state
    assert [window.graph.node_style(state) for state in ("greet", "confirm", "done")] == [
        "visited", "visited", "unvisited"]
    assert window.graph.edge_style("greet", "confirm") == "taken"
    assert window.graph.edge_style("confirm", "later") == "taken"
    assert transcript_lines(window, "Bot") == [GREETING, GREETING_REPROMPT, CONFIRM, LATER]
    assert all(line.endswith("(voice)") for line in transcript_lines(window, "Caller"))

    v2v = [(turn, ms, crossed) for turn, stage, ms, crossed in window.latency.samples()
           if stage == "voice_to_voice"]
    assert [(turn, crossed) for turn, _, crossed in v2v] == [(1, False), (2, True), (3, True)], v2v
    assert all(ms > 50 for _, ms, _ in v2v), v2v  # each includes the VAD's stop wait
    aio.until(lambda: window.latency.curve_data("voice_to_voice")[0] == [1.0, 2.0, 3.0], timeout=5)
    assert not dialogs.errors, dialogs.errors
