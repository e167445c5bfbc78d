"""Build a campaign's review queue from a spec: filter in the source, then sample in bounded memory.

Sampling never depends on the order in which the source yields candidates, nor on Python's
randomised ``hash``: every item gets a stable rank, ``sha256("<seed>:<item key>")``, and

* ``random`` keeps the ``size`` items of smallest rank (a bounded heap, memory O(size));
* ``latest`` keeps the ``size`` newest items (ties broken by key), presented newest first;
* ``stratified`` counts every stratum, keeps the ``size`` smallest ranks of each stratum
  (memory O(strata × size)), then allocates ``size`` proportionally to the stratum counts with the
  largest-remainder method (ties: the larger stratum, then the stratum name).

The same spec and data therefore give the same items in the same order, on any machine.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hitl_pipeline.errors import CampaignError
from hitl_pipeline.model import ItemRef
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import ReviewSpec

#: How a missing stratum value is shown (``ItemRef.stratum`` is None).
NO_STRATUM = "(none)"


@dataclass(frozen=True)
class QueuePlan:
    """The sampled queue: item references in review order, with counts per stratum.

    ``strata`` counts the *selected* items per stratum value (None = no value), ``candidates``
    counts every item that matched the filters, per stratum in ``candidates_per_stratum``
    (only filled for stratified sampling, where it drives the allocation).
    """

    refs: tuple[ItemRef, ...]
    strategy: str
    seed: int
    now: datetime
    candidates: int
    strata: dict[str | None, int] = field(default_factory=dict)
    candidates_per_stratum: dict[str | None, int] = field(default_factory=dict)
    #: target pair: the :class:`~hitl_pipeline.campaign.pairs.Pairing` (arm counts, unmatched traces).
    pairing: Any = None

    @property
    def keys(self) -> list[str]:
        """Item keys in queue order."""
        return [r.key for r in self.refs]

    def __len__(self) -> int:
        return len(self.refs)


def rank(seed: int, key: str) -> bytes:
    """The stable sampling rank of an item: sha256 over ``"<seed>:<key>"`` (smaller = picked first)."""
    return hashlib.sha256(f"{seed}:{key}".encode()).digest()


class _SmallestK:
    """Keep the ``k`` smallest ``(sort_key, item_key)`` pairs seen, deduplicated by item key.

    A max-heap of size k (inverted keys) plus the set of keys inside it. A duplicate key always
    carries the same sort key, so if it is not in the heap it was either rejected or evicted for a
    smaller one, and is rejected again: dedupe needs no memory beyond the heap.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self._heap: list[tuple[_Inverted, ItemRef]] = []
        self._keys: set[str] = set()

    def push(self, sort_key: tuple[object, ...], ref: ItemRef) -> None:
        if self.k <= 0 or ref.key in self._keys:
            return
        entry = (_Inverted((sort_key, ref.key)), ref)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, entry)
            self._keys.add(ref.key)
        elif entry[0] > self._heap[0][0]:  # inverted: greater means a smaller real key
            _, evicted = heapq.heapreplace(self._heap, entry)
            self._keys.discard(evicted.key)
            self._keys.add(ref.key)

    def items(self) -> list[tuple[tuple[object, ...], ItemRef]]:
        """The kept items, smallest sort key first."""
        out = [(inv.value[0], ref) for inv, ref in self._heap]
        out.sort(key=lambda e: (e[0], e[1].key))
        return out


class _SmallestRank:
    """Keep the ``k`` refs of smallest :func:`rank`, deduplicated by key: the hot path of random and
    stratified sampling. Ranks are 256-bit ints (distinct keys never tie), stored negated so
    ``heapq``'s min-heap top is the largest kept rank, and most candidates are rejected with one
    integer comparison."""

    def __init__(self, k: int, seed: int) -> None:
        self.k = k
        self.seed = seed
        self._heap: list[tuple[int, str, ItemRef]] = []
        self._keys: set[str] = set()

    def push(self, ref: ItemRef) -> None:
        if self.k <= 0:
            return
        key = ref.key
        neg = -int.from_bytes(rank(self.seed, key), "big")
        heap = self._heap
        if len(heap) < self.k:
            if key not in self._keys:
                heapq.heappush(heap, (neg, key, ref))
                self._keys.add(key)
        elif neg > heap[0][0] and key not in self._keys:
            _, evicted, _ = heapq.heapreplace(heap, (neg, key, ref))
            self._keys.discard(evicted)
            self._keys.add(key)

    def refs(self) -> list[tuple[int, ItemRef]]:
        """(rank, ref) of the kept items, smallest rank first."""
        return sorted(((-neg, ref) for neg, _, ref in self._heap), key=lambda e: e[0])


