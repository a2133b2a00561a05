"""One figure style for the book: figures sized for the page's content column.

The book's content column is about 800 px wide at a 1400 px window (sphinx-book-theme;
measured with ``scripts/page_check.py``). The inline backend draws at ``figure.dpi``
(100 here), so a figure `WIDTH` inches wide fills the column at its own scale: a font
of ``p`` points shows as ``p * 100 / 72`` px, and the smallest font used here (9 pt)
is 12.5 px on the page. A wider figure is scaled down by the browser and its text
with it (an 13-inch figure with 7-pt labels shows them at ~6 px).

Use::

    from anpolicy.report import style

    with style.context():
        fig, ax = style.subplots(1, 2)
        ...
        style.thin_ticks(ax.xaxis, labels)

`apply()` sets the same parameters globally (for a notebook's own figures).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

COLUMN_PX = 800  # figure width in px: the content column is 848 px at a 1400 px window
DPI = 100  # the inline backend's figure.dpi
WIDTH = COLUMN_PX / DPI  # inches: a figure this wide fills the column without scaling
MIN_FONT_PT = 9.0  # the smallest font on any figure (12.5 px on the page)
ROW_HEIGHT = 3.0  # inches per row of panels

RC: dict[str, object] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": (WIDTH, ROW_HEIGHT),
    "font.size": 10.0,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10.0,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 11.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}


def figsize(rows: int = 1, height: float | None = None, width: float = 1.0) -> tuple[float, float]:
    """(width, height) in inches: ``width`` is a share of the column (<= 1)."""
    if not 0 < width <= 1:
        raise ValueError(f"width is a share of the column, in (0, 1]; got {width}")
    return (WIDTH * width, height if height is not None else ROW_HEIGHT * rows)


def apply() -> None:
    """Set the book's style globally (matplotlib's rcParams)."""
    mpl.rcParams.update(RC)


@contextlib.contextmanager
def context() -> Iterator[None]:
    """The book's style for the figures drawn inside the ``with`` block."""
    with mpl.rc_context(RC):
        yield


def subplots(nrows: int = 1, ncols: int = 1, height: float | None = None, **kw):
    """`plt.subplots` at the column's width (call inside `context`)."""
    kw.setdefault("figsize", figsize(nrows, height))
    return plt.subplots(nrows, ncols, **kw)


def thin_ticks(
    axis, ticks: Sequence[float], labels: Sequence[str] | None = None, rotation: float = 0.0
) -> list[str]:
    """Put ``ticks`` on ``axis`` (``ax.xaxis`` or ``ax.yaxis``; call after the data are
    drawn, so the limits are final) and label only those that fit: going from the first,
    a label is kept when it is at least one label's footprint (at `MIN_FONT_PT`, with
    ``rotation`` degrees) away from the last kept one, on the axis' own scale (log axes
    included); the last tick keeps its label. Returns the labels kept."""
    ticks = np.asarray(ticks, dtype=float)
    labels = [f"{t:g}" for t in ticks] if labels is None else [str(s) for s in labels]
    if len(labels) != len(ticks):
        raise ValueError("one label per tick")
    ax = axis.axes
    fig = ax.figure
    box = ax.get_position()
    horizontal = axis.axis_name == "x"
    length = box.width * fig.get_figwidth() if horizontal else box.height * fig.get_figheight()
    em = MIN_FONT_PT / 72
    longest = max((len(s) for s in labels), default=1)
    across = abs(math.sin(math.radians(rotation))) if horizontal else 1.0
    # a label's footprint along the axis, in inches: ~0.55 em a character, 1.4 em a line
    text_len = (0.55 * longest + 0.5) * em
    per = max(1.4 * em, text_len * (1 - across)) if horizontal else 1.4 * em
    fwd = axis.get_transform().transform
    pos = fwd(ticks.reshape(-1, 1)).ravel()
    lo, hi = sorted(fwd(np.asarray(axis.get_view_interval(), float).reshape(-1, 1)).ravel())
    gap = per / length * (hi - lo)
    shown, kept = [""] * len(labels), []
    for i, p in enumerate(pos):
        if not kept or abs(p - pos[kept[-1]]) >= gap:
            kept.append(i)
    if kept and kept[-1] != len(pos) - 1:  # keep the last tick's label, not its neighbour's
        if len(kept) > 1 and abs(pos[-1] - pos[kept[-1]]) < gap:
            kept.pop()
        kept.append(len(pos) - 1)
    for i in kept:
        shown[i] = labels[i]
    axis.set_ticks(list(ticks), shown)
    if horizontal and rotation:
        for t in axis.get_ticklabels():
            t.set_rotation(rotation)
            t.set_ha("right")
    return [s for s in shown if s]


def smallest_font(fig) -> float:
    """The smallest font size (pt) of any visible text on ``fig``."""
    sizes = [
        t.get_fontsize()
        for t in fig.findobj(mpl.text.Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return min(sizes, default=float("inf"))


def _overlap(ta, tb, renderer) -> bool:
    """Whether two tick labels' glyphs overlap. Unrotated: their boxes. Rotated by the
    same angle: parallel strips one font-height wide, so they overlap when the anchors'
    distance across the strips is under that height."""
    angle = ta.get_rotation() % 180
    if angle < 5 or angle > 175:
        return ta.get_window_extent(renderer).overlaps(tb.get_window_extent(renderer))
    pa = ta.get_window_extent(renderer)
    pb = tb.get_window_extent(renderer)
    height = ta.get_fontsize() * ta.figure.dpi / 72

    dx = abs(pa.x1 - pb.x1) if ta.get_ha() == "right" else abs(pa.x0 - pb.x0)
    dy = abs(pa.y1 - pb.y1)
    d = max(dx, dy) * math.sin(math.radians(angle if angle <= 90 else 180 - angle))
    return d < 0.9 * height


def overlapping_ticks(fig) -> list[str]:
    """Tick labels that overlap a neighbour on the drawn figure: ``"<axis>: a / b"``."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            for i, ta in enumerate(labels):
                for tb in labels[i + 1 :]:
                    if _overlap(ta, tb, renderer):
                        found.append(f"{axis.axis_name}: {ta.get_text()!r} / {tb.get_text()!r}")
    return found


def check_figure(fig) -> list[str]:
    """What makes ``fig`` unreadable at the column's width: too wide (it would be scaled
    down), text smaller than `MIN_FONT_PT`, or overlapping tick labels. Empty when it
    is fine."""
    problems = [f"overlapping tick labels {o}" for o in overlapping_ticks(fig)]
    w = fig.get_figwidth()
    if w > WIDTH + 1e-6:
        problems.append(f"{w:.1f} in wide (the column is {WIDTH:.1f} in at {DPI} dpi)")
    small = smallest_font(fig)
    if small < MIN_FONT_PT - 1e-6:
        problems.append(f"text at {small:g} pt (at least {MIN_FONT_PT:g})")
    return problems
