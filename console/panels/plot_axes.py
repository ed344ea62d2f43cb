"""A plot axis whose tick labels never crowd: as many ticks as its length has room for."""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg

MIN_TICK_GAP_PX = 24.0  # between two tick labels: a label's height and some air


def nice_step(span: float, most: int) -> float:
    """The smallest 1, 2, 5 x 10^k step that cuts `span` into at most `most` parts."""
    rough = span / max(most, 1)
    scale = 10.0 ** math.floor(math.log10(rough))
    return next(step * scale for step in (1.0, 2.0, 5.0, 10.0) if rough <= step * scale * (1 + 1e-9))


class SparseAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph ships no type hints
    """Major ticks only, at least MIN_TICK_GAP_PX apart, on a 1-2-5 step."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            result: list[tuple[float, float]] = super().tickSpacing(minVal, maxVal, size)
            return result
        return [(nice_step(span, int(size // MIN_TICK_GAP_PX)), 0.0)]

    def major_ticks(self) -> list[float]:
        """The major (always labelled) tick values for the axis's current range and length."""
        low, high = self.range
        ticks: Any = self.tickValues(low, high, self.height() if self.orientation in ("left", "right")
                                     else self.width())
        return [value for value in ticks[0][1] if low <= value <= high] if ticks else []
