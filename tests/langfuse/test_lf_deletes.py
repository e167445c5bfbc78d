"""Score deletes through the source against the fake: ``DELETE /scores/{id}`` per id, 204 and 404
both ok, retryable failures classified like writes, auth errors raised."""

from __future__ import annotations

from typing import Any

import pytest

from hitl_pipeline.errors import AuthError
from hitl_pipeline.model import ScoreWrite
from hitl_pipeline.sources.demo import DemoData
from tests.support.langfuse_fake import LangfuseFake

DELETE_ROUTE = "DELETE /api/public/scores/{id}"


def _w(demo: DemoData, i: int) -> ScoreWrite:
    return ScoreWrite(
        id=f"score-{i}",
        name="helpfulness",
        value=4,
        data_type="NUMERIC",
        trace_id=demo.traces[i].id,
        config_id="cfg-helpfulness",
    )


@pytest.mark.parametrize("mode", ["v4", "v3"])
def test_delete_is_one_request_per_id_and_absent_is_ok(
    make_fake: Any, source_for: Any, small_demo: DemoData, mode: str
) -> None:
    fake = make_fake(mode=mode)
    src = source_for(fake)
    assert all(r.ok for r in src.write_scores([_w(small_demo, 0), _w(small_demo, 1)]))
    fake.reset_counters()
    results = src.delete_scores(["score-0", "never-written", "score/with?odd#chars"])
    assert [(r.id, r.ok, r.error) for r in results] == [
        ("score-0", True, None),
        ("never-written", True, None),  # 404: already gone
        ("score/with?odd#chars", True, None),  # the id is quoted into the path
    ]
    assert fake.counters[DELETE_ROUTE] == 3
    assert {s.id for s in fake.stored_scores()} >= {"score-1"}
    assert "score-0" not in {s.id for s in fake.stored_scores()}
    assert set(src.read_scores(["score-0", "score-1"])) == {"score-1"}


@pytest.mark.parametrize("kind", [503, 500, 429, "drop"])
def test_transient_delete_failures_are_retryable(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData, kind: Any
) -> None:
    src = source_for(v4)
    assert all(r.ok for r in src.write_scores([_w(small_demo, 0)]))
    v4.reset_counters()
    v4.fail_next(1, kind, retry_after=7, route="/api/public/scores/")
    (result,) = src.delete_scores(["score-0"])
    assert not result.ok and result.retryable
    if kind == 429:
        assert result.retry_after == 7
    assert v4.counters[DELETE_ROUTE] == 1  # our outbox retries, not the SDK
    assert "score-0" in src.read_scores(["score-0"])
    assert src.delete_scores(["score-0"])[0].ok
    assert src.read_scores(["score-0"]) == {}


def test_delete_with_wrong_keys_is_an_auth_error(v4: LangfuseFake, source_for: Any) -> None:
    src = source_for(v4)
    src.probe()
    v4.fail_next(1, 403, route="/api/public/scores/")
    with pytest.raises(AuthError):
        src.delete_scores(["score-0"])
