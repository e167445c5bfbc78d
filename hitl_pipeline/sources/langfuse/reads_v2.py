"""Reads through the v2 observations reader (Langfuse v4 servers and Cloud).

A trace is its *root observation* (``isRootObservation``); every spec filter goes into the v2
``filter`` JSON (a condition on a field replaces the simple query parameters for it, so *all*
conditions live in ``filter``); the time window is always bounded; cursor pages of 1,000 rows; only
the field groups needed (no ``io`` while listing). Items are fetched in batches: one request per
100 traces (or sessions, or observations) for the rows. The root observation carries the trace
(name, I/O, metadata); it is not listed among the trace's observations, and its direct children
become top-level observations, which matches the legacy (v3) and local shapes.

Filters the v2 reader cannot express and that are therefore checked on the returned rows:
``release`` (not a v2 filter column; read from the ``trace_context`` group), the exact type of
metadata values (the server compares strings; ``"1"`` vs ``1`` is re-checked on the row), and for
observation targets the trace-level ``metadata``/``version``/``release`` (an observation row has its
own metadata and version): those come from a second, filtered listing of the root observations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from hitl_pipeline.errors import SourceError
from hitl_pipeline.model import Item, ItemRef, Session, Target, Trace
from hitl_pipeline.sources.langfuse import query as q
from hitl_pipeline.sources.langfuse.convert import (
    TraceInfo,
    V2Row,
    aware,
    chunks,
    observation_from_row,
    trace_from_root,
    trace_info_from_root,
    traces_from_rows,
)
from hitl_pipeline.sources.langfuse.http import LangfuseHttp
from hitl_pipeline.spec.model import Filters

#: A trace's observations are read in ``[timestamp - 1 day, timestamp + 7 days)``.
ITEM_BEFORE = timedelta(days=1)
ITEM_AFTER = timedelta(days=7)

_TRACE_FIELDS = "core,basic,trace_context"
_FULL_FIELDS = "core,basic,io,metadata,model,usage,trace_context"

ItemTask = Callable[[], dict[str, Item]]


class V2Reader:
    """Listing and fetching through ``GET /api/public/v2/observations``."""

    def __init__(self, http: LangfuseHttp, *, page_size: int) -> None:
        self.http = http
        self.page_size = page_size

    def rows(
        self, what: str, *, fields: str, conditions: list[q.Condition], **params: Any
    ) -> Iterator[V2Row]:
        """Every v2 observation row matching ``conditions`` (all inside ``filter``), cursor by cursor.

        The JSON goes through the SDK's HTTP client but is not turned into the SDK's typed models:
        their generic conversion costs ~5 ms per row (measured with cProfile), i.e. seconds per page.
        """
        base: dict[str, Any] = {"fields": fields, "limit": self.page_size, **params}
        if conditions:
            base["filter"] = json.dumps(conditions)
        yield from self.http.cursor_pages(what, "/api/public/v2/observations", base, V2Row)

    def roots(
        self,
        filters: Filters,
        start: datetime,
        end: datetime,
        *,
        with_metadata: bool,
        extra: Sequence[q.Condition] = (),
        expand: Sequence[str] = (),
    ) -> Iterator[TraceInfo]:
        """Root observations (= traces) in ``[start, end)`` matching ``filters``. ``expand``: metadata
        keys compared or shown, asked for in full (values are cut to 200 characters otherwise)."""
        conds = [
            q.is_root(True),
            *q.window_conditions(start, end),
            *q.v2_trace_conditions(filters, root=True),
            *extra,
        ]
        fields = _TRACE_FIELDS + (",metadata" if with_metadata else "")
        keys = sorted({*expand, *(k for k, _ in filters.metadata)}) if with_metadata else []
        params = {"expandMetadata": ",".join(keys)} if keys else {}
        for row in self.rows("listing traces", fields=fields, conditions=conds, **params):
            info = trace_info_from_root(row)
            if q.client_side_ok(info, filters):
                yield info

    # ------------------------------------------------------------------ candidates

    def candidates(
        self, target: Target, filters: Filters, start: datetime, end: datetime, by: str | None
    ) -> list[ItemRef]:
        """Every item of ``target``'s kind matching ``filters`` in ``[start, end)`` (unsorted)."""
        with_meta = bool(filters.metadata) or q.metadata_key(by) is not None
        key = q.metadata_key(by)
        expand = [key] if key is not None else []
        if target == "trace":
            return [
                q.trace_ref(t, by)
                for t in self.roots(filters, start, end, with_metadata=with_meta, expand=expand)
            ]
        if target == "observation":
            return self._observation_candidates(filters, start, end, by, with_meta, expand)
        if target == "session":
            matched = {
                t.session_id
                for t in self.roots(filters, start, end, with_metadata=with_meta, expand=expand)
                if t.session_id
            }
            return q.session_refs(sorted(matched), start, end, by, self.session_traces)
        raise SourceError(f"unknown target {target!r}: expected trace, observation or session")

    def _observation_candidates(
        self,
        filters: Filters,
        start: datetime,
        end: datetime,
        by: str | None,
        with_meta: bool,
        expand: list[str],
    ) -> list[ItemRef]:
        conds = [
            q.is_root(False),
            *q.window_conditions(start, end),
            *q.v2_trace_conditions(filters, root=False),
        ]
        if filters.observation_type:
            conds.append(q.options("type", filters.observation_type))
        if filters.observation_name:
            conds.append(q.options("name", filters.observation_name))
        traces: dict[str, TraceInfo] | None = None
        if q.needs_trace_lookup(filters, by):
            traces = {
                t.id: t
                for t in self.roots(
                    filters, start - q.TRACE_LOOKBACK, end, with_metadata=with_meta, expand=expand
                )
            }
        refs = []
        for row in self.rows("listing observations", fields="core,basic,trace_context", conditions=conds):
            if traces is not None:
                info: TraceInfo | None = traces.get(row.trace_id)
                if info is None:
                    continue
            else:
                info = trace_info_from_root(row)  # propagated trace attributes of the row
                info.version = None  # the row's version is the observation's own
            refs.append(
                ItemRef(
                    kind="observation",
                    id=row.id,
                    timestamp=aware(row.start_time),
                    trace_id=row.trace_id,
                    stratum=q.observation_stratum(info, by, row.type, row.name),
                )
            )
        return refs

    def session_traces(
        self, session_ids: Sequence[str], start: datetime, end: datetime, meta_key: str | None
    ) -> list[TraceInfo]:
        """Every trace of the sessions, from :data:`~.query.SESSION_LOOKBACK` before ``start``."""
        out: list[TraceInfo] = []
        for chunk in chunks(session_ids, q.ID_CHUNK):
            out.extend(
                self.roots(
                    Filters(),
                    start - q.SESSION_LOOKBACK,
                    end,
                    with_metadata=meta_key is not None,
                    extra=[q.options("sessionId", list(chunk))],
                    expand=[meta_key] if meta_key else [],
                )
            )
        return out

    # ------------------------------------------------------------------ items

    def item_tasks(self, refs: Sequence[ItemRef]) -> list[ItemTask]:
        """Independent fetches of the items' rows, up to 100 items each: {item key: item}."""
        by_kind: dict[str, list[ItemRef]] = {}
        for ref in refs:
            by_kind.setdefault(ref.kind, []).append(ref)
        tasks: list[ItemTask] = []
        for kind, fetch in (
            ("trace", self._trace_chunk),
            ("observation", self._observation_chunk),
            ("session", self._session_chunk),
        ):
            for chunk in chunks(by_kind.get(kind, []), q.ID_CHUNK):
                tasks.append(lambda f=fetch, c=chunk: f(c))  # type: ignore[misc]
        return tasks

    @staticmethod
    def _item_window(refs: Sequence[ItemRef]) -> tuple[datetime, datetime]:
        stamps = [aware(r.timestamp) for r in refs]
        return min(stamps) - ITEM_BEFORE, max(stamps) + ITEM_AFTER

    def _full_rows(self, conditions: list[q.Condition], start: datetime, end: datetime) -> list[V2Row]:
        conds = [*q.window_conditions(start, end), *conditions]
        return list(self.rows("fetching items", fields=_FULL_FIELDS, conditions=conds))

    def _trace_chunk(self, chunk: Sequence[ItemRef]) -> dict[str, Item]:
        start, end = self._item_window(chunk)
        rows = self._full_rows([q.options("traceId", [r.id for r in chunk])], start, end)
        traces = traces_from_rows(rows)
        return {ref.key: Item(ref=ref, trace=traces[ref.id]) for ref in chunk if ref.id in traces}

    def _observation_chunk(self, chunk: Sequence[ItemRef]) -> dict[str, Item]:
        start, end = self._item_window(chunk)
        start -= q.TRACE_LOOKBACK
        obs_rows = self._full_rows([q.options("id", [r.id for r in chunk])], start, end)
        trace_ids = sorted({row.trace_id for row in obs_rows})
        root_rows = (
            self._full_rows([q.is_root(True), q.options("traceId", trace_ids)], start, end)
            if trace_ids
            else []
        )
        roots = {row.trace_id: row for row in root_rows}
        observations = {row.id: row for row in obs_rows}
        out: dict[str, Item] = {}
        for ref in chunk:
            row = observations.get(ref.id)
            if row is None:
                continue
            root = roots.get(row.trace_id)
            trace = trace_from_root(root, ()) if root is not None else None
            out[ref.key] = Item(
                ref=ref, trace=trace, observation=observation_from_row(row, root.id if root else None)
            )
        return out

    def _session_chunk(self, chunk: Sequence[ItemRef]) -> dict[str, Item]:
        start, end = self._item_window(chunk)
        rows = self._full_rows([q.options("sessionId", [r.id for r in chunk])], start, end)
        grouped: dict[str, list[Trace]] = {}
        for t in traces_from_rows(rows).values():
            if t.session_id:
                grouped.setdefault(t.session_id, []).append(t)
        out: dict[str, Item] = {}
        for ref in chunk:
            turns = sorted(grouped.get(ref.id, []), key=lambda t: (t.timestamp, t.id))
            if turns:
                out[ref.key] = Item(
                    ref=ref, session=Session(id=ref.id, traces=tuple(turns), created_at=turns[0].timestamp)
                )
        return out
