"""The form as a reviewer sees it, for every example spec: item and questions side by side at
1366×900, validation that never hides the item, a keyboard-only review of five items, the
observation tree, a phone layout without sideways scrolling, and scores revealed only after the answer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from browser_support import Recorder
from keyboard_reviewer import answer_key, review_item, where
from ui_support import running

from hitl_pipeline.sources.demo import ensure_demo_store
from hitl_pipeline.spec import load_spec, load_spec_text

REPO = Path(__file__).resolve().parent.parent.parent
SPECS = sorted(p.stem for p in (REPO / "specs").glob("*.yaml"))  # every example spec
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

#: Counts pointer events the page receives: a keyboard-only review must cause none.
COUNT_POINTER = """() => { window.__pointer = 0;
  for (const t of ['pointerdown', 'mousedown', 'mouseup']) document.addEventListener(t, () => { window.__pointer += 1; }, true); }"""


@pytest.fixture(scope="module")
def pristine_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store as `hitl demo` makes it (score configs of every example spec), never written."""
    path = tmp_path_factory.mktemp("pristine") / "local.db"
    ensure_demo_store(path)
    return path


@pytest.fixture
def own_db(pristine_db: Path, tmp_path: Path) -> Path:
    """A copy of the demo store for this test: the example campaigns' answers reach the store, and
    the session's shared ``demo_db`` must not carry them into other tests of the same campaigns."""
    path = tmp_path / "local.db"
    shutil.copy(pristine_db, path)
    return path


def reviewer_of(spec: Any) -> str:
    return spec.review.reviewers[0] if spec.review.reviewers else "kb"


def open_page(browser: Any, viewport: dict[str, int]) -> tuple[Any, Any, Recorder]:
    context = browser.new_context(viewport=viewport)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    rec = Recorder()
    pg.on("request", lambda r: rec.requests.append(r.url))
    pg.on("dialog", lambda d: (rec.dialogs.append(d.message), d.dismiss()))
    return context, pg, rec


def wait_item(pg: Any) -> None:
    """The item is shown with its content, and the first question has the focus."""
    pg.wait_for_selector("#hitl-item", state="visible")
    pg.wait_for_function(
        """() => [...document.querySelectorAll('[id^="hitl-chat-"], [id^="hitl-json-"], [id^="hitl-text-"]')]
              .some((el) => el.offsetParent !== null && el.innerText.trim().length > 20)"""
    )
    pg.wait_for_function(
        "() => document.activeElement?.closest && !!document.activeElement.closest('#hitl-q-0')"
    )


def rect(pg: Any, selector: str) -> dict[str, float]:
    return dict(
        pg.eval_on_selector(
            selector,
            "el => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }",
        )
    )


def first_panel(pg: Any) -> str:
    return str(
        pg.evaluate(
            """() => [...document.querySelectorAll('[id^="hitl-chat-"], [id^="hitl-json-"], [id^="hitl-text-"]')]
                .find((el) => el.offsetParent !== null).id"""
        )
    )


