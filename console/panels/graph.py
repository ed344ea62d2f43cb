"""The conversation's state graph: a layered layout with live call marks and a test-coverage overlay.

Layout: grandalf's Sugiyama (pure Python, no Graphviz binary needed), top to bottom. Every edge
label is a layout vertex of its own, so labels get a slot in the layer between two node layers and
never sit on a node; parallel edges get one label slot each and therefore separate paths. Edges
that close a cycle are laid out reversed and drawn upwards; self-loops sit on a node's right side,
in room reserved in the node's slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

EdgeKey = tuple[str, str, str]  # (source, intent, target)
Point = tuple[float, float]
Size = tuple[float, float]

NODE_FONT_PX = 13
LABEL_FONT_PX = 11
NODE_HEIGHT = 28.0
NODE_PAD_X = 14.0
NODE_RADIUS = 8.0
LABEL_PAD = 3.0
X_SPACE = 18.0
Y_SPACE = 9.0
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


# ----------------------------------------------------------------------------------------- layout

@dataclass(frozen=True, slots=True)
class GraphLayout:
    """Where things go: the centre of each state's slot, each edge's polyline and label centre."""

    slots: dict[str, Point]
    routes: dict[EdgeKey, list[Point]]  # from the source's slot centre through the label to the target's
    labels: dict[EdgeKey, Point]


class _Box:
    """The `view` grandalf reads a vertex's size from and writes its centre to."""

    def __init__(self, size: Size) -> None:
        self.w, self.h = size
        self.xy: Point = (0.0, 0.0)


def _vertex(data: object, size: Size) -> Vertex:
    vertex = Vertex(data)
    vertex.view = _Box(size)
    return vertex


def feedback_edges(nodes: Iterable[str], edges: Iterable[EdgeKey], initial: str) -> set[EdgeKey]:
    """Edges that close a cycle in a depth-first walk starting at the initial state."""
    outgoing: dict[str, list[EdgeKey]] = {node: [] for node in nodes}
    for edge in edges:
        outgoing[edge[0]].append(edge)
    roots = sorted(outgoing, key=lambda node: node != initial)
    on_path: set[str] = set()
    seen: set[str] = set()
    back: set[EdgeKey] = set()
    for root in roots:
        if root not in seen:
            _walk(root, outgoing, seen, on_path, back)
    return back


def _walk(root: str, outgoing: dict[str, list[EdgeKey]], seen: set[str], on_path: set[str],
          back: set[EdgeKey]) -> None:
    seen.add(root)
    on_path.add(root)
    stack = [(root, iter(outgoing[root]))]
    while stack:
        node, pending = stack[-1]
        edge = next(pending, None)
        if edge is None:
            on_path.discard(node)
            stack.pop()
        elif edge[2] in on_path:
            back.add(edge)
        elif edge[2] not in seen:
            seen.add(edge[2])
            on_path.add(edge[2])
            stack.append((edge[2], iter(outgoing[edge[2]])))


def layout_graph(node_sizes: dict[str, Size], label_sizes: dict[EdgeKey, Size], initial: str) -> GraphLayout:
    """Lay out states (with their slot sizes) and edges (with their label sizes), top to bottom."""
    flows = [edge for edge in label_sizes if edge[0] != edge[2]]
    upward = feedback_edges(node_sizes, flows, initial)
    vertices = {name: _vertex(name, size) for name, size in node_sizes.items()}
    label_vertices = {edge: _vertex(edge, label_sizes[edge]) for edge in flows}
    links: dict[EdgeKey, tuple[Edge, Edge]] = {}
    for edge in flows:
        top, bottom = (edge[2], edge[0]) if edge in upward else (edge[0], edge[2])
        label = label_vertices[edge]
        links[edge] = (Edge(vertices[top], label), Edge(label, vertices[bottom]))
    graph = Graph(list(vertices.values()) + list(label_vertices.values()),
                  [link for pair in links.values() for link in pair])
    bends = _place_components(graph, vertices.get(initial))
    routes = {edge: _route(pair, bends, edge in upward) for edge, pair in links.items()}
    return GraphLayout(slots={name: v.view.xy for name, v in vertices.items()}, routes=routes,
                       labels={edge: v.view.xy for edge, v in label_vertices.items()})


