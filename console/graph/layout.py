"""Where the state graph's nodes, edges and labels go (no Qt).

Layout: grandalf's Sugiyama (pure Python, no Graphviz binary needed), top to bottom. Every edge
label is a layout vertex of its own, so labels get a slot in the layer between two node layers and
never sit on a node; parallel edges get one label slot each and therefore separate paths. Edges
that close a cycle are laid out reversed and drawn upwards; self-loops sit on a node's right side,
in room reserved in the node's slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

X_SPACE = 18.0
Y_SPACE = 9.0

EdgeKey = tuple[str, str, str]  # (source, intent, target)
Point = tuple[float, float]
Size = tuple[float, float]

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


def _layout_component(component: Graph, initial: Vertex | None) -> dict[Edge, list[Point]]:
    layout = SugiyamaLayout(component)
    layout.xspace, layout.yspace = X_SPACE, Y_SPACE
    layout.dw = layout.dh = 8.0
    roots = [initial] if initial in component.sV else None
    layout.init_all(roots=roots, inverted_edges=[])
    layout.draw()
    for layer in layout.layers:
        _separate(layer)
    return {edge: _bend_points(layout, edge) for edge in component.sE}


def _separate(layer: list[Vertex]) -> None:
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


def _shift_to(component: Graph, bends: dict[Edge, list[Point]], left: float) -> float:
    """Move a component so its left edge is at `left`; returns its right edge."""
    vertices = list(component.sV)
    offset = left - min(v.view.xy[0] - v.view.w / 2 for v in vertices)
    for v in vertices:
        v.view.xy = (v.view.xy[0] + offset, v.view.xy[1])
    for edge, points in bends.items():
        bends[edge] = [(x + offset, y) for x, y in points]
    right: float = max(v.view.xy[0] + v.view.w / 2 for v in vertices)
    return right


def _route(pair: tuple[Edge, Edge], bends: dict[Edge, list[Point]], upward: bool) -> list[Point]:
    upper, lower = pair
    points = ([upper.v[0].view.xy, *bends[upper], upper.v[1].view.xy, *bends[lower], lower.v[1].view.xy])
    return points[::-1] if upward else points
