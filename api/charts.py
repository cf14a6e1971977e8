"""Server-rendered SVG charts (no script, no inline style: presentation attributes only, so the strict CSP
holds): items per week or month of a search."""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

MAX_BARS = 156  # three years of weeks; older periods are summed into the first bar's label range


def _next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def _next_week(period: str) -> str:
    year, week = int(period[:4]), int(period[6:])
    monday = date.fromisocalendar(year, week, 1) + timedelta(days=7)
    y, w, _ = monday.isocalendar()
    return f"{y:04d}-W{w:02d}"


def filled(periods: list[tuple[str, int]], interval: str) -> list[tuple[str, int]]:
    """`periods` (oldest first, only those with items) with the empty periods between them as zeros;
    at most MAX_BARS of the newest."""
    if not periods:
        return []
    step = _next_week if interval == "week" else _next_month
    counts = dict(periods)
    out: list[tuple[str, int]] = []
    current, last = periods[0][0], periods[-1][0]
    while True:
        out.append((current, counts.get(current, 0)))
        if current >= last or len(out) > 10_000:
            break
        current = step(current)
    return out[-MAX_BARS:]


def _nice_max(value: int) -> int:
    if value <= 5:
        return max(value, 1)
    magnitude = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return value


def bar_chart(periods: list[tuple[str, int]], *, interval: str, label: str, width: int = 720,
              height: int = 220, approximate: bool = False) -> Markup:
    """An accessible SVG bar chart (role=img with a text alternative; each bar has a <title>)."""
    data = filled(periods, interval)
    if not data:
        return Markup("")
    left, right, top, bottom = 44, 8, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max(n for _, n in data))
    bar_w = plot_w / len(data)
    total = sum(n for _, n in data)
    about = "about " if approximate else ""
    busiest = max(data, key=lambda d: d[1])
    summary = (f"{label}: {about}{total:,} items over {len(data)} {interval}s from {data[0][0]} to {data[-1][0]}; "
               f"most in {busiest[0]} ({about}{busiest[1]:,}).")
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(label)}</title><desc id="chart-desc">{escape(summary)}</desc>',
    ]
    for tick in (0, peak // 2, peak) if peak > 1 else (0, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{tick:,}</text>')
    every = max(1, round(len(data) / 8))
    inner = min(max(bar_w * 0.8, 1), 48)  # a few bars stay bars, not slabs
    for i, (period, n) in enumerate(data):
        h = plot_h * n / peak
        x = left + i * bar_w
        parts.append(
            f'<rect x="{x + (bar_w - inner) / 2:.1f}" y="{top + plot_h - h:.1f}" width="{inner:.1f}" '
            f'height="{h:.1f}" class="bar"><title>{escape(period)}: {about}{n:,}</title></rect>'
        )
        if i % every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 12}" text-anchor="middle" '
                         f'class="axis">{escape(period)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or a number
