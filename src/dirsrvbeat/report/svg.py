"""Small inline-SVG charts (no JavaScript, no network): time series, log-scale lines, bars.

Every chart is one `<svg class="chart-svg" data-chart=NAME>` with its data marks tagged
`class="mark"` (and a `<title>` each, the browser's tooltip), so a test can count what was drawn.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from html import escape
from typing import Any

PALETTE = ("#2f6fb3", "#e07b28", "#3a9a5b", "#c8443a", "#8a63b8", "#8c6d31", "#d15c9e", "#6b7b8c")
W, H = 920, 260
ML, MR, MT, MB = 64, 16, 16, 40  # margins: left, right, top, bottom


def _f(v: float) -> str:
    return f"{v:.1f}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks


TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
              172800, 604800)


def time_ticks(t0: float, t1: float, n: int = 7) -> list[float]:
    span = max(t1 - t0, 1)
    step = next((s for s in TIME_STEPS if span / s <= n), TIME_STEPS[-1])
    first = math.ceil(t0 / step) * step
    out = []
    t = first
    while t <= t1:
        out.append(t)
        t += step
    return out


def time_label(t: float, span: float) -> str:
    dt = datetime.fromtimestamp(t, timezone.utc)
    if span > 2 * 86400:
        return dt.strftime("%d %b %H:%M")
    if span > 600:
        return dt.strftime("%H:%M")
    return dt.strftime("%H:%M:%S")


def fmt_seconds(v: float) -> str:
    if v <= 0:
        return "0"
    if v < 1e-3:
        return f"{v * 1e6:.3g}µs"
    if v < 1:
        return f"{v * 1e3:.3g}ms"
    return f"{v:.3g}s"


def fmt_count(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.3g}M"
    if v >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:g}"


class Frame:
    """Plot area with x and y scales; y is linear or log10."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, ylog: bool = False,
                 width: int = W, height: int = H) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.ylog = ylog
        if ylog:
            y0 = max(y0, 1e-7)
            y1 = max(y1, y0 * 10)
            self.y0, self.y1 = math.log10(y0), math.log10(y1)
        else:
            self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1
        self.w, self.h = width, height
        self.pw = width - ML - MR
        self.ph = height - MT - MB

    def x(self, v: float) -> float:
        return ML + (v - self.x0) / (self.x1 - self.x0) * self.pw

    def y(self, v: float) -> float:
        if self.ylog:
            v = math.log10(max(v, 10 ** self.y0))
        return MT + self.ph - (v - self.y0) / (self.y1 - self.y0) * self.ph


def _svg_open(name: str, label: str, width: int = W, height: int = H) -> list[str]:
    return [f'<svg class="chart-svg" data-chart="{escape(name)}" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">']


def _y_axis(fr: Frame, ticks: list[float], fmt: Any) -> list[str]:
    out = []
    for t in ticks:
        y = fr.y(t)
        out.append(f'<line x1="{ML}" x2="{fr.w - MR}" y1="{_f(y)}" y2="{_f(y)}" stroke="#e3e6ea"/>')
        out.append(f'<text x="{ML - 6}" y="{_f(y + 4)}" text-anchor="end" fill="#555">{escape(fmt(t))}</text>')
    out.append(f'<line x1="{ML}" x2="{ML}" y1="{MT}" y2="{MT + fr.ph}" stroke="#999"/>')
    return out


def _time_axis(fr: Frame) -> list[str]:
    span = fr.x1 - fr.x0
    out = [f'<line x1="{ML}" x2="{fr.w - MR}" y1="{MT + fr.ph}" y2="{MT + fr.ph}" stroke="#999"/>']
    for t in time_ticks(fr.x0, fr.x1):
        x = fr.x(t)
        out.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{MT + fr.ph}" y2="{MT + fr.ph + 4}" stroke="#999"/>')
        out.append(f'<text x="{_f(x)}" y="{MT + fr.ph + 16}" text-anchor="middle" fill="#555">'
                   f'{escape(time_label(t, span))}</text>')
    return out


