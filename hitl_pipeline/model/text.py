"""Untrusted text made safe to show: visible direction overrides, and markdown rendered to inert HTML.

Trace text is written by an LLM and by its users, so it must never steer the reviewer who reads it:
nothing in it may run, load, draw outside its own box or pass for something else. Two functions
carry that rule for every layer that shows such text (the review form, the HTML report):

* :func:`safe_text` makes invisible characters that disguise text visible (bidirectional overrides
  such as U+202E, and NUL);
* :func:`markdown_html` renders markdown with a real CommonMark parser (markdown-it-py) with raw HTML
  **off** — every ``<tag>`` in the text is shown as typed — and then passes the result through an
  allow-list sanitizer (nh3, the Rust *ammonia* crate) before it can reach a browser. The allow-list
  (:data:`ALLOWED_TAGS`, :data:`ALLOWED_ATTRIBUTES`) has text structure only: no ``style``, no
  ``class`` or ``id``, no forms, inputs, buttons, frames, objects, media or images, and no URL at all
  (links are shown as their text followed by their destination, never as a live ``<a href>``), so no
  element can be positioned, load anything, submit anything or be clicked away to another page.
  Markdown images are shown as text (``[image “alt”: URL — not loaded]``).

The sanitizer is not a formality: the parser already escapes everything, and the sanitizer is the
guarantee that holds even if a rendering rule here or a parser upgrade gets something wrong.

This module is at the bottom of the layers: it imports nothing else of ``hitl_pipeline``.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, mdTrim, unescapeAll
from markdown_it.rules_block.state_block import StateBlock
from markdown_it.rules_block.table import escapedSplit, getLine
from markdown_it.rules_block.table import table as _gfm_table
from markdown_it.token import Token

_BIDI = {
    "\u061c": "ALM",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
}
_BIDI_RE = re.compile("[" + "".join(_BIDI) + "\x00]")


def safe_text(text: str) -> str:
    """Make invisible direction overrides and NULs visible, so they cannot disguise what text says."""
    if not _BIDI_RE.search(text):
        return text
    return _BIDI_RE.sub(
        lambda m: "\\x00" if m.group() == "\x00" else f"[U+{ord(m.group()):04X} {_BIDI[m.group()]}]", text
    )


# --------------------------------------------------------------------------------------- the allow-list

#: Every element rendered trace text may contain: text structure only.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "ul",
        "ol",
        "li",
        "pre",
        "code",
        "em",
        "strong",
        "s",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
)
#: The only attribute rendered trace text may carry: a numbered list's first number.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {"ol": frozenset({"start"})}


def _keep_attribute(tag: str, attr: str, value: str) -> str | None:
    if tag == "ol" and attr == "start" and value.isdigit() and len(value) <= 9:
        return value
    return None


def sanitize_html(fragment: str) -> str:
    """``fragment`` reduced to :data:`ALLOWED_TAGS` / :data:`ALLOWED_ATTRIBUTES` (content of other
    elements kept as text, ``script``/``style`` content dropped, comments dropped)."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute,
        strip_comments=True,
        link_rel=None,
    )


# --------------------------------------------------------------------------------------- markdown

#: URL schemes a link may show as its destination; any other link is left as the text it was typed as.
_LINK_SCHEMES = ("http:", "https:", "mailto:")


def _validate_link(url: str) -> bool:
    # markdown-it keeps a link whose destination fails this as plain text (as typed).
    return url.strip().lower().startswith(_LINK_SCHEMES)


def _target(token: Token) -> str:
    # Where a link or image points, and its title: shown, since no attribute carries them.
    url = str(token.attrGet("href") or token.attrGet("src") or "")
    title = str(token.attrGet("title") or "")
    return f"{url} “{title}”" if title else url


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return html.escape(f"[image “{alt}”: {_target(token)} — not loaded]", quote=False)


def _render_link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return ""  # links are inert: their text, then their destination (see _render_link_close)


