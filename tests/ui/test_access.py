"""Access to a running review server, by real HTTP requests to a real server on 127.0.0.1: login
throttling, sessions ended by account changes, nothing of the form before login, login CSRF, the
proxy header's first-hop rule, no uploads, tabs bound to their login, restarting on the same port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ui_support import GOOD, password, running, trace_spec

from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.ui.auth import LoginThrottle, ReviewerAccounts
from hitl_pipeline.ui.client import FormClient, FormError
from hitl_pipeline.ui.server import MAX_BODY_BYTES, ServerHandle, serve

SPEC = trace_spec("ui-access", size=4, n=2, reviewers=["alice", "bob", "carol", "dave", "erin"])


@pytest.fixture(scope="module")
def server(
    demo_db: Path, accounts: ReviewerAccounts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerHandle, CampaignService]]:
    with running(SPEC, demo_db, tmp_path_factory.mktemp("hitl"), auth=accounts) as pair:
        yield pair


def _login(url: str, name: str, pw: str, **headers: str) -> httpx.Response:
    return httpx.post(url + "login", data={"username": name, "password": pw}, headers=headers)


# --------------------------------------------------------------------------- login throttling


def test_a_burst_of_wrong_passwords_locks_the_account_before_the_right_one(
    demo_db: Path, tmp_path: Path
) -> None:
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("alice", password("alice"))
    throttle = LoginThrottle(base=300)  # the first lock lasts 5 min: no race with the clock
    with running(SPEC, demo_db, tmp_path / "hitl", auth=accounts, login_throttle=throttle) as (handle, _):
        with httpx.Client(base_url=handle.url) as http:
            codes = [
                http.post("login", data={"username": "alice", "password": f"guess-{i}"}).status_code
                for i in range(150)
            ]
            right = http.post("login", data={"username": "alice", "password": password("alice")})
    assert codes.count(400) == throttle.free + 1  # only these reached a password check
    assert set(codes[throttle.free + 1 :]) == {429}
    assert right.status_code == 429
    assert right.json()["detail"].startswith("Too many failed logins for this account: try again in ")
    assert 0 < int(right.headers["Retry-After"]) <= 300
    assert not any(k.startswith("access-token") for k in right.cookies)


def test_many_accounts_tried_from_one_address_lock_that_address(demo_db: Path, tmp_path: Path) -> None:
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("alice", password("alice"))
    throttle = LoginThrottle(base=300, free=100, free_per_address=8)
    with running(SPEC, demo_db, tmp_path / "hitl", auth=accounts, login_throttle=throttle) as (handle, _):
        codes = [_login(handle.url, f"user{i}", "wrong-password").status_code for i in range(12)]
        right = _login(handle.url, "alice", password("alice"))
    assert codes[:9] == [400] * 9 and set(codes[9:]) == {429}
    assert right.status_code == 429
    assert "Too many failed logins for this address" in right.json()["detail"]


def test_a_success_clears_earlier_failures(demo_db: Path, tmp_path: Path) -> None:
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("alice", password("alice"))
    throttle = LoginThrottle(base=300)
    with running(SPEC, demo_db, tmp_path / "hitl", auth=accounts, login_throttle=throttle) as (handle, _):
        for _ in range(3):
            assert [_login(handle.url, "alice", "wrong-one").status_code for _ in range(throttle.free)] == [
                400
            ] * throttle.free
            assert _login(handle.url, "alice", password("alice")).status_code == 200


# ------------------------------------------------------------------ sessions and account changes


def test_replacing_a_password_ends_the_old_sessions(demo_db: Path, tmp_path: Path) -> None:
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("alice", password("alice"))
    with running(SPEC, demo_db, tmp_path / "hitl", auth=accounts) as (handle, _):
        with FormClient(handle.url, SPEC, username="alice", password=password("alice")) as old:
            assert old.load().item_key
            assert old.http.get("/config").status_code == 200
            # `hitl reviewers add alice --replace` in another process
            ReviewerAccounts(tmp_path / "reviewers.json").add("alice", "a-new-password", replace=True)
            refused = old.http.get("/config")
            assert refused.status_code == 401
            assert "password of “alice” was changed" in refused.json()["detail"]
            with pytest.raises(FormError) as caught:
                old.load()
            assert caught.value.status == 401
        with pytest.raises(FormError):
            FormClient(handle.url, SPEC, username="alice", password=password("alice"))
        with FormClient(handle.url, SPEC, username="alice", password="a-new-password") as new:
            assert new.load().item_key


def test_a_removed_reviewer_cannot_read_the_config(demo_db: Path, tmp_path: Path) -> None:
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("bob", password("bob"))
    with running(SPEC, demo_db, tmp_path / "hitl", auth=accounts) as (handle, _):
        with FormClient(handle.url, SPEC, username="bob", password=password("bob")) as c:
            assert c.http.get("/config").status_code == 200
            ReviewerAccounts(tmp_path / "reviewers.json").remove("bob")  # `hitl reviewers remove bob`
            refused = c.http.get("/config")
            assert refused.status_code == 401
            assert refused.json()["detail"] == "“bob” is no longer a reviewer account: log in again."
            assert c.http.get("/gradio_api/info").status_code == 401
            page = c.http.get("/")
            assert page.status_code == 200 and "Overall quality" not in page.text  # the login page


# ------------------------------------------------------------------------ nothing before login


def test_the_page_before_login_carries_no_api_description(
    server: tuple[ServerHandle, CampaignService],
) -> None:
    url = server[0].url
    page = httpx.get(url)
    assert page.status_code == 200
    assert "window.gradio_api_info = null;" in page.text
    for text in ("Overall quality", "What should it have said?", "excellent", "support_quality", "/submit"):
        assert text not in page.text, text
    assert int(page.headers["content-length"]) == len(page.content)
    with FormClient(url, SPEC, username="carol", password=password("carol")) as c:
        logged_in = c.http.get("/")
    assert "Overall quality" in logged_in.text  # a reviewer's page is unchanged


# --------------------------------------------------------------------------------- login CSRF


def test_a_login_from_another_site_is_refused(server: tuple[ServerHandle, CampaignService]) -> None:
    handle = server[0]
    own = f"http://127.0.0.1:{handle.port}"
    foreign = _login(handle.url, "alice", password("alice"), origin="http://evil.example")
    assert foreign.status_code == 403
    assert foreign.json()["detail"] == "login refused: the form was sent from another site"
    assert not foreign.cookies
    assert _login(handle.url, "alice", password("alice"), origin="null").status_code == 403
    other_port = f"http://127.0.0.1:{handle.port + 1}"
    assert _login(handle.url, "alice", password("alice"), origin=other_port).status_code == 403
    cross = _login(handle.url, "alice", password("alice"), origin=own, **{"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    assert _login(handle.url, "alice", password("alice"), origin=own).status_code == 200
    assert _login(handle.url, "alice", password("alice")).status_code == 200  # a script sends no Origin


# --------------------------------------------------------------------- proxy header: first hop


def test_a_duplicated_proxy_header_is_refused(demo_db: Path, tmp_path: Path) -> None:
    with running(SPEC, demo_db, tmp_path / "hitl", auth_header="X-Forwarded-User") as (handle, _):
        single = httpx.get(handle.url + "config", headers={"X-Forwarded-User": "alice"})
        assert single.status_code == 200
        # A client's own copy in front of the proxy's: neither is believed.
        twice = httpx.get(
            handle.url + "config", headers=[("X-Forwarded-User", "mallory"), ("X-Forwarded-User", "alice")]
        )
        assert twice.status_code == 401
        listed = httpx.get(handle.url + "config", headers={"X-Forwarded-User": "mallory, alice"})
        assert listed.status_code == 401
        with FormClient(handle.url, SPEC, headers={"X-Forwarded-User": "alice"}) as c:
            assert c.load().item_key


# --------------------------------------------------------------------------------- uploads off


def test_uploads_and_oversized_bodies_are_refused(server: tuple[ServerHandle, CampaignService]) -> None:
    with FormClient(server[0].url, SPEC, username="dave", password=password("dave")) as c:
        blob = b"x" * (2 * 1024 * 1024)
        upload = c.http.post("/gradio_api/upload", files={"files": ("a.bin", blob)})
        assert upload.status_code == 413  # over the body cap before anything is read
        small = c.http.post("/gradio_api/upload", files={"files": ("a.txt", b"hello")})
        assert small.status_code == 403
        assert small.json()["detail"] == "uploads are off: this review form takes no files"
        assert small.headers["x-frame-options"] == "DENY"  # the guard's answers carry the headers too
        huge = c.http.post(
            "/gradio_api/call/submit",
            content=b'{"data": ["' + b"y" * (MAX_BODY_BYTES + 1) + b'"]}',
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            for _ in range(3):
                yield b"z" * (MAX_BODY_BYTES // 2)

        streamed = c.http.post(
            "/gradio_api/call/submit", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert c.load().item_key  # the reviewer's own form still works


# ------------------------------------------------------------------------ tabs bound to logins


def test_another_login_cannot_use_a_reviewers_tab(server: tuple[ServerHandle, CampaignService]) -> None:
    url = server[0].url
    with (
        FormClient(url, SPEC, username="bob", password=password("bob")) as bob,
        FormClient(url, SPEC, username="alice", password=password("alice")) as alice,
    ):
        bobs_item = bob.load().item_key
        assert bobs_item
        alice.session_hash = bob.session_hash  # alice got hold of bob's tab id
        for action in (lambda: alice.submit(GOOD), lambda: alice.inspect("input"), alice.load):
            with pytest.raises(FormError) as caught:
                action()
            assert caught.value.status == 403
            assert "this tab belongs to another login" in str(caught.value)
        stream = alice.http.get("/gradio_api/queue/data", params={"session_hash": bob.session_hash})
        assert stream.status_code == 403
        beat = alice.http.get(f"/gradio_api/heartbeat/{bob.session_hash}")
        assert beat.status_code == 403
        # bob's event stream, by its event id
        started = bob.http.post(
            "/gradio_api/call/progress", json={"data": [], "session_hash": bob.session_hash}
        )
        event_id = started.json()["event_id"]
        assert alice.http.get(f"/gradio_api/call/progress/{event_id}").status_code == 403
        with bob.http.stream("GET", f"/gradio_api/call/progress/{event_id}") as own:
            assert own.status_code == 200
            assert "event: complete" in list(own.iter_lines())  # read to its end, as his tab would
        # bob's tab is untouched: his open item is still his, and he can answer it
        assert bob.load().item_key == bobs_item
        assert bob.submit(GOOD).item_key != bobs_item
        alice.new_tab()
        assert alice.load().item_key  # her own tab works
        # Endpoint names are not ids: both may call the same one in their own tabs.
        for c in (alice, bob):
            r = c.http.post("/gradio_api/call/v2/progress", json={})
            assert r.status_code == 200, r.text


# ------------------------------------------------------------------------ restart on one port


def test_restarting_on_the_same_port_right_after_a_stop(demo_db: Path, tmp_path: Path) -> None:
    spec = trace_spec("ui-restart", size=2)
    with running(spec, demo_db, tmp_path / "hitl") as (first, service):
        port = first.port
        with httpx.Client(base_url=first.url) as http:  # a kept-alive connection the server closes
            assert http.get("/config").status_code == 200
            first.close()
        second = serve(service, spec, host="127.0.0.1", port=port, block=False)
        try:
            assert second.port == port
            assert httpx.get(second.url + "config").status_code == 200
        finally:
            second.close()