def _place_components(graph: Graph, initial: Vertex | None) -> dict[Edge, list[Point]]:
    """Lay out each connected component and set them side by side, the initial state's first."""
    components = sorted(graph.C, key=lambda component: initial not in component.sV)
    bends: dict[Edge, list[Point]] = {}
    left = 0.0
    for component in components:
        component_bends = _layout_component(component, initial)
        left = _shift_to(component, component_bends, left) + X_SPACE * 2
        bends.update(component_bends)
    return bends


def _layout_component(component: object, initial: Vertex | None) -> dict[Edge, list[Point]]:
    layout = SugiyamaLayout(component)
    layout.xspace, layout.yspace = X_SPACE, Y_SPACE
    layout.dw = layout.dh = 8.0
    roots = [initial] if initial in component.sV else None
    layout.init_all(roots=roots, inverted_edges=[])
    layout.draw()
    for layer in layout.layers:
        _separate(layer)
    return {edge: _bend_points(layout, edge) for edge in component.sE}


def _separate(layer: list) -> None:
    """Push apart neighbours that the coordinate assignment left overlapping."""
    for left, right in pairwise(layer):
        minimum = left.view.xy[0] + (left.view.w + right.view.w) / 2 + X_SPACE
        if right.view.xy[0] < minimum:
            right.view.xy = (minimum, right.view.xy[1])


def _bend_points(layout: SugiyamaLayout, edge: Edge) -> list[Point]:
    controls = layout.ctrls.get(edge)
    if not controls:
        return []
    first, last = min(controls), max(controls)
    return [controls[rank].view.xy for rank in range(first + 1, last)]


def _shift_to(component: object, bends: dict[Edge, list[Point]], left: float) -> float:
    """Move a component so its left edge is at `left`; returns its right edge."""
    vertices = list(component.sV)
    offset = left - min(v.view.xy[0] - v.view.w / 2 for v in vertices)
    for v in vertices:
        v.view.xy = (v.view.xy[0] + offset, v.view.xy[1])
    for edge, points in bends.items():
        bends[edge] = [(x + offset, y) for x, y in points]
    return max(v.view.xy[0] + v.view.w / 2 for v in vertices)


def _route(pair: tuple[Edge, Edge], bends: dict[Edge, list[Point]], upward: bool) -> list[Point]:
    upper, lower = pair
    points = ([upper.v[0].view.xy, *bends[upper], upper.v[1].view.xy, *bends[lower], lower.v[1].view.xy])
    return points[::-1] if upward else points


# ----------------------------------------------------------------------------------------- geometry