def _legend(items: list[tuple[str, str]], width: int = W) -> list[str]:
    out = []
    x = ML
    y = H - 6
    for name, color in items:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{y}" fill="#333">{escape(name)}</text>')
        x += 22 + 7 * len(name)
    return out


def _log_ticks(lo: float, hi: float) -> list[float]:
    a = math.floor(math.log10(max(lo, 1e-7)))
    b = math.ceil(math.log10(max(hi, lo * 10)))
    return [10.0 ** e for e in range(a, b + 1)]


def empty_chart(name: str, label: str, message: str = "no data") -> str:
    out = _svg_open(name, label, W, 60)
    out.append(f'<text x="{W / 2}" y="34" text-anchor="middle" fill="#888">{escape(message)}</text></svg>')
    return "".join(out)


def stacked_area(name: str, label: str, times: list[float], width_s: float,
                 series: list[tuple[str, list[float]]], y_label: str) -> str:
    """Stacked areas over time (e.g. ops/s by type); `times` are bucket starts."""
    if not times or not series:
        return empty_chart(name, label)
    x0, x1 = times[0], times[-1] + width_s
    totals = [sum(s[1][i] for s in series) for i in range(len(times))]
    ymax = max(totals) or 1
    fr = Frame(x0, x1, 0, ymax * 1.08)
    out = _svg_open(name, label)
    out += _y_axis(fr, nice_ticks(0, ymax * 1.08), fmt_count)
    base = [0.0] * len(times)
    legend = []
    for k, (sname, values) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        top = [b + v for b, v in zip(base, values)]
        pts: list[str] = []
        for i, t in enumerate(times):  # along the top, left to right (a step per bucket)
            pts += [f"{_f(fr.x(t))},{_f(fr.y(top[i]))}", f"{_f(fr.x(t + width_s))},{_f(fr.y(top[i]))}"]
        for i in range(len(times) - 1, -1, -1):  # back along the base, right to left
            t = times[i]
            pts += [f"{_f(fr.x(t + width_s))},{_f(fr.y(base[i]))}", f"{_f(fr.x(t))},{_f(fr.y(base[i]))}"]
        poly = " ".join(pts)
        total = sum(values) * width_s
        out.append(f'<polygon class="mark" points="{poly}" fill="{color}" fill-opacity="0.85" stroke="none">'
                   f'<title>{escape(sname)}: {fmt_count(round(total))} operations</title></polygon>')
        legend.append((sname, color))
        base = top
    out += _time_axis(fr)
    out.append(f'<text x="12" y="{MT + fr.ph / 2}" transform="rotate(-90 12 {MT + fr.ph / 2})" '
               f'text-anchor="middle" fill="#555">{escape(y_label)}</text>')
    out += _legend(legend)
    out.append("</svg>")
    return "".join(out)


def lines(name: str, label: str, times: list[float], width_s: float,
          series: list[tuple[str, list[float | None]]], ylog: bool, y_fmt: Any, y_label: str) -> str:
    """Lines over time (None = gap), drawn at bucket midpoints."""
    values = [v for _, vs in series for v in vs if v is not None and (v > 0 or not ylog)]
    if not times or not values:
        return empty_chart(name, label)
    x0, x1 = times[0], times[-1] + width_s
    lo, hi = min(values), max(values)
    if ylog:
        ticks = _log_ticks(lo, hi)
        fr = Frame(x0, x1, ticks[0], ticks[-1], ylog=True)
    else:
        ticks = nice_ticks(0, hi * 1.08)
        fr = Frame(x0, x1, 0, ticks[-1] if ticks else hi)
    out = _svg_open(name, label)
    out += _y_axis(fr, ticks, y_fmt)
    legend = []
    for k, (sname, vs) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        segs: list[list[str]] = [[]]
        for t, v in zip(times, vs):
            if v is None or (ylog and v <= 0):
                if segs[-1]:
                    segs.append([])
                continue
            segs[-1].append(f"{_f(fr.x(t + width_s / 2))},{_f(fr.y(v))}")
        for seg in segs:
            if len(seg) == 1:
                x, y = seg[0].split(",")
                out.append(f'<circle class="mark" cx="{x}" cy="{y}" r="2" fill="{color}"/>')
            elif seg:
                out.append(f'<polyline class="mark" points="{" ".join(seg)}" fill="none" stroke="{color}" '
                           f'stroke-width="1.6"><title>{escape(sname)}</title></polyline>')
        legend.append((sname, color))
    out += _time_axis(fr)
    out.append(f'<text x="12" y="{MT + fr.ph / 2}" transform="rotate(-90 12 {MT + fr.ph / 2})" '
               f'text-anchor="middle" fill="#555">{escape(y_label)}</text>')
    out += _legend(legend)
    out.append("</svg>")
    return "".join(out)


