"""Pair campaigns (``target: pair``): pair one trace of arm A with one of arm B, and fetch pairs.

Pairing (:func:`pair_candidates`) lists each arm's traces with its filters (in the source, like any
other target), reads each trace's **match key** — a metadata value (``metadata.<key>``), the
dataset item it ran on (``dataset_item``: metadata ``dataset_item_id`` or ``datasetItemId``), or the
hash of its normalised input (``input``) — and pairs traces with equal keys. A key seen in one arm
only leaves its traces *unmatched*; when an arm has several traces for one key the newest is paired
and the others are *duplicates*; a trace without a key is *unmatched (no key)*. The pairs are then
sampled exactly like single items (same strategies, seeds and stratification), so the same spec and
data give the same pairs in the same order.

Fetching (:func:`fetch_pair_items`) reads both traces of each pair (in one batch when the source
can) and returns one :class:`~hitl_pipeline.model.Item` per pair whose ``pair`` holds both arms and
the side each is shown on (:func:`hitl_pipeline.model.pairs.left_arm`, seeded per pair).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hitl_pipeline.errors import CampaignError
from hitl_pipeline.model import Item, ItemRef
from hitl_pipeline.model.pairs import PairView, left_arm, pair_id, pair_traces
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import Filters, ReviewSpec

#: Metadata keys read for ``match: dataset_item`` (what experiment runners record), in order.
DATASET_ITEM_KEYS = ("dataset_item_id", "datasetItemId")

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Unmatched:
    """A trace of one arm that is in no pair: ``reason`` is ``no partner``, ``no key`` or ``duplicate``."""

    arm: str
    trace_id: str
    key: str | None
    reason: str


@dataclass(frozen=True)
class Pairing:
    """The result of pairing two arms, before sampling."""

    match: str
    candidates_a: int
    candidates_b: int
    pairs: tuple[ItemRef, ...]
    unmatched: tuple[Unmatched, ...]

    def counts(self) -> dict[tuple[str, str], int]:
        """(arm, reason) → how many traces of that arm are unmatched for that reason."""
        out: dict[tuple[str, str], int] = {}
        for u in self.unmatched:
            out[(u.arm, u.reason)] = out.get((u.arm, u.reason), 0) + 1
        return out


def normalised_input(value: Any) -> str:
    """The sha256 of an input, normalised: JSON with sorted keys, every string NFC with runs of
    white space collapsed and the ends stripped (so re-runs with reformatted prompts still pair)."""

    def norm(v: Any) -> Any:
        if isinstance(v, str):
            return _SPACE.sub(" ", unicodedata.normalize("NFC", v)).strip()
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        return v

    text = json.dumps(norm(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _listing(source: Source, filters: Filters, now: datetime, by: str | None) -> list[ItemRef]:
    return list(source.iter_candidates("trace", filters, now=now, stratify_by=by))


def _fetch_traces(source: Source, refs: Sequence[ItemRef]) -> list[Item]:
    if not refs:
        return []
    get_items = getattr(source, "get_items", None)
    if callable(get_items):
        out: list[Item] = []
        for start in range(0, len(refs), 100):
            out.extend(get_items(list(refs[start : start + 100]), score_names=[]))
        return out
    return [source.get_item(ref, score_names=[]) for ref in refs]


def _keys(
    spec_match: str, source: Source, filters: Filters, now: datetime
) -> tuple[list[ItemRef], dict[str, str | None]]:
    """The arm's traces (newest first) and trace id → match key (None: the trace has none)."""
    refs: list[ItemRef] = []
    if spec_match.startswith("metadata."):
        refs = _listing(source, filters, now, spec_match)
        return refs, {r.id: r.stratum for r in refs}
    if spec_match == "dataset_item":
        keys: dict[str, str | None] = {}
        for name in DATASET_ITEM_KEYS:
            listed = _listing(source, filters, now, f"metadata.{name}")
            if not refs:
                refs = listed
            for r in listed:
                if keys.get(r.id) is None:
                    keys[r.id] = r.stratum
        return refs, keys
    if spec_match == "input":
        refs = _listing(source, filters, now, None)
        items = _fetch_traces(source, refs)
        return refs, {
            it.ref.id: (
                normalised_input(it.trace.input)
                if it.trace is not None and it.trace.input is not None
                else None
            )
            for it in items
        }
    raise CampaignError(f"unknown pair.match {spec_match!r}; use metadata.<key>, dataset_item or input")


def _by_key(
    arm: str, refs: Iterable[ItemRef], keys: dict[str, str | None], unmatched: list[Unmatched]
) -> dict[str, ItemRef]:
    """Match key → the arm's newest trace with that key; the others go to ``unmatched``."""
    picked: dict[str, ItemRef] = {}
    for ref in sorted(refs, key=lambda r: (r.timestamp, r.id), reverse=True):
        key = keys.get(ref.id)
        if key is None:
            unmatched.append(Unmatched(arm, ref.id, None, "no key"))
        elif key in picked:
            unmatched.append(Unmatched(arm, ref.id, key, "duplicate"))
        else:
            picked[key] = ref
    return picked