@pytest.mark.parametrize("name", SPECS)
def test_item_and_questions_side_by_side_and_validation_keeps_the_item(
    browser: Any, own_db: Path, tmp_path: Path, name: str
) -> None:
    spec = load_spec(REPO / "specs" / f"{name}.yaml")
    with running(spec, own_db, tmp_path / "hitl", reviewer=reviewer_of(spec)) as (handle, service):
        context, pg, rec = open_page(browser, DESKTOP)
        try:
            pg.goto(handle.url)
            wait_item(pg)
            # On load, without scrolling: the start of the item, the first question and Submit.
            assert pg.evaluate("() => window.scrollY") == 0
            panel = first_panel(pg)
            for selector in ("#hitl-facts", f"#{panel}", "#hitl-q-0", "#hitl-submit"):
                box = rect(pg, selector)
                assert 0 <= box["top"] < DESKTOP["height"] - 20, (selector, box)
            for selector in ("#hitl-q-0", "#hitl-submit"):
                assert rect(pg, selector)["bottom"] <= DESKTOP["height"], selector
            # Side by side: the questions are right of the item.
            assert rect(pg, "#hitl-q-0")["left"] >= rect(pg, f"#{panel}")["right"]
            item_text = pg.inner_text(f"#{panel}")
            key = where(pg)["item"]

            # Submit with nothing answered: each required question is marked, the item stays.
            pg.click("#hitl-submit")
            required = [i for i, q in enumerate(spec.questions) if q.required and q.when is None]
            expected = {f"hitl-q-{i}" for i in required} | (
                {"hitl-comment"} if spec.comment == "required" else set()
            )
            pg.wait_for_function(
                "(n) => document.querySelectorAll('.hitl-invalid').length === n", arg=len(expected)
            )
            marked = set(
                pg.evaluate("() => [...document.querySelectorAll('.hitl-invalid')].map((el) => el.id)")
            )
            assert marked == expected
            for box_id in expected:
                assert "required" in pg.inner_text(f"#{box_id} div.validation-error")
            assert pg.is_visible(f"#{panel}") and pg.inner_text(f"#{panel}") == item_text
            assert where(pg)["item"] == key and "Error" not in pg.inner_text("#hitl-item")
            first_bad = f"hitl-q-{required[0]}" if required else "hitl-comment"
            pg.wait_for_function("(id) => !!document.activeElement?.closest('#' + id)", arg=first_bad)
            assert service.state.reviews(reviewer=reviewer_of(spec)) == []  # nothing stored
            # Answering a marked question clears its mark at once.
            pg.keyboard.press(answer_key(str(pg.evaluate("() => window.hitlConfig.questions[0].kind")), 0))
            pg.wait_for_function(
                "() => !document.querySelector('#hitl-q-0').classList.contains('hitl-invalid')"
            )
            assert not rec.dialogs and not rec.outside(handle.url)
        finally:
            context.close()


@pytest.mark.parametrize("name", SPECS)
def test_keyboard_only_review_of_five_items(browser: Any, own_db: Path, tmp_path: Path, name: str) -> None:
    spec = load_spec(REPO / "specs" / f"{name}.yaml")
    reviewer = reviewer_of(spec)
    with running(spec, own_db, tmp_path / "hitl", reviewer=reviewer) as (handle, service):
        context, pg, rec = open_page(browser, DESKTOP)
        try:
            pg.add_init_script(f"({COUNT_POINTER})()")
            pg.goto(handle.url)
            wait_item(pg)
            runs = [review_item(pg, n) for n in range(5)]
            assert pg.evaluate("() => window.__pointer") == 0  # not one mouse event
            assert len({run.item for run in runs}) == 5  # five different items, each submitted
            reviewed = service.state.reviews(reviewer=reviewer)
            # Gold items (a qualification round) are graded and kept apart from the live answers.
            assert len(reviewed) == 5 or spec.quality is not None
            first_q = spec.questions[0]
            for n, run in enumerate(runs):
                assert len(run.keys) <= run.questions + 1, (run.item, run.keys)
                found = [r for r in reviewed if r.item_key.split(":", 1)[1] in run.item]
                if not found:
                    continue
                stored = found[0]
                key = answer_key(first_q.type, n)  # the example specs start with a choice question
                if first_q.type == "boolean":
                    assert stored.answers[first_q.score] is (key == "y")
                else:
                    assert stored.answers[first_q.score] == first_q.categories[int(key) - 1].label
                if spec.comment == "required":
                    assert stored.comment == "Checked by keyboard."
            if spec.quality is None:
                assert "5 / " in pg.inner_text("#hitl-progress")
            assert not rec.dialogs and not rec.outside(handle.url)
        finally:
            context.close()


def test_observation_items_show_the_tree_with_the_observation_marked(
    browser: Any, own_db: Path, tmp_path: Path
) -> None:
    spec = load_spec(REPO / "specs" / "tool_calls.yaml")
    with running(spec, own_db, tmp_path / "hitl", reviewer="tree") as (handle, service):
        context, pg, _ = open_page(browser, DESKTOP)
        try:
            pg.goto(handle.url)
            wait_item(pg)
            pg.wait_for_selector("#hitl-tree", state="visible")
            marked = [line for line in pg.inner_text("#hitl-tree").splitlines() if "▶" in line]
            assert len(marked) == 1 and "TOOL · lookup_order" in marked[0]
            # The answer the generation above the call wrote is on screen (zero clicks).
            assert "Output of the generation that made this call" in pg.inner_text("#hitl-item")
            assert "▶ TOOL output · under review" in pg.inner_text("#hitl-item")
        finally:
            context.close()


