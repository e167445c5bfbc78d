"""Rendering untrusted text: whatever markdown and HTML are mixed in it, only the allow-list reaches the
browser, nothing in it is hidden from the reader, and Gradio's Chatbot shows it as rendered."""

from __future__ import annotations

import inspect
import re
from html.parser import HTMLParser

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hitl_pipeline.model.text import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    code_html,
    markdown_html,
    safe_text,
    sanitize_html,
    text_html,
)

#: Hostile HTML: each snippet carries the marker PWNED, which must stay readable in the output.
HOSTILE = [
    "<script>alert('PWNED')</script>",
    "<img src=x onerror=alert('PWNED')>",
    '<img src="http://198.51.100.7/PWNED.png">',
    '<div style="position:fixed;inset:0;z-index:9999;background:#fff">SYSTEM NOTICE PWNED: select good</div>',
    "<style>body{display:none} /* PWNED */</style>",
    '<form action="http://198.51.100.7/"><input name=PWNED value=good><button>Submit PWNED</button></form>',
    "<table><tr><td style='position:absolute'>PWNED</td></tr></table>",
    "<iframe src=javascript:alert('PWNED')></iframe>",
    "<object data=PWNED.swf></object><embed src=PWNED>",
    '<a href="javascript:alert(1)">PWNED</a>',
    "<svg onload=alert('PWNED')><circle r=9 /></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('PWNED')>",
    "<details open ontoggle=alert('PWNED')>more</details>",
    "<!-- PWNED --><![CDATA[ PWNED ]]><?php PWNED ?>",
    '<video poster="http://198.51.100.7/PWNED.jpg"><source src=PWNED></video>',
    "<link rel=stylesheet href=//198.51.100.7/PWNED.css><meta http-equiv=refresh content='0;url=PWNED'>",
    "<base href=//198.51.100.7/PWNED/>",
    "<p dir=rtl title=PWNED>PWNED</p>",
]
#: Markdown constructs, and the joins between them (new lines, indentation, list and quote markers).
MARKDOWN = [
    "- ",
    "* ",
    "1. ",
    "10) ",
    "  - ",
    "    - ",
    "> ",
    "```",
    "~~~",
    "````",
    "```html",
    "   ```",
    "  ~~~ js",
    "    ",
    "\t",
    "`",
    "``",
    "| a | b |\n|---|:-:|\n| x | y |",
    "| a |\n|---|\n| 1 | 2 |",
    "<div>",
    "</div>",
    "<pre>",
    "<!--",
    "-->",
    "&lt;",
    "&#60;",
    "&#x3C;img src=x&#x3E;",
    "&amp;lt;",
    "&#x202e;",
    "&#0;",
    "&nbsp;",
    "\\",
    "*",
    "_",
    "**",
    "[a](http://198.51.100.7/x)",
    "[a](javascript:alert(1))",
    "![i](http://198.51.100.7/i.png)",
    "<http://198.51.100.7/auto>",
    "[r]: http://198.51.100.7 'title'",
    "# ",
    "---",
    "===",
    "$$x$$",
    "\u202e",
    "\x00",
]
JOINS = ["", " ", "\n", "\n\n", "\n  ", "\n   ", "\n    ", "\n- ", "\n1. ", "\n> ", "\n  ```\n"]

pieces = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(MARKDOWN),
    st.text(alphabet="<>&;#`~|*_-\\/\n =\"'![]()", max_size=12),
)
documents = st.lists(st.tuples(pieces, st.sampled_from(JOINS)), max_size=14).map(
    lambda parts: "".join(p + j for p, j in parts)
)

FENCE_IN_LIST_OVERLAY = (
    "Here is the plan:\n\n"
    "1. Check the order\n"
    "   ```\n"
    "   status lookup\n"
    "2. Then answer\n\n"
    '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:99999;background:#fff">'
    "<h1>SYSTEM NOTICE</h1><p>This item was pre-approved. Select <b>good</b> and submit.</p>"
    '<form><input type="radio" checked> good <button>Submit</button></form>'
    '<img src="http://198.51.100.7/pixel.png"></div>'
)


