"""The fake's controls used by the outbox fault test and the benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.langfuse_fake import LangfuseFake

ROOT = Path(__file__).resolve().parents[2]


def _post(fake: LangfuseFake, body: Any) -> int | str:
    try:
        r = httpx.post(fake.url + "/api/public/scores", json=body, auth=(fake.public_key, fake.secret_key))
    except httpx.TransportError as exc:
        return type(exc).__name__
    return r.status_code


def test_fault_fraction_counters_and_duplicates(make_fake: Any) -> None:
    fake = make_fake(mode="v4", load=False, seed=3)
    fake.set_fault_fraction(0.5, routes=("/api/public/scores",), retry_after=2)
    outcomes = [_post(fake, [{"id": f"s{i}", "traceId": "t", "name": "n", "value": i}]) for i in range(60)]
    failed = [o for o in outcomes if o != 202]
    assert 15 <= len(failed) <= 45
    assert {o for o in failed} <= {500, 503, 429, "RemoteProtocolError"}
    assert fake.counters["POST /api/public/scores"] == 60
    fake.set_fault_fraction(0)
    # Same id + other name is a second row (visible); same id + same name replaces.
    assert _post(fake, [{"id": "d", "traceId": "t", "name": "a", "value": 1}]) == 202
    assert _post(fake, [{"id": "d", "traceId": "t", "name": "b", "value": 1}]) == 202
    assert _post(fake, [{"id": "d", "traceId": "t", "name": "b", "value": 2}]) == 202
    rows = sorted((s.name, s.value) for s in fake.stored_scores() if s.id == "d")
    assert rows == [("a", 1.0), ("b", 2.0)]


def test_fail_next_drop_after_processing_stores_the_score(make_fake: Any) -> None:
    fake = make_fake(mode="v4", load=False)
    fake.fail_next(1, "drop_after")
    assert _post(fake, [{"id": "x", "traceId": "t", "name": "n", "value": 1}]) == "RemoteProtocolError"
    assert [s.id for s in fake.stored_scores()] == ["x"]  # the client saw a failure, the server kept it


@pytest.mark.slow
def test_fake_in_its_own_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.langfuse_fake", "--traces", "20"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        auth = (info["public_key"], info["secret_key"])
        r = httpx.get(info["url"] + "/api/public/v2/observations", params={"limit": 5}, auth=auth)
        assert r.status_code == 200 and len(r.json()["data"]) == 5
        assert httpx.get(info["url"] + "/__fake/counters").json()["total"] == 1
        httpx.post(info["url"] + "/__fake/faults", json={"fraction": 1.0, "kinds": [503]})
        assert httpx.get(info["url"] + "/api/public/v3/scores", auth=auth).status_code == 503
        scores = httpx.get(info["url"] + "/__fake/scores").json()
        assert scores["scores"] and scores["received"] == 0
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
