"""The state graph's scene items (states, transitions, their labels) and how each style looks."""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
)

from console.graph.layout import Size

NODE_FONT_PX = 13
LABEL_FONT_PX = 11
NODE_HEIGHT = 28.0
NODE_PAD_X = 14.0
NODE_RADIUS = 8.0
LABEL_PAD = 3.0
LOOP_REACH = 24.0
LOOP_STEP = 12.0
ARROW_LENGTH = 9.0
ARROW_HALF_WIDTH = 4.5
SCENE_MARGIN = 16.0
MAX_FIT_SCALE = 1.5
LEGEND_GAP = 6
ZOOM_STEP = 1.15
ZOOM_RANGE = (0.05, 10.0)

GREEN = QColor("#2e7d32")
DARK_GREEN = QColor("#1b5e20")
LIGHT_GREEN = QColor("#c8e6c9")
ORANGE = QColor("#ef6c00")
DARK_ORANGE = QColor("#e65100")
RED = QColor("#d32f2f")
BORDER = QColor("#546e7a")
EDGE_GREY = QColor("#78909c")
TEXT = QColor("#212121")
LABEL_TEXT = QColor("#455a64")

NODE_FILLS = {"current": GREEN, "visited": LIGHT_GREEN, "unvisited": QColor("white")}
EDGE_PENS = {
    "normal": (EDGE_GREY, 1.4, Qt.PenStyle.SolidLine, LABEL_TEXT),
    "taken": (GREEN, 2.6, Qt.PenStyle.SolidLine, DARK_GREEN),
    "forced": (ORANGE, 2.4, Qt.PenStyle.DashLine, DARK_ORANGE),
}
EDGE_STYLE_RANK = {"normal": 0, "taken": 1, "forced": 2}

Z_COVERAGE, Z_EDGE, Z_FORCED, Z_LABEL, Z_NODE = 0.0, 1.0, 1.5, 2.0, 3.0


# ----------------------------------------------------------------------------------------- geometry

