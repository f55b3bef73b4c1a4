"""Input plugin `ldap_monitor`: the documents of cn=monitor scrapes (see dirsrvbeat.monitor).

    pipeline:
      input: {ldap_monitor: {url: ldaps://127.0.0.1:636, bind_dn: ..., password_file: ..., scrapes: 1}}

Options are the keys of the `monitor:` configuration section, plus `scrapes` (how many scrapes
`read()` performs, default 1; 0 = forever, `interval` seconds apart) and `ldif` (a list of LDIF
files to replay instead of LDAP).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..plugins import register


@register("input", "ldap_monitor")
class LdapMonitorInput:
    def __init__(self, scrapes: int = 1, ldif: list[str] | None = None, **options: Any) -> None:
        from ..monitor.collector import Collector
        from ..monitor.config import build_config
        from ..monitor.documents import DocumentBuilder

        self.cfg = build_config(options, need_password=not ldif)
        self.scrapes = int(scrapes)
        self.ldif = list(ldif or [])
        self.collector = Collector(self.cfg, reader=object() if self.ldif else None,
                                   keep_open=self.scrapes != 1)
        self.builder = DocumentBuilder(self.cfg)
        self.last: Any = None

    def read(self) -> Iterator[dict[str, Any]]:
        from ..monitor.snapshot import load_ldif

        done = 0
        try:
            while True:
                started = time.monotonic()
                scrape = self.collector.process(load_ldif(self.ldif)) if self.ldif else self.collector.scrape()
                self.last = scrape
                yield from self.builder.documents(scrape)
                done += 1
                if self.scrapes and done >= self.scrapes:
                    return
                time.sleep(max(0.0, self.cfg.interval - (time.monotonic() - started)))
        finally:
            self.collector.close()
