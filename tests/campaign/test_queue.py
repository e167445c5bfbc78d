"""Queue building: seeded, order-independent sampling in bounded memory, on the real local store."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hitl_pipeline.campaign.queue import _SmallestRank, allocate, build_queue, rank, sample
from hitl_pipeline.model import ItemRef
from hitl_pipeline.sources.local import LocalSource
from tests.campaign.campaign_support import DEMO_NOW, make_spec

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def refs(n: int, strata: int = 3, dup_times: bool = False) -> list[ItemRef]:
    return [
        ItemRef(
            kind="trace",
            id=f"t{i:05d}",
            timestamp=T0 + timedelta(minutes=(i // 3 if dup_times else i)),
            stratum=(None if i % 7 == 0 else f"s{i % strata}"),
        )
        for i in range(n)
    ]


def test_random_is_the_size_smallest_ranks_in_rank_order() -> None:
    items = refs(500)
    picked, count, _ = sample(items, size=20, strategy="random", seed=7)
    expected = sorted(items, key=lambda r: rank(7, r.key))[:20]
    assert [r.key for r in picked] == [r.key for r in expected]
    assert count == 500


def test_rank_is_sha256_not_python_hash() -> None:
    # Fixed value: the same on every machine and every Python process (PYTHONHASHSEED-proof).
    assert rank(42, "trace:abc").hex()[:16] == __import__("hashlib").sha256(b"42:trace:abc").hexdigest()[:16]


def test_seed_changes_the_sample() -> None:
    items = refs(300)
    a, _, _ = sample(items, size=20, strategy="random", seed=1)
    b, _, _ = sample(items, size=20, strategy="random", seed=2)
    assert [r.key for r in a] != [r.key for r in b]


def test_latest_is_newest_first_ties_by_key() -> None:
    items = refs(100, dup_times=True)  # three items share each timestamp
    picked, _, _ = sample(items, size=10, strategy="latest", seed=0)
    expected = sorted(items, key=lambda r: (-r.timestamp.timestamp(), r.key))[:10]
    assert [r.key for r in picked] == [r.key for r in expected]
    assert picked[0].timestamp == max(r.timestamp for r in items)


def test_allocate_largest_remainder_exact() -> None:
    # 10 over 83/48/83/87/55 (356): floors 2/1/2/2/1, remainders → returns (.54) and billing (.44).
    totals = {"shipping": 83, "technical": 48, "account": 83, "billing": 87, "returns": 55}
    assert allocate(10, totals) == {"shipping": 2, "technical": 1, "account": 2, "billing": 3, "returns": 2}
    # Exact ties on the remainder: larger stratum first, then the name; None goes last.
    assert allocate(1, {"b": 1, "a": 1}) == {"a": 1, "b": 0}
    assert allocate(2, {None: 2, "z": 2, "y": 1}) == {None: 1, "z": 1, "y": 0}
    assert allocate(50, {"a": 3, "b": 4}) == {"a": 3, "b": 4}  # never more than a stratum has
    assert sum(allocate(37, {f"s{i}": i + 1 for i in range(9)}).values()) == 37


def test_stratified_proportions_and_within_stratum_rank() -> None:
    items = refs(700, strata=4)
    picked, count, totals = sample(items, size=70, strategy="stratified", seed=3)
    assert count == 700 and sum(totals.values()) == 700
    quotas = allocate(70, totals)
    got: dict[str | None, list[str]] = {}
    for r in picked:
        got.setdefault(r.stratum, []).append(r.key)
    assert {k: len(v) for k, v in got.items()} == {k: v for k, v in quotas.items() if v}
    for stratum, keys in got.items():
        members = sorted((r for r in items if r.stratum == stratum), key=lambda r: rank(3, r.key))
        assert set(keys) == {r.key for r in members[: quotas[stratum]]}
    # The final order is the rank order across strata.
    assert [r.key for r in picked] == sorted((r.key for r in picked), key=lambda k: rank(3, k))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 200),
    size=st.integers(0, 60),
    strategy=st.sampled_from(["random", "latest", "stratified"]),
    shuffle_seed=st.integers(0, 10_000),
)
def test_sample_ignores_candidate_order_and_duplicates(
    n: int, size: int, strategy: str, shuffle_seed: int
) -> None:
    items = refs(n, dup_times=True)
    base, _, _ = sample(items, size=size, strategy=strategy, seed=5)
    shuffled = list(items)
    random.Random(shuffle_seed).shuffle(shuffled)
    again, _, _ = sample(shuffled, size=size, strategy=strategy, seed=5)
    assert [r.key for r in again] == [r.key for r in base]
    assert len({r.key for r in base}) == len(base) == min(size, n)
    if strategy != "stratified":  # dedupe: a source yielding an item twice changes nothing
        dup, _, _ = sample(shuffled + shuffled[: n // 2], size=size, strategy=strategy, seed=5)
        assert [r.key for r in dup] == [r.key for r in base]


def test_heap_memory_is_bounded_by_size() -> None:
    heap = _SmallestRank(25, seed=0)
    for r in refs(5000):
        heap.push(r)
        assert len(heap._heap) <= 25 and len(heap._keys) <= 25


def test_build_queue_on_local_store_is_deterministic(store: LocalSource) -> None:
    spec = make_spec(size=25)
    a = build_queue(spec, store, now=DEMO_NOW)
    b = build_queue(spec, store, now=DEMO_NOW)
    assert a.keys == b.keys and len(a) == 25
    assert a.candidates > 25
    # Every picked trace matches the filters (support-chat in October 2026).
    for ref in a.refs:
        assert ref.kind == "trace"
        assert datetime(2026, 10, 1, tzinfo=UTC) <= ref.timestamp < datetime(2026, 11, 1, tzinfo=UTC)
        assert store.get_item(ref).trace.name == "support-chat"  # type: ignore[union-attr]


def test_build_queue_each_strategy_and_target(store: LocalSource) -> None:
    latest = build_queue(make_spec(strategy="latest", size=5), store, now=DEMO_NOW)
    stamps = [r.timestamp for r in latest.refs]
    assert stamps == sorted(stamps, reverse=True)

    strat = build_queue(make_spec(strategy="stratified", by="metadata.topic", size=20), store, now=DEMO_NOW)
    assert sum(strat.strata.values()) == 20
    assert set(strat.strata) <= {"billing", "shipping", "returns", "account", "technical"}
    assert strat.strata == {k: v for k, v in allocate(20, strat.candidates_per_stratum).items() if v}

    obs = build_queue(
        make_spec(target="observation", filters="    observation_name: generate-answer\n", size=8),
        store,
        now=DEMO_NOW,
    )
    assert len(obs) == 8 and all(r.kind == "observation" and r.trace_id for r in obs.refs)

    sess = build_queue(
        make_spec(target="session", filters="    environment: production\n", size=6), store, now=DEMO_NOW
    )
    assert len(sess) == 6 and all(r.key.startswith("session:sess-") for r in sess.refs)


def test_size_larger_than_candidates_takes_all(store: LocalSource) -> None:
    spec = make_spec(size=1000, filters="    trace_name: order-lookup\n")
    plan = build_queue(spec, store, now=DEMO_NOW)
    assert len(plan) == plan.candidates > 0


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(0, 500),
    totals=st.dictionaries(
        st.one_of(st.none(), st.text(min_size=1, max_size=3)), st.integers(1, 300), max_size=8
    ),
)
def test_allocate_properties(size: int, totals: dict[str | None, int]) -> None:
    quotas = allocate(size, totals)
    n = sum(totals.values())
    assert sum(quotas.values()) == min(size, n)
    for stratum, count in totals.items():
        assert 0 <= quotas[stratum] <= count
        if size < n:  # within one item of the exact proportional share
            assert abs(quotas[stratum] - size * count / n) < 1
    assert allocate(size, dict(reversed(list(totals.items())))) == quotas  # order-independent
