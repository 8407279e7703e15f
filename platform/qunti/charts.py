"""Tiny server-rendered SVG charts: no script, labels escaped, readable on a phone."""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 150
BAR_WIDTH = 200
VALUE_WIDTH = 60
COLOR = "#c8102e"
TRACK = "#eef0f3"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(bars: Sequence[tuple[str, float | None]], *, title: str, maximum: float | None = None,
              percent: bool = False) -> Markup:
    """Horizontal bars, one per ``(label, value)``; a ``None`` value shows as "—" with no bar.

    ``percent`` reads values as fractions (0.5 → "50%") on a 0–100% axis.
    """
    top = maximum if maximum is not None else (1.0 if percent else max([v or 0 for _, v in bars] + [0]))
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = max(len(bars), 1) * (BAR_HEIGHT + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(bars):
        y = GAP + index * (BAR_HEIGHT + GAP)
        middle = y + BAR_HEIGHT / 2
        text = "—" if value is None else (_number(value * 100) + "%" if percent else _number(value))
        length = 0 if value is None or top <= 0 else max(0.0, min(1.0, value / top)) * BAR_WIDTH
        short = label if len(label) <= 10 else label[:9] + "…"
        parts.append(
            f'<g><title>{escape(label)}：{escape(text)}</title>'
            f'<text x="{LABEL_WIDTH - 6}" y="{middle}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="12">{escape(short)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" fill="{TRACK}"/>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{COLOR}"/>'
            f'<text x="{LABEL_WIDTH + BAR_WIDTH + 6}" y="{middle}" dominant-baseline="middle" '
            f'font-size="12">{escape(text)}</text></g>')
    if not bars:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12">暂无数据</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
