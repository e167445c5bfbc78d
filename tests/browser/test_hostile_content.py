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
    spec = trace_spec("br-hostile", size=2, trace_name="hostile")
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
