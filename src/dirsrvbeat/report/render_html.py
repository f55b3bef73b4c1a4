"""The report as one self-contained HTML page: inline CSS and inline SVG charts, no script, no network."""

from __future__ import annotations

from html import escape
from typing import Any

from . import svg
from .render_text import fmt_duration, fmt_n, fmt_pct, fmt_s

CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0 0 6px;font-size:22px}
header .meta{opacity:.85;font-size:13px}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:18px 0;padding:6px 18px 14px}
h2{font-size:17px;margin:12px 0 8px;color:#1f3b57}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #eceff2;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{background:#f0f3f6;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:19px}.card span{color:#5a6570;font-size:12px}
figure{margin:8px 0 14px}svg.chart-svg{max-width:100%;height:auto}
figcaption{color:#5a6570;font-size:12px;margin-top:2px}
.advice{border-left:4px solid #3a9a5b;padding:4px 12px;margin:8px 0;background:#f4faf6}
.advice.no{border-color:#d6a21e;background:#fdf9ee}.cmd{background:#1d232a;color:#e6edf3;padding:4px 8px;
border-radius:4px;display:block;margin:3px 0;white-space:pre-wrap}.note{color:#5a6570;font-size:12px}
.bad{color:#b3261e}.dim{color:#5a6570}nav a{color:#cfe0f1;margin-right:12px;font-size:13px}
"""


def _table(headers: list[str], rows: list[list[Any]], numeric: tuple[int, ...] = (), mono: tuple[int, ...] = ()) -> str:
    out = ["<table><thead><tr>"]
    for i, h in enumerate(headers):
        out.append(f'<th{" class=n" if i in numeric else ""}>{escape(h)}</th>')
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = "n" if i in numeric else ("mono" if i in mono else "")
            text = cell if isinstance(cell, _Raw) else escape(str(cell))
            out.append(f"<td{f' class={cls}' if cls else ''}>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _lines(rows: list[dict[str, Any]], key: str) -> _Raw:
    return _Raw("<br>".join(escape(f"{x[key] or '(root DSE)'} ({x['count']})") for x in rows[:3]))


def _cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in items) + "</div>"


def _figure(svg_text: str, caption: str) -> str:
    return f"<figure>{svg_text}<figcaption>{escape(caption)}</figcaption></figure>"


# ---------------------------------------------------------------------- charts from the model
TYPE_GROUPS = (("searches", ("SRCH",)), ("binds", ("BIND",)), ("writes", ("ADD", "MOD", "DEL", "MODRDN")),
               ("other", None))


def chart_ops(m: dict[str, Any]) -> str:
    tl = m.get("timeline") or {}
    pts = tl.get("points") or []
    width = tl.get("bucket_seconds", 1)
    times = [p["t"] for p in pts]
    series = []
    named = {t for _, types in TYPE_GROUPS if types for t in types}
    for name, types in TYPE_GROUPS:
        vals = []
        for p in pts:
            bt = p.get("by_type", {})
            n = sum(v for k, v in bt.items() if (k in types if types else k not in named))
            vals.append(n / width)
        if any(vals):
            series.append((name, vals))
    return svg.stacked_area("ops", "operations per second over time", times, width, series, "operations / s")


def chart_latency(m: dict[str, Any]) -> str:
    tl = m.get("timeline") or {}
    pts = tl.get("points") or []
    times = [p["t"] for p in pts]
    series = [(label, [p.get(key) for p in pts])
              for label, key in (("p50", "etime_p50"), ("p95", "etime_p95"), ("p99", "etime_p99"))]
    return svg.lines("latency", "etime percentiles over time", times, tl.get("bucket_seconds", 1), series, True,
                     svg.fmt_seconds, "etime")


def chart_connections(m: dict[str, Any]) -> str:
    tl = m.get("timeline") or {}
    pts = tl.get("points") or []
    width = tl.get("bucket_seconds", 1)
    times = [p["t"] for p in pts]
    series = [("open connections (max)", [p.get("connections_max") for p in pts]),
              ("new connections / s", [p.get("conns_opened", 0) / width for p in pts])]
    return svg.lines("connections", "connections over time", times, width, series, False, svg.fmt_count,
                     "connections")


def chart_histogram(m: dict[str, Any]) -> str:
    hist = m["latency"]["histogram"]
    edges = hist["edges"]
    series = hist["series"]
    labels = [f"≤{svg.fmt_seconds(e)}" for e in edges] + [f">{svg.fmt_seconds(edges[-1])}"]
    used = [i for i in range(len(labels)) if any(series[s][i] for s in series)]
    if not used:
        return svg.empty_chart("histogram", "latency histogram")
    lo, hi = used[0], used[-1] + 1
    return svg.grouped_bars("histogram", "latency histogram", labels[lo:hi],
                            [(name, series[name][lo:hi]) for name in ("etime", "wtime", "optime")],
                            "operations")


def chart_shapes(m: dict[str, Any]) -> str:
    rows = []
    for r in m["searches"]["top_shapes_by_etime"][:12]:
        share = r["unindexed"] / r["count"] if r["count"] else 0
        color = "#c8443a" if share >= 0.5 else ("#e07b28" if share > 0 else "#2f6fb3")
        tip = (f"{r['shape']}: {r['count']} searches, total etime {fmt_s(r['etime_total'])}, "
               f"avg {fmt_s(r['etime_avg'])}, unindexed {r['unindexed']}")
        rows.append((r["shape"], r["etime_total"], color, tip))
    return svg.hbars("shapes", "top filter shapes by total etime", rows, fmt_s)


def chart_close_codes(m: dict[str, Any]) -> str:
    rows = []
    for r in m["connections"]["close_codes"]:
        code = r["code"] or "-"
        color = "#3a9a5b" if code == "U1" else ("#8a95a1" if code == "-" else "#e07b28")
        rows.append((f"{code} {r['name']}", r["count"], color, f"{code}: {r['meaning']} ({r['count']})"))
    return svg.hbars("close_codes", "connection close codes", rows, lambda v: f"{int(v):,}")


# ---------------------------------------------------------------------- page
class HtmlRenderer:
    def __init__(self, model: dict[str, Any]) -> None:
        self.model = model
        self.parts: list[str] = []

    def render(self) -> str:
        m = self.model
        meta = m.get("meta", {})
        server = meta.get("server") or {}
        tr = m["time_range"]
        title = f"389 DS access log report — {server.get('instance') or ', '.join(meta.get('inputs', []))}"
        p = self.parts
        p.append(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
                 f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                 f'<meta name="generator" content="{escape(meta.get("generator", "dirsrvbeat"))}">'
                 f"<style>{CSS}</style></head><body>")
        nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in (
            ("overview", "Overview"), ("latency", "Latency"), ("unindexed", "Unindexed"), ("advice", "Index advice"),
            ("who", "Who"), ("wait", "Worker wait"), ("connections", "Connections"), ("binds", "Binds"),
            ("workloads", "Workloads")) if a != "workloads" or m.get("workloads"))
        p.append(f"<header><h1>{escape(title)}</h1><div class=meta>"
                 f"{escape(', '.join(meta.get('inputs', [])))} · 389-Directory/{escape(str(server.get('version')))}"
                 f" · {escape(str(tr['start']))} → {escape(str(tr['end']))} ({escape(fmt_duration(tr['seconds']))})"
                 f" · {fmt_n(meta.get('lines'))} lines, {fmt_n(meta.get('unparsed'))} unparsed"
                 f" · generated {escape(str(meta.get('generated_at')))} by {escape(meta.get('generator', ''))}"
                 f"</div><nav>{nav}</nav></header><main>")
        if meta.get("filters"):
            p.append("<section><h2>Filters</h2><p>" + escape("; ".join(f"{k}={v}" for k, v in meta["filters"].items()))
                     + f" — {fmt_n(meta.get('documents_filtered_out'))} documents filtered out</p></section>")
        self.sections(m, charts=True)
        if m.get("workloads"):
            p.append('<section id="workloads"><h2>Workloads</h2><p>Rules: '
                     f'<code>{escape(str(meta.get("workload_rules")))}</code></p>')
            p.append(_table(["workload", "operations", "avg etime", "p95 etime", "unindexed", "connections"],
                            [[w, fmt_n(s["totals"]["operations"]), fmt_s(s["latency"]["etime"].get("avg")),
                              fmt_s(s["latency"]["etime"].get("p95")), fmt_n(s["unindexed"]["searches"]),
                              fmt_n(s["connections"]["count"])] for w, s in m["workloads"].items()],
                            numeric=(1, 2, 3, 4, 5)))
            p.append("</section>")
            for name, sub in m["workloads"].items():
                p.append(f'<h2 style="margin-top:28px">Workload: {escape(name)}</h2>')
                self.sections(sub, charts=False, prefix=f"w-{_anchor(name)}-")
        p.append("</main></body></html>")
        return "".join(p)

    def sections(self, m: dict[str, Any], charts: bool, prefix: str = "") -> None:
        p = self.parts
        tot = m["totals"]
        lat = m["latency"]
        conn = m["connections"]
        # overview
        p.append(f'<section id="{prefix}overview"><h2>Overview</h2>')
        p.append(_cards([
            ("operations", fmt_n(tot["operations"])), ("per second", fmt_n(tot["operations_per_second"])),
            ("avg etime", fmt_s(lat["etime"].get("avg"))), ("p99 etime", fmt_s(lat["etime"].get("p99"))),
            ("unindexed searches", fmt_n(m["unindexed"]["searches"])), ("connections", fmt_n(conn["count"])),
            ("peak concurrent", fmt_n(conn.get("peak_concurrent"))),
            ("failed binds", fmt_n(m["failed_binds"]["count"])),
        ]))
        if charts and m.get("timeline"):
            p.append(_figure(chart_ops(m), f"Operations per second ({m['timeline']['bucket_seconds']} s buckets)"))
        p.append(_table(["type", "count", "share", "per s", "per min", "avg etime", "p95 etime", "max etime"],
                        [[r["type"], fmt_n(r["count"]), fmt_pct(r["share"]), fmt_n(r["per_second"]),
                          fmt_n(r["per_minute"], 1), fmt_s(r.get("etime_avg")), fmt_s(r.get("etime_p95")),
                          fmt_s(r.get("etime_max"))] for r in tot["by_type"]], numeric=(1, 2, 3, 4, 5, 6, 7)))
        internal = m.get("internal", {})
        if internal.get("operations"):
            p.append(f'<p class="dim">{fmt_n(internal["operations"])} internal operations are not counted above '
                     f'({escape(", ".join(f"{k} {v}" for k, v in internal["by_type"].items()))}).</p>')
        if m["results"]:
            p.append("<h3>Result codes</h3>")
            p.append(_table(["err", "name", "count", "share", "by operation"],
                            [[r["code"], r["name"], fmt_n(r["count"]), fmt_pct(r["share"]),
                              ", ".join(f"{k} {v}" for k, v in sorted(r["by_type"].items(), key=lambda kv: -kv[1]))]
                             for r in m["results"]], numeric=(0, 2, 3)))
        p.append("</section>")
        # latency
        p.append(f'<section id="{prefix}latency"><h2>Latency</h2>')
        if charts and m.get("timeline"):
            p.append(_figure(chart_latency(m), "etime p50 / p95 / p99 per interval (log scale)"))
        p.append(_figure(chart_histogram(m), "Latency histogram: operations per etime / wtime / optime bin"))
        p.append(_table(["", "count", "avg", "p50", "p90", "p95", "p99", "p99.9", "max"],
                        [[k, fmt_n(s["count"]), fmt_s(s["avg"]), fmt_s(s["p50"]), fmt_s(s["p90"]), fmt_s(s["p95"]),
                          fmt_s(s["p99"]), fmt_s(s["p999"]), fmt_s(s["max"])]
                         for k in ("etime", "wtime", "optime", "wqtime") if (s := lat.get(k)) and s.get("count")],
                        numeric=(1, 2, 3, 4, 5, 6, 7, 8)))
        g = lat["groups"]
        p.append(_table(["range", "etime", "wtime", "optime"],
                        [[x["range"], fmt_n(x["count"]), fmt_n(g["wtime"][i]["count"]), fmt_n(g["optime"][i]["count"])]
                         for i, x in enumerate(g["etime"])], numeric=(1, 2, 3)))
        p.append('<p class="dim">etime in logconv.py\'s groups (s): ' + escape(
            ", ".join(f"{x['range']}: {x['count']}" for x in lat["logconv_groups"]["etime"])) + "</p>")
        if m["slowest"]:
            p.append("<h3>Slowest operations</h3>")
            rows = []
            for r in m["slowest"]:
                what = (r.get("filter") and f"{r.get('base')} {r.get('scope') or ''} {r['filter']}") or \
                    r.get("target") or r.get("ext") or ""
                if r.get("unindexed"):
                    what += f" [unindexed: {r['unindexed']}]"
                rows.append([r.get("time") or "-", r["type"], fmt_s(r.get("etime")), fmt_s(r.get("wtime")),
                             fmt_s(r.get("optime")), r.get("result", "-"), f"{r.get('conn')}/{r.get('op')}",
                             r["bind_dn"], r["client"], what])
            p.append(_table(["time", "type", "etime", "wtime", "optime", "err", "conn/op", "bind DN", "client", "what"],
                            rows, numeric=(2, 3, 4, 5), mono=(9,)))
        p.append("</section>")
        # unindexed
        u = m["unindexed"]
        p.append(f'<section id="{prefix}unindexed"><h2>Unindexed searches by filter shape</h2>'
                 f"<p>{fmt_n(u['searches'])} unindexed searches: {fmt_n(u['full'])} fully (notes=A), "
                 f"{fmt_n(u['partial'])} partially (notes=U), in {len(u['shapes'])} filter shapes.</p>")
        if u["shapes"]:
            p.append(_table(["filter shape", "count", "A/U", "total etime", "avg", "max", "avg entries", "bases",
                             "bind DNs", "clients"],
                            [[r["shape"], fmt_n(r["count"]), f"{r['full']}/{r['partial']}", fmt_s(r["etime_total"]),
                              fmt_s(r["etime_avg"]), fmt_s(r["etime_max"]), fmt_n(r["nentries_avg"], 0),
                              _lines(r["bases"], "base"), _lines(r["bind_dns"], "dn"), _lines(r["clients"], "client")]
                             for r in u["shapes"]], numeric=(1, 3, 4, 5, 6), mono=(0,)))
        p.append("</section>")
        # advice
        p.append(f'<section id="{prefix}advice"><h2>Index advice</h2>')
        for a in m["index_advice"]:
            rule = f" ({a['matching_rule']})" if a.get("matching_rule") else ""
            cls = "advice" if a["actionable"] else "advice no"
            p.append(f'<div class="{cls}"><b>{"Add" if a["actionable"] else "No index"}: '
                     f'<code>{escape(a["attribute"])}</code> {escape(a["match_type"])}{escape(rule)}</b> — '
                     f'{fmt_n(a["searches"])} searches, {fmt_s(a["etime_total"])} total etime. '
                     f'{escape(a["explanation"])}.')
            for cmd in a["commands"]:
                p.append(f'<code class="cmd">{escape(cmd)}</code>')
            for note in a["notes"]:
                p.append(f'<div class="note">{escape(note)}</div>')
            p.append(f'<div class="note">shapes: <code>{escape("  ".join(a["shapes"][:6]))}</code></div></div>')
        if not m["index_advice"]:
            p.append("<p>No unindexed searches.</p>")
        p.append('<p class="dim">Assumes the default indexes of a 389 DS 2.x backend; check yours with '
                 "<code>dsconf &lt;instance&gt; backend index list &lt;backend&gt;</code>. Broad values "
                 "(objectClass=..., attr=*) hit nsslapd-idlistscanlimit: an index does not help them.</p></section>")
        # who
        p.append(f'<section id="{prefix}who"><h2>Top bind DNs and clients</h2>')
        if charts:
            p.append(_figure(chart_shapes(m), "Top filter shapes by total etime (red: mostly unindexed)"))
        for label, key in (("bind DN", "bind_dns"), ("client", "clients")):
            data = m[key]
            for order, title in (("by_ops", "by operations"), ("by_etime", "by total etime")):
                p.append(f"<h3>{escape(label.capitalize())}s {title} ({fmt_n(data['count'])} distinct)</h3>")
                p.append(_table([label, "ops", "total etime", "avg etime", "total wtime", "errors", "unindexed"],
                                [[r["name"], fmt_n(r["ops"]), fmt_s(r["etime_total"]), fmt_s(r["etime_avg"]),
                                  fmt_s(r["wtime_total"]), fmt_n(r["errors"]), fmt_n(r["unindexed"])]
                                 for r in data[order][:15]], numeric=(1, 2, 3, 4, 5, 6)))
        p.append("</section>")
        # wait
        w = m["worker_wait"]
        p.append(f'<section id="{prefix}wait"><h2>Who waits for workers</h2><p>Total wtime '
                 f"{fmt_s(w['wtime_total'])} = {fmt_pct(w['share_of_etime'])} of all etime. High wtime: the operation "
                 "queued for a worker thread (nsslapd-threadnumber, CPU) or the client sent its request slowly.</p>")
        p.append(_table(["bind DN", "ops", "total wtime", "avg wtime", "max wtime"],
                        [[r["name"], fmt_n(r["ops"]), fmt_s(r["wtime_total"]), fmt_s(r["wtime_avg"]),
                          fmt_s(r["wtime_max"])] for r in w["by_bind_dn"][:10]], numeric=(1, 2, 3, 4)))
        p.append(_table(["filter shape", "searches", "total wtime", "avg wtime", "max wtime"],
                        [[r["shape"], fmt_n(r["count"]), fmt_s(r["wtime_total"]), fmt_s(r["wtime_avg"]),
                          fmt_s(r["wtime_max"])] for r in w["by_shape"][:10]], numeric=(1, 2, 3, 4), mono=(0,)))
        p.append("</section>")
        # connections
        p.append(f'<section id="{prefix}connections"><h2>Connections</h2>')
        d = conn["duration"]
        p.append(_cards([("connections", fmt_n(conn["count"])), ("per second", fmt_n(conn["per_second"])),
                         ("peak concurrent", fmt_n(conn.get("peak_concurrent"))),
                         *[(k if k != "starttls" else "StartTLS", f"{fmt_n(v['count'])} ({fmt_pct(v['share'])})")
                           for k, v in conn["transport"].items()],
                         ("median duration", fmt_s(d.get("p50"))), ("p99 duration", fmt_s(d.get("p99")))]))
        if charts and m.get("timeline"):
            p.append(_figure(chart_connections(m), "Connections open (most at once per interval) and new per second"))
        p.append(_figure(chart_close_codes(m), "Close codes"))
        p.append(_table(["code", "count", "logged as", "meaning"],
                        [[r["code"] or "-", fmt_n(r["count"]), r["name"], r["meaning"]] for r in conn["close_codes"]],
                        numeric=(1,)))
        p.append('<p class="dim">Durations in logconv.py\'s groups (s): ' + escape(
            ", ".join(f"{x['range']}: {x['count']}" for x in conn["duration_logconv_groups"])) + "</p></section>")
        # binds, abandons
        b = m["binds"]
        f = m["failed_binds"]
        p.append(f'<section id="{prefix}binds"><h2>Binds, failed binds, abandons</h2>')
        p.append(_cards([("binds", fmt_n(b["count"])), ("anonymous", fmt_n(b["anonymous"])),
                         ("Directory Manager", fmt_n(b["directory_manager"])), ("failed", fmt_n(f["count"])),
                         ("abandons", fmt_n(m["abandons"]["count"]))]))
        if f["count"]:
            p.append(_table(["failed binds by DN", "count"], [[r["dn"], fmt_n(r["count"])] for r in f["by_dn"][:15]],
                            numeric=(1,)))
            p.append(_table(["failed binds by client", "count"],
                            [[r["client"], fmt_n(r["count"])] for r in f["by_client"][:15]], numeric=(1,)))
            p.append(_table(["result", "count"], [[r["name"], fmt_n(r["count"])] for r in f["by_code"]], numeric=(1,)))
        ab = m["abandons"]
        if ab["count"]:
            p.append(f"<p>{fmt_n(ab['count'])} abandon requests; targets: "
                     f"{escape(', '.join(f'{k} {v}' for k, v in ab['targets'].items()))}.</p>")
        p.append("</section>")


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def render_html(model: dict[str, Any]) -> str:
    return HtmlRenderer(model).render()
