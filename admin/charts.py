"""The geometry of the console's charts: a series of numbers in, SVG coordinates and axis ticks out.

The charts are drawn on the server (``templates/admin/charts.html`` turns these shapes into SVG): no chart library
and no script, which the console's Content-Security-Policy would refuse anyway. This module only places marks
in a fixed ``viewBox`` (the stylesheet scales the SVG to its column); it knows nothing of what the numbers mean,
and their labels and hover texts come from the caller (the copy lives in ``core.texts``).

Scales: bars start at zero (a bar's length is its value). A line's axis is fitted to its range, because a total of
a million that moves by a few hundred a week would otherwise draw a flat line; its tick labels say where it starts.
Ticks fall on 1, 2 or 5 times a power of ten, at most ``TICKS`` + 1 of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 14, 30  # margins: tick labels on the left, week labels below
TICKS = 4
BAR_FILL = 0.7  # share of its slot a bar takes


@dataclass(frozen=True)
class Mark:
    """One value: a point of a line (``x``, ``y``) or a bar (``x``, ``y`` top-left, ``width``, ``height``)."""

    x: float
    y: float
    width: float
    height: float
    title: str  # the hover text: the exact number


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    kind: str  # "line" or "bar"
    marks: list[Mark]
    ticks: list[Tick]
    labels: list[Label]  # along the bottom axis
    path: str  # the line through the marks ("" for bars, or a line with fewer than two points)
    empty: bool  # no value at all: the template says so instead of drawing axes around nothing
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = HEIGHT - BOTTOM


def nice_scale(low: int, high: int, *, zero: bool) -> tuple[int, int, int]:
    """``(bottom, top, step)`` of an axis covering ``low``..``high`` in whole steps of 1, 2 or 5 × 10^k."""
    if zero or low < 0:
        low = 0
    if high <= low:
        high = low + max(1, abs(low) // 10)
    raw = (high - low) / TICKS
    magnitude = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    bottom = (low // step) * step
    top = -(-high // step) * step
    if top == bottom:
        top = bottom + step
    return bottom, top, step


def _number(value: int) -> str:
    return f"{value:,}"


def _labels(slots: Sequence[float], texts: Sequence[str], every: int) -> list[Label]:
    """Every ``every``-th label, counted back from the newest (the one a reader looks for)."""
    last = len(texts) - 1
    return [Label(x, text) for i, (x, text) in enumerate(zip(slots, texts, strict=True)) if (last - i) % every == 0]


def _every(count: int) -> int:
    return max(1, math.ceil(count / 7))


def line(labels: Sequence[str], values: Sequence[int | None], titles: Sequence[str]) -> Chart:
    """A line through the known ``values`` (None: not counted, no point), axis fitted to their range."""
    known = [v for v in values if v is not None]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(values)
    xs = [LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2) for i in range(n)]
    if not known:
        return Chart("line", [], [], _labels(xs, labels, _every(n)), "", True)
    spread = max(known) - min(known)
    bottom, top, step = nice_scale(min(known) - spread // 10, max(known) + spread // 10, zero=False)

    def y(value: int) -> float:
        return round(TOP + plot_h * (1 - (value - bottom) / (top - bottom)), 1)

    marks = [Mark(round(x, 1), y(v), 0, 0, t) for x, v, t in zip(xs, values, titles, strict=True) if v is not None]
    path = " ".join(f"{'M' if i == 0 else 'L'}{m.x},{m.y}" for i, m in enumerate(marks)) if len(marks) > 1 else ""
    ticks = [Tick(y(v), _number(v)) for v in range(bottom, top + 1, step)]
    return Chart("line", marks, ticks, _labels([round(x, 1) for x in xs], labels, _every(n)), path, False)


def bars(labels: Sequence[str], values: Sequence[int], titles: Sequence[str]) -> Chart:
    """One bar per value, from zero. All zeros still draws the axis (a quiet week is information)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(values))
    slot = plot_w / n
    bottom, top, step = nice_scale(0, max(values, default=0), zero=True)
    baseline = TOP + plot_h
    marks = []
    for i, (value, title) in enumerate(zip(values, titles, strict=True)):
        height = round(plot_h * value / top, 1)
        x = LEFT + slot * i + slot * (1 - BAR_FILL) / 2
        marks.append(Mark(round(x, 1), round(baseline - height, 1), round(slot * BAR_FILL, 1), height, title))
    ticks = [Tick(round(TOP + plot_h * (1 - v / top), 1), _number(v)) for v in range(bottom, top + 1, step)]
    centres = [round(LEFT + slot * (i + 0.5), 1) for i in range(len(values))]
    return Chart("bar", marks, ticks, _labels(centres, labels, _every(len(values))), "", not values)
