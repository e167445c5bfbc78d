"""A reviewer in a real browser: keyboard-only review, back-and-edit, skip, reload and restart resume,
login and logout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser_support import Recorder
from ui_support import running, trace_spec

from hitl_pipeline.ui.auth import ReviewerAccounts


def wait_ready(pg: Any) -> None:
    pg.wait_for_selector("#hitl-item", state="visible")
    pg.wait_for_function("() => document.querySelector('#hitl-facts textarea')?.value.includes('trace:')")


def facts(pg: Any) -> str:
    return str(pg.eval_on_selector("#hitl-facts textarea", "el => el.value"))


def trace_id(pg: Any) -> str:
    text = facts(pg)
    return "trace:" + text.split("(", 1)[1].split(")", 1)[0]


def wait_item_change(pg: Any, old: str) -> None:
    pg.wait_for_function(
        "(old) => { const t = document.querySelector('#hitl-facts textarea'); return t && !t.value.includes(old); }",
        arg=old.split(":", 1)[1],
    )


def active(pg: Any) -> str:
    return str(
        pg.evaluate(
            "() => { const a = document.activeElement; return a ? (a.closest('.hitl-q')?.id || a.id || a.tagName) : ''; }"
        )
    )


def wait_focus(pg: Any, box: str) -> None:
    """Wait until the focus is in ``#box`` (focus moves a frame after the answer, once the target shows)."""
    pg.wait_for_function("(id) => document.activeElement?.closest('#' + id)", arg=box)


def test_keyboard_only_review(page: tuple[Any, Recorder], demo_db: Path, tmp_path: Path) -> None:
    pg, rec = page
    spec = trace_spec("br-keys", size=3)
    with running(spec, demo_db, tmp_path / "hitl", reviewer="kb") as (handle, service):
        pg.goto(handle.url)
        wait_ready(pg)
        pg.wait_for_function("() => document.activeElement && document.activeElement.closest('#hitl-q-0')")
        # `?` shows the shortcuts, `?` again hides them.
        pg.keyboard.press("?")
        assert pg.is_visible("#hitl-shortcuts") and "skip this item" in pg.inner_text("#hitl-shortcuts")
        pg.keyboard.press("?")
        assert not pg.is_visible("#hitl-shortcuts")

        first = trace_id(pg)
        pg.keyboard.press("1")  # excellent; focus moves on to the 1–5 scale
        wait_focus(pg, "hitl-q-1")
        pg.keyboard.type("5")  # the scale's button 5; focus moves on to yes/no
        wait_focus(pg, "hitl-q-2")
        pg.keyboard.press("y")  # the last question asked: focus moves on to Submit
        pg.wait_for_function("() => document.activeElement?.id === 'hitl-submit'")
        pg.keyboard.press("Control+Enter")
        wait_item_change(pg, first)
        pg.wait_for_function("() => document.activeElement && document.activeElement.closest('#hitl-q-0')")
        stored = service.state.review(first, "kb")
        assert stored is not None
        assert stored.answers == {
            "support_quality": "excellent",
            "helpfulness": 5.0,
            "factually_correct": True,
        }
        assert "1 / 3" in pg.inner_text("#hitl-progress")

        # Second item: `poor` reveals the follow-up question; keys typed in text boxes do nothing.
        second = trace_id(pg)
        assert not pg.is_visible("#hitl-q-3")
        pg.keyboard.press("3")
        pg.wait_for_selector("#hitl-q-3", state="visible")
        pg.keyboard.type("2")
        wait_focus(pg, "hitl-q-2")
        pg.keyboard.press("n")  # focus moves on to the follow-up `poor` revealed
        pg.wait_for_function("() => document.activeElement?.closest('#hitl-q-3')")
        pg.click("#hitl-comment textarea")
        pg.keyboard.type("1 2 y n s b ?")
        assert trace_id(pg) == second and not pg.is_visible("#hitl-shortcuts")
        assert pg.is_checked("#hitl-q-0 input[value='poor']") and pg.is_checked("#hitl-q-2 input[value='no']")
        pg.click("#hitl-q-3 textarea")
        pg.keyboard.type("Should cite the refund policy.")
        pg.keyboard.press("Control+Enter")  # submits even while typing
        wait_item_change(pg, second)
        stored2 = service.state.review(second, "kb")
        assert stored2 is not None and stored2.comment == "1 2 y n s b ?"
        assert stored2.answers["support_quality"] == "poor"
        assert stored2.answers["reviewer_notes"] == "Should cite the refund policy."

        # `s` skips the third item.
        third = trace_id(pg)
        pg.keyboard.press("s")
        pg.wait_for_function("() => document.querySelector('#hitl-notice')?.innerText.includes('Skipped')")
        assert service.state.review(third, "kb") is None
        assert not rec.dialogs and not rec.outside(handle.url)


