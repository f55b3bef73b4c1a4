"""The HTML report in a real browser: headless Chromium (Debian's `chromium`) draws every chart.

A copy of the page gets a small test-only script that, after load, rasterises each chart's SVG
on a canvas and counts its coloured pixels and laid-out marks; `--dump-dom` hands the counts back.
A plain screenshot of the real page is taken too; DIRSRVBEAT_REPORT_SCREENSHOT=path keeps it
(that is how docs/images/report.png is made).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from dirsrvbeat.report import ReportOptions, build_report
from dirsrvbeat.report.render_html import render_html

pytestmark = pytest.mark.integration

LOG = Path(__file__).parent.parent / "data" / "samples" / "access.full.log"
CHARTS = ("ops", "latency", "histogram", "shapes", "connections", "close_codes")

PROBE = """<script>
window.addEventListener('load', async () => {
  const out = {};
  for (const svg of document.querySelectorAll('svg.chart-svg')) {
    const marks = [...svg.querySelectorAll('.mark')];
    const laidOut = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length;
    const img = new Image();
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, c.width, c.height); ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let coloured = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 40) coloured++;
    }
    out[svg.dataset.chart] = {marks: marks.length, laidOut, coloured, width: svg.getBoundingClientRect().width};
  }
  const pre = document.createElement('pre');
  pre.id = 'chart-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _find_chromium()
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "install", "-y", "-q", "chromium"], ["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "chromium"]):
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900,
                           check=False)
            path = _find_chromium()
            if path:
                break
    if path is None:
        pytest.skip("chromium is not installed and `apt-get install -y chromium` could not install it")
    return path


def _run(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("report-html")
    model = build_report(ReportOptions(paths=[str(LOG)]))
    model["meta"]["inputs"] = [LOG.name]  # the screenshot shows no path of this machine
    text = render_html(model)
    path = tmp / "report.html"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_charts_draw_in_chromium(chromium, page, tmp_path):
    _, text = page
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = _run(chromium, tmp_path, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="chart-check">(.*?)</pre>', res.stdout, re.S)
    assert m, f"no probe output; chromium said: {res.stderr[-2000:]}"
    charts = json.loads(html.unescape(m.group(1)))
    for name in CHARTS:
        c = charts[name]
        assert c["marks"] > 0, (name, c)
        assert c["laidOut"] == c["marks"], (name, c)
        assert c["coloured"] > 300, (name, c)  # series colours really painted
        assert c["width"] > 300, (name, c)


def test_screenshot(chromium, page, tmp_path):
    path, _ = page
    shot = tmp_path / "report.png"
    res = _run(chromium, tmp_path, "--window-size=1400,2200", f"--screenshot={shot}", path.as_uri())
    assert shot.exists(), res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2200)
    idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
                    for i in _chunks(data) if data[i + 4:i + 8] == b"IDAT")
    raw = zlib.decompress(idat)
    assert len(set(raw[: len(raw) // 2])) > 50  # not a blank page
    keep = os.environ.get("DIRSRVBEAT_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def _chunks(data: bytes):
    i = 8
    while i < len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        yield i
        i += 12 + n
