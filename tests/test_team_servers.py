"""Issue 15's multi-process test: three `hitl run` processes on one real PostgreSQL state, the
Langfuse fake as the source, 30 scripted reviewers spread over the servers round-robin with
reviewers_per_item 2; one server is killed with SIGKILL midway and started again.

Checked: every item is answered by exactly 2 distinct reviewers, every answer a reviewer was told is
saved is stored as given (none lost, none twice), every score is stored once on the fake and confirmed,
and a login made on server 1 works on server 2 (sessions live in the database).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from hitl_pipeline.campaign.state.location import StateLocation
from hitl_pipeline.db.postgres import PostgresDatabase
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.spec import load_spec
from hitl_pipeline.ui.accounts_db import ACCOUNTS_SCHEMA, DatabaseAccounts
from hitl_pipeline.ui.client import FormClient, FormError
from tests.campaign.campaign_support import SPEC
from tests.support.langfuse_fake import LangfuseFake

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REVIEWERS = [f"r{i:02d}" for i in range(30)]
PASSWORD = "correct horse battery"
ITEMS = 36
N = 2


class Server:
    """One `hitl run` process; ``url`` once it serves."""

    def __init__(self, spec: Path, home: Path, env: dict[str, str]) -> None:
        self.args = [sys.executable, "-m", "hitl_pipeline", "run", str(spec), "--source", "langfuse"]
        self.args += ["--home", str(home)]
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log: list[str] = []

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"Review form: (http://127\.0\.0\.1:\d+/)", line)
            if m:
                self.url = m.group(1)
                threading.Thread(target=self._drain_output, daemon=True).start()
                return self
        raise AssertionError("hitl run did not start:\n" + "".join(self.log))

    def _drain_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return self.proc.returncode


def _answers(reviewer: str, key: str) -> dict[str, Any]:
    n = sum(map(ord, reviewer + key))
    return {
        "support_quality": ("excellent", "acceptable", "poor")[n % 3],
        "helpfulness": 1 + n % 5,
        "factually_correct": n % 2 == 0,
        **({"reviewer_notes": f"{reviewer} on {key}"} if n % 3 == 2 else {}),
    }


def test_three_servers_one_postgresql_thirty_reviewers_and_a_kill(tmp_path: Path, postgres_url: str) -> None:
    demo = generate_demo(seed=0, traces=400)
    spec_path = tmp_path / "team.yaml"
    spec_path.write_text(
        SPEC.format(
            campaign="team-test",
            target="trace",
            filters="    trace_name: support-chat\n",
            size=ITEMS,
            strategy="random",
            by="",
            n=N,
            comment="optional",
            reviewers="",
            extra_questions="",
            time_from="2026-10-01",
            time_to="2026-11-01",
        )
    )
    spec = load_spec(spec_path)
    accounts = DatabaseAccounts(PostgresDatabase(postgres_url, ACCOUNTS_SCHEMA))
    for name in REVIEWERS:
        accounts.add(name, PASSWORD)
    accounts.close()

    with LangfuseFake(mode="v4", seed=7) as fake:
        fake.load(traces=demo.traces, score_configs=demo.score_configs)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "PYTHONUNBUFFERED": "1",
            "HITL_STATE_URL": postgres_url,
            "LANGFUSE_BASE_URL": fake.url,
            "LANGFUSE_PUBLIC_KEY": fake.public_key,
            "LANGFUSE_SECRET_KEY": fake.secret_key,
        }
        homes = [tmp_path / f"home{i}" for i in range(3)]  # nothing shared on disk: only the database
        servers = [Server(spec_path, homes[0], env).start()]
        servers += [Server(spec_path, home, env).start() for home in homes[1:]]
        try:
            # A login on server 1 works on server 2: the session is in the database.
            one = httpx.Client(base_url=servers[0].url, trust_env=False, timeout=60)
            assert one.post("/login", data={"username": "r00", "password": PASSWORD}).status_code == 200
            two = httpx.Client(base_url=servers[1].url, trust_env=False, timeout=60, cookies=one.cookies)
            assert two.get("/config").status_code == 200
            assert httpx.get(servers[1].url + "config", trust_env=False).status_code == 401  # no cookie: no
            one.close()
            two.close()

            saved: list[tuple[str, str, dict[str, Any]]] = []
            errors: list[str] = []
            lock = threading.Lock()
            total = ITEMS * N

            def reviewer(i: int) -> None:
                name = REVIEWERS[i]
                home = i % 3
                form: FormClient | None = None
                for _attempt in range(60):
                    try:
                        if form is None:
                            form = FormClient(servers[home].url, spec, username=name, password=PASSWORD)
                        screen = form.load()
                        while screen.item_key:
                            given = _answers(name, screen.item_key)
                            key = screen.item_key
                            screen = form.submit(given)
                            with lock:
                                saved.append((name, key, given))
                        return
                    except (httpx.TransportError, FormError) as e:
                        # The server went away (SIGKILL): go on with the next one, as a load balancer would.
                        with lock:
                            errors.append(f"{name}@{home}: {e}")
                        if form is not None:
                            form.close()
                        form = None
                        home = (home + 1) % 3
                        time.sleep(0.2)
                raise AssertionError(f"{name} could not finish")

            threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(len(REVIEWERS))]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and len(saved) < total // 3:
                time.sleep(0.05)
            servers[1].kill()  # midway: SIGKILL, no clean-up at all
            at_kill = len(saved)
            servers[1] = Server(spec_path, homes[1], env).start()
            for t in threads:
                t.join(600)
            assert not any(t.is_alive() for t in threads)
            assert 0 < at_kill < total  # the kill came while reviewers were at work

            state = StateLocation.of(tmp_path, spec.campaign, postgres_url).open()
            try:
                per_item = Counter(r.item_key for r in state.reviews())
                assert len(per_item) == ITEMS and set(per_item.values()) == {N}, per_item
                stored = {(r.reviewer, r.item_key): r.answers for r in state.reviews()}
                assert len(stored) == ITEMS * N  # distinct reviewers per item: (reviewer, item) is the key
                told = {(name, key): given for name, key, given in saved}
                assert len(told) == len(saved)  # nobody was told "saved" twice for one item
                for pair, given in told.items():  # every "saved" is stored as given
                    assert stored[pair] == given
                # Scores: drained once, confirmed (the servers' outbox workers, one at a time).
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    counts = state.outbox_counts()
                    if (
                        counts["confirmed"] == len(state.outbox())
                        and not counts["pending"]
                        and not counts["sent"]
                    ):
                        break
                    time.sleep(0.5)
                rows = state.outbox()
                assert {r.status for r in rows} == {"confirmed"}, state.outbox_counts()
            finally:
                state.close()
            ids = [s.id for s in fake.stored_scores()]
            assert len(ids) == len(set(ids)) == len(rows)
            assert set(ids) == {r.score_id for r in rows}
        finally:
            codes = [s.stop() for s in servers]
        assert codes == [0, 0, 0], "\n".join("".join(s.log[-20:]) for s in servers)