def test_back_and_edit(page: tuple[Any, Recorder], demo_db: Path, tmp_path: Path) -> None:
    pg, _ = page
    spec = trace_spec("br-back", size=3)
    with running(spec, demo_db, tmp_path / "hitl", reviewer="ed") as (handle, service):
        pg.goto(handle.url)
        wait_ready(pg)
        first = trace_id(pg)
        pg.click("#hitl-q-0 input[value='acceptable']")
        pg.click("#hitl-q-1 input[value='3']")  # the 1–5 scale is a row of buttons
        pg.click("#hitl-q-2 input[value='yes']")
        pg.click("#hitl-submit")
        wait_item_change(pg, first)
        second = trace_id(pg)

        pg.keyboard.press("b")
        pg.wait_for_function(
            "(k) => document.querySelector('#hitl-facts textarea').value.includes(k)", arg=first[6:]
        )
        assert pg.is_checked("#hitl-q-0 input[value='acceptable']")
        assert pg.is_checked("#hitl-q-1 input[value='3']")
        assert "already answered" in pg.inner_text("#hitl-notice")
        pg.keyboard.press("1")  # change to excellent
        pg.keyboard.press("Control+Enter")
        pg.wait_for_function(
            "(k) => document.querySelector('#hitl-facts textarea').value.includes(k)", arg=second[6:]
        )
        edited = service.state.review(first, "ed")
        assert edited is not None and edited.answers["support_quality"] == "excellent"
        assert len([r for r in service.state.reviews(reviewer="ed") if r.item_key == first]) == 1


def test_reload_and_restart_resume_from_durable_state(
    page: tuple[Any, Recorder], demo_db: Path, tmp_path: Path
) -> None:
    pg, _ = page
    spec = trace_spec("br-resume", size=3)
    home = tmp_path / "hitl"
    with running(spec, demo_db, home, reviewer="rr") as (handle, _):
        pg.goto(handle.url)
        wait_ready(pg)
        first = trace_id(pg)
        pg.click("#hitl-q-0 input[value='excellent']")
        pg.click("#hitl-q-1 input[value='4']")
        pg.click("#hitl-q-2 input[value='yes']")
        pg.click("#hitl-submit")
        wait_item_change(pg, first)
        second = trace_id(pg)
        pg.reload()
        wait_ready(pg)
        assert trace_id(pg) == second
        assert "1 / 3" in pg.inner_text("#hitl-progress")
        url = handle.url
    # The server stops and starts again (new process state, same state directory).
    with running(spec, demo_db, home, reviewer="rr") as (handle2, service2):
        pg.goto(handle2.url)
        wait_ready(pg)
        assert trace_id(pg) == second
        assert "1 / 3" in pg.inner_text("#hitl-progress")
        assert service2.state.review(first, "rr") is not None
    assert url


def test_login_and_logout(page: tuple[Any, Recorder], demo_db: Path, tmp_path: Path) -> None:
    pg, rec = page
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("alice", "alice-secret-1")
    spec = trace_spec("br-login", size=2)
    with running(spec, demo_db, tmp_path / "hitl", auth=accounts) as (handle, _):
        pg.goto(handle.url)
        pg.get_by_label("username").fill("alice")
        pg.get_by_label("password").fill("wrong-password")
        pg.get_by_role("button", name="Login").click()
        pg.get_by_text("Incorrect credentials").wait_for()
        assert not pg.is_visible("#hitl-item")

        pg.get_by_label("username").fill("alice")
        pg.get_by_label("password").fill("alice-secret-1")
        pg.get_by_role("button", name="Login").click()
        wait_ready(pg)
        assert "alice" in pg.inner_text("#hitl-progress")
        pg.reload()
        wait_ready(pg)  # the login survives a reload

        pg.click("#hitl-logout")
        pg.get_by_role("button", name="Login").wait_for()
        pg.reload()
        pg.get_by_role("button", name="Login").wait_for()
        assert not pg.is_visible("#hitl-item")
        assert not rec.outside(handle.url)