def grouped_bars(name: str, label: str, categories: list[str], series: list[tuple[str, list[int]]],
                 y_label: str) -> str:
    """Vertical grouped bars per category (e.g. latency histogram bins)."""
    if not categories or not any(any(v) for _, v in series):
        return empty_chart(name, label)
    ymax = max(max(v) for _, v in series) or 1
    ticks = nice_ticks(0, ymax * 1.08)
    fr = Frame(0, len(categories), 0, ticks[-1])
    out = _svg_open(name, label)
    out += _y_axis(fr, ticks, fmt_count)
    n = len(series)
    slot = fr.pw / len(categories)
    bw = max(1.0, (slot * 0.8) / n)
    legend = []
    for k, (sname, values) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        legend.append((sname, color))
        for i, v in enumerate(values):
            if not v:
                continue
            x = ML + i * slot + slot * 0.1 + k * bw
            y = fr.y(v)
            out.append(f'<rect class="mark" x="{_f(x)}" y="{_f(y)}" width="{_f(bw)}" '
                       f'height="{_f(MT + fr.ph - y)}" fill="{color}"><title>{escape(sname)} '
                       f'{escape(categories[i])}: {v:,}</title></rect>')
    out.append(f'<line x1="{ML}" x2="{W - MR}" y1="{MT + fr.ph}" y2="{MT + fr.ph}" stroke="#999"/>')
    every = max(1, math.ceil(len(categories) / 14))
    for i, c in enumerate(categories):
        if i % every:
            continue
        x = ML + i * slot + slot / 2
        out.append(f'<text x="{_f(x)}" y="{MT + fr.ph + 16}" text-anchor="middle" fill="#555">{escape(c)}</text>')
    out.append(f'<text x="12" y="{MT + fr.ph / 2}" transform="rotate(-90 12 {MT + fr.ph / 2})" '
               f'text-anchor="middle" fill="#555">{escape(y_label)}</text>')
    out += _legend(legend)
    out.append("</svg>")
    return "".join(out)


def hbars(name: str, label: str, rows: list[tuple[str, float, str, str]], value_fmt: Any) -> str:
    """Horizontal bars: (label, value, color, tooltip)."""
    if not rows:
        return empty_chart(name, label)
    row_h = 22
    label_w = 360
    height = MT + row_h * len(rows) + 8
    vmax = max(r[1] for r in rows) or 1
    plot_w = W - label_w - 90
    out = _svg_open(name, label, W, height)
    for i, (text, value, color, tip) in enumerate(rows):
        y = MT + i * row_h
        short = text if len(text) <= 58 else text[:55] + "..."
        bw = max(1.0, value / vmax * plot_w)
        out.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" fill="#333" '
                   f'font-family="monospace">{escape(short)}</text>')
        out.append(f'<rect class="mark" x="{label_w}" y="{y + 3}" width="{_f(bw)}" height="{row_h - 6}" '
                   f'fill="{color}"><title>{escape(tip)}</title></rect>')
        out.append(f'<text x="{_f(label_w + bw + 6)}" y="{y + 14}" fill="#333">{escape(value_fmt(value))}</text>')
    out.append("</svg>")
    return "".join(out)
