"""Server-side SVG charts for the home page: no JavaScript, no CDN, every label escaped.

Each function returns Markup of one <svg>. Text comes from the database (topics, department names) and is
escaped with markupsafe; colours are presentation attributes (allowed by the CSP, unlike style="").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

CHANNEL_COLOURS = {"hotline": "#b3261e", "website": "#0b57d0", "weibo": "#e8710a", "disclosure": "#1e7b34"}
FALLBACK_COLOURS = ("#6b4fbb", "#00838f", "#9e9d24", "#5d4037")
FONT = 'font-family="Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif"'


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" class="chart" {FONT}>'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text_width(text: str, size: int) -> int:
    """About how wide `text` is drawn: a CJK character is a full em, a Latin letter about half of one."""
    return sum(size if ord(ch) > 0x2E7F else (size * 6) // 10 for ch in text)


def _nice_step(value: int, ticks: int = 4) -> int:
    """The smallest 1/2/5×10ⁿ step such that `ticks` steps reach `value` (so every gridline is a whole number)."""
    need = max(1, -(-value // ticks))
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= need:
                return step * magnitude
        magnitude *= 10


def weekly_by_channel(
    weeks: Sequence[tuple[date, dict[str, int]]],
    channel_labels: dict[str, str],
    *,
    title: str = "每周收到工单（按渠道）",
) -> Markup:
    """A stacked bar per week, one colour per channel, with a legend."""
    width, height, left, bottom, top = 1100, 280, 44, 36, 34
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(counts.values()) for _, counts in weeks]
    step = _nice_step(max(totals, default=0))
    peak = step * 4
    body: list[str] = []
    for i in range(5):
        value = step * i
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#dde3ea"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="13" text-anchor="end" fill="#6b7785">{value}</text>'
        )
    slot = plot_w / max(len(weeks), 1)
    bar_w = slot * 0.66
    codes = list(channel_labels)
    for index, (monday, counts) in enumerate(weeks):
        x = left + slot * index + (slot - bar_w) / 2
        y = top + plot_h
        for n_code, code in enumerate(codes):
            n = counts.get(code, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            colour = CHANNEL_COLOURS.get(code, FALLBACK_COLOURS[n_code % len(FALLBACK_COLOURS)])
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(monday.isoformat())} {escape(channel_labels[code])}：{n}</title></rect>"
            )
        if index % 2 == 0 or len(weeks) <= 8:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" font-size="13" text-anchor="middle" '
                f'fill="#6b7785">{monday.month}/{monday.day}</text>'
            )
    lx = left
    for n_code, code in enumerate(codes):
        colour = CHANNEL_COLOURS.get(code, FALLBACK_COLOURS[n_code % len(FALLBACK_COLOURS)])
        body.append(f'<rect x="{lx}" y="8" width="12" height="12" fill="{colour}"/>')
        body.append(
            f'<text x="{lx + 16}" y="20" font-size="14" fill="#1f2933">{escape(channel_labels[code])}</text>'
        )
        lx += 24 + _text_width(channel_labels[code], 14)
    return _svg(width, height, title, body)


def rate_gauge(numerator: int, denominator: int, *, title: str = "按期办结率") -> Markup:
    """A half-ring with the percentage and the raw figures (numerator / denominator) beneath."""
    width, height = 300, 190
    ratio = numerator / denominator if denominator else 0.0
    colour = "#1e7b34" if ratio >= 0.95 else "#b26a00" if ratio >= 0.85 else "#b3261e"
    import math

    cx, cy, r = 150, 140, 100
    angle = math.pi * (1 - ratio)
    end_x, end_y = cx + r * math.cos(angle), cy - r * math.sin(angle)
    body = [
        f'<path d="M {cx - r} {cy} A {r} {r} 0 0 1 {cx + r} {cy}" fill="none" stroke="#eef2f6" stroke-width="22"/>',
    ]
    if denominator and numerator:
        body.append(
            f'<path d="M {cx - r} {cy} A {r} {r} 0 0 1 {end_x:.2f} {end_y:.2f}" fill="none" '
            f'stroke="{colour}" stroke-width="22"/>'
        )
    text = f"{ratio * 100:.1f}%" if denominator else "—"
    body.append(
        f'<text x="{cx}" y="{cy - 10}" font-size="30" font-weight="700" text-anchor="middle" fill="{colour}">{text}</text>'
    )
    body.append(
        f'<text x="{cx}" y="{cy + 34}" font-size="14" text-anchor="middle" fill="#6b7785">'
        f"{numerator} / {denominator}</text>"
    )
    return _svg(width, height, title, body)


def horizontal_bars(
    items: Sequence[tuple[str, int]], *, title: str, colour: str = "#0b57d0", empty: str = "暂无数据"
) -> Markup:
    """One bar per (label, value), longest first as given."""
    row_h, label_w, width = 30, 118, 360
    height = max(len(items), 1) * row_h + 10
    peak = max((v for _, v in items), default=0) or 1
    body: list[str] = []
    if not items:
        body.append(f'<text x="10" y="22" font-size="13" fill="#6b7785">{escape(empty)}</text>')
    for index, (label, value) in enumerate(items):
        y = 5 + index * row_h
        w = (width - label_w - 40) * value / peak
        shown = label if len(label) <= 8 else label[:7] + "…"
        body.append(
            f'<text x="{label_w - 8}" y="{y + 20}" font-size="14" text-anchor="end" fill="#1f2933">'
            f"<title>{escape(label)}</title>{escape(shown)}</text>"
        )
        body.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 8}" fill="{colour}"/>'
        )
        body.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 20}" font-size="14" fill="#1f2933">{value}</text>'
        )
    return _svg(width, height, title, body)


def percent_bars(
    items: Sequence[tuple[str, float | None, str, bool]],
    *,
    title: str,
    width: int = 520,
    empty: str = "暂无数据",
) -> Markup:
    """One bar per (label, value 0–1 or None, caption, higher is better), the value as a percentage and
    the caption (e.g. "95 / 100") beside it; green, amber or red by how good the value is (a 回退率 of 1 %
    is good). The assessment page draws its rates and its units' scores (÷ 100) with it."""
    row_h, label_w = 30, 150
    height = max(len(items), 1) * row_h + 10
    plot_w = width - label_w - 150
    body: list[str] = []
    if not items:
        body.append(f'<text x="10" y="22" font-size="13" fill="#6b7785">{escape(empty)}</text>')
    for index, (label, value, caption, higher_is_better) in enumerate(items):
        y = 5 + index * row_h
        shown = label if len(label) <= 10 else label[:9] + "…"
        body.append(
            f'<text x="{label_w - 8}" y="{y + 20}" font-size="14" text-anchor="end" fill="#1f2933">'
            f"<title>{escape(label)}</title>{escape(shown)}</text>"
        )
        body.append(f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="{row_h - 8}" fill="#eef2f6"/>')
        if value is None:
            text = "—"
        else:
            good = value if higher_is_better else 1 - value
            colour = "#1e7b34" if good >= 0.95 else "#b26a00" if good >= 0.85 else "#b3261e"
            w = plot_w * max(0.0, min(1.0, value))
            body.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 8}" fill="{colour}"/>'
            )
            text = f"{value * 100:.1f}%"
        body.append(
            f'<text x="{label_w + plot_w + 8}" y="{y + 20}" font-size="14" fill="#1f2933">{escape(text)}'
            f'<tspan fill="#6b7785" font-size="12"> {escape(caption)}</tspan></text>'
        )
    return _svg(width, height, title, body)