def pair_candidates(spec: ReviewSpec, source: Source, *, now: datetime) -> Pairing:
    """Pair the arms of ``spec`` (``target: pair``) in ``source``; every pair, in key order.

    Each pair is an :class:`ItemRef` of kind ``pair``: its id names both traces
    (:func:`~hitl_pipeline.model.pairs.pair_id`), ``trace_id`` is B's trace, ``timestamp`` the newer
    of the two, and ``stratum`` the value of ``sample.by`` (else ``pair.report_by``) on A's trace.
    """
    pair = spec.pair
    if pair is None or spec.target != "pair":
        raise CampaignError(f"{spec.path}: only a spec with target: pair and a pair section has arms to pair")
    refs_a, keys_a = _keys(pair.match, source, pair.a.filters, now)
    refs_b, keys_b = _keys(pair.match, source, pair.b.filters, now)
    by = spec.sample.by or pair.report_by
    strata: dict[str, str | None] = {}
    if by is not None:
        strata = {r.id: r.stratum for r in _listing(source, pair.a.filters, now, by)}
    unmatched: list[Unmatched] = []
    a_by_key = _by_key("a", refs_a, keys_a, unmatched)
    b_by_key = _by_key("b", refs_b, keys_b, unmatched)
    # A trace in both arms (filters that overlap) cannot be compared with itself.
    pairs: list[ItemRef] = []
    for key in sorted(a_by_key.keys() | b_by_key.keys()):
        a, b = a_by_key.get(key), b_by_key.get(key)
        if a is None or b is None:
            lone = a or b
            assert lone is not None
            unmatched.append(Unmatched("a" if a else "b", lone.id, key, "no partner"))
            continue
        if a.id == b.id:
            unmatched.append(Unmatched("a", a.id, key, "in both arms"))
            continue
        pairs.append(
            ItemRef(
                kind="pair",
                id=pair_id((a.id, a.timestamp), (b.id, b.timestamp)),
                timestamp=max(a.timestamp, b.timestamp),
                trace_id=b.id,
                stratum=strata.get(a.id),
            )
        )
    unmatched.sort(key=lambda u: (u.arm, u.reason, u.key or "", u.trace_id))
    return Pairing(
        match=pair.match,
        candidates_a=len(refs_a),
        candidates_b=len(refs_b),
        pairs=tuple(pairs),
        unmatched=tuple(unmatched),
    )


def pairing_lines(spec: ReviewSpec, pairing: Pairing) -> list[str]:
    """What ``hitl run --dry-run`` prints about the pairing: arm counts, then every unmatched trace."""
    pair = spec.pair
    names = {"a": pair.a.label, "b": pair.b.label} if pair is not None else {"a": "A", "b": "B"}
    lines = [
        f"Pairing by {pairing.match}: {len(pairing.pairs)} pairs; arm A ({names['a']}) "
        f"{pairing.candidates_a} traces, arm B ({names['b']}) {pairing.candidates_b} traces",
    ]
    counts = pairing.counts()
    if not counts:
        lines.append("Unmatched: none")
        return lines
    summary = ", ".join(f"arm {arm.upper()} {reason}: {n}" for (arm, reason), n in sorted(counts.items()))
    lines.append(f"Unmatched: {len(pairing.unmatched)} ({summary})")
    for u in pairing.unmatched:
        key = u.key if u.key is not None else "(no key)"
        lines.append(f"  arm {u.arm.upper()}  trace:{u.trace_id}  {pairing.match}={key}  {u.reason}")
    return lines


# -- fetching ---------------------------------------------------------------------------------------


def _match_value(match: str, item: Item) -> str | None:
    trace = item.trace
    if trace is None:
        return None
    if match.startswith("metadata."):
        value = trace.metadata.get(match.removeprefix("metadata."))
        return None if value is None else str(value)
    if match == "dataset_item":
        for name in DATASET_ITEM_KEYS:
            if trace.metadata.get(name) is not None:
                return str(trace.metadata[name])
        return None
    return normalised_input(trace.input)[:12] if trace.input is not None else None


def fetch_pair_items(
    spec: ReviewSpec, source: Source, refs: Sequence[ItemRef], *, score_names: Sequence[str] | None = None
) -> list[Item]:
    """One item per pair ref, in order: both traces fetched (one batch when the source can)."""
    trace_refs: list[ItemRef] = []
    for ref in refs:
        (a, a_ts), (b, b_ts) = pair_traces(ref.id)
        trace_refs.append(ItemRef(kind="trace", id=a, timestamp=a_ts))
        trace_refs.append(ItemRef(kind="trace", id=b, timestamp=b_ts))
    get_items = getattr(source, "get_items", None)
    if callable(get_items) and len(trace_refs) > 2:
        fetched = list(get_items(trace_refs, score_names=score_names))
    else:
        fetched = [source.get_item(r, score_names=score_names) for r in trace_refs]
    match = spec.pair.match if spec.pair is not None else "input"
    out: list[Item] = []
    for i, ref in enumerate(refs):
        a, b = fetched[2 * i], fetched[2 * i + 1]
        view = PairView(a=a, b=b, left=left_arm(spec.sample.seed, ref.key), match=_match_value(match, a))
        out.append(Item(ref=ref, trace=a.trace, pair=view))
    return out


__all__ = [
    "DATASET_ITEM_KEYS",
    "Pairing",
    "Unmatched",
    "fetch_pair_items",
    "normalised_input",
    "pair_candidates",
    "pairing_lines",
]