class _Inverted:
    """Reverses comparison so ``heapq`` (a min-heap) behaves as a max-heap on any comparable value."""

    __slots__ = ("value",)

    def __init__(self, value: tuple[tuple[object, ...], str]) -> None:
        self.value = value

    def __lt__(self, other: _Inverted) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Inverted) -> bool:
        return other.value > self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Inverted) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def _newest_key(ref: ItemRef) -> tuple[object, ...]:
    # Newest first: negate the timestamp so "smallest" is the newest; ties fall back to the key.
    return (-ref.timestamp.timestamp(),)


def sample(
    candidates: Iterable[ItemRef],
    *,
    size: int,
    strategy: str,
    seed: int,
) -> tuple[list[ItemRef], int, dict[str | None, int]]:
    """Sample ``size`` refs from ``candidates`` (any order). Returns (picked in order, candidate count,
    candidate count per stratum — stratified only)."""
    count = 0
    if strategy == "latest":
        latest = _SmallestK(size)
        for ref in candidates:
            count += 1
            latest.push(_newest_key(ref), ref)
        return [ref for _, ref in latest.items()], count, {}
    if strategy == "random":
        randomly = _SmallestRank(size, seed)
        for ref in candidates:
            count += 1
            randomly.push(ref)
        return [ref for _, ref in randomly.refs()], count, {}
    if strategy != "stratified":
        raise CampaignError(f"unknown sample strategy {strategy!r}; use random, latest or stratified")

    per_stratum: dict[str | None, _SmallestRank] = {}
    totals: dict[str | None, int] = {}
    for ref in candidates:
        heap = per_stratum.get(ref.stratum)
        if heap is None:
            heap = per_stratum[ref.stratum] = _SmallestRank(size, seed)
        # Counting assumes the source yields each item once (dedupe of the *sample* is exact anyway).
        count += 1
        totals[ref.stratum] = totals.get(ref.stratum, 0) + 1
        heap.push(ref)
    quotas = allocate(size, totals)
    picked: list[tuple[int, ItemRef]] = []
    for stratum, kept in per_stratum.items():
        picked.extend(kept.refs()[: quotas.get(stratum, 0)])
    picked.sort(key=lambda e: e[0])
    return [ref for _, ref in picked], count, totals


def allocate(size: int, totals: Mapping[str | None, int]) -> dict[str | None, int]:
    """Split ``size`` over strata proportionally to ``totals`` (largest remainder, exact integers).

    Ties on the remainder go to the larger stratum, then to the smaller stratum name (None last),
    so the allocation is deterministic. No stratum gets more than it has.
    """
    n = sum(totals.values())
    if n == 0:
        return {}
    if size >= n:
        return dict(totals)
    quotas: dict[str | None, int] = {}
    remainders: list[tuple[int, int, tuple[int, str], str | None]] = []
    for stratum, count in totals.items():
        q, r = divmod(size * count, n)
        quotas[stratum] = q
        name_key = (1, "") if stratum is None else (0, stratum)
        remainders.append((-r, -count, name_key, stratum))
    left = size - sum(quotas.values())
    for _, _, _, stratum in sorted(remainders)[:left]:
        quotas[stratum] += 1
    return quotas


def build_queue(spec: ReviewSpec, source: Source, *, now: datetime) -> QueuePlan:
    """Select the spec's items from ``source`` (filters run in the source) and sample them.

    Args:
        spec: the validated spec (target, filters, sample).
        source: where the items live.
        now: the instant relative time windows (``-7d``) are resolved against; the campaign stores
            it so a restart rebuilds the same window.

    Returns:
        The plan: refs in review order and the counts per stratum.
    """
    s = spec.sample
    stratify_by = s.by  # also reported for random/latest samples, as counts per stratum
    pairing = None
    candidates: Iterable[ItemRef]
    if spec.target == "pair":  # the candidates are pairs, one trace of each arm (campaign/pairs.py)
        from hitl_pipeline.campaign.pairs import pair_candidates

        pairing = pair_candidates(spec, source, now=now)
        candidates = pairing.pairs
    else:
        candidates = source.iter_candidates(spec.target, spec.filters, now=now, stratify_by=stratify_by)
    refs, count, totals = sample(candidates, size=s.limit, strategy=s.strategy, seed=s.seed)
    strata: dict[str | None, int] = {}
    for ref in refs:
        strata[ref.stratum] = strata.get(ref.stratum, 0) + 1
    return QueuePlan(
        refs=tuple(refs),
        strategy=s.strategy,
        seed=s.seed,
        now=now,
        candidates=count,
        strata=strata,
        candidates_per_stratum=totals,
        pairing=pairing,
    )
