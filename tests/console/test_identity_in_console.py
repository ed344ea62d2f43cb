"""The lab-results schema in the real window: a wrong date of birth never shows a result detail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt

from console.main_window import MainWindow

if TYPE_CHECKING:
    from tests.console.conftest import Aio

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "lab_results_callback.yaml"
PATIENT = ROOT / "resources" / "patients" / "lab_results_callback__maria_santos.json"
RESULT_DETAILS = ("lipid panel", "normal", "November", "Marsh", "Keep taking")  # of Maria's result


def say(window: MainWindow, qtbot: Any, aio: Aio, text: str, settled: Callable[[], bool]) -> None:
    # as the operator sees it: Send is enabled again once the previous turn has settled (the bot's
    # line shows a little before); a Return pressed earlier would queue the turn until then
    aio.until(window.step.send_button.isEnabled, timeout=60)
    qtbot.keyClicks(window.step.box, text)
    qtbot.keyClick(window.step.box, Qt.Key.Key_Return)
    aio.until(settled, timeout=60)  # a turn may wait for the embedding model, loading on its thread


def bot_lines(window: MainWindow) -> list[str]:
    return [line for line in window.transcript.text().splitlines() if " Bot " in line]


def test_two_wrong_dates_of_birth_end_the_call_and_no_panel_shows_the_result(
        make_window: Callable[..., MainWindow], aio: Aio, qtbot: Any) -> None:
    window = make_window(str(SCHEMA), str(PATIENT))
    controller, graph = window.controller, window.graph
    qtbot.mouseClick(window.setup.start_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: controller.call_state == "running" and len(bot_lines(window)) >= 1)

    say(window, qtbot, aio, "Yes, this is Maria.",
        lambda: controller.current_state == "verify_identity" and len(bot_lines(window)) >= 2)
    say(window, qtbot, aio, "January first, nineteen ninety.",
        lambda: "ƒ verify_identity" in window.transcript.text() and len(bot_lines(window)) >= 3)
    assert controller.current_state == "verify_identity"
    assert '"verified": false' in window.transcript.text()
    assert "date of birth again" in bot_lines(window)[-1]
    assert graph.node_style("verify_identity") == "current"

    say(window, qtbot, aio, "May fifth, 1970.",
        lambda: controller.current_state == "unable_to_verify" and len(bot_lines(window)) >= 4)
    aio.until(lambda: not controller.is_live, timeout=60)  # the goodbye is said, then the call ends
    assert controller.call_state == "ended", window.transcript.text()
    assert "wasn't able to confirm your identity" in bot_lines(window)[-1]
    assert graph.node_style("unable_to_verify") == "current"
    assert graph.node_style("deliver_normal") not in ("current", "visited")
    shown = "\n".join(bot_lines(window)) + window.prompt.say_text.toPlainText()
    assert [detail for detail in RESULT_DETAILS if detail in shown] == []
