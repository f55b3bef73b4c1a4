"""The report as terminal text: rich tables on a TTY, plain ASCII (markdown-style tables) when piped."""

from __future__ import annotations

import io
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

PLAIN_WIDTH = 400  # piped output: long DNs and filters stay on one line (grep, less -S)
# rich's SIMPLE box in ASCII: no vertical rules (filters are full of `|`), a `--` rule under the header
PLAIN_BOX = box.Box("    \n    \n -- \n    \n    \n -- \n    \n    \n", ascii=True)


def fmt_s(v: float | None) -> str:
    """Seconds with a unit that keeps 3 significant digits: 245 µs, 12.3 ms, 4.98 s."""
    if v is None:
        return "-"
    if v == 0:
        return "0"
    a = abs(v)
    if a < 1e-3:
        return f"{v * 1e6:.3g} µs"
    if a < 1:
        return f"{v * 1e3:.3g} ms"
    if a < 1000:
        return f"{v:.3g} s"
    return f"{v:,.0f} s"


def fmt_n(v: float | int | None, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def fmt_pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    frac = seconds - s
    return f"{h}h {m:02d}m {sec + frac:06.3f}s" if h else f"{m}m {sec + frac:06.3f}s"


class TextRenderer:
    def __init__(self, out: IO[str], tty: bool, width: int | None = None) -> None:
        self.tty = tty
        self.out = out
        # plain text goes through a buffer so that the padding rich adds to table cells can be trimmed
        self.buffer: io.StringIO | None = None if tty else io.StringIO()
        self.console = Console(file=out if tty else self.buffer, force_terminal=tty, no_color=not tty,
                               highlight=False, emoji=False,
                               width=width if width else (None if tty else PLAIN_WIDTH),
                               soft_wrap=False)
        self.box = box.SIMPLE_HEAD if tty else PLAIN_BOX

    # ------------------------------------------------------------------ helpers
    def table(self, title: str | None, *columns: str, right: tuple[int, ...] = ()) -> Table:
        if title:
            self.console.print(Text(title, style="bold" if self.tty else ""))
        t = Table(box=self.box, show_edge=False, header_style="bold" if self.tty else None, pad_edge=False,
                  expand=False)
        for i, c in enumerate(columns):
            t.add_column(c, justify="right" if i in right else "left", overflow="fold")
        return t

    def heading(self, text: str) -> None:
        c = self.console
        c.print()
        if self.tty:
            c.rule(f"[bold cyan]{escape(text)}", align="left")
        else:
            c.print(f"== {text} ==")

    def line(self, text: str, style: str | None = None) -> None:
        self.console.print(Text(text, style=style if self.tty else ""))

    def kv(self, pairs: list[tuple[str, str]]) -> None:
        width = max((len(k) for k, _ in pairs), default=0)
        for k, v in pairs:
            self.console.print(Text(f"{k + ':':<{width + 1}} {v}"))

    # ------------------------------------------------------------------ the report
    def render(self, model: dict[str, Any]) -> None:
        self._render(model)
        if self.buffer is not None:
            self.out.write("\n".join(line.rstrip() for line in self.buffer.getvalue().split("\n")))

    def _render(self, model: dict[str, Any]) -> None:
        meta = model.get("meta", {})
        self._header(model, meta)
        self.sections(model)
        workloads = model.get("workloads")
        if workloads:
            for name, sub in workloads.items():
                self.console.print()
                if self.tty:
                    self.console.print(Panel(f"[bold]Workload: {escape(name)}[/]", expand=False))
                else:
                    self.console.print(f"######## Workload: {name} ########")
                self.sections(sub, workload=True)

    def _header(self, model: dict[str, Any], meta: dict[str, Any]) -> None:
        c = self.console
        title = "389 DS access log report"
        if self.tty:
            c.print(f"[bold]{title}[/] [dim]({escape(meta.get('generator', 'dirsrvbeat'))})[/]")
        else:
            c.print(f"{title} ({meta.get('generator', 'dirsrvbeat')})")
        tr = model["time_range"]
        server = meta.get("server") or {}
        pairs = [
            ("Input", ", ".join(meta.get("inputs", [])) or "-"),
            ("Read", f"{fmt_n(meta.get('files'))} file(s), {fmt_n(meta.get('lines'))} lines, "
                     f"{fmt_n(meta.get('unparsed'))} unparsed, {fmt_n(meta.get('documents'))} documents "
                     f"in {meta.get('seconds', 0):.2f} s"),
            ("Server", f"389-Directory/{server.get('version') or '?'} {server.get('instance') or ''}".strip()),
            ("Time range", f"{tr['start'] or '-'} {'→' if self.tty else 'to'} {tr['end'] or '-'} "
                           f"({fmt_duration(tr['seconds'])})"),
            ("Server restarts", fmt_n(meta.get("server_restarts"))),
        ]
        if meta.get("filters"):
            pairs.append(("Filters", "; ".join(f"{k}={v}" for k, v in meta["filters"].items())))
            pairs.append(("Filtered out", f"{fmt_n(meta.get('documents_filtered_out'))} documents"))
        if meta.get("workload_rules"):
            pairs.append(("Workload rules", meta["workload_rules"]))
        self.kv(pairs)

    def sections(self, m: dict[str, Any], workload: bool = False) -> None:
        self._totals(m)
        self._results(m)
        self._latency(m)
        self._slowest(m)
        self._unindexed(m)
        self._advice(m)
        self._who(m)
        self._wait(m)
        self._searches(m)
        self._connections(m)
        self._binds(m)
        self._abandons(m)
        self._other(m)
        if not workload:
            self._logconv(m)

    def _totals(self, m: dict[str, Any]) -> None:
        tot = m["totals"]
        self.heading("Operations")
        t = self.table(None, "type", "count", "share", "per s", "per min", "avg etime", "p95 etime",
                       "max etime", right=(1, 2, 3, 4, 5, 6, 7))
        for r in tot["by_type"]:
            t.add_row(r["type"], fmt_n(r["count"]), fmt_pct(r["share"]), fmt_n(r["per_second"]),
                      fmt_n(r["per_minute"], 1), fmt_s(r.get("etime_avg")), fmt_s(r.get("etime_p95")),
                      fmt_s(r.get("etime_max")))
        t.add_row("all", fmt_n(tot["operations"]), "", fmt_n(tot["operations_per_second"]), "", "", "", "",
                  style="bold" if self.tty else None)
        self.console.print(t)
        internal = m.get("internal", {})
        extra = [f"{fmt_n(tot['results'])} results"]
        if tot.get("without_result"):
            extra.append(f"{fmt_n(tot['without_result'])} operations without a RESULT "
                         f"({', '.join(f'{k} {v}' for k, v in tot['status'].items() if k != 'complete')})")
        if internal.get("operations"):
            extra.append(f"{fmt_n(internal['operations'])} internal operations not counted above "
                         f"({', '.join(f'{k} {v}' for k, v in internal['by_type'].items())})")
        self.line("; ".join(extra))

    def _results(self, m: dict[str, Any]) -> None:
        rows = m["results"]
        if not rows:
            return
        self.heading("Result codes")
        t = self.table(None, "err", "name", "count", "share", "by operation", right=(0, 2, 3))
        for r in rows:
            t.add_row(str(r["code"]), r["name"], fmt_n(r["count"]), fmt_pct(r["share"]),
                      ", ".join(f"{k} {v}" for k, v in sorted(r["by_type"].items(), key=lambda kv: -kv[1])))
        self.console.print(t)

    def _latency(self, m: dict[str, Any]) -> None:
        lat = m["latency"]
        self.heading("Latency (client operations)")
        t = self.table(None, "", "count", "avg", "p50", "p90", "p95", "p99", "p99.9", "max",
                       right=(1, 2, 3, 4, 5, 6, 7, 8))
        for name in ("etime", "wtime", "optime", "wqtime"):
            s = lat.get(name)
            if not s or not s.get("count"):
                continue
            t.add_row(name, fmt_n(s["count"]), fmt_s(s["avg"]), fmt_s(s["p50"]), fmt_s(s["p90"]),
                      fmt_s(s["p95"]), fmt_s(s["p99"]), fmt_s(s["p999"]), fmt_s(s["max"]))
        self.console.print(t)
        groups = lat["groups"]
        t = self.table(None, "range", "etime", "wtime", "optime", right=(1, 2, 3))
        for i, g in enumerate(groups["etime"]):
            t.add_row(g["range"], fmt_n(g["count"]), fmt_n(groups["wtime"][i]["count"]),
                      fmt_n(groups["optime"][i]["count"]))
        self.console.print(t)
        lc = lat["logconv_groups"]["etime"]
        self.line("etime in logconv.py's groups (s): " + ", ".join(f"{g['range']}: {g['count']}" for g in lc))
        self.line("percentiles come from a log-linear histogram (within 3 %); averages, counts and max are exact",
                  "dim")

    def _slowest(self, m: dict[str, Any]) -> None:
        rows = m["slowest"]
        if not rows:
            return
        self.heading(f"Slowest operations (top {len(rows)} by etime)")
        t = self.table(None, "time", "type", "etime", "wtime", "optime", "err", "conn/op", "bind DN", "client",
                       "what", right=(2, 3, 4, 5))
        for r in rows:
            what = ""
            if r.get("filter") is not None:
                what = f"{r.get('base')!s} {r.get('scope') or ''} {r['filter']}"
                if r.get("nentries") is not None:
                    what += f" ({r['nentries']} entries)"
                if r.get("unindexed"):
                    what += f" [unindexed: {r['unindexed']}]"
            elif r.get("target"):
                what = r["target"]
            elif r.get("ext"):
                what = r["ext"]
            t.add_row(_short_time(r.get("time")), r["type"], fmt_s(r.get("etime")), fmt_s(r.get("wtime")),
                      fmt_s(r.get("optime")), str(r.get("result", "-")), f"{r.get('conn')}/{r.get('op')}",
                      r["bind_dn"], r["client"], what)
        self.console.print(t)

    def _unindexed(self, m: dict[str, Any]) -> None:
        u = m["unindexed"]
        self.heading("Unindexed searches by filter shape")
        self.line(f"{fmt_n(u['searches'])} unindexed searches: {fmt_n(u['full'])} fully (notes=A), "
                  f"{fmt_n(u['partial'])} partially (notes=U), in {len(u['shapes'])} shapes")
        if not u["shapes"]:
            return
        t = self.table(None, "filter shape", "count", "A/U", "total etime", "avg", "max", "avg entries",
                       "bases", "bind DNs", "clients", right=(1, 3, 4, 5, 6))
        for r in u["shapes"]:
            t.add_row(r["shape"], fmt_n(r["count"]), f"{r['full']}/{r['partial']}", fmt_s(r["etime_total"]),
                      fmt_s(r["etime_avg"]), fmt_s(r["etime_max"]), fmt_n(r["nentries_avg"], 0),
                      _pairs(r["bases"], "base", root=True), _pairs(r["bind_dns"], "dn"),
                      _pairs(r["clients"], "client"))
        self.console.print(t)

    def _advice(self, m: dict[str, Any]) -> None:
        advice = m["index_advice"]
        if not advice:
            return
        self.heading("Index advice")
        c = self.console
        for a in advice:
            mark = "ADD" if a["actionable"] else "no index"
            rule = f" ({a['matching_rule']})" if a.get("matching_rule") else ""
            head = (f"[{mark}] {a['attribute']} {a['match_type']}{rule}: {fmt_n(a['searches'])} searches, "
                    f"{fmt_s(a['etime_total'])} total etime {'—' if self.tty else '-'} {a['explanation']}")
            c.print(Text(head, style=("bold green" if a["actionable"] else "yellow") if self.tty else ""))
            for cmd in a["commands"]:
                c.print(Text(f"    {cmd}", style="cyan" if self.tty else ""))
            for note in a["notes"]:
                c.print(Text(f"    note: {note}", style="dim" if self.tty else ""))
            c.print(Text(f"    shapes: {'  '.join(a['shapes'][:5])}" + (" ..." if len(a["shapes"]) > 5 else ""),
                         style="dim" if self.tty else ""))
        self.line("Default indexes assumed (389 DS 2.x cn=default indexes); check yours with "
                  "`dsconf <instance> backend index list <backend>`. Unindexed searches of broad values "
                  "(objectClass, attr=*) come from nsslapd-idlistscanlimit, not from a missing index.", "dim")

    def _who(self, m: dict[str, Any]) -> None:
        for label, key, col in (("bind DNs", "bind_dns", "bind DN"), ("clients", "clients", "client")):
            data = m[key]
            self.heading(f"Top {label} ({fmt_n(data['count'])} distinct"
                         f"{', capped' if data.get('capped') else ''})")
            for order, title in (("by_ops", "by operations"), ("by_etime", "by total etime")):
                rows = data[order]
                if not rows:
                    continue
                t = self.table(title, col, "ops", "total etime", "avg etime", "total wtime", "errors", "unindexed",
                               *(["conns"] if key == "clients" else []), right=(1, 2, 3, 4, 5, 6, 7))
                for r in rows:
                    t.add_row(r["name"], fmt_n(r["ops"]), fmt_s(r["etime_total"]), fmt_s(r["etime_avg"]),
                              fmt_s(r["wtime_total"]), fmt_n(r["errors"]), fmt_n(r["unindexed"]),
                              *([fmt_n(r.get("connections", 0))] if key == "clients" else []))
                self.console.print(t)

    def _wait(self, m: dict[str, Any]) -> None:
        w = m["worker_wait"]
        self.heading("Who waits for workers (wtime)")
        self.line(f"total wtime {fmt_s(w['wtime_total'])} = {fmt_pct(w['share_of_etime'])} of all etime. "
                  "High wtime: operations queue for a worker thread (nsslapd-threadnumber, CPU) or the client "
                  "sends its request slowly.")
        for title, rows, col in (("by bind DN", w["by_bind_dn"], "name"), ("by filter shape", w["by_shape"], "shape")):
            if not rows:
                continue
            t = self.table(title, col, "ops", "total wtime", "avg wtime", "max wtime", right=(1, 2, 3, 4))
            for r in rows[:10]:
                ops = r.get("ops", r.get("count"))
                t.add_row(r[col], fmt_n(ops), fmt_s(r["wtime_total"]), fmt_s(r.get("wtime_avg")),
                          fmt_s(r.get("wtime_max")))
            self.console.print(t)

    def _searches(self, m: dict[str, Any]) -> None:
        s = m["searches"]
        if not s["count"]:
            return
        self.heading(f"Searches ({fmt_n(s['count'])}, {fmt_n(s['shapes'])} filter shapes)")
        t = self.table("top filter shapes by total etime", "filter shape", "count", "total etime", "avg etime",
                       "max etime", "unindexed", right=(1, 2, 3, 4, 5))
        for r in s["top_shapes_by_etime"][:10]:
            t.add_row(r["shape"], fmt_n(r["count"]), fmt_s(r["etime_total"]), fmt_s(r["etime_avg"]),
                      fmt_s(r["etime_max"]), fmt_n(r["unindexed"]))
        self.console.print(t)
        t = self.table("top search bases", "base", "count", right=(1,))
        for r in s["top_bases"][:10]:
            t.add_row(r["base"] or "(root DSE)", fmt_n(r["count"]))
        self.console.print(t)

    def _connections(self, m: dict[str, Any]) -> None:
        c = m["connections"]
        self.heading("Connections")
        tr = ", ".join(f"{k.upper() if k != 'starttls' else 'StartTLS'} {fmt_n(v['count'])} ({fmt_pct(v['share'])})"
                       for k, v in c["transport"].items())
        d = c["duration"]
        pairs = [("Connections", f"{fmt_n(c['count'])} ({fmt_n(c['per_second'])}/s)"),
                 ("Peak concurrent", f"{fmt_n(c['peak_concurrent'])} at {c.get('peak_concurrent_at') or '-'}"),
                 ("Transport", tr or "-")]
        if c.get("tls_versions"):
            pairs.append(("TLS versions", ", ".join(f"{k} {v}" for k, v in c["tls_versions"].items())))
        if d.get("count"):
            pairs.append(("Duration", f"avg {fmt_s(d['avg'])}, p50 {fmt_s(d['p50'])}, p95 {fmt_s(d['p95'])}, "
                                      f"p99 {fmt_s(d['p99'])}, max {fmt_s(d['max'])}"))
            pairs.append(("Duration (logconv groups, s)",
                          ", ".join(f"{g['range']}: {g['count']}" for g in c["duration_logconv_groups"])))
        pairs.append(("Status", ", ".join(f"{k} {v}" for k, v in c["status"].items())))
        if c.get("without_open_line"):
            pairs.append(("Opened before the log", fmt_n(c["without_open_line"])))
        self.kv(pairs)
        if c["close_codes"]:
            t = self.table("close codes", "code", "count", "logged as", "meaning", right=(1,))
            for r in c["close_codes"]:
                t.add_row(r["code"] or "-", fmt_n(r["count"]), r["name"], r["meaning"])
            self.console.print(t)

    def _binds(self, m: dict[str, Any]) -> None:
        b = m["binds"]
        f = m["failed_binds"]
        codes = ", ".join(f"{r['name']} {r['count']}" for r in f["by_code"])
        self.heading("Binds")
        pairs = [("Binds", f"{fmt_n(b['count'])} ({', '.join(f'{k} {v}' for k, v in b['methods'].items())}); "
                           f"{fmt_n(b['unbinds'])} unbinds"),
                 ("SASL mechanisms", ", ".join(f"{k} {v}" for k, v in b["sasl_mechanisms"].items()) or "-"),
                 ("Anonymous / Directory Manager / LDAPI autobind",
                  f"{fmt_n(b['anonymous'])} / {fmt_n(b['directory_manager'])} / {fmt_n(b['autobinds'])}"),
                 ("Failed binds", f"{fmt_n(f['count'])} ({codes or '-'})")]
        self.kv(pairs)
        if f["count"]:
            t = self.table("failed binds by DN", "DN", "count", right=(1,))
            for r in f["by_dn"][:10]:
                t.add_row(r["dn"], fmt_n(r["count"]))
            self.console.print(t)
            t = self.table("failed binds by client", "client", "count", right=(1,))
            for r in f["by_client"][:10]:
                t.add_row(r["client"], fmt_n(r["count"]))
            self.console.print(t)

    def _abandons(self, m: dict[str, Any]) -> None:
        a = m["abandons"]
        if not a["count"]:
            return
        self.heading("Abandons")
        self.kv([("Abandon requests", f"{fmt_n(a['count'])}, target still running: {fmt_n(a['target_found'])}"),
                 ("Targets", ", ".join(f"{k} {v}" for k, v in a["targets"].items())),
                 ("Abandoned operations", ", ".join(f"{k} {v}" for k, v in a["abandoned_ops_by_type"].items())
                  or "-")])
        rows = [r for r in a["longest_running_targets"] if r.get("target_etime")]
        if rows:
            t = self.table("abandoned after the longest run", "time", "conn/op", "target op", "ran for",
                           "entries sent", "bind DN", "client", right=(3, 4))
            for r in rows[:10]:
                t.add_row(_short_time(r.get("time")), f"{r['conn']}/{r['op']}", str(r["target_op"]),
                          fmt_s(r["target_etime"]), fmt_n(r.get("target_nentries")), r["bind_dn"], r["client"])
            self.console.print(t)

    def _other(self, m: dict[str, Any]) -> None:
        o = m["other"]
        self.heading("Other")
        labels = {"paged_searches": "paged searches", "persistent_searches": "persistent searches",
                  "proxied_auth_operations": "proxied-auth operations", "vlv_searches": "VLV searches",
                  "sort_searches": "server-side sorts", "invalid_filter_attribute_searches":
                  "filters with attributes not in schema (notes=F)", "subtree_objectclass_star_searches":
                  "subtree (objectClass=*) searches", "entry_lines": "ENTRY lines", "referral_lines": "REFERRAL lines",
                  "mfa_binds": "MFA binds (notes=M)", "not_synchronous": "not-synchronous ops (notes=N)",
                  "blocked_by_maxthreadsperconn": "blocked by maxthreadsperconn (notes=B)"}
        self.kv([(labels.get(k, k), fmt_n(v)) for k, v in o.items() if v])
        if m.get("extended_ops"):
            self.line("Extended operations: " + ", ".join(
                f"{r['name'] or r['oid']} {r['count']}" for r in m["extended_ops"]))

    def _logconv(self, m: dict[str, Any]) -> None:
        lc = m.get("logconv_equivalent")
        if not lc:
            return
        self.heading("logconv-compatible totals")
        self.line("logconv.pl counts internal operations, AUTOBINDs and VLV lines as operations; "
                  "these are this report's numbers counted its way, to compare with its output.", "dim")
        keys = ("total_operations", "total_results", "searches", "modifications", "adds", "deletes", "mod_rdns",
                "compares", "binds", "unindexed_searches", "unindexed_components", "internal_operations",
                "restarts")
        self.console.print(Text("  ".join(f"{k}={lc[k]}" for k in keys if k in lc)))


def _short_time(iso: str | None) -> str:
    if not iso:
        return "-"
    return iso[11:23] if len(iso) >= 23 else iso


def _pairs(rows: list[dict[str, Any]], key: str, root: bool = False) -> str:
    out = []
    for r in rows[:3]:
        name = r[key]
        if root and name == "":
            name = "(root DSE)"
        out.append(f"{name} ({r['count']})")
    return "\n".join(out)


def render_text(model: dict[str, Any], out: IO[str], tty: bool, width: int | None = None) -> None:
    TextRenderer(out, tty, width).render(model)


__all__ = ["TextRenderer", "fmt_duration", "fmt_n", "fmt_pct", "fmt_s", "render_text"]
