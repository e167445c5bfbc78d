"""`hitl reviewers …` and `hitl run` serving the form, from the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hitl_pipeline.campaign.startup import unsent_summary
from hitl_pipeline.campaign.status import status as campaign_status
from hitl_pipeline.cli import app
from hitl_pipeline.spec import load_spec
from hitl_pipeline.ui.client import FormClient


def test_reviewers_add_list_remove(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "h")
    r = runner.invoke(
        app, ["reviewers", "add", "alice", "--password-stdin", "--home", home], input="s3cret-pass\n"
    )
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "h" / "reviewers.json").read_text())
    assert "s3cret-pass" not in json.dumps(data) and data["reviewers"]["alice"]["scheme"] == "scrypt"
    r = runner.invoke(app, ["reviewers", "add", "bob", "--home", home], input="pw-bob-1234\npw-bob-1234\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["reviewers", "list", "--home", home])
    assert r.output.split() == ["alice", "bob"]
    r = runner.invoke(app, ["reviewers", "add", "carol", "--password-stdin", "--home", home], input="short\n")
    assert r.exit_code == 1 and "too short" in r.output
    r = runner.invoke(app, ["reviewers", "remove", "alice", "--home", home])
    assert r.exit_code == 0
    r = runner.invoke(app, ["reviewers", "remove", "alice", "--home", home])
    assert r.exit_code == 1 and "no reviewer 'alice'" in r.output


def test_run_refuses_a_public_bind_without_accounts(tmp_path: Path, repo_root: Path) -> None:
    r = CliRunner().invoke(
        app,
        ["run", str(repo_root / "specs" / "support_qa.yaml"), "--host", "0.0.0.0", "--home", str(tmp_path)],
    )
    assert r.exit_code == 1 and "refusing to serve on 0.0.0.0 without authentication" in r.output
    assert not (tmp_path / "local.db").exists()  # refused before anything was opened or created
    assert not (tmp_path / "campaigns").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_run_serves_the_form_and_stops_cleanly_on_ctrl_c(tmp_path: Path, repo_root: Path) -> None:
    port = _free_port()
    env = {**os.environ, "HITL_HOME": str(tmp_path / "home")}
    env.pop("LANGFUSE_PUBLIC_KEY", None)
    env.pop("LANGFUSE_SECRET_KEY", None)
    spec_path = repo_root / "specs" / "support_qa.yaml"
    spec = load_spec(spec_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hitl_pipeline", "run", str(spec_path),
         "--port", str(port), "--reviewer", "cli-tester"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the form did not come up"
            time.sleep(0.2)
        page = httpx.get(url)
        assert "img-src 'self'" in page.headers["content-security-policy"]
        r = httpx.post(url + "gradio_api/call/load", json={"data": [], "session_hash": "cli1"})
        assert r.status_code == 200
        with FormClient(url, spec) as form:  # one answer, so there is a score to report at the stop
            form.load()
            form.submit({"support_quality": "acceptable", "helpfulness": 4, "factually_correct": "yes"})
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"Review form: {url}" in out and "reviewing as 'cli-tester'" in out
    assert "created" in err  # the demo store was created on first use, and it says so
    assert (tmp_path / "home" / "campaigns" / "support-qa-2026-10.db").exists()
    # Start: how many items were queued and where the answers go.
    store = tmp_path / "home" / "local.db"
    assert f"Queue: 50 trace(s), 50 review(s) to do; answers go to the local store {store}\n" in out
    # Stop: the real state of the campaign's scores, as `hitl status` reads it afterwards.
    outbox = campaign_status(spec, home=tmp_path / "home").outbox
    assert sum(outbox.values()) == 3  # one score per answered question
    assert outbox["confirmed"] == 3  # the last answers were sent at the stop
    assert out.rstrip("\n").splitlines()[-1] == unsent_summary(outbox, str(spec_path))