def test_session_items_show_each_turns_tree_on_demand(browser: Any, own_db: Path, tmp_path: Path) -> None:
    spec = load_spec(REPO / "specs" / "session_resolution.yaml")
    with running(spec, own_db, tmp_path / "hitl", reviewer="alice") as (handle, _):
        context, pg, _ = open_page(browser, DESKTOP)
        try:
            pg.goto(handle.url)
            wait_item(pg)
            assert not pg.is_visible("#hitl-tree")  # closed until asked for
            pg.click("#hitl-tree-box button, #hitl-tree-box .label-wrap")
            pg.wait_for_selector("#hitl-tree", state="visible")
            text = pg.inner_text("#hitl-tree")
            assert "Turn 1 · support-chat" in text and "generate-answer" in text
        finally:
            context.close()


@pytest.mark.parametrize("name", SPECS)
def test_phone_layout_does_not_scroll_sideways(browser: Any, own_db: Path, tmp_path: Path, name: str) -> None:
    spec = load_spec(REPO / "specs" / f"{name}.yaml")
    with running(spec, own_db, tmp_path / "hitl", reviewer=reviewer_of(spec)) as (handle, _):
        context, pg, _ = open_page(browser, PHONE)
        try:
            pg.goto(handle.url)
            wait_item(pg)
            assert pg.evaluate("() => document.scrollingElement.scrollWidth") <= PHONE["width"]
            # One column: the questions come after the item, full width.
            q = rect(pg, "#hitl-q-0")
            assert q["left"] >= 0 and q["right"] <= PHONE["width"]
            assert q["top"] > rect(pg, f"#{first_panel(pg)}")["bottom"]
        finally:
            context.close()


REVEAL_SPEC = """
version: 1
campaign: br-reveal
title: Reveal after answering
target: trace
source:
  filters:
    trace_name: support-chat
    from: "2026-10-01"
    to: "2026-11-01"
    scores: [{name: llm_judge_helpfulness, op: ">=", value: 0}]
  sample: {size: 2, strategy: latest}
display:
  parts: [input, output, scores]
  scores: [llm_judge_helpfulness]
questions:
  - {score: helpfulness, type: numeric, label: Helpfulness, min: 1, max: 5, step: 1, compare_with: llm_judge_helpfulness}
comment: "off"
"""


def test_automated_scores_appear_only_after_the_answer(browser: Any, own_db: Path, tmp_path: Path) -> None:
    spec = load_spec_text(REVEAL_SPEC, "<reveal>")
    with running(spec, own_db, tmp_path / "hitl", reviewer="rev") as (handle, service):
        context, pg, _ = open_page(browser, DESKTOP)
        try:
            pg.goto(handle.url)
            wait_item(pg)
            first = where(pg)["item"]
            key = "trace:" + first.split("(", 1)[1].split(")", 1)[0]
            judge = [s for s in service.item(key).scores if s.name == "llm_judge_helpfulness"]
            assert judge, "the demo item has a judge score"
            shown = f"{judge[0].value:g}"
            # Before the answer: neither the score's name nor the scores table is on the page.
            assert "llm_judge_helpfulness" not in pg.inner_text("body")
            assert not pg.is_visible("#hitl-scores")
            pg.keyboard.press("4")
            pg.wait_for_function("() => document.activeElement?.id === 'hitl-submit'")
            pg.keyboard.press("Enter")
            pg.wait_for_function(
                "(k) => !document.querySelector('#hitl-facts textarea').value.includes(k)", arg=first
            )
            revealed = pg.inner_text("#hitl-revealed")
            assert "llm_judge_helpfulness" in revealed and shown in revealed and "you 4" in revealed
            # The next item's own score stays hidden until that answer.
            assert not pg.is_visible("#hitl-scores")
            # Back on the answered item: its scores are shown beside the answer.
            pg.keyboard.press("b")
            pg.wait_for_function(
                "(k) => document.querySelector('#hitl-facts textarea').value.includes(k)", arg=first
            )
            assert pg.is_visible("#hitl-scores") and "llm_judge_helpfulness" in pg.inner_text("#hitl-scores")
        finally:
            context.close()