def _font(pixels: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(pixels)
    font.setBold(bold)
    return font


def _text_size(text: str, font: QFont) -> Size:
    metrics = QFontMetricsF(font)
    return metrics.horizontalAdvance(text), metrics.height()


def _port(rect: QRectF, toward: QPointF) -> QPointF:
    """Where a line from the rect's centre towards a point leaves the rect (top or bottom side)."""
    centre = rect.center()
    if abs(toward.y() - centre.y()) < 1e-6:
        return QPointF(rect.right() if toward.x() > centre.x() else rect.left(), centre.y())
    side = rect.bottom() if toward.y() > centre.y() else rect.top()
    share = (side - centre.y()) / (toward.y() - centre.y())
    x = centre.x() + share * (toward.x() - centre.x())
    inset = min(NODE_RADIUS, rect.width() / 2)
    return QPointF(min(max(x, rect.left() + inset), rect.right() - inset), side)


def _unit(vector: QPointF) -> QPointF:
    length = (vector.x() ** 2 + vector.y() ** 2) ** 0.5 or 1.0
    return QPointF(vector.x() / length, vector.y() / length)


def _arrow(tip: QPointF, direction: QPointF) -> QPolygonF:
    unit = _unit(direction)
    base = tip - unit * ARROW_LENGTH
    normal = QPointF(-unit.y(), unit.x()) * ARROW_HALF_WIDTH
    return QPolygonF([tip, base + normal, base - normal])


def _layered_path(points: list[QPointF]) -> tuple[QPainterPath, QPointF]:
    """A smooth path through layered points (vertical tangents); returns it and its end direction."""
    tip, before = points[-1], points[-2]
    direction = QPointF(0.0, 1.0 if tip.y() > before.y() else -1.0)
    points = [*points[:-1], tip - direction * (ARROW_LENGTH * 0.7)]
    path = QPainterPath(points[0])
    for start, end in pairwise(points):
        half = (end.y() - start.y()) / 2
        path.cubicTo(QPointF(start.x(), start.y() + half), QPointF(end.x(), end.y() - half), end)
    return path, direction


def _loop_path(rect: QRectF, index: int) -> tuple[QPainterPath, QPointF, QPointF]:
    """A self-loop on the rect's right side; returns the path, the arrow tip and its direction."""
    reach = LOOP_REACH + LOOP_STEP * index
    start = QPointF(rect.right(), rect.center().y() - 6)
    tip = QPointF(rect.right(), rect.center().y() + 6)
    end_control = QPointF(rect.right() + reach, tip.y() + reach * 0.5)
    direction = tip - end_control
    path = QPainterPath(start)
    path.cubicTo(QPointF(rect.right() + reach, start.y() - reach * 0.5), end_control,
                 tip - _unit(direction) * (ARROW_LENGTH * 0.7))
    return path, tip, direction


def _loop_extent(loops: int) -> float:
    return 0.0 if loops == 0 else (LOOP_REACH + LOOP_STEP * (loops - 1)) * 0.75 + 4


def _untested_pen() -> QPen:
    pen = QPen(QColor(211, 47, 47, 130), 5.0, Qt.PenStyle.CustomDashLine, Qt.PenCapStyle.FlatCap)
    pen.setDashPattern([1.6, 1.0])
    return pen


def _rounded_rect(rect: QRectF) -> QPainterPath:
    path = QPainterPath()
    path.addRoundedRect(rect, NODE_RADIUS, NODE_RADIUS)
    return path


# ----------------------------------------------------------------------------------------- items

class _NodeItem(QGraphicsPathItem):
    """A state: rounded rect with its name; bold border if initial, double border if ending."""

    def __init__(self, state: str, rect: QRectF, initial: bool, ending: bool) -> None:
        super().__init__(_rounded_rect(rect))
        self.state, self.initial, self.ending = state, initial, ending
        self.style = "unvisited"
        self.setZValue(Z_NODE)
        self.setPen(QPen(DARK_GREEN if initial else BORDER, 3.0 if initial else 1.3))
        self._inner = self._inner_border(rect) if ending else None
        self._hatch = self._coverage_marks(rect)
        self._text = QGraphicsSimpleTextItem(state, self)
        self._text.setFont(_font(NODE_FONT_PX))
        self._text.setPos(rect.center() - self._text.boundingRect().center())
        self.setToolTip(self._describe())
        self.set_style("unvisited")

    def _describe(self) -> str:
        roles = [role for role, flag in (("initial", self.initial), ("ending", self.ending)) if flag]
        suffix = f" ({', '.join(roles)})" if roles else ""
        return f"{self.state}{suffix}\nclick: show prompt · double-click: force the call here"

    def _inner_border(self, rect: QRectF) -> QGraphicsPathItem:
        inner = QGraphicsPathItem(_rounded_rect(rect.adjusted(3, 3, -3, -3)), self)
        inner.setPen(QPen(BORDER, 1.1))
        return inner

    def _coverage_marks(self, rect: QRectF) -> QGraphicsPathItem:
        hatch = QGraphicsPathItem(_rounded_rect(rect.adjusted(-3, -3, 3, 3)), self)
        hatch.setBrush(QBrush(QColor(211, 47, 47, 170), Qt.BrushStyle.BDiagPattern))
        hatch.setPen(QPen(RED, 1.8, Qt.PenStyle.DashLine))
        hatch.setVisible(False)
        return hatch

    def set_style(self, style: str) -> None:
        self.style = style
        self.setBrush(NODE_FILLS[style])
        self._text.setBrush(QColor("white") if style == "current" else TEXT)
        self._text.setFont(_font(NODE_FONT_PX, bold=style == "current"))
        if self._inner is not None:
            self._inner.setPen(QPen(QColor("white") if style == "current" else BORDER, 1.1))

    def set_unreached(self, unreached: bool) -> None:
        self._hatch.setVisible(unreached)

    @property
    def unreached(self) -> bool:
        return self._hatch.isVisible()

    def node_rect(self) -> QRectF:
        return self.path().boundingRect()


class _EdgeLabel(QGraphicsPathItem):
    """An edge's intent on a white plate, so the edge line can pass underneath."""

    def __init__(self, text: str, anchor: QPointF, centred: bool = True) -> None:
        super().__init__()
        self._text = QGraphicsSimpleTextItem(text, self)
        self._text.setFont(_font(LABEL_FONT_PX))
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
        self._text.setFont(_font(LABEL_FONT_PX, bold))


class _EdgeItem(QGraphicsPathItem):
    """One transition: its line, arrowhead, label and an optional coverage halo."""

    def __init__(self, path: QPainterPath, tip: QPointF, direction: QPointF, label: _EdgeLabel | None,
                 z: float = Z_EDGE) -> None:
        super().__init__(path)
        self.style = "normal"
        self.setZValue(z)
        self.label = label
        self._arrow = QGraphicsPolygonItem(_arrow(tip, direction), self)
        self._halo = QGraphicsPathItem(path)
        self._halo.setPen(_untested_pen())
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


# ----------------------------------------------------------------------------------------- legend

LEGEND_STATES = [("current", "current"), ("visited", "visited"), ("unvisited", "not visited"),
                 ("initial", "initial"), ("ending", "ending")]
LEGEND_EDGES = [("normal", "transition"), ("taken", "taken"), ("forced", "forced")]
LEGEND_COVERAGE = [("unreached", "no test reaches"), ("untested", "no test takes")]


class _Legend(QWidget):
    """A small key in the view's top-left corner; mouse events pass through it."""

    ROW = 14
    SWATCH = 18

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFont(_font(10))
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
        if picture is None or picture.devicePixelRatio() != ratio or picture.deviceIndependentSize() != self.size():
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
            self._entry(painter, 6, row, text, lambda r, k=kind: _paint_node_swatch(painter, r, k))
        edges = LEGEND_EDGES + (LEGEND_COVERAGE if self.coverage else [])
        for row, (kind, text) in enumerate(edges):
            self._entry(painter, self._column_x(), row, text,
                        lambda r, k=kind: _paint_edge_swatch(painter, r, k))
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
        pen = _untested_pen()
    else:
        colour, width, line, _ = EDGE_PENS[kind]
        pen = QPen(colour, width, line)
    painter.setPen(pen)
    painter.drawLine(QPointF(rect.left(), rect.center().y()), QPointF(rect.right(), rect.center().y()))


# ----------------------------------------------------------------------------------------- view

class _GraphView(QGraphicsView):
    """Zoom (wheel, +/-, 0 to fit), pan by dragging; reports clicks on states; hosts the legend."""

    nodeClicked = Signal(str)
    nodeDoubleClicked = Signal(str)
    nodeMenuRequested = Signal(str, QPoint)
    backgroundMenuRequested = Signal(QPoint)

    def __init__(self, scene: QGraphicsScene, parent: QWidget) -> None:
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor("white"))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Wheel or +/- to zoom, drag to pan, 0 to fit; double-click a state to force the call")
        self.legend = _Legend(self)
        self.auto_fit = True
        self._press_at: QPoint | None = None

    def node_at(self, position: QPoint) -> str | None:
        for item in self.items(position):
            while item is not None and not isinstance(item, _NodeItem):
                item = item.parentItem()
            if item is not None:
                return item.state
        return None

    # --- fitting, keeping the graph clear of the legend

    def fit(self) -> None:
        """Fit the graph; put the legend in a corner where it hides nothing, else make room for it."""
        bounds = self.scene().itemsBoundingRect()
        self.auto_fit = True
        if bounds.isEmpty():
            return
        bounds = bounds.adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN)
        self._show(bounds, self._scale_for(bounds.size().toTuple(), (0, 0)))
        if not self.legend.isVisible():
            return
        for corner in self._legend_corners():
            self.legend.move(corner)
            if not self._legend_covers_graph():
                return
        self.legend.move(self._legend_corners()[0])
        self._show(*self._beside_legend(bounds))

    def _legend_corners(self) -> list[QPoint]:
        """Top left, top right, bottom left, bottom right (in the view's coordinates)."""
        area = self.viewport().geometry().adjusted(LEGEND_GAP, LEGEND_GAP, -LEGEND_GAP, -LEGEND_GAP)
        right = area.right() - self.legend.width() + 1
        bottom = area.bottom() - self.legend.height() + 1
        return [QPoint(area.left(), area.top()), QPoint(right, area.top()),
                QPoint(area.left(), bottom), QPoint(right, bottom)]

    def _scale_for(self, scene_size: Size, reserved: Size) -> float:
        width = max(self.viewport().width() - reserved[0], 1)
        height = max(self.viewport().height() - reserved[1], 1)
        return min(width / scene_size[0], height / scene_size[1], MAX_FIT_SCALE)

    def _beside_legend(self, bounds: QRectF) -> tuple[QRectF, float]:
        """The larger of: the graph below the legend, or the graph right of it."""
        band = (self.legend.width() + LEGEND_GAP, self.legend.height() + LEGEND_GAP)
        below = self._scale_for(bounds.size().toTuple(), (0, band[1]))
        beside = self._scale_for(bounds.size().toTuple(), (band[0], 0))
        if below >= beside:
            return bounds.adjusted(0, -band[1] / below, 0, 0), below
        return bounds.adjusted(-band[0] / beside, 0, 0, 0), beside

    def _show(self, rect: QRectF, scale: float) -> None:
        self.setSceneRect(rect)
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(rect.center())

    def _legend_covers_graph(self) -> bool:
        corner = self.legend.geometry().translated(-self.viewport().pos())
        area = self.mapToScene(corner).boundingRect()
        return any(isinstance(item, (_NodeItem, _EdgeLabel)) for item in self.scene().items(area))

    # --- zoom

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        target = min(max(current * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1])
        self.scale(target / current, target / current)
        self.auto_fit = False

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom(ZOOM_STEP ** steps)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(ZOOM_STEP)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom(1 / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.auto_fit:
            self.fit()

    # --- mouse

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press_at = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        position = event.position().toPoint()
        if self._press_at is not None and (position - self._press_at).manhattanLength() <= 4:
            state = self.node_at(position)
            if state is not None and event.button() == Qt.MouseButton.LeftButton:
                self.nodeClicked.emit(state)
        self._press_at = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        state = self.node_at(event.position().toPoint())
        if state is not None and event.button() == Qt.MouseButton.LeftButton:
            self.nodeDoubleClicked.emit(state)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        state = self.node_at(event.pos())
        if state is not None:
            self.nodeMenuRequested.emit(state, event.globalPos())
        else:
            self.backgroundMenuRequested.emit(event.globalPos())
        event.accept()


# ----------------------------------------------------------------------------------------- panel

class StateGraphPanel(QWidget):
    """The conversation's state graph, with the live call's path and the tests' coverage.

    Feed it plain data: `set_graph(...)` once per schema, then `set_current`, `mark_visited` and
    `mark_transition` as the call moves; `reset_marks()` for a new call; `set_coverage(...)` /
    `clear_coverage()` for the test-coverage overlay.

    Signals:
        stateSelected(str): a state was clicked (show its prompt).
        forceRequested(str): the operator double-clicked a state (or chose "Force transition to …"
            in its context menu) and confirmed; the controller should force the call there.

    `confirm` is the confirmation step: a callable taking the state name and returning whether to
    go ahead; it defaults to a QMessageBox question and can be replaced (e.g. in tests).
    """

    stateSelected = Signal(str)
    forceRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.confirm: Callable[[str], bool] = self._ask_to_force
        self._scene = QGraphicsScene(self)
        self._view = _GraphView(self._scene, self)
        self._legend = self._view.legend
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)
        self._view.nodeClicked.connect(self.stateSelected)
        self._view.nodeDoubleClicked.connect(self.request_force)
        self._view.nodeMenuRequested.connect(self._show_node_menu)
        self._view.backgroundMenuRequested.connect(self._show_view_menu)
        self._force_enabled = True
        self._clear()

    # --- building

    def set_graph(self, states: list[str], edges: list[tuple[str, str, str]], initial: str,
                  endings: set[str]) -> None:
        """Show a schema's states and (source, intent, target) edges; clears every mark and the coverage."""
        self._clear()
        names = list(dict.fromkeys([*states, *(e[0] for e in edges), *(e[2] for e in edges)]))
        unique_edges = list(dict.fromkeys(tuple(edge) for edge in edges))
        loops = {name: [e for e in unique_edges if e[0] == e[2] == name] for name in names}
        label_font = _font(LABEL_FONT_PX)
        node_widths = {name: _text_size(name, _font(NODE_FONT_PX, bold=True))[0] + 2 * NODE_PAD_X
                       for name in names}
        slot_sizes = {name: self._slot_size(node_widths[name], loops[name], label_font) for name in names}
        label_sizes = {e: self._label_size(e[1], label_font) for e in unique_edges}
        layout = layout_graph(slot_sizes, label_sizes, initial)
        for name in names:
            self._add_node(name, layout.slots[name], node_widths[name], slot_sizes[name][0],
                           name == initial, name in endings)
        for edge, route in layout.routes.items():
            self._add_flow_edge(edge, route, layout.labels[edge])
        for name in names:
            self._add_loops(name, loops[name])
        self.fit()

    @staticmethod
    def _slot_size(node_width: float, loops: list[EdgeKey], font: QFont) -> Size:
        if not loops:
            return node_width, NODE_HEIGHT
        label_width = max(_text_size(e[1], font)[0] for e in loops) + 2 * LABEL_PAD
        line_height = _text_size("Ag", font)[1]
        return (node_width + _loop_extent(len(loops)) + label_width + 4,
                max(NODE_HEIGHT, len(loops) * line_height + 4))

    @staticmethod
    def _label_size(text: str, font: QFont) -> Size:
        if not text:
            return 4.0, 4.0
        width, height = _text_size(text, font)
        return width + 2 * LABEL_PAD, height

    def _add_node(self, name: str, slot: Point, width: float, slot_width: float, initial: bool,
                  ending: bool) -> None:
        left = slot[0] - slot_width / 2
        rect = QRectF(left, slot[1] - NODE_HEIGHT / 2, width, NODE_HEIGHT)
        node = _NodeItem(name, rect, initial, ending)
        self._scene.addItem(node)
        self._nodes[name] = node

    def _add_flow_edge(self, edge: EdgeKey, route: list[Point], label_at: Point) -> None:
        source, target = self._nodes[edge[0]].node_rect(), self._nodes[edge[2]].node_rect()
        inner = [QPointF(*point) for point in route[1:-1]]
        start = _port(source, inner[0])
        end = _port(target, inner[-1])
        path, direction = _layered_path([start, *inner, end])
        label = _EdgeLabel(edge[1], QPointF(*label_at)) if edge[1] else None
        self._add_edge_item(edge, _EdgeItem(path, end, direction, label))

    def _add_loops(self, name: str, loops: list[EdgeKey]) -> None:
        rect = self._nodes[name].node_rect()
        line_height = _text_size("Ag", _font(LABEL_FONT_PX))[1]
        label_x = rect.right() + _loop_extent(len(loops))
        for index, edge in enumerate(loops):
            path, tip, direction = _loop_path(rect, index)
            label_y = rect.center().y() + (index - (len(loops) - 1) / 2) * line_height
            label = _EdgeLabel(edge[1], QPointF(label_x, label_y), centred=False) if edge[1] else None
            self._add_edge_item(edge, _EdgeItem(path, tip, direction, label))

    def _add_edge_item(self, edge: EdgeKey, item: _EdgeItem) -> None:
        item.setToolTip(f"{edge[0]} → {edge[2]}\nintent: {edge[1] or '—'}")
        item.add_to(self._scene)
        self._edges[edge] = item

    def _clear(self) -> None:
        self._scene.clear()
        self._nodes: dict[str, _NodeItem] = {}
        self._edges: dict[EdgeKey, _EdgeItem] = {}
        self._forced_extra: dict[tuple[str, str], _EdgeItem] = {}
        self._current: str | None = None
        self._visited: set[str] = set()
        self._legend.show_coverage(False)

    # --- live call marks

    def set_current(self, state: str) -> None:
        """Highlight the call's current state (it also counts as visited); unknown names clear it."""
        previous, self._current = self._current, state if state in self._nodes else None
        if self._current is not None:
            self._visited.add(self._current)
        for name in {previous, self._current} - {None}:
            self._restyle_node(name)

    def mark_visited(self, state: str) -> None:
        if state in self._nodes:
            self._visited.add(state)
            self._restyle_node(state)

    def mark_transition(self, source: str, target: str, forced: bool, intent: str | None = None) -> None:
        """Highlight a taken transition; a forced one is dashed orange (and drawn temporarily when
        the schema has no such edge). With `intent`, only that parallel edge is marked."""
        style = "forced" if forced else "taken"
        matching = [item for (s, i, t), item in self._edges.items()
                    if s == source and t == target and (intent is None or i == intent)]
        if not matching and intent is not None:
            matching = [item for (s, _, t), item in self._edges.items() if s == source and t == target]
        if not matching and forced and source in self._nodes and target in self._nodes:
            matching = [self._forced_edge(source, target)]
        for item in matching:
            if EDGE_STYLE_RANK[style] >= EDGE_STYLE_RANK[item.style]:
                item.set_style(style)

    def reset_marks(self) -> None:
        """Forget the current state, visited states, taken transitions and temporary forced edges."""
        self._current = None
        self._visited.clear()
        for name in self._nodes:
            self._restyle_node(name)
        for item in self._edges.values():
            item.set_style("normal")
        for item in self._forced_extra.values():
            item.remove_from(self._scene)
        self._forced_extra.clear()

    def _restyle_node(self, name: str) -> None:
        self._nodes[name].set_style(self.node_style(name))

    def _forced_edge(self, source: str, target: str) -> _EdgeItem:
        key = (source, target)
        if key not in self._forced_extra:
            item = self._make_forced_edge(self._nodes[source].node_rect(), self._nodes[target].node_rect())
            item.setToolTip(f"{source} → {target}\nforced (no such transition in the schema)")
            item.add_to(self._scene)
            self._forced_extra[key] = item
        return self._forced_extra[key]

    @staticmethod
    def _make_forced_edge(source: QRectF, target: QRectF) -> _EdgeItem:
        if source == target:
            path, tip, direction = _loop_path(source, 0)
            return _EdgeItem(path, tip, direction, None, Z_FORCED)
        start, end = _port(source, target.center()), _port(target, source.center())
        chord = end - start
        bend = QPointF(-chord.y(), chord.x()) * 0.2
        control = (start + end) / 2 + bend
        direction = end - control
        path = QPainterPath(start)
        path.quadTo(control, end - _unit(direction) * (ARROW_LENGTH * 0.7))
        return _EdgeItem(path, end, direction, None, Z_FORCED)

    # --- coverage

    def set_coverage(self, unreached_states: set[str],
                     untaken_edges: set[tuple[str, str, str]] | None) -> None:
        """Overlay the states no test reaches (red hatch) and, if given, the edges no test takes."""
        for name, node in self._nodes.items():
            node.set_unreached(name in unreached_states)
        untaken = set(untaken_edges or ())
        for edge, item in self._edges.items():
            item.set_untested(edge in untaken)
        self._legend.show_coverage(True)

    def clear_coverage(self) -> None:
        self.set_coverage(set(), None)
        self._legend.show_coverage(False)

    # --- forcing

    def set_force_enabled(self, enabled: bool) -> None:
        """Whether double-click / the context menu may request a forced transition (e.g. only in a call)."""
        self._force_enabled = enabled

    def request_force(self, state: str) -> None:
        """Ask `confirm(state)`; if it agrees, emit forceRequested(state)."""
        if self._force_enabled and state in self._nodes and self.confirm(state):
            self.forceRequested.emit(state)

    def _ask_to_force(self, state: str) -> bool:
        answer = QMessageBox.question(self, "Force transition", f"Force the call to '{state}'?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _show_node_menu(self, state: str, at: QPoint) -> None:
        menu = QMenu(self)
        menu.addAction(f"Show prompt of '{state}'", lambda: self.stateSelected.emit(state))
        force = menu.addAction(f"Force transition to '{state}'…", lambda: self.request_force(state))
        force.setEnabled(self._force_enabled)
        menu.addSeparator()
        self._add_view_actions(menu)
        menu.exec(at)

    def _show_view_menu(self, at: QPoint) -> None:
        menu = QMenu(self)
        self._add_view_actions(menu)
        menu.exec(at)

    def _add_view_actions(self, menu: QMenu) -> None:
        menu.addAction("Fit graph (0)", self.fit)
        menu.addAction("Zoom in (+)", self.zoom_in)
        menu.addAction("Zoom out (−)", self.zoom_out)
        legend = menu.addAction("Show legend", lambda: self.set_legend_visible(not self._legend.isVisible()))
        legend.setCheckable(True)
        legend.setChecked(self._legend.isVisible())

    # --- zoom

    def fit(self) -> None:
        """Fit the whole graph into the view (never enlarging past 150 %)."""
        self._view.fit()

    def zoom_in(self) -> None:
        self._view.zoom(ZOOM_STEP)

    def zoom_out(self) -> None:
        self._view.zoom(1 / ZOOM_STEP)

    def zoom_level(self) -> float:
        return self._view.transform().m11()

    def set_legend_visible(self, visible: bool) -> None:
        self._legend.setVisible(visible)
        if self._view.auto_fit:
            self.fit()

    # --- read-outs (for the main window and tests)

    @property
    def view(self) -> QGraphicsView:
        return self._view

    def states(self) -> list[str]:
        return list(self._nodes)

    def drawn_edges(self) -> set[EdgeKey]:
        """The schema edges drawn (temporary forced edges excluded)."""
        return set(self._edges)

    def node_style(self, state: str) -> str:
        """"current", "visited" or "unvisited"."""
        if state not in self._nodes:
            raise KeyError(state)
        if state == self._current:
            return "current"
        return "visited" if state in self._visited else "unvisited"

    def edge_style(self, source: str, target: str, intent: str | None = None) -> str:
        """"forced", "taken" or "normal" for the edge(s) source→target (all parallel ones unless
        `intent` is given; the strongest mark wins). KeyError if nothing is drawn there."""
        items = [item for (s, i, t), item in self._edges.items()
                 if s == source and t == target and intent in (None, i)]
        if intent is None and (source, target) in self._forced_extra:
            items.append(self._forced_extra[(source, target)])
        if not items:
            raise KeyError((source, target, intent))
        return max((item.style for item in items), key=EDGE_STYLE_RANK.__getitem__)

    def has_forced_extra_edge(self, source: str, target: str) -> bool:
        return (source, target) in self._forced_extra

    def node_rect(self, state: str) -> QRectF:
        """The state's rectangle in scene coordinates."""
        return self._nodes[state].node_rect()

    def node_view_position(self, state: str) -> QPoint:
        """The state's centre in viewport coordinates (where to click it)."""
        return self._view.mapFromScene(self.node_rect(state).center())

    def edge_label_rect(self, edge: EdgeKey) -> QRectF | None:
        """The edge's label plate in scene coordinates (None for an edge without intent)."""
        label = self._edges[edge].label
        return None if label is None else label.sceneBoundingRect()

    def unreached_states(self) -> set[str]:
        """States the coverage overlay currently marks."""
        return {name for name, node in self._nodes.items() if node.unreached}

    def untested_edges(self) -> set[EdgeKey]:
        """Edges the coverage overlay currently marks."""
        return {edge for edge, item in self._edges.items() if item.untested}

    def legend_shows_coverage(self) -> bool:
        return self._legend.coverage

    def scene(self) -> QGraphicsScene:
        return self._scene


__all__ = ["GraphLayout", "StateGraphPanel", "feedback_edges", "layout_graph"]
