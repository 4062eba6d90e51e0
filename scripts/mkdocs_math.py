"""MkDocs hook: typeset the pages' TeX as MathML when the site is built, so it works offline.

pymdownx.arithmatex (generic mode) finds the math in the Markdown (``$...$``, ``$$...$$``,
``\\(...\\)``, ``\\[...\\]``) and wraps it as ``<span class="arithmatex">\\(...\\)</span>`` or
``<div class="arithmatex">\\[...\\]</div>``; this hook replaces each with the MathML that
latex2mathml makes of it. Browsers draw MathML natively (MathML Core: Chromium 109+,
Firefox, Safari), so the built site needs no script, font or network to show its equations.
TeX that latex2mathml cannot convert fails the build with the page and the formula.

mkdocs.yml names this file under ``hooks:``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

__all__ = ["on_page_content", "typeset"]

_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<block>.*?)\\\])\s*</(?P=tag)>',
    re.S,
)


def typeset(content: str, where: str = "") -> str:
    """Replace every arithmatex span or div in ``content`` by MathML."""

    def mathml(match: re.Match[str]) -> str:
        block = match.group("block") is not None
        tex = html.unescape(match.group("block") if block else match.group("inline")).strip()
        try:
            rendered = convert(tex, display="block" if block else "inline")
        except Exception as exc:  # latex2mathml raises many kinds; all mean the same here
            raise PluginError(f"{where}: cannot typeset the TeX {tex!r}: {type(exc).__name__}: {exc}") from exc
        # the TeX stays as the formula's annotation, for copying and screen readers
        rendered = rendered.replace('<math ', '<math class="arithmatex" ', 1)
        return f'<div class="arithmatex">{rendered}</div>' if block else rendered

    return _MATH.sub(mathml, content)


def on_page_content(html_text: str, page: Any, **kwargs: Any) -> str:
    return typeset(html_text, where=page.file.src_uri)
