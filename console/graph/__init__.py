"""The state graph's parts: the layout (no Qt), the scene items, the legend and the zoomable view.

`console.panels.graph.StateGraphPanel` puts them together.
"""
