"""LangfuseSource reads through the real SDK client against the fake: probe, pushdown, pagination,
both server generations, batched items."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from hitl_pipeline.errors import AuthError, ConfigError, SourceError
from hitl_pipeline.settings import Settings
from hitl_pipeline.sources.demo import DemoData
from hitl_pipeline.sources.langfuse import LangfuseSource
from hitl_pipeline.sources.langfuse.convert import parse_io
from hitl_pipeline.spec.model import Filters, ScoreThreshold
from tests.support.langfuse_fake import LangfuseFake

NOW = datetime(2026, 11, 1, tzinfo=UTC)
MONTH = {"time_from": "2026-10-01", "time_to": "2026-11-01"}


def _filters(fake: LangfuseFake) -> list[list[dict[str, Any]]]:
    """The ``filter`` JSON of every v2 observations request the fake received."""
    return [
        json.loads(q["filter"][0])
        for method, path, q in fake.requests
        if path == "/api/public/v2/observations" and "filter" in q
    ]


def test_probe_v4_current(v4: LangfuseFake, source_for: Any) -> None:
    caps = source_for(v4).probe()
    assert (caps.version, caps.read_path, caps.v3_scores, caps.score_body) == ("4.61.0", "v2", True, "array")


def test_probe_v4_16_takes_single_objects(make_fake: Any, source_for: Any) -> None:
    caps = source_for(make_fake(mode="v4", version="4.16.0")).probe()
    assert caps.read_path == "v2" and caps.score_body == "object"


def test_probe_v3_falls_back_to_legacy_reads(v3: LangfuseFake, source_for: Any) -> None:
    caps = source_for(v3).probe()
    assert (caps.read_path, caps.legacy_reads, caps.v3_scores, caps.score_body) == (
        "legacy",
        True,
        True,
        "object",
    )


def test_probe_runs_once(v4: LangfuseFake, source_for: Any) -> None:
    src = source_for(v4)
    src.probe()
    count = v4.total_requests
    src.probe()
    list(src.iter_candidates("trace", Filters(**MONTH), now=NOW))
    assert v4.total_requests == count + 1  # only the listing itself


def test_wrong_secret_is_an_auth_error_that_never_shows_the_secret(
    v4: LangfuseFake, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-lf-THIS-IS-SECRET-123"
    src = LangfuseSource(base_url=v4.url, public_key=v4.public_key, secret_key=secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        src.probe()
    message = str(info.value)
    assert "rejected the credentials" in message and v4.url in message
    assert "LANGFUSE_SECRET_KEY" in message
    import traceback

    shown = "".join(traceback.format_exception(info.value)) + repr(info.value) + repr(src) + caplog.text
    assert secret not in shown
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreachable_server_is_a_source_error() -> None:
    src = LangfuseSource(base_url="http://127.0.0.1:9", public_key="pk", secret_key="sk-secret", timeout=2)
    with pytest.raises(SourceError, match="cannot reach Langfuse"):
        src.probe()


def test_from_settings_names_missing_variables(tmp_path: Any) -> None:
    settings = Settings.from_env(tmp_path, environ={"LANGFUSE_PUBLIC_KEY": "pk"})
    with pytest.raises(ConfigError, match="LANGFUSE_SECRET_KEY"):
        LangfuseSource.from_settings(settings)
    ok = Settings.from_env(
        tmp_path,
        environ={"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk-x", "LANGFUSE_HOST": "http://h:1/"},
    )
    src = LangfuseSource.from_settings(ok)
    assert src.host == "http://h:1" and "sk-x" not in repr(src)


def test_every_trace_filter_goes_into_the_v2_filter(v4: LangfuseFake, source_for: Any) -> None:
    f = Filters(
        **MONTH,
        trace_name=("support-chat",),
        user_id=("user-001", "user-002"),
        session_id=("sess-0001",),
        tags=("support",),
        exclude_tags=("beta",),
        environment=("production",),
        version=("v1",),
        metadata=(("topic", ("billing",)),),
    )
    list(source_for(v4).iter_candidates("trace", f, now=NOW))
    (conditions,) = _filters(v4)
    columns = {(c["column"], c["operator"]) for c in conditions}
    assert {
        ("isRootObservation", "="),
        ("startTime", ">="),
        ("startTime", "<"),
        ("traceName", "="),
        ("userId", "any of"),
        ("sessionId", "="),
        ("tags", "all of"),
        ("tags", "none of"),
        ("environment", "="),
        ("version", "="),
        ("metadata", "any of"),
    } <= columns
    (method, path, query) = next(
        r for r in v4.requests if r[1] == "/api/public/v2/observations" and "filter" in r[2]
    )
    # Lists without heavy I/O; no simple parameters that the filter would override.
    assert "io" not in query["fields"][0] and "fromStartTime" not in query


def test_observation_filters_and_pagination(v4: LangfuseFake, source_for: Any, small_demo: DemoData) -> None:
    src = source_for(v4, page_size=7)
    f = Filters(**MONTH, observation_type=("GENERATION",), observation_name=("generate-answer",))
    refs = list(src.iter_candidates("observation", f, now=NOW))
    expected = sorted(
        (
            (o.start_time, o.id)
            for t in small_demo.traces
            for o in t.observations
            if o.name == "generate-answer"
        ),
        reverse=True,
    )
    assert [(r.timestamp, r.id) for r in refs] == expected
    pages = _filters(v4)
    assert len(pages) == math.ceil(len(expected) / 7)  # cursor followed across every page
    (conditions,) = {json.dumps(c) for c in pages}
    assert '"column": "type"' in conditions and '"column": "name"' in conditions


def test_legacy_reads_push_filters_to_traces(v3: LangfuseFake, source_for: Any, small_demo: DemoData) -> None:
    src = source_for(v3, page_size=10)
    f = Filters(**MONTH, tags=("support",), release=("2026.10.1",))
    refs = list(src.iter_candidates("trace", f, now=NOW))
    expected = {t.id for t in small_demo.traces if "support" in t.tags and t.release == "2026.10.1"}
    assert {r.id for r in refs} == expected and expected
    listing = [q for m, p, q in v3.requests if p == "/api/public/traces" and "filter" in q]
    assert len(listing) == math.ceil(len(expected) / 10)
    conditions = json.loads(listing[0]["filter"][0])
    assert {"release", "tags", "timestamp"} <= {c["column"] for c in conditions}
    assert v3.counters["GET /api/public/v2/observations"] == 1  # only the probe


def test_score_threshold_reads_v3_scores(v4: LangfuseFake, source_for: Any, small_demo: DemoData) -> None:
    f = Filters(**MONTH, scores=(ScoreThreshold("llm_judge_helpfulness", "<", 0.5),))
    refs = list(source_for(v4).iter_candidates("trace", f, now=NOW))
    expected = {
        s.trace_id
        for s in small_demo.scores
        if s.name == "llm_judge_helpfulness"
        and not s.observation_id
        and isinstance(s.value, float)
        and s.value < 0.5
    }
    assert {r.id for r in refs} == expected and expected
    query = next(q for m, p, q in v4.requests if p == "/api/public/v3/scores" and "name" in q)
    assert query["name"] == ["llm_judge_helpfulness"] and query["valueMax"] == ["0.5"]


def test_items_are_fetched_in_batches_and_io_is_parsed(
    v4: LangfuseFake, source_for: Any, small_demo: DemoData
) -> None:
    src = source_for(v4)
    refs = list(src.iter_candidates("trace", Filters(**MONTH), now=NOW))
    v4.reset_counters()
    items = src.get_items(refs)
    assert len(items) == len(small_demo.traces)
    assert v4.counters["GET /api/public/v2/observations"] == 1  # 60 traces in one request
    by_id = {t.id: t for t in small_demo.traces}
    for item in items:
        assert item.trace is not None
        want = by_id[item.ref.id]
        assert item.trace.input == want.input and item.trace.output == want.output
        assert [o.id for o in item.trace.observations] == [
            o.id for o in sorted(want.observations, key=lambda o: (o.start_time, o.id))
        ]
        assert isinstance(item.trace.input, dict)  # the v2 reader's raw string, parsed


def test_sessions_are_fetched_in_one_batch_with_their_turns_in_order(
    v4: LangfuseFake, source_for: Any
) -> None:
    src = source_for(v4)
    refs = list(src.iter_candidates("session", Filters(**MONTH), now=NOW))[:10]
    v4.reset_counters()
    items = src.get_items(refs)
    assert [i.ref for i in items] == refs
    for item in items:
        assert item.session is not None and item.session.traces
        turns = [t.timestamp for t in item.session.traces]
        assert turns == sorted(turns)
    assert v4.counters["GET /api/public/v2/observations"] == 1  # 10 sessions in one request


def test_parse_io() -> None:
    assert parse_io('{"a": [1, 2]}') == {"a": [1, 2]}
    assert parse_io("[1]") == [1]
    assert parse_io("42") == "42" and parse_io("true") == "true"
    assert parse_io("{not json") == "{not json"
    assert parse_io(None) is None


def test_long_metadata_values_are_compared_in_full(make_fake: Any, source_for: Any) -> None:
    from hitl_pipeline.model import Trace

    long_a, long_b = "x" * 300, "x" * 300 + "y"
    fake = make_fake(mode="v4", load=False)
    ts = datetime(2026, 10, 5, tzinfo=UTC)
    fake.load(
        [
            Trace(id="a", name="t", timestamp=ts, metadata={"note": long_a, "n": 1}),
            Trace(id="b", name="t", timestamp=ts, metadata={"note": long_b, "n": "1"}),
        ]
    )
    # The reader cuts metadata values to 200 characters unless io or expandMetadata is asked for (§7).
    import httpx

    url, auth = fake.url + "/api/public/v2/observations", (fake.public_key, fake.secret_key)
    cut = httpx.get(url, params={"fields": "core,metadata"}, auth=auth).json()["data"][0]["metadata"]["note"]
    full = httpx.get(url, params={"fields": "core,metadata", "expandMetadata": "note"}, auth=auth).json()
    assert len(cut) == 200 and len(full["data"][0]["metadata"]["note"]) >= 300
    src = source_for(fake)
    refs = list(src.iter_candidates("trace", Filters(**MONTH, metadata=(("note", (long_a,)),)), now=NOW))
    assert [r.id for r in refs] == ["a"]
    # Types are exact: 1 (number) is not "1" (text), although the server compares text.
    refs = list(
        src.iter_candidates(
            "trace", Filters(**MONTH, metadata=(("n", (1,)),)), now=NOW, stratify_by="metadata.note"
        )
    )
    assert [(r.id, r.stratum) for r in refs] == [("a", long_a)]


def test_every_v2_read_has_a_bounded_time_window(v4: LangfuseFake, source_for: Any) -> None:
    src = source_for(v4)
    src.probe()
    f = Filters(**MONTH, metadata=(("topic", ("billing", "returns")),), release=("2026.10.1",))
    for target in ("trace", "observation", "session"):
        refs = list(src.iter_candidates(target, f, now=NOW, stratify_by="metadata.plan"))  # type: ignore[arg-type]
        assert refs
        src.get_items(refs[:20])
    reads = [q for m, p, q in v4.requests if p == "/api/public/v2/observations"]
    assert len(reads) > 6
    for q in reads:
        conditions = json.loads(q["filter"][0]) if "filter" in q else []
        ops = {c["operator"] for c in conditions if c["column"] == "startTime"}
        bounded_by_params = "fromStartTime" in q and "toStartTime" in q
        assert ops == {">=", "<"} or bounded_by_params, q
