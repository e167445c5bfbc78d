"""Score writes through the real SDK against the fake: body shape by server version, partial
rejection, retryable failures, read-back, the server's silent drop, and the upsert merge rules."""

from __future__ import annotations

import logging
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import pytest

from hitl_pipeline.errors import AuthError
from hitl_pipeline.model import ScoreWrite
from hitl_pipeline.sources.demo import DemoData
from hitl_pipeline.sources.langfuse import LangfuseSource
from tests.support.langfuse_fake import LangfuseFake


def _w(demo: DemoData, i: int, **kw: Any) -> ScoreWrite:
    t = demo.traces[i]
    base: dict[str, Any] = dict(
        id=f"score-{i}",
        name="helpfulness",
        value=4,
        data_type="NUMERIC",
        trace_id=t.id,
        config_id="cfg-helpfulness",
        metadata={"hitl_campaign": "c1", "hitl_reviewer": "ana"},
    )
    return ScoreWrite(**{**base, **kw})


def test_current_server_takes_one_array_per_batch(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData
) -> None:
    src = source_for(v4)
    writes = [_w(small_demo, i) for i in range(30)]
    v4.reset_counters()
    results = src.write_scores(writes)
    assert [r.id for r in results] == [w.id for w in writes] and all(r.ok for r in results)
    assert v4.counters["POST /api/public/scores"] == 1
    got = src.read_scores(w.id for w in writes)
    assert set(got) == {w.id for w in writes}
    s = got["score-0"]
    assert (s.value, s.trace_id, s.config_id, s.source) == (
        4.0,
        small_demo.traces[0].id,
        "cfg-helpfulness",
        "ANNOTATION",
    )
    assert s.metadata == {"hitl_campaign": "c1", "hitl_reviewer": "ana"}


def test_old_server_gets_one_object_per_request(
    make_fake: Any, source_for: Any, small_demo: DemoData
) -> None:
    old = make_fake(mode="v4", version="4.16.0")
    src = source_for(old)
    results = src.write_scores([_w(small_demo, i) for i in range(3)])
    assert all(r.ok for r in results)
    # Issue 12: an array is tried first whatever the version says (refused, nothing stored), then
    # one object per score — and the answer is remembered: the next write sends objects only.
    assert old.counters["POST /api/public/scores"] == 1 + 3
    assert all(isinstance(b, dict) for b in old.received)
    old.reset_counters()
    assert all(r.ok for r in src.write_scores([_w(small_demo, i) for i in range(3, 5)]))
    assert old.counters["POST /api/public/scores"] == 2


def test_an_old_version_that_takes_arrays_gets_arrays(
    make_fake: Any, source_for: Any, small_demo: DemoData
) -> None:
    # A server reporting 4.16.0 but taking arrays (issue 12: one POST per score, one at a time).
    server = make_fake(mode="v4", version="4.16.0", accept_arrays=True)
    src = source_for(server)
    assert src.probe().score_body == "object"  # the version's hint
    assert all(r.ok for r in src.write_scores([_w(small_demo, i) for i in range(5)]))
    assert server.counters["POST /api/public/scores"] == 1
    assert src.probe().score_body == "array"  # what the server really takes


def test_object_only_servers_get_bounded_requests_in_flight(
    make_fake: Any, source_for: Any, small_demo: DemoData
) -> None:
    from hitl_pipeline.sources.langfuse.scores import OBJECT_WRITES_IN_FLIGHT

    v3 = make_fake(mode="v3", latency_ms=30)
    src = source_for(v3)
    src.write_scores([_w(small_demo, 0)])  # learns: single objects
    v3.max_in_flight = 0
    scores = [_w(small_demo, i) for i in range(1, 25)]
    assert all(r.ok for r in src.write_scores(scores))
    assert 1 < v3.max_in_flight <= OBJECT_WRITES_IN_FLIGHT
    assert set(src.read_scores(s.id for s in scores)) == {s.id for s in scores}


def test_v3_server_writes_single_objects(v3: LangfuseFake, source_for: Any, small_demo: DemoData) -> None:
    src = source_for(v3)
    assert all(r.ok for r in src.write_scores([_w(small_demo, 0), _w(small_demo, 1)]))
    assert set(src.read_scores(["score-0", "score-1"])) == {"score-0", "score-1"}


