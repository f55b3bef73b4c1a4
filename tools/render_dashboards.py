#!/usr/bin/env python3
"""Draw the two Kibana dashboards (docs/images/dashboard-*.png) from real data, without Kibana.

    .venv/bin/python tools/render_dashboards.py --es-url http://127.0.0.1:19271
    .venv/bin/python tools/render_dashboards.py --es-key 7.10          # start it with scripts/es/es.sh

For each dashboard of the saved objects (dirsrvbeat.kibana.objects): index real documents (the recorded
389 DS access log through `dirsrvbeat access parse`, the recorded cn=monitor dumps through
`dirsrvbeat monitor collect --ldif`) into a throw-away prefix through the real templates, run every
panel's visualisation as Kibana would (`dirsrvbeat.kibana.query`), draw it with matplotlib at the
panel's place in the dashboard grid, and remove the prefix again. Needs matplotlib (pip install matplotlib).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dirsrvbeat.es.client import EsClient  # noqa: E402
from dirsrvbeat.kibana import demo, objects, query  # noqa: E402

MONITOR_TAGS = ["t20", "t50", "t80", "t110", "bench-120s", "bench-240s", "bench-360s", "bench-480s", "bench-600s"]
ROW_PX = 22          # Kibana's grid row height (px) at this scale
WIDTH_PX = 1600
COLORS = ["#54B399", "#6092C0", "#D36086", "#9170B8", "#CA8EAE", "#D6BF57", "#B9A888", "#DA8B45", "#AA6556",
          "#E7664C", "#7DE2D1", "#F5A35C", "#A2CB9F", "#8DB0D8", "#E4A6C7"]


def _short(text: object, n: int = 46) -> str:
    s = "(anonymous)" if text == "" else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def draw_xy(ax, vis: dict, req: query.Request, rows: list[query.Row], plt) -> None:
    """histogram / line / area / horizontal_bar, with optional split series (group) and split charts."""
    kind = vis["type"]
    bucket_types = [b.schema for b in req.buckets]
    split_idx = bucket_types.index("split") if "split" in bucket_types else None
    seg_idx = bucket_types.index("segment") if "segment" in bucket_types else None
    grp_idx = bucket_types.index("group") if "group" in bucket_types else None
    percentage = any(a.get("scale", {}).get("mode") == "percentage" for a in vis["params"].get("valueAxes", []))
    charts: dict[object, list[query.Row]] = defaultdict(list)
    for r in rows:
        charts[r.keys[split_idx] if split_idx is not None else None].append(r)
    names = sorted(charts, key=str)
    ax.axis("off")
    fig = ax.figure
    box = ax.get_position()
    h = box.height / max(1, len(names))
    for i, name in enumerate(names):
        left = 0.42 if kind == "horizontal_bar" else 0.05
        width = 0.55 if kind == "horizontal_bar" else 0.74
        sub = fig.add_axes([box.x0 + left * box.width, box.y1 - (i + 1) * h + 0.16 * h, box.width * width,
                            h * 0.74])
        series: dict[str, dict[object, float]] = defaultdict(dict)
        xs: list[object] = []
        for r in charts[name]:
            x = r.keys[seg_idx] if seg_idx is not None else ""
            if x not in xs:
                xs.append(x)
            for label, v in r.values.items():
                key = str(r.keys[grp_idx]) if grp_idx is not None else label
                if grp_idx is not None and len(r.values) > 1:
                    key = f"{r.keys[grp_idx]} {label}"
                series[key][x] = (series[key].get(x) or 0) + (v or 0)
        if kind == "horizontal_bar":
            labels = [_short(x, 40) for x in xs]
            vals = [sum(s.get(x, 0) for s in series.values()) for x in xs]
            sub.barh(range(len(xs))[::-1], vals, color=COLORS[1])
            sub.set_yticks(range(len(xs))[::-1], labels, fontsize=6)
        else:
            time_x = seg_idx is not None and req.buckets[seg_idx].type == "date_histogram"
            xv = [_time(x) for x in xs] if time_x else list(range(len(xs)))
            keys = list(series)
            if grp_idx is not None and req.buckets[grp_idx].type == "terms" and req.buckets[grp_idx].params.get(
                    "orderBy") == "custom":
                keys = list(dict.fromkeys(str(r.keys[grp_idx]) for r in charts[name]))
            stack = [[series[k].get(x, 0) for x in xs] for k in keys]
            if percentage:
                totals = [sum(col) or 1 for col in zip(*stack)] if stack else []
                stack = [[v / t * 100 for v, t in zip(s, totals)] for s in stack]
            width = (req.interval_ms or 1000) / 86_400_000 * 0.85
            bottom = [0.0] * len(xs)
            for n, (k, ys) in enumerate(zip(keys, stack)):
                color = COLORS[n % len(COLORS)]
                if kind == "histogram":
                    sub.bar(xv, ys, width=width if time_x else 0.8, bottom=bottom, color=color, label=_short(k, 22))
                elif kind == "area":
                    top = [b + y for b, y in zip(bottom, ys)]
                    sub.fill_between(xv, bottom, top, color=color, alpha=0.85, label=_short(k, 22), step=None)
                else:
                    sub.plot(xv, ys, color=color, label=_short(k, 30), linewidth=1.4, marker="o", markersize=2)
                if kind in ("histogram", "area"):
                    bottom = [b + y for b, y in zip(bottom, ys)]
            if time_x:
                import matplotlib.dates as mdates
                sub.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
            if percentage:
                sub.set_ylim(0, 100)
            if keys:
                sub.legend(fontsize=5.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                           ncol=1 if len(keys) <= 8 else 2)
        sub.tick_params(labelsize=6)
        sub.grid(alpha=0.25)
        if name is not None:
            sub.set_title(f"{req.buckets[split_idx].label}: {name}", fontsize=7, loc="left")


def draw_table(ax, vis: dict, req: query.Request, rows: list[query.Row]) -> None:
    ax.axis("off")
    metric_labels = list(rows[0].values) if rows else [m.label for m in req.metrics]
    header = [b.label for b in req.buckets] + metric_labels
    body = []
    for r in rows[:10]:
        cells = [_short(k, 44 if len(req.buckets) < 3 else 22) for k in r.keys]
        for v in r.values.values():
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        body.append(cells)
    if not body:
        return
    table = ax.table(cellText=body, colLabels=header, loc="upper left", cellLoc="left", colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(6)
    table.scale(1, 1.05)
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("#D3DAE6")
        if r == 0:
            cell.set_text_props(weight="bold")
    table.auto_set_column_width(list(range(len(header))))


def draw_pie(ax, rows: list[query.Row]) -> None:
    vals = [next(iter(r.values.values())) or 0 for r in rows]
    labels = [_short(r.keys[0], 28) for r in rows]
    ax.pie(vals, colors=COLORS[: len(vals)], wedgeprops={"width": 0.38}, startangle=90, counterclock=False)
    ax.legend(labels, fontsize=6, loc="center left", bbox_to_anchor=(0.95, 0.5), frameon=False)
    ax.set_aspect("equal")


def draw_search(ax, saved: dict, client: EsClient, pattern: dict, frm: str, to: str) -> None:
    attrs = saved["attributes"]
    search = orjson.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
    field, order = attrs["sort"][0]
    body = {"size": 8, "sort": [{field: order}], "query": {"bool": {"filter": [
        {"range": {"@timestamp": {"gte": frm, "lte": to}}},
        {"query_string": {"query": search["query"]["query"]}}]}}}
    hits = client.search(pattern["attributes"]["title"], body)["hits"]["hits"]
    ax.axis("off")
    cols = attrs["columns"]

    def get(doc: dict, dotted: str) -> str:
        node: object = doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return "" if node is None else _short(node, 34)

    body_rows = [[get(h["_source"], c) for c in cols] for h in hits]
    if body_rows:
        t = ax.table(cellText=body_rows, colLabels=[c.split(".")[-1] for c in cols], loc="upper left",
                     cellLoc="left", colLoc="left")
        t.auto_set_font_size(False)
        t.set_fontsize(6)
        for (r, _c), cell in t.get_celld().items():
            cell.set_edgecolor("#D3DAE6")
            if r == 0:
                cell.set_text_props(weight="bold")
        t.auto_set_column_width(list(range(len(cols))))


def render(client: EsClient, prefix: str, docs: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objs = {o["id"]: o for o in objects.build(prefix)}
    written = []
    for dash in objects.dashboards():
        d = objs[f"{prefix}-{dash.id}"]
        rows_total = max(p.y + p.h for p in dash.panels)
        title_px = 60
        height_px = rows_total * ROW_PX + title_px
        fig = plt.figure(figsize=(WIDTH_PX / 100, height_px / 100), dpi=100)
        fig.patch.set_facecolor("#F5F7FA")
        fig.text(0.01, 1 - 25 / height_px, d["attributes"]["title"], fontsize=15, weight="bold", va="center")
        fig.text(0.01, 1 - 47 / height_px, d["attributes"]["description"], fontsize=8, color="#69707D", va="center")
        for p in dash.panels:
            x0, w = p.x / 48, p.w / 48
            y_top = 1 - (title_px + p.y * ROW_PX) / height_px
            h = p.h * ROW_PX / height_px
            frame = fig.add_axes([x0 + 0.004, y_top - h + 0.004, w - 0.008, h - 0.008])
            frame.set_xticks([])
            frame.set_yticks([])
            frame.set_facecolor("white")
            for spine in frame.spines.values():
                spine.set_edgecolor("#D3DAE6")
            o = objs[f"{prefix}-{p.ref}"]
            title = o["attributes"]["title"]
            frame.set_title(title.replace("[dirsrv] ", ""), fontsize=8, loc="left", pad=3, weight="bold")
            pattern = objs[o["references"][0]["id"]]
            dataset = "dirsrv." + objects.dataset_of(pattern["attributes"]["title"], prefix)
            frm, to = demo.time_range(docs, dataset)
            inner = fig.add_axes([x0 + 0.012, y_top - h + 10 / height_px, w - 0.024, h - 38 / height_px])
            if o["type"] == "search":
                draw_search(inner, o, client, pattern, frm, to)
                continue
            vis = orjson.loads(o["attributes"]["visState"])
            req, _resp, rows = query.run(client, o, pattern, time_from=frm, time_to=to)
            if vis["type"] == "table":
                draw_table(inner, vis, req, rows)
            elif vis["type"] == "pie":
                draw_pie(inner, rows)
            else:
                draw_xy(inner, vis, req, rows, plt)
        path = out_dir / f"dashboard-{dash.id}.png"
        fig.savefig(path, dpi=100, facecolor=fig.get_facecolor())
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--es-url", help="a running Elasticsearch (any version of the matrix)")
    g.add_argument("--es-key", help="start this scripts/es/versions.env key with scripts/es/es.sh")
    ap.add_argument("-o", "--out", default=str(ROOT / "docs" / "images"), help="output folder")
    args = ap.parse_args(argv)
    url = args.es_url
    if args.es_key:
        url = subprocess.run(["bash", str(ROOT / "scripts/es/es.sh"), "start", args.es_key], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
    docs = demo.access_documents([ROOT / "tests/data/samples/access.full.log"])
    docs += demo.monitor_documents(demo.monitor_scrapes(ROOT / "tests/data/monitor/samples", MONITOR_TAGS))
    prefix = f"render-{uuid.uuid4().hex[:8]}"
    client = EsClient([url])
    try:
        demo.install_templates(url, prefix)
        loaded = demo.index_documents(client, prefix, docs)
        if loaded.errors:
            print(f"warning: {len(loaded.errors)} documents refused, first: {loaded.errors[0]}", file=sys.stderr)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for path in render(client, prefix, docs, out):
            print(path)
    finally:
        demo.remove(client, prefix)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