def font(pixels: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(pixels)
    font.setBold(bold)
    return font


def text_size(text: str, font: QFont) -> Size:
    metrics = QFontMetricsF(font)
    return metrics.horizontalAdvance(text), metrics.height()


def port(rect: QRectF, toward: QPointF) -> QPointF:
    """Where a line from the rect's centre towards a point leaves the rect (top or bottom side)."""
    centre = rect.center()
    if abs(toward.y() - centre.y()) < 1e-6:
        return QPointF(rect.right() if toward.x() > centre.x() else rect.left(), centre.y())
    side = rect.bottom() if toward.y() > centre.y() else rect.top()
    share = (side - centre.y()) / (toward.y() - centre.y())
    x = centre.x() + share * (toward.x() - centre.x())
    inset = min(NODE_RADIUS, rect.width() / 2)
    return QPointF(min(max(x, rect.left() + inset), rect.right() - inset), side)


def unit(vector: QPointF) -> QPointF:
    length = (vector.x() ** 2 + vector.y() ** 2) ** 0.5 or 1.0
    return QPointF(vector.x() / length, vector.y() / length)


def _arrow(tip: QPointF, direction: QPointF) -> QPolygonF:
    along = unit(direction)
    base = tip - along * ARROW_LENGTH
    normal = QPointF(-along.y(), along.x()) * ARROW_HALF_WIDTH
    return QPolygonF([tip, base + normal, base - normal])


def layered_path(points: list[QPointF]) -> tuple[QPainterPath, QPointF]:
    """A smooth path through layered points (vertical tangents); returns it and its end direction."""
    tip, before = points[-1], points[-2]
    direction = QPointF(0.0, 1.0 if tip.y() > before.y() else -1.0)
    points = [*points[:-1], tip - direction * (ARROW_LENGTH * 0.7)]
    path = QPainterPath(points[0])
    for start, end in pairwise(points):
        half = (end.y() - start.y()) / 2
        path.cubicTo(QPointF(start.x(), start.y() + half), QPointF(end.x(), end.y() - half), end)
    return path, direction


def loop_path(rect: QRectF, index: int) -> tuple[QPainterPath, QPointF, QPointF]:
    """A self-loop on the rect's right side; returns the path, the arrow tip and its direction."""
    reach = LOOP_REACH + LOOP_STEP * index
    start = QPointF(rect.right(), rect.center().y() - 6)
    tip = QPointF(rect.right(), rect.center().y() + 6)
    end_control = QPointF(rect.right() + reach, tip.y() + reach * 0.5)
    direction = tip - end_control
    path = QPainterPath(start)
    path.cubicTo(QPointF(rect.right() + reach, start.y() - reach * 0.5), end_control,
                 tip - unit(direction) * (ARROW_LENGTH * 0.7))
    return path, tip, direction


def loop_extent(loops: int) -> float:
    return 0.0 if loops == 0 else (LOOP_REACH + LOOP_STEP * (loops - 1)) * 0.75 + 4


# sideways, as a share of the chord: the least that passes through no other node wins
FORCED_BENDS = (0.2, -0.2, 0.4, -0.4, 0.7, -0.7, 1.0, -1.0, 1.5, -1.5, 2.2, -2.2)
CROSSING_SAMPLES = 48


def forced_curve(source: QRectF, target: QRectF, bend: float) -> tuple[QPainterPath, QPointF, QPointF]:
    """A curve from `source` to `target` bowed sideways by `bend`; (path, arrow tip, arrow direction)."""
    start, end = port(source, target.center()), port(target, source.center())
    chord = end - start
    control = (start + end) / 2 + QPointF(-chord.y(), chord.x()) * bend
    direction = end - control
    path = QPainterPath(start)
    path.quadTo(control, end - unit(direction) * (ARROW_LENGTH * 0.7))
    return path, end, direction


def crosses(path: QPainterPath, rects: list[QRectF]) -> bool:
    """Whether the line of `path` passes through any of `rects`."""
    points = [path.pointAtPercent(step / CROSSING_SAMPLES) for step in range(CROSSING_SAMPLES + 1)]
    return any(rect.contains(point) for rect in rects for point in points)


def untested_pen() -> QPen:
    pen = QPen(QColor(211, 47, 47, 130), 5.0, Qt.PenStyle.CustomDashLine, Qt.PenCapStyle.FlatCap)
    pen.setDashPattern([1.6, 1.0])
    return pen


def _rounded_rect(rect: QRectF) -> QPainterPath:
    path = QPainterPath()
    path.addRoundedRect(rect, NODE_RADIUS, NODE_RADIUS)
    return path


def decision_shape(rect: QRectF) -> QPainterPath:
    """A hexagon pointed left and right: a node decided by data, with no caller turn."""
    tip = rect.height() / 2
    left, right, top, bottom, middle = rect.left(), rect.right(), rect.top(), rect.bottom(), rect.center().y()
    path = QPainterPath()
    path.addPolygon(QPolygonF([QPointF(left, middle), QPointF(left + tip, top), QPointF(right - tip, top),
                               QPointF(right, middle), QPointF(right - tip, bottom),
                               QPointF(left + tip, bottom), QPointF(left, middle)]))
    return path


def node_shape(rect: QRectF, decision: bool) -> QPainterPath:
    return decision_shape(rect) if decision else _rounded_rect(rect)


# ----------------------------------------------------------------------------------------- items

class NodeItem(QGraphicsPathItem):
    """A state: rounded rect with its name (a pointed hexagon if it is a decision); bold border if
    initial, double border if ending."""

    def __init__(self, state: str, rect: QRectF, initial: bool, ending: bool, decision: bool = False) -> None:
        super().__init__(node_shape(rect, decision))
        self.state, self.initial, self.ending, self.decision = state, initial, ending, decision
        self.style = "unvisited"
        self.setZValue(Z_NODE)
        self.setPen(QPen(DARK_GREEN if initial else BORDER, 3.0 if initial else 1.3))
        self._inner = self._inner_border(rect) if ending else None
        self._hatch = self._coverage_marks(rect)
        self._text = QGraphicsSimpleTextItem(state, self)
        self._text.setFont(font(NODE_FONT_PX))
        self._text.setPos(rect.center() - self._text.boundingRect().center())
        self.setToolTip(self._describe())
        self.set_style("unvisited")

    def _describe(self) -> str:
        roles = [role for role, flag in (("initial", self.initial), ("ending", self.ending),
                                         ("decided by the record", self.decision)) if flag]
        suffix = f" ({', '.join(roles)})" if roles else ""
        return f"{self.state}{suffix}\nclick: show prompt · double-click: force the call here"

    def _inner_border(self, rect: QRectF) -> QGraphicsPathItem:
        inner = QGraphicsPathItem(node_shape(rect.adjusted(3, 3, -3, -3), self.decision), self)
        inner.setPen(QPen(BORDER, 1.1))
        return inner

    def _coverage_marks(self, rect: QRectF) -> QGraphicsPathItem:
        hatch = QGraphicsPathItem(node_shape(rect.adjusted(-3, -3, 3, 3), self.decision), self)
        hatch.setBrush(QBrush(QColor(211, 47, 47, 170), Qt.BrushStyle.BDiagPattern))
        hatch.setPen(QPen(RED, 1.8, Qt.PenStyle.DashLine))
        hatch.setVisible(False)
        return hatch

    def set_style(self, style: str) -> None:
        self.style = style
        self.setBrush(NODE_FILLS[style])
        self._text.setBrush(QColor("white") if style == "current" else TEXT)
        self._text.setFont(font(NODE_FONT_PX, bold=style == "current"))
        if self._inner is not None:
            self._inner.setPen(QPen(QColor("white") if style == "current" else BORDER, 1.1))

    def set_unreached(self, unreached: bool) -> None:
        self._hatch.setVisible(unreached)

    @property
    def unreached(self) -> bool:
        return self._hatch.isVisible()

    def node_rect(self) -> QRectF:
        return self.path().boundingRect()


class EdgeLabel(QGraphicsPathItem):
    """An edge's intent on a white plate, so the edge line can pass underneath."""

    def __init__(self, text: str, anchor: QPointF, centred: bool = True) -> None:
        super().__init__()
        self._text = QGraphicsSimpleTextItem(text, self)
        self._text.setFont(font(LABEL_FONT_PX))
        box = self._text.boundingRect().adjusted(-LABEL_PAD, 0, LABEL_PAD, 0)
        offset = anchor - box.center() if centred else anchor - QPointF(box.left(), box.center().y())
        self._text.setPos(offset)
        plate = QPainterPath()
        plate.addRoundedRect(box.translated(offset), 4, 4)
        self.setPath(plate)
        self.setBrush(QColor(255, 255, 255, 235))
        self.setPen(Qt.PenStyle.NoPen)
        self.setZValue(Z_LABEL)

    def set_colour(self, colour: QColor, bold: bool) -> None:
        self._text.setBrush(colour)
        self._text.setFont(font(LABEL_FONT_PX, bold))


class EdgeItem(QGraphicsPathItem):
    """One transition: its line, arrowhead, label and an optional coverage halo."""

    def __init__(self, path: QPainterPath, tip: QPointF, direction: QPointF, label: EdgeLabel | None,
                 z: float = Z_EDGE) -> None:
        super().__init__(path)
        self.style = "normal"
        self.setZValue(z)
        self.label = label
        self._arrow = QGraphicsPolygonItem(_arrow(tip, direction), self)
        self._halo = QGraphicsPathItem(path)
        self._halo.setPen(untested_pen())
        self._halo.setZValue(Z_COVERAGE)
        self._halo.setVisible(False)
        self.set_style("normal")

    def add_to(self, scene: QGraphicsScene) -> None:
        scene.addItem(self)
        scene.addItem(self._halo)
        if self.label is not None:
            scene.addItem(self.label)

    def remove_from(self, scene: QGraphicsScene) -> None:
        for item in (self, self._halo, self.label):
            if item is not None:
                scene.removeItem(item)

    def set_style(self, style: str) -> None:
        colour, width, line, text_colour = EDGE_PENS[style]
        self.style = style
        self.setPen(QPen(colour, width, line, Qt.PenCapStyle.RoundCap))
        self._arrow.setPen(QPen(colour, 1.0))
        self._arrow.setBrush(colour)
        if self.label is not None:
            self.label.set_colour(text_colour, bold=style != "normal")

    def set_untested(self, untested: bool) -> None:
        self._halo.setVisible(untested)

    @property
    def untested(self) -> bool:
        return self._halo.isVisible()