def test_array_refusal_switches_to_single_objects(
    make_fake: Any, source_for: Any, small_demo: DemoData
) -> None:
    # A server claiming a new version but answering arrays with "expected object, received array".
    odd = make_fake(mode="v4", version="4.70.0", accept_arrays=False)
    src = source_for(odd)
    assert src.probe().score_body == "array"
    assert all(r.ok for r in src.write_scores([_w(small_demo, 0), _w(small_demo, 1)]))
    assert src.probe().score_body == "object"
    assert set(src.read_scores(["score-0", "score-1"])) == {"score-0", "score-1"}


@pytest.mark.parametrize("with_index", [True, False], ids=["errors-say-which", "errors-anonymous"])
def test_207_marks_only_the_rejected_scores(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData, with_index: bool
) -> None:
    v4.reject_ids = {"score-1": "environment is not allowed"}
    v4.errors_with_index = with_index
    results = source_for(v4).write_scores([_w(small_demo, i) for i in range(3)])
    assert [r.ok for r in results] == [True, False, True]
    assert "environment is not allowed" in (results[1].error or "") and not results[1].retryable


def test_locally_invalid_scores_are_never_sent(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData
) -> None:
    src = source_for(v4)
    results = src.write_scores([_w(small_demo, 0, value=9), _w(small_demo, 1)])
    assert not results[0].ok and "above the maximum" in (results[0].error or "") and not results[0].retryable
    assert results[1].ok
    assert [b["id"] for b in v4.received] == ["score-1"]


@pytest.mark.parametrize("kind", [429, 500, 503, "drop"])
def test_transient_failures_are_retryable(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData, kind: Any
) -> None:
    src = source_for(v4)
    src.probe()
    src.get_score_config("cfg-helpfulness")  # cached: the next request is the write
    v4.fail_next(1, kind, retry_after=7)
    results = src.write_scores([_w(small_demo, 0), _w(small_demo, 1)])
    assert all(not r.ok and r.retryable for r in results)
    if kind == 429:
        assert all(r.retry_after == 7 for r in results)
    # Our outbox retries, not the SDK: exactly one request was made (and no 7 s sleep).
    assert v4.counters["POST /api/public/scores"] == 1
    assert all(r.ok for r in src.write_scores([_w(small_demo, 0), _w(small_demo, 1)]))


def test_other_4xx_is_final_with_the_server_message(
    make_fake: Any, source_for: Any, small_demo: DemoData
) -> None:
    old = make_fake(mode="v4", version="4.16.0")
    old.reject_ids = {"score-0": "Ingestion suspended: Usage threshold exceeded"}
    (result,) = source_for(old).write_scores([_w(small_demo, 0)])
    assert not result.ok and not result.retryable and "Ingestion suspended" in (result.error or "")


def test_config_archived_after_caching_is_dropped_silently_and_read_back_shows_it(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData
) -> None:
    src = source_for(v4)
    assert all(r.ok for r in src.write_scores([_w(small_demo, 0)]))  # caches the config
    v4.set_config_archived("cfg-helpfulness")
    (result,) = src.write_scores([_w(small_demo, 1)])
    assert result.ok  # the server said 200 …
    assert "score-1" not in src.read_scores(["score-0", "score-1"])  # … and dropped it
    assert v4.dropped and "archived" in v4.dropped[-1][1]


def test_visibility_lag(make_fake: Any, source_for: Any, small_demo: DemoData) -> None:
    lagging = make_fake(mode="v4", visibility_lag_ms=300)
    src = source_for(lagging)
    src.write_scores([_w(small_demo, 0)])
    assert src.read_scores(["score-0"]) == {}
    time.sleep(0.35)
    assert set(src.read_scores(["score-0"])) == {"score-0"}


def test_resend_replaces_and_keeps_first_values(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData
) -> None:
    src = source_for(v4)
    src.write_scores([_w(small_demo, 0, comment="first")])
    first = src.read_scores(["score-0"])["score-0"]
    src.write_scores([_w(small_demo, 0, value=2, comment=None)])
    again = src.read_scores(["score-0"])["score-0"]
    assert again.value == 2.0 and again.comment == "first" and again.timestamp == first.timestamp
    assert len([s for s in v4.stored_scores() if s.id == "score-0"]) == 1


