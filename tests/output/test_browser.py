"""The report in a real browser: headless Chromium (Debian package ``chromium``, installed by
``.ci/run``) renders the report of a small real sweep at a 1,400 x 1,000 px window.

A copy of the report gets a tiny inline script that writes the page's scroll width and the
boxes of the headline table and the key figure into the title, read back with --dump-dom; the
report itself has no script. A screenshot of the first screen is kept as a test artifact.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.helpers import ROOT

WINDOW = (1400, 1000)
ARTIFACTS = ROOT / "results" / "test-artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)
MEASURE = """<script>
window.addEventListener("load", function () {
  function box(id) {
    var e = document.getElementById(id);
    if (!e) { return null; }
    var r = e.getBoundingClientRect();
    return {top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, right: r.right};
  }
  var wide = [];
  document.querySelectorAll("table").forEach(function (t) {
    if (t.getBoundingClientRect().width > window.innerWidth) { wide.push(t.id || "table"); }
  });
  document.title = "MEASURED " + JSON.stringify({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    headline: box("headline"), keyFigure: box("key-figure"), wideTables: wide});
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "headless Chromium is needed for the browser test of the report: "
            "apt-get install -y chromium (.ci/run installs it)"
        )
    return path


def _run(args, profile) -> subprocess.CompletedProcess:
    command = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_report_first_screen_in_headless_chromium(small_report, tmp_path):
    path, text, _ = small_report
    measured = tmp_path / "measured.html"
    measured.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    result = _run(
        ["--virtual-time-budget=10000", "--dump-dom", measured.as_uri()], tmp_path / "profile1"
    )
    title = re.search(r"<title>MEASURED (.*?)</title>", result.stdout)
    assert title, (result.stdout[-2000:], result.stderr[-2000:])
    boxes = json.loads(title[1].replace("&quot;", '"'))
    # nothing scrolls sideways at a 1,400 px window, and no table is wider than it
    assert boxes["scrollWidth"] <= boxes["clientWidth"] <= WINDOW[0], boxes
    assert boxes["wideTables"] == [], boxes
    # the headline table and the key figure lie in the first 1,000 px
    assert boxes["headline"]["bottom"] <= WINDOW[1], boxes
    assert boxes["keyFigure"]["bottom"] <= WINDOW[1], boxes
    assert boxes["headline"]["top"] > 0 and boxes["keyFigure"]["top"] > 0

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report-first-screen.png"
    screenshot.unlink(missing_ok=True)
    _run([f"--screenshot={screenshot}", path.as_uri()], tmp_path / "profile2")
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == WINDOW
    print(f"screenshot of the report's first screen: {screenshot}")
