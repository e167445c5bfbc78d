"""The login page in a real browser with the access guard in front: it still logs in (same-origin
Origin accepted, no API description needed), and a throttled login says why instead of nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser_support import Recorder
from ui_support import running, trace_spec

from hitl_pipeline.ui.auth import LoginThrottle, ReviewerAccounts


def test_a_throttled_login_is_explained_and_a_later_login_works(
    page: tuple[Any, Recorder], demo_db: Path, tmp_path: Path
) -> None:
    pg, rec = page
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("alice", "alice-secret-1")
    accounts.add("bob", "bob-secret-12")
    throttle = LoginThrottle(free=1, base=300)
    spec = trace_spec("br-login-guard", size=2)
    with running(spec, demo_db, tmp_path / "hitl", auth=accounts, login_throttle=throttle) as (handle, _):
        pg.goto(handle.url)
        assert pg.evaluate("() => window.gradio_api_info") is None
        statuses = []
        for pw in ("wrong-password", "wrong-password", "alice-secret-1"):
            pg.get_by_label("username").fill("alice")
            pg.get_by_label("password").fill(pw)
            # One attempt at a time: the page clears the fields when its answer arrives.
            with pg.expect_response(lambda r: r.url.rstrip("/").endswith("/login")) as answer:
                pg.get_by_role("button", name="Login").click()
            statuses.append(answer.value.status)
        assert statuses == [400, 400, 429]
        pg.get_by_text("Incorrect credentials").wait_for()
        notice = pg.locator("#hitl-login-notice")
        notice.wait_for()
        assert notice.inner_text().startswith("Too many failed logins for this account: try again in ")
        assert not pg.is_visible("#hitl-item")

        pg.get_by_label("username").fill("bob")  # another account is not locked
        pg.get_by_label("password").fill("bob-secret-12")
        pg.get_by_role("button", name="Login").click()
        pg.wait_for_selector("#hitl-item", state="visible")
        pg.wait_for_function("() => document.querySelector('#hitl-facts textarea')?.value.includes('trace:')")
        assert "bob" in pg.inner_text("#hitl-progress")
        assert not rec.outside(handle.url)
        assert not rec.dialogs
