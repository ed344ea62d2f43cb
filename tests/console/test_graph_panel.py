"""The state-graph panel: layout, live marks, coverage overlay, forcing and zoom."""

from __future__ import annotations

from itertools import combinations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest

from console.graph.layout import feedback_edges, layout_graph
from console.panels.graph import StateGraphPanel

STATES = ["greeting", "verify", "menu", "refill", "confirm_refill", "schedule", "pick_time", "goodbye",
          "transfer", "voicemail"]
EDGES = [
    ("greeting", "is_patient", "verify"), ("greeting", "machine", "voicemail"),
    ("greeting", "not_available", "voicemail"),  # parallel to "machine"
    ("verify", "verified", "menu"), ("verify", "unclear", "verify"),  # self-loop
    ("verify", "failed", "transfer"), ("menu", "wants_refill", "refill"),
    ("menu", "wants_appointment", "schedule"), ("menu", "done", "goodbye"),
    ("refill", "names_drug", "confirm_refill"), ("confirm_refill", "yes", "menu"),  # back edge
    ("confirm_refill", "no", "refill"), ("schedule", "gives_day", "pick_time"),
    ("pick_time", "agrees", "menu"), ("pick_time", "repeat", "pick_time"), ("schedule", "cannot", "transfer"),
]
ENDINGS = {"goodbye", "transfer", "voicemail"}



@pytest.fixture
def panel(qtbot) -> StateGraphPanel:
    widget = StateGraphPanel()
    qtbot.addWidget(widget)
    widget.resize(600, 500)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_graph(STATES, EDGES, "greeting", ENDINGS)
    return widget


def test_every_state_is_laid_out_apart(panel: StateGraphPanel) -> None:
    assert panel.states() == STATES
    rects = {state: panel.node_rect(state) for state in STATES}
    assert len({(r.center().x(), r.center().y()) for r in rects.values()}) == len(STATES)
    for (a, rect_a), (b, rect_b) in combinations(rects.items(), 2):
        assert not rect_a.intersects(rect_b), (a, b)


def test_every_edge_is_drawn_with_its_label_clear_of_the_nodes(panel: StateGraphPanel) -> None:
    assert panel.drawn_edges() == set(EDGES)
    for edge in EDGES:
        label = panel.edge_label_rect(edge)
        assert label is not None and label.width() > 0
        assert not any(label.intersects(panel.node_rect(state)) for state in STATES), edge


def test_parallel_edges_get_separate_labels(panel: StateGraphPanel) -> None:
    machine = panel.edge_label_rect(("greeting", "machine", "voicemail"))
    not_available = panel.edge_label_rect(("greeting", "not_available", "voicemail"))
    assert not machine.intersects(not_available)


def test_states_are_layered_from_the_initial_state_down(panel: StateGraphPanel) -> None:
    top = panel.node_rect("greeting").center().y()
    assert all(panel.node_rect(state).center().y() > top for state in STATES if state != "greeting")
    assert panel.node_rect("menu").center().y() > panel.node_rect("verify").center().y()


def test_layout_reverses_only_the_edges_that_close_a_cycle() -> None:
    edges = [("a", "x", "b"), ("b", "y", "c"), ("c", "z", "a"), ("a", "w", "c")]
    assert feedback_edges(["a", "b", "c"], edges, "a") == {("c", "z", "a")}
    layout = layout_graph({"a": (40, 20), "b": (40, 20), "c": (40, 20)}, {e: (20, 10) for e in edges}, "a")
    back_route = layout.routes[("c", "z", "a")]
    assert back_route[0] == layout.slots["c"] and back_route[-1] == layout.slots["a"]
    assert back_route[0][1] > back_route[-1][1]


def test_set_current_moves_the_highlight_and_leaves_a_visited_trail(panel: StateGraphPanel) -> None:
    assert panel.node_style("greeting") == "unvisited"
    panel.set_current("greeting")
    panel.set_current("verify")
    assert panel.node_style("verify") == "current"
    assert panel.node_style("greeting") == "visited"
    panel.mark_visited("menu")
    assert panel.node_style("menu") == "visited"
    panel.reset_marks()
    assert {panel.node_style(state) for state in STATES} == {"unvisited"}


