"""MkDocs hook: typeset the pages' TeX as MathML when the site is built, so it works offline.

pymdownx.arithmatex (generic mode) finds the math in the Markdown (``$...$``, ``$$...$$``,
``\\(...\\)``, ``\\[...\\]``) and wraps it as ``<span class="arithmatex">\\(...\\)</span>`` or
``<div class="arithmatex">\\[...\\]</div>``; this hook replaces each with the MathML that
latex2mathml makes of it (after rewriting the few spellings it gets wrong, see below).
Browsers draw MathML natively (MathML Core: Chromium 109+, Firefox, Safari), so the built
site needs no script, font or network to show its equations.
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

# Spellings latex2mathml (3.81) gets wrong, rewritten to ones it gets right: an alphabet
# command on a bare letter (`\mathbb E` gives a mathvariant that MathML Core browsers
# ignore; `\mathbb{E}` gives the letter 𝔼), a sized delimiter `\big\|` (left as the text
# `\|`; the character ‖ itself is sized), and `\sim` (a letter ~, not the relation ∼).
_BARE_ALPHABET = re.compile(r"(\\math(?:bb|cal|frak|bf|scr|sf|tt|rm|it))(?![A-Za-z])\s*([A-Za-z0-9])")
_SIZED_NORM = re.compile(r"(\\[Bb]igg?[lr]?)\s*(?:\\\||\\Vert\b|\\[lr]Vert\b)")
_SIM = re.compile(r"\\sim(?![A-Za-z])")
_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<block>.*?)\\\])\s*</(?P=tag)>',
    re.S,
)


def typeset(content: str, where: str = "") -> str:
    """Replace every arithmatex span or div in ``content`` by MathML."""

    def mathml(match: re.Match[str]) -> str:
        block = match.group("block") is not None
        tex = html.unescape(match.group("block") if block else match.group("inline")).strip()
        source = _BARE_ALPHABET.sub(r"\1{\2}", tex)
        source = _SIM.sub(r"\\thicksim", _SIZED_NORM.sub(lambda m: m.group(1) + "‖", source))
        try:
            rendered = convert(source, display="block" if block else "inline")
        except Exception as exc:  # latex2mathml raises many kinds; all mean the same here
            raise PluginError(f"{where}: cannot typeset the TeX {tex!r}: {type(exc).__name__}: {exc}") from exc
        left = re.findall(r">[^<]*\\[^<]*<", rendered)
        if left:  # a command latex2mathml passed through as text
            raise PluginError(f"{where}: the TeX {tex!r} left {left[0][1:-1]!r} untypeset; write it another way")
        # a wide equation scrolls sideways on a narrow screen; never up and down
        return f'<div style="overflow-x: auto; overflow-y: hidden">{rendered}</div>' if block else rendered

    return _MATH.sub(mathml, content)


def on_page_content(html_text: str, page: Any, **kwargs: Any) -> str:
    return typeset(html_text, where=page.file.src_uri)
