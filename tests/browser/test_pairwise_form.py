"""A pairwise review in a real browser: the shared input once, outputs A and B side by side, a
keyboard-only review of 5 pairs with `a` / `b` / `t` and a per-side yes/no question (`y` / `n`
for the output shown as A, then as B), the sides drawn per pair and recorded."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from browser_support import Recorder
from ui_support import running

from hitl_pipeline.model.pairs import left_arm, outcome_of_choice
from hitl_pipeline.scoring.configs import resolve_configs
from hitl_pipeline.sources.local import LocalSource
from tests.pairwise.pair_support import pair_spec


def _facts(pg: Any) -> str:
    return str(pg.eval_on_selector("#hitl-facts textarea", "el => el.value"))


def _wait_new_pair(pg: Any, old: str) -> str:
    pg.wait_for_function(
        "(old) => { const v = document.querySelector('#hitl-facts textarea')?.value || '';"
        " return v.includes('question_id') && v !== old; }",
        arg=old,
    )
    pg.wait_for_function("() => document.activeElement && document.activeElement.closest('#hitl-q-0')")
    # The chats render their messages after the facts arrive: wait until both sides show text.
    pg.wait_for_function(
        "() => ['a', 'b'].every(s => document.querySelector('#hitl-side-' + s)?.innerText.trim())"
    )
    return _facts(pg)


def test_keyboard_only_pairwise_review(page: tuple[Any, Recorder], demo_db: Path, tmp_path: Path) -> None:
    pg, rec = page
    spec = pair_spec(
        campaign="br-pairs",
        size=5,
        questions="  - {score: resolves_issue, type: boolean, label: 'Does it solve the problem?', per_side: true}\n",
    )
    picks = ["a", "b", "t", "a", "b"]
    sides_yn = ["yn", "ny", "yy", "nn", "yn"]  # the per-side answers for the outputs shown as A, B
    db = tmp_path / "store.db"
    shutil.copy(demo_db, db)
    store = LocalSource(db)
    resolve_configs(spec, store, create=True)  # hitl configs sync --create: one config, both halves
    store.close()
    with running(spec, db, tmp_path / "hitl", reviewer="kb") as (handle, service):
        pg.goto(handle.url)
        facts = _wait_new_pair(pg, "")
        seen: list[tuple[str, str, str]] = []
        for n, key in enumerate(picks):
            lease = service.state.current_lease("kb", service.clock())
            assert lease is not None
            item_key = lease[0]
            item = service.item(item_key)
            assert item.pair is not None and item.pair.left == left_arm(spec.sample.seed, item_key)
            left, right = item.pair.shown
            # The shared input once; output A (left) and B (right) side by side, no arm names.
            side_a, side_b = pg.inner_text("#hitl-side-a"), pg.inner_text("#hitl-side-b")
            for shown, trace in ((side_a, left.trace), (side_b, right.trace)):
                text = trace.output["content"]  # type: ignore[union-attr,index]
                opening = text.replace("*", "").split("\n")[0][:30]
                assert opening in shown  # rendered markdown (emphasis gone): compare the opening words
                for mark in ("Next step:", "forwarded your message"):  # what tells the two answers apart
                    assert (mark in text) == (mark in shown)
            page_text = pg.inner_text("#hitl-item")
            assert (
                "prompt-v1" not in page_text and "prompt-v2" not in page_text and "prompt v" not in page_text
            )
            box_a = pg.locator("#hitl-side-a").bounding_box()
            box_b = pg.locator("#hitl-side-b").bounding_box()
            assert box_a and box_b and box_a["x"] + box_a["width"] <= box_b["x"] + 1  # A left of B
            assert abs(box_a["y"] - box_b["y"]) < 2
            assert "Does it solve the problem? (A)" in pg.inner_text("#hitl-q-1")
            assert "Does it solve the problem? (B)" in pg.inner_text("#hitl-q-2")
            pg.keyboard.press(key)
            for i, yn in enumerate(sides_yn[n], start=1):  # focus moves on to each half in turn
                pg.wait_for_function(f"() => document.activeElement?.closest('#hitl-q-{i}')")
                pg.keyboard.press(yn)
            pg.wait_for_function("() => document.activeElement?.id === 'hitl-submit'")
            pg.keyboard.press("Control+Enter")
            if n < len(picks) - 1:
                facts = _wait_new_pair(pg, facts)
            else:
                pg.wait_for_selector("#hitl-done", state="visible")
            choice = {"a": "A", "b": "B", "t": "tie"}[key]
            review = service.state.review(item_key, "kb")
            assert review is not None
            right_arm = "b" if item.pair.left == "a" else "a"
            assert review.answers == {  # the half shown as A is about the left arm, whichever it is
                "answer_preference": outcome_of_choice(choice, item.pair.left),
                f"resolves_issue@{item.pair.left}": sides_yn[n][0] == "y",
                f"resolves_issue@{right_arm}": sides_yn[n][1] == "y",
            }
            rows = service.state.outbox(item_key=item_key)
            per_side = [r.payload for r in rows if r.payload["name"] == "resolves_issue"]
            left_trace, right_trace = (t.trace.id for t in item.pair.shown)  # type: ignore[union-attr]
            assert {p["trace_id"]: p["value"] for p in per_side} == {
                left_trace: float(sides_yn[n][0] == "y"),
                right_trace: float(sides_yn[n][1] == "y"),
            }
            rows = [r for r in rows if r.payload["name"] == "answer_preference"]
            sides = {r.payload["metadata"]["hitl_arm"]: r.payload["metadata"]["hitl_side"] for r in rows}
            assert sides == {item.pair.left: "left", ("b" if item.pair.left == "a" else "a"): "right"}
            seen.append((item_key, item.pair.left, choice))
        assert len({k for k, _, _ in seen}) == 5
        assert {left for _, left, _ in seen} == {"a", "b"}  # sides swapped between pairs
        # Back is `p` in a pair campaign (`b` picks B): it reopens the last pair with its pick.
        pg.keyboard.press("p")
        pg.wait_for_selector("#hitl-item", state="visible")
        pg.wait_for_function("() => document.querySelector('#hitl-q-0 input[value=\"B\"]')?.checked")
        # … and the per-side answers on the halves they were given on (the last pair: y for A, n for B).
        pg.wait_for_function(
            "() => document.querySelector('#hitl-q-1 input[value=\"yes\"]')?.checked"
            " && document.querySelector('#hitl-q-2 input[value=\"no\"]')?.checked"
        )
    assert rec.outside(handle.url) == [] and rec.dialogs == []


def test_pairwise_form_stacks_on_a_phone(browser: Any, demo_db: Path, tmp_path: Path) -> None:
    spec = pair_spec(campaign="br-pairs-phone", size=2)
    with running(spec, demo_db, tmp_path / "hitl", reviewer="kb") as (handle, _service):
        for width, height, stacked in ((1366, 900, False), (390, 844, True)):
            context = browser.new_context(viewport={"width": width, "height": height})
            pg = context.new_page()
            pg.goto(handle.url)
            _wait_new_pair(pg, "")
            a = pg.locator("#hitl-side-a").bounding_box()
            b = pg.locator("#hitl-side-b").bounding_box()
            assert a and b
            assert (b["y"] >= a["y"] + a["height"] - 1) == stacked
            assert (
                pg.evaluate("() => document.documentElement.scrollWidth") <= width + 1
            )  # no sideways scroll
            pg.screenshot(path=str(tmp_path / f"pair-{width}x{height}.png"), full_page=True)
            context.close()