def test_taken_and_forced_transitions_are_styled_apart(panel: StateGraphPanel) -> None:
    assert panel.edge_style("greeting", "verify") == "normal"
    panel.mark_transition("greeting", "verify", forced=False)
    panel.mark_transition("verify", "menu", forced=True)
    assert panel.edge_style("greeting", "verify") == "taken"
    assert panel.edge_style("verify", "menu") == "forced"
    panel.reset_marks()
    assert panel.edge_style("greeting", "verify") == panel.edge_style("verify", "menu") == "normal"


def test_an_intent_picks_one_of_parallel_edges(panel: StateGraphPanel) -> None:
    panel.mark_transition("greeting", "voicemail", forced=False, intent="machine")
    assert panel.edge_style("greeting", "voicemail", "machine") == "taken"
    assert panel.edge_style("greeting", "voicemail", "not_available") == "normal"


def test_a_forced_move_without_a_schema_edge_draws_a_temporary_edge(panel: StateGraphPanel) -> None:
    with pytest.raises(KeyError):
        panel.edge_style("refill", "goodbye")
    panel.mark_transition("refill", "goodbye", forced=True)
    assert panel.has_forced_extra_edge("refill", "goodbye")
    assert panel.edge_style("refill", "goodbye") == "forced"
    assert ("refill", "", "goodbye") not in panel.drawn_edges()
    panel.reset_marks()
    assert not panel.has_forced_extra_edge("refill", "goodbye")


def test_unknown_states_are_ignored(panel: StateGraphPanel) -> None:
    panel.set_current("nowhere")
    panel.mark_visited("nowhere")
    panel.mark_transition("greeting", "nowhere", forced=True)
    assert {panel.node_style(state) for state in STATES} == {"unvisited"}


def test_coverage_overlay_marks_and_clears(panel: StateGraphPanel) -> None:
    untaken = {("menu", "done", "goodbye"), ("verify", "unclear", "verify")}
    panel.set_coverage({"goodbye", "refill"}, untaken)
    assert panel.unreached_states() == {"goodbye", "refill"}
    assert panel.untested_edges() == untaken
    assert panel.legend_shows_coverage()
    panel.set_coverage({"refill"}, None)
    assert panel.unreached_states() == {"refill"} and panel.untested_edges() == set()
    panel.clear_coverage()
    assert panel.unreached_states() == set() and not panel.legend_shows_coverage()


def test_a_click_selects_the_state(panel: StateGraphPanel, qtbot) -> None:
    with qtbot.waitSignal(panel.stateSelected, timeout=1000) as blocker:
        QTest.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=panel.node_view_position("menu"))
    assert blocker.args == ["menu"]


def test_a_confirmed_double_click_requests_forcing(panel: StateGraphPanel, qtbot) -> None:
    asked: list[str] = []
    panel.confirm = lambda state: asked.append(state) or True
    with qtbot.waitSignal(panel.forceRequested, timeout=1000) as blocker:
        QTest.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton,
                          pos=panel.node_view_position("schedule"))
    assert blocker.args == ["schedule"]
    assert asked == ["schedule"]


def test_a_refused_double_click_requests_nothing(panel: StateGraphPanel, qtbot) -> None:
    asked: list[str] = []
    panel.confirm = lambda state: asked.append(state) and False
    with qtbot.assertNotEmitted(panel.forceRequested, wait=50):
        QTest.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton,
                          pos=panel.node_view_position("schedule"))
    assert asked == ["schedule"]


def test_forcing_can_be_disabled(panel: StateGraphPanel, qtbot) -> None:
    asked: list[str] = []
    panel.confirm = lambda state: asked.append(state) or True
    panel.set_force_enabled(False)
    with qtbot.assertNotEmitted(panel.forceRequested, wait=50):
        panel.request_force("menu")
    assert asked == []


