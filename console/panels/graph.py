"""The conversation's state graph: a layered layout with live call marks and a test-coverage overlay.

The layout is computed in `console.graph.layout`; the scene items, legend and view live beside it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QPointF, QRectF, Signal
from PySide6.QtGui import (
    QFont,
    QPainterPath,
)
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.graph.items import (
    EDGE_STYLE_RANK,
    FORCED_BENDS,
    LABEL_FONT_PX,
    LABEL_PAD,
    NODE_FONT_PX,
    NODE_HEIGHT,
    NODE_PAD_X,
    Z_FORCED,
    ZOOM_STEP,
    EdgeItem,
    EdgeLabel,
    NodeItem,
    crosses,
    font,
    forced_curve,
    layered_path,
    loop_extent,
    loop_path,
    port,
    text_size,
)
from console.graph.layout import EdgeKey, Point, Size, layout_graph
from console.graph.view import GraphView
from console.widgets import ElidedLabel, Panel

GRAPH_HINT = "click: inspect · double-click: force · wheel: zoom · drag: pan"


class StateGraphPanel(Panel):
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
        self._view = GraphView(self._scene, self)
        self._legend = self._view.legend
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._header())
        layout.addWidget(self._view, 1)
        self._view.nodeClicked.connect(self.stateSelected)
        self._view.nodeDoubleClicked.connect(self.request_force)
        self._view.nodeMenuRequested.connect(self._show_node_menu)
        self._view.backgroundMenuRequested.connect(self._show_view_menu)
        self._force_enabled = True
        self._clear()

    # --- building

    def _header(self) -> QHBoxLayout:
        """The panel's title, how to drive the view, and a Fit button."""
        title = QLabel("<b>State graph</b>")
        hint = ElidedLabel(GRAPH_HINT)
        hint.setStyleSheet("color: #78909c;")
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the whole graph into the view (Ctrl+0 or 0)")
        self.fit_button.clicked.connect(self.fit)
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(title)
        row.addWidget(hint, 1)
        row.addWidget(self.fit_button)
        return row

    def set_graph(self, states: list[str], edges: list[tuple[str, str, str]], initial: str,
                  endings: set[str], labels: dict[EdgeKey, str] | None = None,
                  decisions: set[str] | None = None) -> None:
        """Show a schema's states and (source, intent, target) edges; clears every mark and the coverage.

        `labels` replaces an edge's shown label (a branch's case values); `decisions` are the nodes decided
        by data, drawn as pointed hexagons."""
        self._clear()
        self._labels: dict[EdgeKey, str] = dict(labels or {})
        decided = decisions or set()
        names = list(dict.fromkeys([*states, *(e[0] for e in edges), *(e[2] for e in edges)]))
        unique_edges = list(dict.fromkeys((source, intent, target) for source, intent, target in edges))
        loops = {name: [e for e in unique_edges if e[0] == e[2] == name] for name in names}
        label_font = font(LABEL_FONT_PX)
        node_widths = {name: text_size(name, font(NODE_FONT_PX, bold=True))[0] + 2 * NODE_PAD_X
                       + (NODE_HEIGHT if name in decided else 0) for name in names}
        slot_sizes = {name: self._slot_size(node_widths[name], [self.edge_label(e) for e in loops[name]],
                                            label_font) for name in names}
        label_sizes = {e: self._label_size(self.edge_label(e), label_font) for e in unique_edges}
        layout = layout_graph(slot_sizes, label_sizes, initial)
        for name in names:
            self._add_node(name, layout.slots[name], node_widths[name], slot_sizes[name][0],
                           (name == initial, name in endings, name in decided))
        for edge, route in layout.routes.items():
            self._add_flow_edge(edge, route, layout.labels[edge])
        for name in names:
            self._add_loops(name, loops[name])
        self.fit()

    @staticmethod
    def _slot_size(node_width: float, loops: list[str], font: QFont) -> Size:
        """The room a node takes with its self-loops, whose labels are `loops`."""
        if not loops:
            return node_width, NODE_HEIGHT
        label_width = max(text_size(label, font)[0] for label in loops) + 2 * LABEL_PAD
        line_height = text_size("Ag", font)[1]
        return (node_width + loop_extent(len(loops)) + label_width + 4,
                max(NODE_HEIGHT, len(loops) * line_height + 4))

    @staticmethod
    def _label_size(text: str, font: QFont) -> Size:
        if not text:
            return 4.0, 4.0
        width, height = text_size(text, font)
        return width + 2 * LABEL_PAD, height

    def _add_node(self, name: str, slot: Point, width: float, slot_width: float,
                  roles: tuple[bool, bool, bool]) -> None:
        """A node at its slot; `roles` says whether it is initial, ending and a decision."""
        left = slot[0] - slot_width / 2
        rect = QRectF(left, slot[1] - NODE_HEIGHT / 2, width, NODE_HEIGHT)
        node = NodeItem(name, rect, *roles)
        self._scene.addItem(node)
        self._nodes[name] = node

    def _add_flow_edge(self, edge: EdgeKey, route: list[Point], label_at: Point) -> None:
        source, target = self._nodes[edge[0]].node_rect(), self._nodes[edge[2]].node_rect()
        inner = [QPointF(*point) for point in route[1:-1]]
        start = port(source, inner[0])
        end = port(target, inner[-1])
        path, direction = layered_path([start, *inner, end])
        text = self.edge_label(edge)
        label = EdgeLabel(text, QPointF(*label_at)) if text else None
        self._add_edge_item(edge, EdgeItem(path, end, direction, label))

    def _add_loops(self, name: str, loops: list[EdgeKey]) -> None:
        rect = self._nodes[name].node_rect()
        line_height = text_size("Ag", font(LABEL_FONT_PX))[1]
        label_x = rect.right() + loop_extent(len(loops))
        for index, edge in enumerate(loops):
            path, tip, direction = loop_path(rect, index)
            label_y = rect.center().y() + (index - (len(loops) - 1) / 2) * line_height
            text = self.edge_label(edge)
            label = EdgeLabel(text, QPointF(label_x, label_y), centred=False) if text else None
            self._add_edge_item(edge, EdgeItem(path, tip, direction, label))

    def _add_edge_item(self, edge: EdgeKey, item: EdgeItem) -> None:
        shown = self.edge_label(edge)
        branch = f"\nbranch: {shown}" if shown != edge[1] else ""
        item.setToolTip(f"{edge[0]} → {edge[2]}\nintent: {edge[1] or '—'}{branch}")
        item.add_to(self._scene)
        self._edges[edge] = item

    def edge_label(self, edge: EdgeKey) -> str:
        """The label an edge shows: its intent, or its branch's case values."""
        return self._labels.get(edge, edge[1])

    def _clear(self) -> None:
        self._scene.clear()
        self._labels = {}
        self._nodes: dict[str, NodeItem] = {}
        self._edges: dict[EdgeKey, EdgeItem] = {}
        self._forced_extra: dict[tuple[str, str], EdgeItem] = {}
        self._current: str | None = None
        self._visited: set[str] = set()
        self._legend.show_coverage(False)

    # --- live call marks

    def set_current(self, state: str) -> None:
        """Highlight the call's current state (it also counts as visited); unknown names clear it."""
        previous, self._current = self._current, state if state in self._nodes else None
        if self._current is not None:
            self._visited.add(self._current)
        for name in {previous, self._current}:
            if name is not None:
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

    def _forced_edge(self, source: str, target: str) -> EdgeItem:
        key = (source, target)
        if key not in self._forced_extra:
            others = [node.node_rect().adjusted(-2, -2, 2, 2) for name, node in self._nodes.items()
                      if name not in key]
            item = self._make_forced_edge(self._nodes[source].node_rect(), self._nodes[target].node_rect(),
                                          others)
            item.setToolTip(f"{source} → {target}\nforced (no such transition in the schema)")
            item.add_to(self._scene)
            self._forced_extra[key] = item
            if self._view.auto_fit:  # the legend may now cover the new edge: place it again
                self.fit()
        return self._forced_extra[key]

    @staticmethod
    def _make_forced_edge(source: QRectF, target: QRectF, others: list[QRectF]) -> EdgeItem:
        """A forced move's curve, bowed as little as it can be while passing through no other node."""
        if source == target:
            path, tip, direction = loop_path(source, 0)
            return EdgeItem(path, tip, direction, None, Z_FORCED)
        curves = [forced_curve(source, target, bend) for bend in FORCED_BENDS]
        path, tip, direction = next((curve for curve in curves if not crosses(curve[0], others)), curves[0])
        return EdgeItem(path, tip, direction, None, Z_FORCED)

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

    def is_decision(self, state: str) -> bool:
        return self._nodes[state].decision

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

    def edge_path(self, edge: EdgeKey) -> QPainterPath:
        """An edge's line, in scene coordinates."""
        return self._edges[edge].path()

    def forced_extra_path(self, source: str, target: str) -> QPainterPath:
        """The line of a temporary forced edge, in scene coordinates."""
        return self._forced_extra[(source, target)].path()

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


__all__ = ["StateGraphPanel"]

