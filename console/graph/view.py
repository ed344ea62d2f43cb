"""The state graph's view: zoom, pan, clicks and context menus on states; hosts the legend."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from console.graph.items import (
    LEGEND_GAP,
    MAX_FIT_SCALE,
    SCENE_MARGIN,
    ZOOM_RANGE,
    ZOOM_STEP,
    EdgeItem,
    EdgeLabel,
    NodeItem,
    crosses,
)
from console.graph.layout import Size
from console.graph.legend import Legend


class GraphView(QGraphicsView):
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
        self.legend = Legend(self)
        self.auto_fit = True
        self._press_at: QPoint | None = None

    def node_at(self, position: QPoint) -> str | None:
        for item in self.items(position):
            while item is not None and not isinstance(item, NodeItem):
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
        """Whether the legend hides a node, an edge's label or an edge's line."""
        return any(isinstance(item, (NodeItem, EdgeLabel))
                   or (isinstance(item, EdgeItem) and crosses(item.path(), [area]))
                   for area in [self.legend_area()] for item in self.scene().items(area))

    def legend_area(self) -> QRectF:
        """The part of the scene the legend lies over."""
        corner = self.legend.geometry().translated(-self.viewport().pos())
        return self.mapToScene(corner).boundingRect()

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