def test_double_click_on_empty_space_requests_nothing(panel: StateGraphPanel, qtbot) -> None:
    panel.confirm = lambda state: True
    with qtbot.assertNotEmitted(panel.forceRequested, wait=50):
        QTest.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(2, 2))


def test_keys_and_wheel_zoom_and_fit_restores(panel: StateGraphPanel) -> None:
    fitted = panel.zoom_level()
    QTest.keyClick(panel.view, Qt.Key.Key_Plus)
    assert panel.zoom_level() > fitted
    QTest.keyClick(panel.view, Qt.Key.Key_Minus)
    QTest.keyClick(panel.view, Qt.Key.Key_Minus)
    assert panel.zoom_level() < fitted
    panel.fit()
    assert panel.zoom_level() == pytest.approx(fitted)
    _wheel(panel, +120)
    assert panel.zoom_level() > fitted


def test_fit_shows_the_whole_graph(panel: StateGraphPanel) -> None:
    panel.zoom_in()
    panel.fit()
    visible = panel.view.mapToScene(panel.view.viewport().rect()).boundingRect()
    for state in STATES:
        assert visible.contains(panel.node_rect(state)), state


def test_a_new_graph_replaces_the_old_one(panel: StateGraphPanel) -> None:
    panel.set_current("menu")
    panel.set_coverage({"menu"}, None)
    panel.set_graph(["a", "b"], [("a", "go", "b")], "a", {"b"})
    assert panel.states() == ["a", "b"]
    assert panel.drawn_edges() == {("a", "go", "b")}
    assert panel.node_style("a") == "unvisited" and panel.unreached_states() == set()


def _wheel(panel: StateGraphPanel, delta: int) -> None:
    viewport = panel.view.viewport()
    centre = QPointF(viewport.rect().center())
    global_centre = QPointF(viewport.mapToGlobal(centre.toPoint()))
    event = QWheelEvent(centre, global_centre, QPoint(0, 0), QPoint(0, delta), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    panel.view.wheelEvent(event)


def test_a_forced_edge_passes_through_no_other_node(panel: StateGraphPanel) -> None:
    panel.set_graph(["top", "middle", "bottom"], [("top", "on", "middle"), ("middle", "on", "bottom")],
                    "top", {"bottom"})
    assert panel.node_rect("top").center().x() == pytest.approx(panel.node_rect("middle").center().x())
    panel.mark_transition("top", "bottom", forced=True)  # the straight way runs through "middle"
    path = panel.forced_extra_path("top", "bottom")
    middle = panel.node_rect("middle")
    points = [path.pointAtPercent(step / 100) for step in range(101)]
    assert not any(middle.contains(point) for point in points)
    assert panel.node_rect("top").adjusted(-1, -1, 1, 1).contains(points[0])


def test_the_legend_covers_no_node_edge_or_label(panel: StateGraphPanel, qtbot) -> None:
    panel.mark_transition("greeting", "goodbye", forced=True)
    for size in ((600, 500), (600, 200), (360, 260), (900, 300)):  # at 600x200 only an edge is in its way
        panel.resize(*size)
        qtbot.waitUntil(lambda s=size: panel.size().toTuple() == s)
        panel.fit()
        legend = panel.view.legend_area()
        assert not any(legend.intersects(panel.node_rect(state)) for state in panel.states()), size
        labels = [panel.edge_label_rect(edge) for edge in panel.drawn_edges()]
        assert not any(legend.intersects(label) for label in labels if label is not None), size
        lines = [panel.edge_path(edge) for edge in panel.drawn_edges()]
        lines.append(panel.forced_extra_path("greeting", "goodbye"))
        assert not any(legend.contains(line.pointAtPercent(step / 100)) for line in lines
                       for step in range(101)), size


def test_a_new_graph_keeps_no_branch_label_of_the_old_one(panel: StateGraphPanel) -> None:
    edge = ("menu", "done", "goodbye")
    panel.set_graph(STATES, EDGES, "greeting", ENDINGS, labels={edge: "case: none"})
    assert panel.edge_label(edge) == "case: none"
    panel.set_graph(STATES, EDGES, "greeting", ENDINGS)
    assert panel.edge_label(edge) == "done"
