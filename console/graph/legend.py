"""The state graph's key: what each node fill and edge pen means."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetricsF,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QWidget,
)

from console.graph.items import (
    BORDER,
    DARK_GREEN,
    EDGE_PENS,
    NODE_FILLS,
    RED,
    TEXT,
    decision_shape,
    font,
    untested_pen,
)

LEGEND_STATES = [("current", "current"), ("visited", "visited"), ("unvisited", "not visited"),
                 ("initial", "initial"), ("ending", "ending"), ("decision", "decided by data")]
LEGEND_EDGES = [("normal", "transition"), ("taken", "taken"), ("forced", "forced")]
LEGEND_COVERAGE = [("unreached", "no test reaches"), ("untested", "no test takes")]


class Legend(QWidget):
    """A small key in the view's top-left corner; mouse events pass through it."""

    ROW = 14
    SWATCH = 18

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFont(font(10))
        self.coverage = False
        self._picture: QPixmap | None = None  # drawn once; the view repaints under the key often
        self._fit_size()

    def show_coverage(self, shown: bool) -> None:
        self.coverage = shown
        self._picture = None
        self._fit_size()
        self.update()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._picture = None
        super().changeEvent(event)

    def _rows(self) -> int:
        return max(len(LEGEND_STATES), len(LEGEND_EDGES) + (len(LEGEND_COVERAGE) if self.coverage else 0))

    def _fit_size(self) -> None:
        self.setFixedSize(int(self._column_x() * 2), self._rows() * self.ROW + 8)

    def _column_x(self) -> float:
        """Where the second column starts; both columns are this wide."""
        texts = [text for _, text in LEGEND_STATES + LEGEND_EDGES + LEGEND_COVERAGE]
        widest = max(QFontMetricsF(self.font()).horizontalAdvance(text) for text in texts)
        return 6 + self.SWATCH + 5 + widest + 8

    def paintEvent(self, event: QPaintEvent) -> None:
        ratio = self.devicePixelRatioF()
        picture = self._picture
        if (picture is None or picture.devicePixelRatio() != ratio
                or picture.deviceIndependentSize() != self.size()):
            picture = QPixmap(self.size() * ratio)
            picture.setDevicePixelRatio(ratio)
            picture.fill(Qt.GlobalColor.transparent)
            self._draw(picture)
            self._picture = picture
        painter = QPainter(self)
        painter.drawPixmap(0, 0, picture)
        painter.end()

    def _draw(self, device: QPixmap) -> None:
        painter = QPainter(device)
        painter.setFont(self.font())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#cfd8dc"))
        painter.setBrush(QColor(255, 255, 255, 225))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
        for row, (kind, text) in enumerate(LEGEND_STATES):
            self._entry(painter, 6, row, text, partial(_paint_node_swatch, painter, kind=kind))
        edges = LEGEND_EDGES + (LEGEND_COVERAGE if self.coverage else [])
        for row, (kind, text) in enumerate(edges):
            self._entry(painter, self._column_x(), row, text, partial(_paint_edge_swatch, painter, kind=kind))
        painter.end()

    def _entry(self, painter: QPainter, x: float, row: int, text: str,
               swatch: Callable[[QRectF], None]) -> None:
        top = 4 + row * self.ROW
        swatch(QRectF(x, top + 3, self.SWATCH, self.ROW - 6))
        painter.setPen(TEXT)
        painter.drawText(QRectF(x + self.SWATCH + 5, top, self.width(), self.ROW),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)


def _paint_node_swatch(painter: QPainter, rect: QRectF, kind: str) -> None:
    fill = NODE_FILLS.get(kind, QColor("white"))
    pen = QPen(DARK_GREEN, 2.4) if kind == "initial" else QPen(BORDER, 1.0)
    painter.setPen(pen)
    painter.setBrush(fill)
    if kind == "decision":
        painter.drawPath(decision_shape(rect))
        return
    painter.drawRoundedRect(rect, 3, 3)
    if kind == "ending":
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(2, 2, -2, -2), 2, 2)


def _paint_edge_swatch(painter: QPainter, rect: QRectF, kind: str) -> None:
    if kind == "unreached":
        painter.setPen(QPen(RED, 1.2, Qt.PenStyle.DashLine))
        painter.setBrush(QBrush(RED, Qt.BrushStyle.BDiagPattern))
        painter.drawRoundedRect(rect, 3, 3)
        return
    if kind == "untested":
        pen = untested_pen()
    else:
        colour, width, line, _ = EDGE_PENS[kind]
        pen = QPen(colour, width, line)
    painter.setPen(pen)
    painter.drawLine(QPointF(rect.left(), rect.center().y()), QPointF(rect.right(), rect.center().y()))