def _render_link_close(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    depth, start = 0, idx
    while start > 0:
        start -= 1
        if tokens[start].type == "link_close":
            depth += 1
        elif tokens[start].type == "link_open":
            if depth == 0:
                break
            depth -= 1
    link = tokens[start]
    href = str(link.attrGet("href") or "")
    text = self.renderInlineAsText(list(tokens[start + 1 : idx]), options, env)
    if not link.attrGet("title") and text.strip() in (href, href.removeprefix("mailto:")):
        return ""  # an autolink: its text is its address
    return html.escape(f" ⟨{_target(link)}⟩", quote=False)


def _render_fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # The info string after the opening fence (a language, or any text) is shown above the code.
    token = tokens[idx]
    info = unescapeAll(token.info).strip()
    head = f"<p><code>{escapeHtml(info)}</code></p>\n" if info else ""
    return f"{head}<pre><code>{escapeHtml(token.content)}</code></pre>\n"


def _row_cells(state: StateBlock, line: int) -> int:
    # Counted exactly as the GFM table rule counts them.
    cells = escapedSplit(mdTrim(getLine(state, line)))
    if cells and cells[0] == "":
        cells.pop(0)
    if cells and cells[-1] == "":
        cells.pop()
    return len(cells)


def _table(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A GFM table, unless a row has more cells than the header: GFM drops the extra cells, which
    would hide text from the reviewer, so such lines stay a paragraph (shown as typed)."""
    first_token = len(state.tokens)
    if not _gfm_table(state, start, end, silent):
        return False
    if silent:
        return True
    header = sum(1 for t in state.tokens[first_token:] if t.type == "th_open")
    if any(_row_cells(state, line) > header for line in range(start + 2, state.line)):
        del state.tokens[first_token:]
        state.line = start
        return False
    return True


def _make_parser() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        # html: off — raw HTML blocks and inline tags are text; breaks: a single newline is a line
        # break, as chat messages are written (and as Gradio's own renderer shows them).
        {"html": False, "breaks": True, "linkify": False, "typographer": False},
    ).enable(["table", "strikethrough"])
    md.block.ruler.at("table", _table, {"alt": ["paragraph", "reference"]})
    # A link reference definition ("[x]: http://… 'title'") renders as nothing: keep it as text.
    md.disable("reference")
    md.validateLink = _validate_link  # type: ignore[method-assign]
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("link_close", _render_link_close)
    md.add_render_rule("fence", _render_fence)
    return md


_MD = _make_parser()


_PRE = re.compile(r"(<pre>.*?</pre>)", re.DOTALL)
#: The end of a code block not on a line of its own (an unclosed fence at the end of the text).
_CODE_END = re.compile(r"(?<!\n)</code></pre>")


def _finish(fragment: str) -> str:
    clean = safe_text(sanitize_html(fragment))
    # Gradio's Chatbot shows messages with ``white-space: pre-line``: the new lines markdown-it puts
    # between tags would show as blank lines, so only those inside <pre> are kept, and each code
    # block ends with "</code></pre>" at the start of a line. Every line after the first is then
    # code or starts at column 0, so the inspect.cleandoc Gradio runs on each message finds no
    # common indentation to strip. Tabs become entities, or cleandoc would expand them to spaces.
    parts = _PRE.split(_CODE_END.sub("\n</code></pre>", clean))
    joined = "".join(part if i % 2 else part.replace("\n", "") for i, part in enumerate(parts))
    return joined.replace("\t", "&#9;")


@functools.lru_cache(maxsize=1024)  # pure Python parsing: ~20 ms for 4,000 dense characters
def markdown_html(text: str) -> str:
    """``text`` rendered as markdown into HTML that contains only :data:`ALLOWED_TAGS`.

    HTML in the text is displayed as typed (``<answer>42</answer>`` reads just so), entities are
    decoded once, links are inert (text then ``⟨destination⟩``), images are not loaded, and direction
    overrides are made visible — including ones written as entities (``&#x202e;``), since
    :func:`safe_text` runs on the rendered result.
    """
    # safe_text before (markdown-it would turn a NUL into U+FFFD) and after (overrides from entities)
    return _finish(_MD.render(safe_text(text)))


def text_html(text: str) -> str:
    """Plain ``text`` as one line of HTML that shows it as typed (no markdown; line breaks as
    ``<br>``), direction overrides visible."""
    return safe_text(html.escape(text, quote=False)).replace("\t", "&#9;").replace("\n", "<br>")


def code_html(text: str) -> str:
    """``text`` as a preformatted code block, shown as typed."""
    return _finish(f"<pre><code>{html.escape(safe_text(text), quote=False)}</code></pre>")