def test_every_value_type_round_trips(v4: LangfuseFake, source_for: Any, small_demo: DemoData) -> None:
    t = small_demo.traces[5]
    o = t.observations[-1]
    writes = [
        _w(
            small_demo,
            5,
            id="q",
            name="support_quality",
            value="excellent",
            data_type="CATEGORICAL",
            config_id="cfg-support-quality",
        ),
        _w(
            small_demo,
            5,
            id="b",
            name="factually_correct",
            value=0,
            data_type="BOOLEAN",
            config_id="cfg-factually-correct",
            observation_id=o.id,
        ),
        _w(
            small_demo,
            5,
            id="n",
            name="reviewer_notes",
            value="Zu knapp — 短い",
            data_type="TEXT",
            config_id="cfg-reviewer-notes",
        ),
        _w(
            small_demo,
            5,
            id="c",
            name="corrected_answer",
            value="Better answer",
            data_type="CORRECTION",
            config_id=None,
        ),
        _w(
            small_demo,
            5,
            id="s",
            name="issue_resolved",
            value=1,
            data_type="BOOLEAN",
            config_id="cfg-issue-resolved",
            trace_id=None,
            session_id=t.session_id,
        ),
    ]
    src = source_for(v4)
    assert all(r.ok for r in src.write_scores(writes)), src.write_scores(writes)
    got = src.read_scores(w.id for w in writes)
    assert got["q"].value == "excellent" and got["q"].data_type == "CATEGORICAL"
    assert got["b"].value == 0 and got["b"].string_value == "False" and got["b"].observation_id == o.id
    assert got["n"].value == "Zu knapp — 短い"
    assert got["c"].value == "Better answer" and got["c"].config_id is None
    assert got["s"].session_id == t.session_id and got["s"].trace_id is None


def test_401_on_write_is_an_auth_error_without_the_secret(
    v4: LangfuseFake, small_demo: DemoData, caplog: pytest.LogCaptureFixture
) -> None:
    src = LangfuseSource(base_url=v4.url, public_key=v4.public_key, secret_key=v4.secret_key)
    src.probe()
    src.get_score_config("cfg-helpfulness")
    v4.secret_key = "sk-rotated"  # the keys were rotated while the campaign ran
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        src.write_scores([_w(small_demo, 0)])
    shown = "".join(traceback.format_exception(info.value)) + caplog.text + repr(src)
    assert "sk-lf-fake-secret" not in shown and "LANGFUSE_SECRET_KEY" in str(info.value)


def test_old_v3_server_without_v3_scores_reads_back_through_v2(
    make_fake: Any, source_for: Any, small_demo: DemoData
) -> None:
    from hitl_pipeline.spec.model import Filters, ScoreThreshold

    old = make_fake(mode="v3", version="3.150.0", v3_scores=False)
    src = source_for(old)
    assert src.probe().v3_scores is False
    assert all(r.ok for r in src.write_scores([_w(small_demo, 0), _w(small_demo, 1, value=2)]))
    got = src.read_scores(["score-0", "score-1", "missing"])
    assert {k: v.value for k, v in got.items()} == {"score-0": 4.0, "score-1": 2.0}
    assert got["score-0"].trace_id == small_demo.traces[0].id
    # Thresholds and item scores work on the old reader too.
    f = Filters(time_from="2026-10-01", time_to="2026-11-01", scores=(ScoreThreshold("helpfulness", ">", 3),))
    refs = list(src.iter_candidates("trace", f, now=datetime(2026, 11, 1, tzinfo=UTC)))
    assert [r.id for r in refs] == [small_demo.traces[0].id]
    (item,) = src.get_items(refs, score_names=["helpfulness"])
    assert [s.id for s in item.scores] == ["score-0"]
    assert old.counters["GET /api/public/v2/scores"] >= 3 and "GET /api/public/v3/scores" in old.counters


def test_403_on_write_says_what_the_server_said(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData
) -> None:
    # A 403 is not always the keys: Langfuse suspends ingestion over the usage limit.
    src = source_for(v4)
    src.probe()
    src.get_score_config("cfg-helpfulness")
    v4.fail_next(1, 403)
    with pytest.raises(AuthError) as info:
        src.write_scores([_w(small_demo, 0)])
    message = str(info.value)
    assert "403" in message and "Ingestion suspended" in message and v4.url in message


def test_an_unreadable_retry_after_header_is_ignored() -> None:
    # A bad header must not turn a retryable failure into an exception out of write_scores.
    from hitl_pipeline.sources.langfuse.http import _retry_after

    assert _retry_after({"Retry-After": "soon"}) is None
    assert _retry_after({"retry-after": "7"}) == 7.0
    assert _retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
