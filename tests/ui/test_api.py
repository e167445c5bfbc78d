"""The form's API (the named endpoints) against the real campaign service: what a script can do,
and that it is held to the same rules as the form."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ui_support import GOOD, password, running, trace_spec

from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.errors import ConfigError, SourceError
from hitl_pipeline.ui.auth import ReviewerAccounts
from hitl_pipeline.ui.client import FormClient, FormError
from hitl_pipeline.ui.server import CONTENT_SECURITY_POLICY, ServerHandle, serve

SPEC = trace_spec("ui-api", size=4, n=5, reviewers=["alice", "bob", "carol", "dave", "erin"])


@pytest.fixture(scope="module")
def server(
    demo_db: Path, accounts: ReviewerAccounts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerHandle, CampaignService]]:
    with running(SPEC, demo_db, tmp_path_factory.mktemp("hitl"), auth=accounts) as pair:
        yield pair


def client(server: tuple[ServerHandle, CampaignService], name: str) -> FormClient:
    return FormClient(server[0].url, SPEC, username=name, password=password(name))


def test_anonymous_requests_are_refused(server: tuple[ServerHandle, CampaignService]) -> None:
    url = server[0].url
    assert httpx.get(url + "config").status_code == 401
    assert httpx.get(url + "gradio_api/info").status_code == 401
    r = httpx.post(url + "gradio_api/call/load", json={"data": [], "session_hash": "x1"})
    assert r.status_code == 401
    page = httpx.get(url)
    assert page.status_code == 200  # the login page (rendered by the browser), no item data in it
    assert "support-chat" not in page.text


def test_wrong_password_is_refused(server: tuple[ServerHandle, CampaignService]) -> None:
    with pytest.raises(FormError) as err:
        FormClient(server[0].url, SPEC, username="alice", password="not-her-password")
    assert err.value.status == 400
    with pytest.raises(FormError):
        FormClient(server[0].url, SPEC, username="nobody", password="whatever-123")


def test_security_headers_monitoring_and_run_history_off(
    server: tuple[ServerHandle, CampaignService],
) -> None:
    url = server[0].url
    page = httpx.get(url)
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert (
        "img-src 'self' data: blob:" in CONTENT_SECURITY_POLICY
        and "frame-src 'none'" in CONTENT_SECURITY_POLICY
    )
    assert "object-src 'none'" in CONTENT_SECURITY_POLICY and "form-action 'self'" in CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    with client(server, "alice") as c:
        assert c.http.get("/monitoring").status_code in (403, 404)
        assert c.http.get("/gradio_api/runs").status_code == 404
        assert c.http.get("/config").headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_load_submit_back_edit_updates_the_same_answer(server: tuple[ServerHandle, CampaignService]) -> None:
    service = server[1]
    with client(server, "alice") as c:
        first = c.load()
        assert first.item_key and first.item_key.startswith("trace:")
        assert "0 / 4" in first.progress and "alice" in first.progress
        second = c.submit(GOOD, comment="clear answer")
        assert second.item_key and second.item_key != first.item_key
        assert "1 / 4" in second.progress and "Saved" in second.notice
        stored = service.state.review(first.item_key, "alice")
        assert stored is not None and stored.answers["support_quality"] == "acceptable"
        assert stored.answers["factually_correct"] is True and stored.comment == "clear answer"

        back = c.back()
        assert back.item_key == first.item_key
        assert back.answers["support_quality"] == "acceptable" and back.answers["factually_correct"] == "yes"
        assert back.answers["helpfulness"] == 4
        assert "already answered" in back.notice

        again = c.submit(
            {**GOOD, "support_quality": "poor", "reviewer_notes": "cite the policy"}, comment="changed"
        )
        assert again.item_key == second.item_key  # back to the open item, not a new one
        edited = service.state.review(first.item_key, "alice")
        assert edited is not None and edited.answers["support_quality"] == "poor"
        assert edited.answers["reviewer_notes"] == "cite the policy"
        assert len([r for r in service.state.reviews(reviewer="alice") if r.item_key == first.item_key]) == 1


def test_validation_errors_through_the_api(server: tuple[ServerHandle, CampaignService]) -> None:
    service = server[1]
    with client(server, "bob") as c:
        key = c.load().item_key
        assert key
        with pytest.raises(FormError, match="not in the list of choices"):
            c.submit({**GOOD, "support_quality": "superb"})
        with pytest.raises(FormError, match="greater than maximum"):
            c.submit({**GOOD, "helpfulness": 9})
        with pytest.raises(FormError, match="less than minimum"):
            c.submit({**GOOD, "helpfulness": 0})
        with pytest.raises(FormError, match="not in the list of choices"):
            c.submit({**GOOD, "factually_correct": "maybe"})
        with pytest.raises(FormError, match="Factually correct.*required"):
            c.submit({**GOOD, "factually_correct": None})
        assert service.state.review(key, "bob") is None  # nothing half-stored
        # A `when`-gated answer whose condition does not hold is not sent.
        nxt = c.submit({**GOOD, "reviewer_notes": "should be dropped"})
        assert nxt.item_key != key
        stored = service.state.review(key, "bob")
        assert stored is not None and "reviewer_notes" not in stored.answers


def test_required_comment_is_enforced(demo_db: Path, accounts: ReviewerAccounts, tmp_path: Path) -> None:
    spec = trace_spec("ui-comment", size=2, comment="required")
    with running(spec, demo_db, tmp_path / "hitl", reviewer="solo") as (handle, service):
        with FormClient(handle.url, spec) as c:
            key = c.load().item_key
            assert key is not None
            with pytest.raises(FormError, match="comment is required"):
                c.submit(GOOD, comment="  ")
            assert c.submit(GOOD, comment="fine").item_key != key
            assert service.state.review(key or "", "solo") is not None


def test_skip_moves_on_and_the_item_comes_back(server: tuple[ServerHandle, CampaignService]) -> None:
    with client(server, "carol") as c:
        first = c.load().item_key
        after_skip = c.skip()
        assert after_skip.item_key and after_skip.item_key != first
        seen = [after_skip.item_key]
        screen = after_skip
        for _ in range(5):
            screen = c.submit(GOOD)
            if not screen.item_key:
                break
            seen.append(screen.item_key)
        assert first in seen  # the skipped item came back later
        assert screen.item_key is None and "Nothing left" in str(screen.values["done_text"])


def test_reload_resumes_the_open_item_from_durable_state(
    server: tuple[ServerHandle, CampaignService],
) -> None:
    with client(server, "dave") as c:
        first = c.load()
        c.new_tab()  # a reload: the tab's state is gone, the lease is not
        assert c.load().item_key == first.item_key


def test_reviewer_not_in_the_spec_cannot_take_part(server: tuple[ServerHandle, CampaignService]) -> None:
    with client(server, "mallory") as c, pytest.raises(FormError, match="not a reviewer of campaign"):
        c.load()


def test_submit_needs_an_open_item_in_this_session(server: tuple[ServerHandle, CampaignService]) -> None:
    with client(server, "erin") as c, pytest.raises(FormError, match="No item is open"):
        c.submit(GOOD)


def test_logout_ends_the_session(server: tuple[ServerHandle, CampaignService]) -> None:
    with client(server, "erin") as c:
        assert c.http.get("/config").status_code == 200
        c.http.get("/logout")
        assert c.http.get("/config").status_code == 401


def test_inspect_returns_full_parts(server: tuple[ServerHandle, CampaignService]) -> None:
    with client(server, "erin") as c:
        screen = c.load()
        item = server[1].item(screen.item_key or "")
        assert item.trace is not None
        full = c.inspect("output")
        assert str(item.trace.output.get("content", ""))[:50] in full
        obs = item.trace.observations[0]
        assert obs.name in c.inspect(f"obs:{obs.id}")
        with pytest.raises(FormError, match="not in the list of choices"):
            c.inspect("obs:does-not-exist")


def test_gradio_client_drives_the_form(server: tuple[ServerHandle, CampaignService]) -> None:
    from gradio_client import Client

    gc = Client(server[0].url, auth=("erin", password("erin")), verbose=False, download_files=False)
    try:
        api = gc.view_api(print_info=False, return_format="dict")
        assert {"/load", "/submit", "/skip", "/back", "/inspect", "/progress"} <= set(api["named_endpoints"])
        out = gc.predict(api_name="/load")
        assert "erin" in out[0]
    finally:
        gc.close()


def test_header_auth_and_default_identity(demo_db: Path, tmp_path: Path) -> None:
    spec = trace_spec("ui-header", size=2)
    with running(spec, demo_db, tmp_path / "hitl", auth_header="X-Forwarded-User") as (handle, _):
        assert httpx.post(handle.url + "gradio_api/call/load", json={"data": []}).status_code == 401
        with FormClient(handle.url, spec, headers={"X-Forwarded-User": "carol"}) as c:
            assert "carol" in c.load().progress
    with running(spec, demo_db, tmp_path / "hitl2", reviewer="solo") as (handle, _):
        with FormClient(handle.url, spec) as c:
            assert "solo" in c.load().progress


def test_non_loopback_bind_without_auth_is_refused(demo_db: Path, tmp_path: Path) -> None:
    from ui_support import open_service

    spec = trace_spec("ui-bind", size=1)
    service, source = open_service(spec, demo_db, tmp_path / "hitl")
    try:
        with pytest.raises(ConfigError, match="without authentication"):
            serve(service, spec, host="0.0.0.0", block=False)
    finally:
        service.close()
        source.close()


def test_concurrency_is_set_deliberately(server: tuple[ServerHandle, CampaignService]) -> None:
    from hitl_pipeline.ui.app import READ_GROUP, READ_LIMIT, WRITE_GROUP, WRITE_LIMIT

    fns = {f.api_name: f for f in server[0].blocks.fns.values() if f.api_name}
    for name in ("submit", "skip"):
        assert (fns[name].concurrency_id, fns[name].concurrency_limit) == (WRITE_GROUP, WRITE_LIMIT)
    for name in ("load", "back", "inspect", "progress"):
        assert (fns[name].concurrency_id, fns[name].concurrency_limit) == (READ_GROUP, READ_LIMIT)


def test_a_removed_account_is_refused_at_its_next_action(demo_db: Path, tmp_path: Path) -> None:
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("gone", "soon-removed")
    spec = trace_spec("ui-removed", size=2)
    with running(spec, demo_db, tmp_path / "hitl", auth=accounts) as (handle, _):
        with FormClient(handle.url, spec, username="gone", password="soon-removed") as c:
            assert c.load().item_key
            ReviewerAccounts(tmp_path / "reviewers.json").remove("gone")  # `hitl reviewers remove gone`
            with pytest.raises(FormError, match="no longer a reviewer account"):
                c.submit(GOOD)


def test_a_slow_password_check_does_not_stall_other_requests(demo_db: Path, tmp_path: Path) -> None:
    """Gradio runs a plain auth callable on its event loop: scrypt there would freeze every reviewer.

    The check holds until another request has been answered (or 30 s pass): on the event loop it
    would block that request, which would then be answered only after the check had given up."""
    checking, answered = threading.Event(), threading.Event()
    gave_up: list[bool] = []

    def slow_check(name: str, pw: str) -> bool:
        checking.set()
        gave_up.append(not answered.wait(30))
        return name == "alice" and pw == password("alice")

    spec = trace_spec("ui-slow-login", size=1)
    with running(spec, demo_db, tmp_path / "hitl", auth=slow_check) as (handle, _):
        login = threading.Thread(
            target=FormClient,
            args=(handle.url, spec),
            kwargs={"username": "alice", "password": password("alice")},
        )
        login.start()
        assert checking.wait(60)
        status = httpx.get(handle.url + "config", timeout=120).status_code
        still_checking = not gave_up  # the check has not returned yet
        answered.set()
        login.join(120)
    assert status == 401 and still_checking, "a request waited behind a login check"
    assert gave_up and not any(gave_up)


def test_a_source_failure_after_saving_says_the_answer_is_saved(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = trace_spec("ui-source-down", size=3)
    with running(spec, demo_db, tmp_path / "hitl", reviewer="solo") as (handle, service):
        with FormClient(handle.url, spec) as c:
            key = c.load().item_key
            assert key is not None

            def unreachable(reviewer: str) -> None:
                raise SourceError("Langfuse did not answer (timeout): check LANGFUSE_HOST, then retry")

            monkeypatch.setattr(service, "open_next", unreachable)
            with pytest.raises(FormError, match="answer is saved.*Langfuse did not answer"):
                c.submit(GOOD)
            assert service.state.review(key, "solo") is not None

            def broken(reviewer: str) -> None:
                raise RuntimeError("a bug")  # not a HitlError: Gradio hides its message

            monkeypatch.setattr(service, "progress", broken)
            with pytest.raises(FormError, match="/progress failed on the server without a message"):
                c.progress()


def test_closing_a_server_keeps_the_error_log_of_the_process(demo_db: Path, tmp_path: Path) -> None:
    log = logging.getLogger("uvicorn.error")
    with running(trace_spec("ui-close-log", size=1), demo_db, tmp_path / "hitl", reviewer="solo"):
        serving = log.level  # as uvicorn configured it
    assert log.level == serving < logging.CRITICAL


def test_password_checks_run_a_few_at_a_time(demo_db: Path, tmp_path: Path) -> None:
    from hitl_pipeline.ui.server import LOGIN_CHECKS

    lock = threading.Lock()
    running_now, most = 0, 0

    def counting_check(name: str, pw: str) -> bool:
        nonlocal running_now, most
        with lock:
            running_now += 1
            most = max(most, running_now)
        time.sleep(0.2)
        with lock:
            running_now -= 1
        return False

    spec = trace_spec("ui-login-burst", size=1)
    with running(spec, demo_db, tmp_path / "hitl", auth=counting_check) as (handle, _):

        def attempt() -> None:
            with pytest.raises(FormError):
                FormClient(handle.url, spec, username="mallory", password="guess-123")

        burst = [threading.Thread(target=attempt) for _ in range(3 * LOGIN_CHECKS)]
        for t in burst:
            t.start()
        for t in burst:
            t.join()
    assert 1 < most <= LOGIN_CHECKS  # in parallel, but a burst cannot take every thread and its memory


def test_healthz_answers_without_login_and_names_what_failed(
    server: tuple[ServerHandle, CampaignService],
) -> None:
    handle, service = server
    r = httpx.get(handle.url + "healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["state"] == "ok" and r.json()["source"] == "ok"
    assert "support-chat" not in r.text  # nothing about the campaign
    # A state database that stops answering makes the server unhealthy (the load balancer moves on).
    real = service.state.db.scalar

    def down(*args: object, **kw: object) -> object:
        raise OSError("database gone")

    service.state.db.scalar = down  # type: ignore[method-assign]
    try:
        r = httpx.get(handle.url + "healthz")
    finally:
        service.state.db.scalar = real  # type: ignore[method-assign]
    assert r.status_code == 503 and r.json()["state"] == "unreachable (OSError)"
