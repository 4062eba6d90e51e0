"""The built documentation site in a real browser: every equation is typeset, every figure loads.

Each page of the site (``GENPLUG_SITE_DIR``, else built here with ``mkdocs build``) is
opened from disk, offline, in headless Chromium; a script added to a copy of the page
reports, once the page has loaded, whether each ``<math>`` element is laid out as math
(MathML Core: its display is ``math``/``block math``, no TeX command is left in it, and
every fraction's numerator sits above its denominator), whether any TeX is left as raw
text, and whether each image has loaded with a size. ``tox`` runs it in the ``all`` env
(``tox -e browser`` alone); it skips, saying why, where Chromium is not installed
(``apt-get install chromium``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here: apt-get install chromium (then tox -e browser runs this check)"
)

PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const maths = [...document.querySelectorAll("math")];
  const below = (a, b) => a.getBoundingClientRect().bottom <= b.getBoundingClientRect().top + 1;
  const fractions = [...document.querySelectorAll("mfrac")];
  const text = (document.querySelector("article") || document.body).innerText;
  const report = {
    math: maths.length,
    not_math: maths.filter(m => !getComputedStyle(m).display.includes("math")).length,
    with_tex_commands: maths.filter(m => m.textContent.includes("\\\\")).length,
    empty: maths.filter(m => { const r = m.getBoundingClientRect(); return !(r.width > 0 && r.height > 0); }).length,
    fractions: fractions.length,
    unstacked: fractions.filter(f => f.children.length !== 2 || !below(f.children[0], f.children[1])).length,
    raw_tex: (text.match(/\\\\\\(|\\\\\\[|\\$\\$|\\\\(frac|sqrt|mathcal|bar)\\b/g) || []).slice(0, 5),
    images: document.images.length,
    broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src")),
  };
  document.documentElement.setAttribute("data-probe", JSON.stringify(report));
}, 200));
</script>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("GENPLUG_SITE_DIR")
    if given:
        return Path(given)
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -r requirements-docs.txt")
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT, check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    return out


def probe(page: Path, tmp_path: Path) -> dict:
    """Open a copy of ``page`` (beside it, so its links resolve) with the probe added; return its report."""
    copy = page.with_name(f".probe-{tmp_path.name}-{page.name}")
    copy.write_text(page.read_text().replace("</body>", PROBE + "</body>", 1))
    try:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        copy.unlink()
    found = re.search(r'data-probe="([^"]*)"', result.stdout)
    assert found, f"{page}: the page did not finish loading in Chromium:\n{result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_every_equation_is_typeset_and_every_figure_loads(site, tmp_path):
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) >= 10, f"{site} holds {len(pages)} pages: is it a built site?"
    problems, maths, fractions, images = [], 0, 0, 0
    for page in pages:
        report = probe(page, tmp_path)
        where = page.relative_to(site)
        maths, fractions, images = maths + report["math"], fractions + report["fractions"], images + report["images"]
        for key in ("not_math", "with_tex_commands", "empty", "unstacked"):
            if report[key]:
                problems.append(f"{where}: {report[key]} of {report['math']} equations are {key.replace('_', ' ')}")
        if report["raw_tex"]:
            problems.append(f"{where}: raw TeX shown as text: {report['raw_tex']}")
        if report["broken"]:
            problems.append(f"{where}: images that did not load: {report['broken']}")
    assert not problems, "\n".join(problems)
    # the family pages' equations and the figures are there to be checked
    assert maths >= 30 and fractions >= 3 and images >= 4, (maths, fractions, images)
