"""The transcript says why each caller turn got its intent: a detail line with the rule and scores,
and a hover listing every candidate, from the real call's Classified events."""

from __future__ import annotations

import pytest

from console.main_window import MainWindow
from engine.nlu import NLU_ENV, NluMode
from tests.console.conftest import Aio


def run_reminder_turn(window: MainWindow, aio: Aio, text: str) -> str:
    """Start the default call, confirm identity, say `text` at the reminder; the transcript's text."""
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    aio.run(window.controller.step("yes, this is she"))
    aio.run(window.controller.step(text))
    aio.until(lambda: window.transcript.text().count("↳ why") == 2)
    return window.transcript.text()


@pytest.mark.parametrize("mode", list(NluMode))
def test_a_keyword_turn_shows_the_keyword_that_decided(window: MainWindow, aio: Aio, mode: NluMode,
                                                       monkeypatch) -> None:
    monkeypatch.setenv(NLU_ENV, mode.value)
    text = run_reminder_turn(window, aio, "I need to cancel")
    assert "↳ why is_patient · keyword 0.90 · matched “this is she”" in text
    assert "↳ why cancel · keyword 0.90 · matched “cancel”" in text
    assert "candidates (best first)\ncancel: 0.900" in window.transcript.tooltip_at_text(
        "cancel · keyword 0.90")


def test_a_semantic_turn_lists_every_candidate_with_its_score_on_hover(window: MainWindow, aio: Aio) -> None:
    text = run_reminder_turn(window, aio, "I'd like to drop the appointment altogether")
    line = next(row for row in text.splitlines() if "↳ why cancel · semantic" in row)
    assert ", lead 0." in line
    hover = window.transcript.tooltip_at_text(line.split("↳ why ")[1])
    rows = hover.splitlines()[1:]
    assert [row.split(":")[0] for row in rows][0] == "cancel"
    assert sorted(r.split(":")[0] for r in rows) == ["cancel", "confirm", "has_question", "reschedule"]
    scores = [float(row.split(": ")[1]) for row in rows]
    assert scores == sorted(scores, reverse=True)


def test_a_near_tie_names_the_two_intents_it_asked_about(window: MainWindow, aio: Aio) -> None:
    text = run_reminder_turn(window, aio, "I can't come that day")
    assert "↳ why no intent · near_tie" in text
    assert "asked: cancel or reschedule" in text or "asked: reschedule or cancel" in text
