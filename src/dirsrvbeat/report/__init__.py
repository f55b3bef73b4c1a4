"""`dirsrvbeat access report`: the logconv report, from the same parse/join/enrich pipeline.

One streaming pass with bounded memory (`aggregate`, `sketch`, `timeline`), index advice for
unindexed searches (`advice`), and three renderings of one report model: terminal text
(`render_text`), JSON, and a self-contained HTML page with inline SVG charts (`render_html`).
"""

from __future__ import annotations

from .run import ReportError, ReportOptions, build_report, parse_time

__all__ = ["ReportError", "ReportOptions", "build_report", "parse_time"]
