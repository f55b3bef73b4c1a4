"""Real documents in a real Elasticsearch, for the dashboard query tests and the dashboard pictures.

Documents come from dirsrvbeat itself: `dirsrvbeat access parse --ids --connections` over a
recorded access log and `dirsrvbeat monitor collect --ldif ... --output ndjson` over recorded
cn=monitor dumps (one scrape per dump, one state directory, so counters get their `_delta`s).
They are indexed through the templates `dirsrvbeat setup` installs, under a prefix of their own,
so a run never touches a user's `dirsrvbeat-*` indices and can be removed again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..es.client import EsClient
from ..es.indices import IndexNamer


class DemoError(RuntimeError):
    pass


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "dirsrvbeat", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise DemoError(f"dirsrvbeat {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def read_ndjson(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def access_documents(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Operation and connection documents of access logs (`dirsrvbeat access parse --ids --connections`)."""
    with tempfile.TemporaryDirectory(prefix="dirsrvbeat-demo-") as tmp:
        out = Path(tmp) / "access.ndjson"
        _cli("access", "parse", "--ids", "--connections", "-o", str(out), *map(str, paths))
        return read_ndjson(out)


def monitor_documents(scrapes: Iterable[Sequence[str | os.PathLike[str]]],
                      rules: str | None = None) -> list[dict[str, Any]]:
    """Monitor documents of recorded scrapes: each item is the LDIF files of one scrape, oldest first."""
    docs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dirsrvbeat-demo-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        for n, files in enumerate(scrapes):
            out = Path(tmp) / f"monitor-{n}.ndjson"
            args = ["monitor", "collect", "--output", "ndjson", "--ndjson-file", str(out), "--state-dir", str(state),
                    "--service-name", "slapd-demo", "--host-name", "ldap-demo"]
            if rules:
                args += ["--rules", rules]
            _cli(*args, "--ldif", *map(str, files))
            docs += read_ndjson(out)
    return docs


def monitor_scrapes(folder: str | os.PathLike[str], tags: Sequence[str]) -> list[list[Path]]:
    """The LDIF files of each recorded scrape `<tag>-*.ldif` (anonymous and as-* reads left out)."""
    out = []
    for tag in tags:
        files = sorted(p for p in Path(folder).glob(f"{tag}-*.ldif")
                       if ".anonymous" not in p.name and ".as-" not in p.name)
        if files:
            out.append(files)
    return out


def time_range(docs: Iterable[dict[str, Any]], dataset: str, pad_ms: int = 1000) -> tuple[str, str]:
    """(from, to) ISO strings around the `@timestamp`s of a dataset's documents."""
    from .query import _ms, utc
    stamps = [_ms(d["@timestamp"]) for d in docs if (d.get("event") or {}).get("dataset") == dataset]
    if not stamps:
        raise DemoError(f"no {dataset} documents")
    return utc(min(stamps) - pad_ms), utc(max(stamps) + pad_ms)


@dataclass
class Loaded:
    prefix: str
    indices: list[str]
    counts: dict[str, int]      # dataset -> documents indexed
    errors: list[str]


def install_templates(url: str, prefix: str, *, extra: Sequence[str] = ()) -> str:
    """`dirsrvbeat setup --es-url URL --index-prefix PREFIX` (the real command); returns its output."""
    return _cli("setup", "--es-url", url, "--index-prefix", prefix, *extra).stdout


def index_documents(client: EsClient, prefix: str, docs: Sequence[dict[str, Any]], *, chunk: int = 2000
                    ) -> Loaded:
    """Bulk-index documents (index per dataset and day, `_id` = event.id) and refresh."""
    namer = IndexNamer(prefix)
    typed = client.info().major < 7
    indices: set[str] = set()
    counts: dict[str, int] = {}
    errors: list[str] = []
    for start in range(0, len(docs), chunk):
        lines = []
        for d in docs[start:start + chunk]:
            index = namer.index_for(d)
            indices.add(index)
            action: dict[str, Any] = {"_index": index}
            if (d.get("event") or {}).get("id"):
                action["_id"] = d["event"]["id"]
            if typed:
                action["_type"] = "_doc"
            lines.append(orjson.dumps({"index": action}))
            lines.append(orjson.dumps(d))
        answer = client.bulk(b"\n".join(lines) + b"\n")
        for item, d in zip(answer.get("items", []), docs[start:start + chunk]):
            res = item.get("index") or {}
            if res.get("error"):
                errors.append(f"{d.get('event', {}).get('dataset')}: {res['error']}")
            else:
                ds = (d.get("event") or {}).get("dataset", "?")
                counts[ds] = counts.get(ds, 0) + 1
    for index in sorted(indices):
        client.refresh(index)
    return Loaded(prefix, sorted(indices), counts, errors)


def remove(client: EsClient, prefix: str) -> None:
    """Delete the demo indices and the prefix's templates and ILM policy (`setup --remove` + indices)."""
    from ..commands.setup import uninstall
    from ..es.templates import TemplateOptions
    uninstall(client, TemplateOptions(prefix=prefix), indices=True)
