"""The shared behavioural suite every source backend must pass (see ``backends.LOADERS``).

Expected results are computed here, in plain Python, from the ``DemoData`` objects — never from a
store — following the filter semantics agreed between the backends:

* a list means "any of"; ``tags`` = all of; ``exclude_tags`` = none of;
* ``metadata`` = exact match on the trace's metadata (type-exact; a list = any of);
* the window ``[from, to)`` is on the trace timestamp (trace / session) or observation start time;
* a session qualifies when one of its traces matches; its timestamp is its earliest trace's;
* score thresholds: some score of that name on the item's subject satisfies the condition;
* newest first (ties by larger id); ``stratum`` = the ``sample.by`` value as a string, or None.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitl_pipeline.errors import HitlError
from hitl_pipeline.model import ItemRef, Observation, Score, ScoreWrite, Target, Trace
from hitl_pipeline.sources.base import Source
from hitl_pipeline.sources.demo import DemoData
from hitl_pipeline.spec.model import Filters, ScoreThreshold
from tests.sources.backends import NOW

MONTH = {"time_from": "2026-10-01", "time_to": "2026-11-01"}

# ---------------------------------------------------------------------------- the oracle

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


def _same_scalar(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return isinstance(actual, bool) and isinstance(wanted, bool) and actual == wanted
    if isinstance(actual, int | float) and isinstance(wanted, int | float):
        return float(actual) == float(wanted)
    return isinstance(actual, str) and isinstance(wanted, str) and actual == wanted


def trace_matches(t: Trace, f: Filters, *, window: tuple[datetime, datetime] | None) -> bool:
    """The trace-level filters (and the window on the trace timestamp when given)."""
    for wanted, actual in (
        (f.trace_name, t.name),
        (f.user_id, t.user_id),
        (f.session_id, t.session_id),
        (f.environment, t.environment),
        (f.release, t.release),
        (f.version, t.version),
    ):
        if wanted and actual not in wanted:
            return False
    if not set(f.tags) <= set(t.tags):
        return False
    if set(f.exclude_tags) & set(t.tags):
        return False
    for key, values in f.metadata:
        if key not in t.metadata or not any(_same_scalar(t.metadata[key], v) for v in values):
            return False
    return window is None or window[0] <= t.timestamp < window[1]


def _score_ok(scores: Sequence[Score], thresholds: Sequence[ScoreThreshold]) -> bool:
    for th in thresholds:
        hit = False
        for s in scores:
            if s.name != th.name:
                continue
            if isinstance(th.value, str):
                actual: Any = s.string_value if s.string_value is not None else s.value
                if isinstance(actual, str) and _OPS[th.op](actual, th.value):
                    hit = True
            else:
                number = float(th.value)
                if isinstance(s.value, int | float) and _OPS[th.op](float(s.value), number):
                    hit = True
        if not hit:
            return False
    return True


def _stratum(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _trace_field(t: Trace, by: str) -> Any:
    if by.startswith("metadata."):
        return t.metadata.get(by.removeprefix("metadata."))
    if by == "name":
        return t.name
    if by in ("observation_type", "observation_name"):
        return None
    return getattr(t, by)


def expected(
    demo: DemoData, target: Target, f: Filters, *, stratify_by: str | None = None, now: datetime = NOW
) -> list[tuple[str, str | None]]:
    """(item key, stratum) in the agreed order, computed from the demo objects."""
    window = f.window(now)
    rows: list[tuple[datetime, str, str | None]] = []
    if target == "trace":
        for t in demo.traces:
            scores = [s for s in demo.scores if s.trace_id == t.id and s.observation_id is None]
            if trace_matches(t, f, window=window) and _score_ok(scores, f.scores):
                rows.append(
                    (t.timestamp, t.id, _stratum(_trace_field(t, stratify_by)) if stratify_by else None)
                )
    elif target == "observation":
        for t in demo.traces:
            if not trace_matches(t, f, window=None):
                continue
            for o in t.observations:
                if not window[0] <= o.start_time < window[1]:
                    continue
                if f.observation_type and o.type not in f.observation_type:
                    continue
                if f.observation_name and o.name not in f.observation_name:
                    continue
                if not _score_ok([s for s in demo.scores if s.observation_id == o.id], f.scores):
                    continue
                rows.append((o.start_time, o.id, _stratum(_obs_field(t, o, stratify_by))))
    else:
        sessions: dict[str, list[Trace]] = {}
        for t in demo.traces:
            if t.session_id:
                sessions.setdefault(t.session_id, []).append(t)
        for sid, traces in sessions.items():
            traces.sort(key=lambda t: (t.timestamp, t.id))
            if not any(trace_matches(t, f, window=window) for t in traces):
                continue
            if not _score_ok([s for s in demo.scores if s.session_id == sid], f.scores):
                continue
            first = traces[0]
            stratum = None
            if stratify_by:
                stratum = _stratum(sid if stratify_by == "session_id" else _trace_field(first, stratify_by))
            rows.append((first.timestamp, sid, stratum))
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return [(f"{target}:{item_id}", stratum) for _, item_id, stratum in rows]


def _obs_field(t: Trace, o: Observation, by: str | None) -> Any:
    if by is None:
        return None
    if by == "name" or by == "observation_name":
        return o.name
    if by == "observation_type":
        return o.type
    return _trace_field(t, by)


def listed(
    source: Source, target: Target, f: Filters, *, stratify_by: str | None = None
) -> list[tuple[str, str | None]]:
    refs = list(source.iter_candidates(target, f, now=NOW, stratify_by=stratify_by))
    for ref in refs:
        assert ref.kind == target
        assert ref.timestamp.tzinfo is not None
        if target != "session":
            assert ref.trace_id
    return [(ref.key, ref.stratum) for ref in refs]


# ---------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Case:
    id: str
    target: Target
    filters: dict[str, Any]
    nonempty: bool = True  # guards against a case passing because nothing matches at all


def _th(name: str, op: str, value: Any) -> ScoreThreshold:
    return ScoreThreshold(name=name, op=op, value=value)  # type: ignore[arg-type]


CASES = [
    Case("all-traces", "trace", {}),
    Case("trace-name", "trace", {"trace_name": ("order-lookup",)}),
    Case("trace-name-any-of", "trace", {"trace_name": ("order-lookup", "support-chat")}),
    Case("trace-name-unknown", "trace", {"trace_name": ("nope",)}, nonempty=False),
    Case("user-any-of", "trace", {"user_id": ("user-001", "user-002", "user-003", "user-010", "user-042")}),
    Case("session-id", "trace", {"session_id": ("sess-0003", "sess-0010")}),
    Case("tags-all-of", "trace", {"tags": ("support", "vip")}),
    Case("tags-all-of-rare", "trace", {"tags": ("escalated", "beta")}, nonempty=False),
    Case("exclude-tags", "trace", {"exclude_tags": ("support", "beta")}),
    Case("tags-and-exclude", "trace", {"tags": ("support",), "exclude_tags": ("vip",)}),
    Case("environment", "trace", {"environment": ("staging",)}),
    Case("release", "trace", {"release": ("2026.10.2",)}),
    Case("version", "trace", {"version": ("v2",)}),
    Case("metadata", "trace", {"metadata": (("topic", ("billing",)),)}),
    Case("metadata-any-of", "trace", {"metadata": (("language", ("de", "ja", "fr")),)}),
    Case(
        "metadata-two-keys", "trace", {"metadata": (("topic", ("returns", "shipping")), ("plan", ("free",)))}
    ),
    Case("metadata-int", "trace", {"metadata": (("turn", (2,)),)}),
    Case("metadata-type-exact", "trace", {"metadata": (("turn", ("2",)),)}, nonempty=False),
    Case("metadata-missing-key", "trace", {"metadata": (("nope", ("x",)),)}, nonempty=False),
    Case("window", "trace", {"time_from": "2026-10-10", "time_to": "2026-10-17T12:30:00Z"}),
    Case("relative-window", "trace", {"time_from": "-7d", "time_to": "now"}),
    Case("default-window", "trace", {"time_from": "-30d"}),
    Case("score-below", "trace", {"scores": (_th("llm_judge_helpfulness", "<", 0.5),)}),
    Case("score-at-least", "trace", {"scores": (_th("llm_judge_helpfulness", ">=", 0.9),)}),
    Case("score-not-equal", "trace", {"scores": (_th("llm_judge_helpfulness", "!=", 0.5),)}),
    Case(
        "score-two",
        "trace",
        {"scores": (_th("llm_judge_helpfulness", ">", 0.3), _th("llm_judge_helpfulness", "<=", 0.6))},
    ),
    Case(
        "score-on-obs-not-trace",
        "trace",
        {"scores": (_th("llm_judge_faithfulness", ">", 0),)},
        nonempty=False,
    ),
    Case(
        "combined",
        "trace",
        {
            "trace_name": ("support-chat",),
            "environment": ("production",),
            "tags": ("support",),
            "exclude_tags": ("escalated",),
            "metadata": (("language", ("en", "de")),),
            "time_from": "2026-10-05",
            "time_to": "2026-10-28",
            "scores": (_th("llm_judge_helpfulness", ">", 0.4),),
        },
    ),
    Case("obs-all", "observation", {}),
    Case("obs-type", "observation", {"observation_type": ("TOOL",)}),
    Case("obs-type-any-of", "observation", {"observation_type": ("TOOL", "RETRIEVER")}),
    Case("obs-name", "observation", {"observation_name": ("generate-answer",)}),
    Case(
        "obs-type-and-name",
        "observation",
        {"observation_type": ("GENERATION",), "observation_name": ("classify-intent",)},
    ),
    Case(
        "obs-trace-filters",
        "observation",
        {
            "observation_name": ("generate-answer",),
            "metadata": (("language", ("ja", "de")),),
            "tags": ("support",),
        },
    ),
    Case("obs-trace-name", "observation", {"trace_name": ("order-lookup",), "observation_type": ("TOOL",)}),
    Case("obs-window", "observation", {"time_from": "2026-10-03T00:00:00Z", "time_to": "2026-10-09"}),
    Case("obs-score", "observation", {"scores": (_th("llm_judge_faithfulness", "<", 0.7),)}),
    Case(
        "obs-score-trace-level-not-obs",
        "observation",
        {"scores": (_th("llm_judge_helpfulness", ">", 0),)},
        nonempty=False,
    ),
    Case("sessions-all", "session", {}),
    Case("session-tags", "session", {"tags": ("escalated",)}),
    Case("session-metadata", "session", {"metadata": (("topic", ("technical",)),)}),
    Case(
        "session-user", "session", {"user_id": ("user-001", "user-005", "user-007", "user-030", "user-055")}
    ),
    Case("session-window", "session", {"time_from": "2026-10-12", "time_to": "2026-10-20"}),
    Case("session-exclude", "session", {"exclude_tags": ("support",)}),
    Case("session-score-none", "session", {"scores": (_th("issue_resolved", "=", 1),)}, nonempty=False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_filters_match_the_agreed_semantics(source: Source, demo: DemoData, case: Case) -> None:
    window = {} if "time_from" in case.filters or "time_to" in case.filters else MONTH
    if case.id == "default-window":
        window = {}
    f = Filters(**{**window, **case.filters})
    want = expected(demo, case.target, f)
    assert listed(source, case.target, f) == want
    if case.nonempty:
        assert want, f"case {case.id} selects nothing: it would not test anything"


def test_the_filters_actually_narrow(demo: DemoData) -> None:
    everything = len(expected(demo, "trace", Filters(**MONTH)))
    assert everything == len(demo.traces)
    for case in CASES:
        if case.target == "trace" and case.id not in ("all-traces", "trace-name-any-of", "default-window"):
            f = Filters(**{**MONTH, **case.filters})
            assert len(expected(demo, "trace", f)) < everything, case.id


FILTER_VALUES = {
    "trace_name": ["support-chat", "order-lookup"],
    "environment": ["production", "staging"],
    "release": ["2026.10.1", "2026.10.2"],
    "version": ["v1", "v2"],
    "tags": ["support", "vip", "beta", "escalated"],
}


@st.composite
def random_filters(draw: st.DrawFn) -> Filters:
    kwargs: dict[str, Any] = {}
    for key in ("trace_name", "environment", "release", "version"):
        if draw(st.booleans()):
            kwargs[key] = tuple(
                draw(st.lists(st.sampled_from(FILTER_VALUES[key]), min_size=1, max_size=2, unique=True))
            )
    kwargs["tags"] = tuple(draw(st.lists(st.sampled_from(FILTER_VALUES["tags"]), max_size=2, unique=True)))
    kwargs["exclude_tags"] = tuple(
        draw(st.lists(st.sampled_from(FILTER_VALUES["tags"]), max_size=1, unique=True))
    )
    if draw(st.booleans()):
        key = draw(st.sampled_from(["topic", "language", "plan"]))
        values = {
            "topic": ["billing", "shipping", "returns", "account", "technical"],
            "language": ["en", "de", "fr", "es", "ja"],
            "plan": ["free", "pro", "enterprise"],
        }[key]
        kwargs["metadata"] = (
            (key, tuple(draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)))),
        )
    day_from = draw(st.integers(1, 31))
    day_to = draw(st.integers(day_from, 32))
    kwargs["time_from"] = f"2026-10-{day_from:02d}"
    kwargs["time_to"] = "2026-11-01" if day_to == 32 else f"2026-10-{day_to:02d}T12:00:00Z"
    if draw(st.booleans()):
        kwargs["scores"] = (
            _th(
                "llm_judge_helpfulness",
                draw(st.sampled_from(list(_OPS))),
                draw(st.sampled_from([0.3, 0.5, 0.75])),
            ),
        )
    return Filters(**kwargs)


@st.composite
def random_query(draw: st.DrawFn) -> tuple[Target, Filters]:
    """A target and a random combination of filters valid for it."""
    target: Target = draw(st.sampled_from(["trace", "observation", "session"]))
    f = draw(random_filters())
    if target == "session":
        f = replace(f, scores=())  # the demo has no session scores; covered by the write tests
    if target == "observation":
        name = "llm_judge_faithfulness"  # observation-level judge scores
        f = replace(f, scores=tuple(replace(th, name=name) for th in f.scores))
        if draw(st.booleans()):
            f = replace(f, observation_type=(draw(st.sampled_from(["GENERATION", "RETRIEVER", "TOOL"])),))
        if draw(st.booleans()):
            names = ["classify-intent", "retrieve-docs", "lookup_order", "generate-answer"]
            f = replace(
                f,
                observation_name=tuple(
                    draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
                ),
            )
    return target, f


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=random_query())
def test_random_filter_combinations_agree_with_the_oracle(
    source: Source, demo: DemoData, query: tuple[Target, Filters]
) -> None:
    target, f = query
    assert listed(source, target, f) == expected(demo, target, f)


# ---------------------------------------------------------------------------- stratum

STRATA = [
    ("trace", "metadata.language"),
    ("trace", "metadata.turn"),
    ("trace", "metadata.absent_key"),
    ("trace", "name"),
    ("trace", "user_id"),
    ("trace", "session_id"),
    ("trace", "environment"),
    ("trace", "release"),
    ("trace", "version"),
    ("observation", "observation_type"),
    ("observation", "observation_name"),
    ("observation", "name"),
    ("observation", "metadata.topic"),
    ("observation", "environment"),
    ("session", "metadata.plan"),
    ("session", "user_id"),
    ("session", "session_id"),
    ("session", "name"),
]


@pytest.mark.parametrize(("target", "by"), STRATA, ids=[f"{t}-{b}" for t, b in STRATA])
def test_stratum_is_the_sample_by_value(source: Source, demo: DemoData, target: Target, by: str) -> None:
    f = Filters(**MONTH)
    want = expected(demo, target, f, stratify_by=by)
    assert listed(source, target, f, stratify_by=by) == want
    strata = {s for _, s in want}
    if by == "metadata.absent_key":
        assert strata == {None}
    else:
        assert None not in strata and len(strata) >= 1


def test_no_stratum_without_stratify_by(source: Source) -> None:
    refs = list(source.iter_candidates("trace", Filters(**MONTH), now=NOW))
    assert refs and all(r.stratum is None for r in refs)


def test_candidates_are_newest_first_and_timestamps_exact(source: Source, demo: DemoData) -> None:
    refs = list(source.iter_candidates("trace", Filters(**MONTH), now=NOW))
    by_id = {t.id: t for t in demo.traces}
    assert [r.timestamp for r in refs] == sorted((r.timestamp for r in refs), reverse=True)
    for r in refs:
        assert r.timestamp == by_id[r.id].timestamp
        assert r.trace_id == r.id
    sessions = list(source.iter_candidates("session", Filters(**MONTH), now=NOW))
    first = {}
    for t in sorted(demo.traces, key=lambda t: t.timestamp):
        first.setdefault(t.session_id, t.timestamp)
    assert all(r.timestamp == first[r.id] for r in sessions)
    obs = list(source.iter_candidates("observation", Filters(**MONTH, observation_type=("TOOL",)), now=NOW))
    by_obs = {o.id: o for o in demo.observations}
    assert all(r.trace_id == by_obs[r.id].trace_id and r.timestamp == by_obs[r.id].start_time for r in obs)


# ---------------------------------------------------------------------------- get_item


def _obs_view(o: Observation) -> tuple[Any, ...]:
    return (
        o.id,
        o.trace_id,
        o.type,
        o.name,
        o.start_time,
        o.end_time,
        o.level,
        o.status_message,
        o.model,
        o.input,
        o.output,
        o.usage,
    )


def _trace_view(t: Trace) -> tuple[Any, ...]:
    return (
        t.id,
        t.name,
        t.timestamp,
        t.user_id,
        t.session_id,
        tuple(sorted(t.tags)),
        t.environment,
        t.release,
        t.version,
        t.input,
        t.output,
        t.metadata,
    )


def _ref(kind: Target, item_id: str, ts: datetime, trace_id: str | None = None) -> ItemRef:
    return ItemRef(kind=kind, id=item_id, timestamp=ts, trace_id=trace_id)


def test_get_trace_item_has_its_tree_and_trace_level_scores(source: Source, demo: DemoData) -> None:
    # A trace with a tool call (nested under its generation) and both kinds of judge score.
    t = next(
        t
        for t in demo.traces
        if any(o.parent_id for o in t.observations)
        and any(s.trace_id == t.id and s.observation_id for s in demo.scores)
        and any(s.trace_id == t.id and not s.observation_id for s in demo.scores)
    )
    item = source.get_item(_ref("trace", t.id, t.timestamp, t.id))
    assert item.trace is not None and item.observation is None and item.session is None
    assert _trace_view(item.trace) == _trace_view(t)
    want_obs = sorted(t.observations, key=lambda o: (o.start_time, o.id))
    assert [_obs_view(o) for o in item.trace.observations] == [_obs_view(o) for o in want_obs]
    tool = next(o for o in item.trace.observations if o.type == "TOOL")
    parent = next(o for o in item.trace.observations if o.id == tool.parent_id)
    assert parent.name == "generate-answer"
    want_scores = {s.id for s in demo.scores if s.trace_id == t.id and s.observation_id is None}
    assert {s.id for s in item.scores} == want_scores
    judge = next(s for s in item.scores)
    original = next(s for s in demo.scores if s.id == judge.id)
    assert (judge.name, judge.value, judge.data_type, judge.source, judge.comment) == (
        original.name,
        original.value,
        original.data_type,
        original.source,
        original.comment,
    )


def test_get_item_score_names_limits_the_scores(source: Source, demo: DemoData) -> None:
    t = next(t for t in demo.traces if any(s.trace_id == t.id and not s.observation_id for s in demo.scores))
    ref = _ref("trace", t.id, t.timestamp, t.id)
    assert [s.name for s in source.get_item(ref, score_names=["llm_judge_helpfulness"]).scores] == [
        "llm_judge_helpfulness"
    ]
    assert source.get_item(ref, score_names=["something_else"]).scores == ()


def test_get_observation_item_has_its_trace_and_own_scores(source: Source, demo: DemoData) -> None:
    s = next(s for s in demo.scores if s.observation_id)
    o = next(o for o in demo.observations if o.id == s.observation_id)
    t = next(t for t in demo.traces if t.id == o.trace_id)
    item = source.get_item(_ref("observation", o.id, o.start_time, o.trace_id))
    assert item.observation is not None and item.trace is not None and item.session is None
    assert _obs_view(item.observation) == _obs_view(o)
    assert _trace_view(item.trace) == _trace_view(t)
    assert {x.id for x in item.scores} == {x.id for x in demo.scores if x.observation_id == o.id}


def test_get_observation_item_keeps_errors_and_json(source: Source, demo: DemoData) -> None:
    o = next(o for o in demo.observations if o.level == "ERROR")
    item = source.get_item(_ref("observation", o.id, o.start_time, o.trace_id))
    assert item.observation is not None
    assert item.observation.level == "ERROR" and item.observation.status_message == o.status_message
    assert item.observation.input == o.input


def test_get_session_item_has_traces_in_time_order(source: Source, demo: DemoData) -> None:
    sid = max(
        {t.session_id for t in demo.traces if t.session_id},
        key=lambda s: (sum(t.session_id == s for t in demo.traces), s),
    )
    traces = sorted((t for t in demo.traces if t.session_id == sid), key=lambda t: (t.timestamp, t.id))
    assert len(traces) >= 3
    item = source.get_item(_ref("session", sid, traces[0].timestamp))
    assert item.session is not None and item.trace is None
    assert item.session.id == sid
    assert [_trace_view(t) for t in item.session.traces] == [_trace_view(t) for t in traces]
    for got, want in zip(item.session.traces, traces, strict=True):
        assert [o.id for o in got.observations] == [
            o.id for o in sorted(want.observations, key=lambda o: (o.start_time, o.id))
        ]
    assert item.scores == ()


@pytest.mark.parametrize("kind", ["trace", "observation", "session"])
def test_get_item_unknown_id_is_a_user_error(source: Source, kind: Target) -> None:
    with pytest.raises(HitlError, match="no-such-id"):
        source.get_item(_ref(kind, "no-such-id", NOW, "no-such-id" if kind != "session" else None))


# ---------------------------------------------------------------------------- score configs


def test_demo_score_configs_are_listed(source: Source, demo: DemoData) -> None:
    got = {c.id: c for c in source.list_score_configs()}
    for c in demo.score_configs:
        assert got[c.id].name == c.name and got[c.id].data_type == c.data_type
        assert tuple(got[c.id].categories) == c.categories
        assert (got[c.id].min_value, got[c.id].max_value) == (c.min_value, c.max_value)
        assert source.get_score_config(c.id) == got[c.id]
    assert source.get_score_config("cfg-does-not-exist") is None


def test_create_score_configs_of_every_type(writable_source: Source) -> None:
    src = writable_source
    num = src.create_score_config("tone (1-7)", "NUMERIC", min_value=1, max_value=7, description="d")
    cat = src.create_score_config("verdict", "CATEGORICAL", categories=[("good", 1), ("bad", 0)])
    boolean = src.create_score_config("is_safe", "BOOLEAN")
    text = src.create_score_config("notes.v2", "TEXT")
    assert (num.min_value, num.max_value, num.data_type) == (1, 7, "NUMERIC")
    assert cat.categories == (("good", 1.0), ("bad", 0.0))
    assert sorted(boolean.categories) == [("False", 0.0), ("True", 1.0)]
    assert text.data_type == "TEXT"
    ids = {c.id for c in src.list_score_configs()}
    assert {num.id, cat.id, boolean.id, text.id} <= ids
    assert src.get_score_config(cat.id) == cat


BAD_CONFIGS = [
    ("name-chars", dict(name="bad/name", data_type="NUMERIC")),
    ("name-long", dict(name="x" * 36, data_type="NUMERIC")),
    ("name-empty", dict(name="", data_type="TEXT")),
    ("max-not-above-min", dict(name="n", data_type="NUMERIC", min_value=5, max_value=5)),
    ("max-below-min", dict(name="n", data_type="NUMERIC", min_value=5, max_value=1)),
    ("no-categories", dict(name="c", data_type="CATEGORICAL")),
    ("duplicate-labels", dict(name="c", data_type="CATEGORICAL", categories=[("a", 0), ("a", 1)])),
    ("duplicate-values", dict(name="c", data_type="CATEGORICAL", categories=[("a", 0), ("b", 0)])),
    ("boolean-categories", dict(name="b", data_type="BOOLEAN", categories=[("yes", 1), ("no", 0)])),
    ("unknown-type", dict(name="x", data_type="CORRECTION")),
]


@pytest.mark.parametrize("kwargs", [k for _, k in BAD_CONFIGS], ids=[i for i, _ in BAD_CONFIGS])
def test_create_score_config_enforces_langfuse_rules(writable_source: Source, kwargs: dict[str, Any]) -> None:
    before = len(writable_source.list_score_configs())
    with pytest.raises(HitlError):
        writable_source.create_score_config(**kwargs)
    assert len(writable_source.list_score_configs()) == before


# ---------------------------------------------------------------------------- scores


def _write(**kw: Any) -> ScoreWrite:
    base: dict[str, Any] = {"source": "ANNOTATION", "metadata": {"hitl_campaign": "t"}}
    return ScoreWrite(**{**base, **kw})


def test_valid_scores_of_every_type_are_stored_and_read_back(writable_source: Source, demo: DemoData) -> None:
    src = writable_source
    t = demo.traces[0]
    o = t.observations[-1]
    sid = t.session_id
    writes = [
        _write(
            id="s-cat",
            name="support_quality",
            value="acceptable",
            data_type="CATEGORICAL",
            trace_id=t.id,
            config_id="cfg-support-quality",
            comment="ok",
        ),
        _write(
            id="s-num",
            name="helpfulness",
            value=4,
            data_type="NUMERIC",
            trace_id=t.id,
            config_id="cfg-helpfulness",
        ),
        _write(
            id="s-bool",
            name="factually_correct",
            value=0,
            data_type="BOOLEAN",
            trace_id=t.id,
            observation_id=o.id,
            config_id="cfg-factually-correct",
        ),
        _write(
            id="s-text",
            name="reviewer_notes",
            value="Überprüft ✓",
            data_type="TEXT",
            trace_id=t.id,
            config_id="cfg-reviewer-notes",
        ),
        _write(
            id="s-sess",
            name="issue_resolved",
            value=1,
            data_type="BOOLEAN",
            session_id=sid,
            config_id="cfg-issue-resolved",
        ),
        _write(
            id="s-corr",
            name="correction",
            value="A better answer.",
            data_type="CORRECTION",
            trace_id=t.id,
            source="API",
        ),
    ]
    results = src.write_scores(writes)
    assert [(r.id, r.ok, r.error) for r in results] == [(w.id, True, None) for w in writes]
    got = src.read_scores([w.id for w in writes] + ["missing"])
    assert set(got) == {w.id for w in writes}
    assert (
        got["s-cat"].value == "acceptable"
        and got["s-cat"].data_type == "CATEGORICAL"
        and got["s-cat"].comment == "ok"
    )
    assert got["s-num"].value == 4 and got["s-num"].config_id == "cfg-helpfulness"
    assert (
        got["s-bool"].value == 0 and got["s-bool"].observation_id == o.id and got["s-bool"].trace_id == t.id
    )
    assert got["s-text"].value == "Überprüft ✓"
    assert got["s-sess"].session_id == sid and got["s-sess"].trace_id is None
    assert got["s-corr"].value == "A better answer."
    assert got["s-corr"].name == "output"  # Langfuse files every correction under "output" (§9)
    assert got["s-cat"].metadata == {"hitl_campaign": "t"}
    assert all(s.timestamp.tzinfo is not None for s in got.values())
    # The written scores show up on their subjects.
    item = src.get_item(
        _ref("trace", t.id, t.timestamp, t.id), score_names=["support_quality", "helpfulness"]
    )
    assert {s.id for s in item.scores} == {"s-cat", "s-num"}
    obs_item = src.get_item(_ref("observation", o.id, o.start_time, t.id), score_names=["factually_correct"])
    assert [s.id for s in obs_item.scores] == ["s-bool"]
    assert sid is not None
    sess_item = src.get_item(_ref("session", sid, t.timestamp))
    assert [s.id for s in sess_item.scores] == ["s-sess"]
    # …and count for score filters on sessions.
    assert ("session:" + sid, None) in listed(
        src, "session", Filters(**MONTH, scores=(_th("issue_resolved", "=", 1),))
    )


def test_same_id_and_name_replaces(writable_source: Source, demo: DemoData) -> None:
    t = demo.traces[1]
    first = _write(
        id="s-1",
        name="support_quality",
        value="poor",
        data_type="CATEGORICAL",
        trace_id=t.id,
        config_id="cfg-support-quality",
    )
    second = _write(
        id="s-1",
        name="support_quality",
        value="excellent",
        data_type="CATEGORICAL",
        trace_id=t.id,
        config_id="cfg-support-quality",
    )
    assert all(r.ok for r in writable_source.write_scores([first]))
    assert all(r.ok for r in writable_source.write_scores([second]))
    rows = [s for s in writable_source.iter_scores(names=["support_quality"]) if s.id == "s-1"]
    assert len(rows) == 1 and rows[0].value == "excellent"
    assert writable_source.read_scores(["s-1"])["s-1"].value == "excellent"


def test_delete_scores_removes_every_row_of_the_ids(writable_source: Source, demo: DemoData) -> None:
    t = demo.traces[3]
    keep = _write(
        id="s-keep",
        name="helpfulness",
        value=4,
        data_type="NUMERIC",
        trace_id=t.id,
        config_id="cfg-helpfulness",
    )
    gone = _write(
        id="s-gone",
        name="helpfulness",
        value=2,
        data_type="NUMERIC",
        trace_id=t.id,
        config_id="cfg-helpfulness",
    )
    also = _write(
        id="s-gone",
        name="support_quality",
        value="poor",
        data_type="CATEGORICAL",
        trace_id=t.id,
        config_id="cfg-support-quality",
    )
    assert all(r.ok for r in writable_source.write_scores([keep, gone, also]))
    assert set(writable_source.read_scores(["s-keep", "s-gone"])) == {"s-keep", "s-gone"}
    # One result per id, in order; an id that is not there is ok (already gone).
    results = writable_source.delete_scores(["s-gone", "s-never-written"])
    assert [(r.id, r.ok) for r in results] == [("s-gone", True), ("s-never-written", True)]
    assert set(writable_source.read_scores(["s-keep", "s-gone"])) == {"s-keep"}
    assert not [
        s for s in writable_source.iter_scores(names=["helpfulness", "support_quality"]) if s.id == "s-gone"
    ]
    # Deleting again is still ok; nothing to delete is an empty answer.
    assert [r.ok for r in writable_source.delete_scores(["s-gone"])] == [True]
    assert writable_source.delete_scores([]) == []
    # The id can be written again after its delete.
    assert all(r.ok for r in writable_source.write_scores([gone]))
    assert writable_source.read_scores(["s-gone"])["s-gone"].value == 2


def test_same_id_other_name_adds_a_row(writable_source: Source, demo: DemoData) -> None:
    t = demo.traces[2]
    a = _write(
        id="s-2",
        name="support_quality",
        value="poor",
        data_type="CATEGORICAL",
        trace_id=t.id,
        config_id="cfg-support-quality",
    )
    b = _write(
        id="s-2", name="helpfulness", value=3, data_type="NUMERIC", trace_id=t.id, config_id="cfg-helpfulness"
    )
    assert all(r.ok for r in writable_source.write_scores([a, b]))
    rows = sorted(
        (s.name, s.value)
        for s in writable_source.iter_scores(names=["support_quality", "helpfulness"])
        if s.id == "s-2"
    )
    assert rows == [("helpfulness", 3), ("support_quality", "poor")]


NUMERIC_THRESHOLDS = [
    _th("factually_correct", ">=", 1),
    _th("factually_correct", ">", 0.5),
    _th("factually_correct", "<", 1),
    _th("factually_correct", "=", 1),
    _th("factually_correct", "=", True),
    _th("support_quality", ">=", 1),
    _th("support_quality", "=", 2),
    _th("support_quality", "=", "excellent"),
    _th("support_quality", "!=", "poor"),
]


@pytest.mark.parametrize(
    "th", NUMERIC_THRESHOLDS, ids=[f"{th.name}{th.op}{th.value}" for th in NUMERIC_THRESHOLDS]
)
def test_thresholds_on_boolean_and_categorical_scores(
    writable_source: Source, demo: DemoData, th: ScoreThreshold
) -> None:
    # A BOOLEAN score compares as 0/1 (any operator); a CATEGORICAL one only by its label.
    t = demo.traces[5]
    written = [
        _write(
            id="b",
            name="factually_correct",
            value=1,
            data_type="BOOLEAN",
            trace_id=t.id,
            config_id="cfg-factually-correct",
        ),
        _write(
            id="c",
            name="support_quality",
            value="excellent",
            data_type="CATEGORICAL",
            trace_id=t.id,
            config_id="cfg-support-quality",
        ),
    ]
    assert all(r.ok for r in writable_source.write_scores(written))
    stored = list(writable_source.read_scores(["b", "c"]).values())
    want = [f"trace:{t.id}"] if _score_ok(stored, [th]) else []
    got = [key for key, _ in listed(writable_source, "trace", Filters(**MONTH, scores=(th,)))]
    assert got == want


INVALID = [
    (
        "unknown-category",
        dict(name="support_quality", value="great", data_type="CATEGORICAL", config_id="cfg-support-quality"),
    ),
    (
        "category-as-number",
        dict(name="support_quality", value=2, data_type="CATEGORICAL", config_id="cfg-support-quality"),
    ),
    ("above-max", dict(name="helpfulness", value=6, data_type="NUMERIC", config_id="cfg-helpfulness")),
    ("below-min", dict(name="helpfulness", value=0.5, data_type="NUMERIC", config_id="cfg-helpfulness")),
    (
        "boolean-2",
        dict(name="factually_correct", value=2, data_type="BOOLEAN", config_id="cfg-factually-correct"),
    ),
    ("unknown-config", dict(name="helpfulness", value=3, data_type="NUMERIC", config_id="cfg-nope")),
    ("type-mismatch", dict(name="helpfulness", value="3", data_type="TEXT", config_id="cfg-helpfulness")),
    ("name-mismatch", dict(name="other", value=3, data_type="NUMERIC", config_id="cfg-helpfulness")),
    (
        "text-too-long",
        dict(name="reviewer_notes", value="x" * 501, data_type="TEXT", config_id="cfg-reviewer-notes"),
    ),
    ("text-empty", dict(name="reviewer_notes", value="", data_type="TEXT", config_id="cfg-reviewer-notes")),
    ("annotation-without-config", dict(name="helpfulness", value=3, data_type="NUMERIC")),
]


@pytest.mark.parametrize("kw", [k for _, k in INVALID], ids=[i for i, _ in INVALID])
def test_invalid_scores_are_refused_and_never_stored(
    writable_source: Source, demo: DemoData, kw: dict[str, Any]
) -> None:
    t = demo.traces[3]
    good = _write(
        id="good",
        name="helpfulness",
        value=5,
        data_type="NUMERIC",
        trace_id=t.id,
        config_id="cfg-helpfulness",
    )
    bad = _write(id="bad", trace_id=t.id, **kw)
    results = writable_source.write_scores([bad, good])
    assert [r.id for r in results] == ["bad", "good"]
    assert not results[0].ok and results[0].error and not results[0].retryable
    assert results[1].ok
    assert set(writable_source.read_scores(["bad", "good"])) == {"good"}
    assert not [s for s in writable_source.iter_scores() if s.id == "bad"]


def test_iter_scores_filters(writable_source: Source, demo: DemoData) -> None:
    src = writable_source
    evals = list(src.iter_scores(source="EVAL"))
    assert {s.id for s in evals} == {s.id for s in demo.scores}
    judge = list(src.iter_scores(names=["llm_judge_faithfulness"]))
    assert {s.id for s in judge} == {s.id for s in demo.scores if s.name == "llm_judge_faithfulness"}
    cut = datetime(2026, 10, 20, tzinfo=UTC)
    assert {s.id for s in src.iter_scores(since=cut)} == {s.id for s in demo.scores if s.timestamp >= cut}
    t = demo.traces[4]
    src.write_scores(
        [
            _write(
                id="mine",
                name="helpfulness",
                value=2,
                data_type="NUMERIC",
                trace_id=t.id,
                config_id="cfg-helpfulness",
            )
        ]
    )
    assert [s.id for s in src.iter_scores(source="ANNOTATION")] == ["mine"]
