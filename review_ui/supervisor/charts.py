"""Small inline SVG charts drawn on the server: no chart library in the browser, nothing from a CDN, CSP-clean.

Colours are SVG presentation attributes, not style attributes, so the page's CSP needs no 'unsafe-inline'.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

INK = "#1d2330"
MUTED = "#667"
GRID = "#d6d9de"
LINE = "#1565c0"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"


def line_chart(
    values: Sequence[float], title: str, first: str, last: str, *, width: int = 720, height: int = 180
) -> Markup:
    """Evenly spaced values as one polyline; `first` and `last` name the x axis ends."""
    left, right, top, bottom = 40, 10, 20, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(values, default=0.0) or 1.0
    step = plot_w / max(len(values) - 1, 1)
    coords = " ".join(
        f"{left + i * step:.1f},{top + plot_h - value / peak * plot_h:.1f}" for i, value in enumerate(values)
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="13" fill="{INK}" {FONT}>{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GRID}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{GRID}"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" fill="{MUTED}" {FONT}>{_number(peak)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" fill="{MUTED}" {FONT}>0</text>',
    ]
    if values:
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
        parts.append(
            f'<text x="{left}" y="{height - 6}" fill="{MUTED}" {FONT}>{escape(first)}</text>'
            f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" fill="{MUTED}" {FONT}>'
            f"{escape(last)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every piece of text above is escaped


def bar_chart(
    bars: Sequence[tuple[str, float]], title: str, *, width: int = 360, colour: str = LINE, row_h: int = 18
) -> Markup:
    """Horizontal bars with their labels and values, one row each."""
    label_w, top = 120, 20
    height = top + row_h * max(len(bars), 1) + 6
    peak = max((value for _, value in bars), default=0.0) or 1.0
    bar_room = width - label_w - 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="13" fill="{INK}" {FONT}>{escape(title)}</text>',
    ]
    if not bars:
        parts.append(f'<text x="0" y="{top + 12}" fill="{MUTED}" {FONT}>no data</text>')
    for i, (label, value) in enumerate(bars):
        y = top + i * row_h
        length = value / peak * bar_room
        shown = label if len(label) <= 18 else label[:17] + "…"
        parts.append(
            f'<text x="0" y="{y + 12}" fill="{INK}" {FONT}>{escape(shown)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{length:.1f}" height="{row_h - 5}" fill="{colour}"/>'
            f'<text x="{label_w + length + 4:.1f}" y="{y + 12}" fill="{MUTED}" {FONT}>{_number(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every piece of text above is escaped
