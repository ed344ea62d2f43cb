"""Per-turn stacked bars of a call's latency parts, drawn on an axis chosen by the data.

Plain data in (`set_samples`), painted with QPainter: one row per turn, one coloured segment per
part (endpointing, transcription, classify, render, transition, LLM, TTS), the turn's total at the
bar's end and the worst turn in bold. A 2 ms part of a 30 ms turn is a tenth of the bar, not a
sliver under a 50 ms budget.
"""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from console.panels.latency import STAGE_COLOURS, format_ms, nice_ceiling

Sample = tuple[int, str, float, bool]  # (turn, stage, ms, crossed_transition)

PIPELINE = "pipeline"  # the rest of a turn: frames moving through Pipecat's processors
PARTS = ("vad_stop", "stt", "classify", "render", "transition", "llm", "tts", PIPELINE)  # in their order
TOTALS = ("voice_to_voice", "turn")  # a turn's whole time, the first one measured
PART_NAMES = {"vad_stop": "endpointing", "stt": "transcription", "classify": "classify", "render": "render",
              "transition": "transition", "llm": "LLM", "tts": "TTS", PIPELINE: "pipeline"}
PART_COLOURS = {**STAGE_COLOURS, "vad_stop": "#546e7a", PIPELINE: "#b0bec5"}
ROW_HEIGHT = 18
LABEL_WIDTH = 56
TOTAL_WIDTH = 64
LEGEND_HEIGHT = 20
AXIS_HEIGHT = 18


def turn_parts(samples: list[Sample]) -> dict[int, dict[str, float]]:
    """Each turn's time per part (ms), summed over its samples, with what the measured parts leave of the
    turn's whole time as "pipeline"; turn 0 (the call's set-up) is left out."""
    turns: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    totals: dict[int, dict[str, float]] = defaultdict(dict)
    for turn, stage, ms, _crossed in samples:
        if turn > 0 and stage in PARTS:
            turns[turn][stage] += ms
        elif turn > 0 and stage in TOTALS:
            totals[turn][stage] = ms
    for turn, measured in totals.items():
        whole = next(measured[stage] for stage in TOTALS if stage in measured)
        rest = whole - sum(turns[turn].values())
        if rest > 0:
            turns[turn][PIPELINE] = rest
    return {turn: dict(parts) for turn, parts in sorted(turns.items())}


def worst_turn(parts: dict[int, dict[str, float]]) -> tuple[int, str, float, float] | None:
    """(turn, its biggest part, that part's ms, the turn's total ms) of the slowest turn, or None."""
    if not parts:
        return None
    turn = max(parts, key=lambda t: sum(parts[t].values()))
    biggest = max(parts[turn], key=lambda stage: parts[turn][stage])
    return turn, biggest, parts[turn][biggest], sum(parts[turn].values())


class TurnBars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parts: dict[int, dict[str, float]] = {}
        self.axis_ms = 1.0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_samples(self, samples: list[Sample]) -> None:
        self.parts = turn_parts(samples)
        totals = [sum(parts.values()) for parts in self.parts.values()]
        self.axis_ms = nice_ceiling(max(totals, default=0.0))
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, LEGEND_HEIGHT + AXIS_HEIGHT + ROW_HEIGHT * max(1, len(self.parts)) + 4)

    def bar_width_of(self, turn: int, stage: str) -> float:
        """The width in pixels that a turn's part is drawn with (for tests and read-outs)."""
        return self.parts.get(turn, {}).get(stage, 0.0) / self.axis_ms * self._plot_width()

    def _plot_width(self) -> float:
        return max(1.0, self.width() - LABEL_WIDTH - TOTAL_WIDTH)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        if not self.parts:
            painter.setPen(QColor("#90a4ae"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No turns yet")
            return
        self._paint_legend(painter)
        self._paint_axis(painter)
        worst = worst_turn(self.parts)
        for row, (turn, parts) in enumerate(self.parts.items()):
            self._paint_row(painter, row, turn, parts, bold=worst is not None and worst[0] == turn)

    def _paint_legend(self, painter: QPainter) -> None:
        x = float(LABEL_WIDTH)
        used = [stage for stage in PARTS if any(stage in parts for parts in self.parts.values())]
        for stage in used:
            painter.fillRect(QRectF(x, 6, 10, 10), QColor(PART_COLOURS[stage]))
            painter.setPen(QColor("#37474f"))
            name = PART_NAMES[stage]
            painter.drawText(QRectF(x + 13, 2, 100, 18), Qt.AlignmentFlag.AlignVCenter, name)
            x += 20 + painter.fontMetrics().horizontalAdvance(name)

    def _paint_axis(self, painter: QPainter) -> None:
        top, width = float(LEGEND_HEIGHT), self._plot_width()
        painter.setPen(QColor("#90a4ae"))
        for fraction in (0.0, 0.5, 1.0):
            x = LABEL_WIDTH + fraction * width
            painter.drawLine(int(x), int(top + 12), int(x), int(top + 16 + ROW_HEIGHT * len(self.parts)))
            text = f"{format_ms(self.axis_ms * fraction)} ms"
            painter.drawText(QRectF(x - 40, top, 80, 12), Qt.AlignmentFlag.AlignCenter, text)

    def _paint_row(self, painter: QPainter, row: int, turn: int, parts: dict[str, float], bold: bool) -> None:
        y = LEGEND_HEIGHT + AXIS_HEIGHT + row * ROW_HEIGHT
        font = QFont(painter.font())
        font.setBold(bold)
        painter.setFont(font)
        painter.setPen(QColor("#c62828" if bold else "#37474f"))
        painter.drawText(QRectF(0, y, LABEL_WIDTH - 4, ROW_HEIGHT), Qt.AlignmentFlag.AlignRight
                         | Qt.AlignmentFlag.AlignVCenter, f"turn {turn}")
        x = float(LABEL_WIDTH)
        for stage in PARTS:
            width = self.bar_width_of(turn, stage)
            if width > 0:
                segment = QRectF(x, y + 3, max(width, 1.0), ROW_HEIGHT - 6)
                painter.fillRect(segment, QColor(PART_COLOURS[stage]))
                x += width
        painter.drawText(QRectF(x + 4, y, TOTAL_WIDTH, ROW_HEIGHT), Qt.AlignmentFlag.AlignVCenter,
                         f"{format_ms(sum(parts.values()))} ms")