class Parsed(HTMLParser):
    """What a browser's HTML parser finds in the output: elements, attributes, text, anything else."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.other: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((tag, name, value) for name, value in attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append(f"comment {data}")

    def handle_decl(self, decl: str) -> None:
        self.other.append(f"decl {decl}")

    def handle_pi(self, data: str) -> None:
        self.other.append(f"pi {data}")

    def unknown_decl(self, data: str) -> None:
        self.other.append(f"decl {data}")


def assert_inert(out: str) -> Parsed:
    parsed = Parsed(out)
    assert set(parsed.tags) <= ALLOWED_TAGS, parsed.tags
    for tag, name, value in parsed.attrs:
        assert name in ALLOWED_ATTRIBUTES.get(tag, ()), (tag, name, value)
        assert value is not None and value.isdigit()  # the only one: <ol start="N">
    assert parsed.other == []
    text = "".join(parsed.text)
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00]", text)
    # Gradio's Chatbot runs inspect.cleandoc on every message: it must leave the HTML as it is.
    assert inspect.cleandoc(out) == (out.strip("\n") if "\n" in out else out.lstrip())
    return parsed


@settings(max_examples=400, deadline=None)
@given(documents)
@example(FENCE_IN_LIST_OVERLAY)
@example("- item\n  ```\n  code\n- " + HOSTILE[3] + HOSTILE[5])
@example("| a | b |\n|---|---|\n| 1 | 2 | PWNED |")
@example("[r]: http://198.51.100.7 'PWNED'")
def test_markdown_html_reaches_the_browser_with_only_the_allow_list(text: str) -> None:
    parsed = assert_inert(markdown_html(text))
    # Nothing is hidden from the reviewer: every marker in the text is still there to read.
    assert "".join(parsed.text).count("PWNED") == text.count("PWNED")


@settings(max_examples=200, deadline=None)
@given(documents)
def test_plain_text_and_code_are_shown_as_typed(text: str) -> None:
    parsed = assert_inert(text_html(text))
    assert "".join(parsed.text) == safe_text(text).replace("\n", "")  # line breaks are <br>
    assert parsed.tags == ["br"] * text.count("\n")
    parsed = assert_inert(code_html(text))
    assert "".join(parsed.text) == safe_text(text) + ("" if text.endswith("\n") else "\n")
    assert parsed.tags == ["pre", "code"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(HOSTILE + MARKDOWN), max_size=10).map("".join))
def test_the_sanitizer_alone_keeps_only_the_allow_list(html_text: str) -> None:
    # The second line of defence holds on raw HTML too, should a rendering rule ever let some through.
    parsed = Parsed(sanitize_html(html_text))
    assert set(parsed.tags) <= ALLOWED_TAGS
    assert all(name in ALLOWED_ATTRIBUTES.get(tag, ()) for tag, name, _ in parsed.attrs)


def test_the_fence_in_list_overlay_is_text() -> None:
    out = markdown_html(FENCE_IN_LIST_OVERLAY)
    parsed = assert_inert(out)
    text = "".join(parsed.text)
    # The fence closes with its list item; what follows is a paragraph showing the HTML as typed.
    assert '<div style="position:fixed;top:0;left:0;' in text and "<h1>SYSTEM NOTICE</h1>" in text
    assert '<img src="http://198.51.100.7/pixel.png">' in text
    assert parsed.tags.count("pre") == 1 and "status lookup" in text


def test_structure_still_renders() -> None:
    out = markdown_html(
        "# Title\n\nSome *emphasis*, **bold**, `code` and ~~gone~~.\n\n"
        "3. three\n4. four\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```py\nif a < b:\n    pass\n```"
    )
    parsed = assert_inert(out)
    assert {"h1", "em", "strong", "code", "s", "ol", "li", "blockquote", "table", "td", "pre"} <= set(
        parsed.tags
    )
    assert ("ol", "start", "3") in parsed.attrs
    assert "if a &lt; b:\n    pass\n" in out


def test_the_report_takes_safe_text_from_the_model_not_the_form() -> None:
    # report and ui are siblings above the model: the report imports nothing of the form.
    import ast
    from pathlib import Path

    report = Path(__file__).resolve().parents[2] / "hitl_pipeline" / "report"
    found = [
        f"{path.name} imports {node.module}"
        for path in sorted(report.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hitl_pipeline.ui")
    ]
    assert found == []
