"""Bar charts drawn on the server: the geometry here, the SVG in templates/admin/_chart.html.

Bars run across, one row per label, so a long list of weeks grows the chart downwards and it stays
legible on a phone. Colours keep at least 4.5:1 against white, and every chart sits beside a table
with the same figures (its accessible equivalent); the SVG carries a title and a description.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 360  # the viewBox width: drawn 1:1 at a phone's width, scaled up beyond
LABEL_WIDTH = 68
VALUE_ROOM = 52  # room right of the longest bar for its value
ROW_HEIGHT = 22
BAR_HEIGHT = 16
LEGEND_HEIGHT = 24


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    values: Sequence[float]


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    colour: str
    tooltip: str


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    bars: list[Bar]
    value_x: float
    value: str


@dataclass(frozen=True)
class BarChart:
    slug: str  # unique on the page: the ids of its title and description
    title: str
    description: str
    legend: list[Series]
    rows: list[Row]
    height: int
    axis_x: float = LABEL_WIDTH
    reference_x: float | None = None  # a line across every row, e.g. at 100 %
    reference_label: str = ""
    width: int = WIDTH


def stacked_bars(
    slug: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    value_text: Callable[[int], str],
    *,
    scale_to: float = 0,
    reference: tuple[float, str] | None = None,
) -> BarChart:
    """A row per label with the series' values stacked left to right; `value_text(i)` is written after
    row i's bar. The scale runs to the largest stack (or `scale_to`, if larger)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    largest = max([scale_to, *totals, reference[0] if reference else 0]) or 1
    plot = WIDTH - LABEL_WIDTH - VALUE_ROOM
    scale = plot / largest
    rows = []
    for i, label in enumerate(labels):
        x, bars = float(LABEL_WIDTH), []
        for s in series:
            width = s.values[i] * scale
            if width > 0:
                bars.append(Bar(x, width, s.colour, f"{label}, {s.name}: {s.values[i]:g}"))
            x += width
        rows.append(Row(label, LEGEND_HEIGHT + i * ROW_HEIGHT, bars, x + 4, value_text(i)))
    reference_x = LABEL_WIDTH + reference[0] * scale if reference else None
    height = LEGEND_HEIGHT + len(labels) * ROW_HEIGHT + 4
    return BarChart(
        slug,
        title,
        description,
        list(series) if len(series) > 1 else [],  # one series: the title says what it is
        rows,
        height,
        reference_x=reference_x,
        reference_label=reference[1] if reference else "",
    )
