"""Reads on v3 servers, which lack the v2 observations reader (the legacy v1 readers).

``/traces`` with its ``filter`` JSON (every trace filter is pushed), pages of 100; sessions from
``/traces`` grouped by ``sessionId`` (their first turn from a second ``/traces`` listing by session
id); items from ``/traces/{id}``, ``/observations/{id}`` and ``/sessions/{id}``, one request per item
(v1 has no batch read); observation targets from v1 ``/observations`` (``type``/``name`` pushed
when there is one value, checked on the rows otherwise) joined with the filtered ``/traces``
listing for the trace filters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx

from hitl_pipeline.errors import SourceError
from hitl_pipeline.model import Item, ItemRef, Session, Target, Trace
from hitl_pipeline.sources.langfuse import query as q
from hitl_pipeline.sources.langfuse.convert import (
    TraceInfo,
    aware,
    chunks,
    iso,
    observation_from_v1,
    trace_from_v1,
    trace_info_from_v1,
)
from hitl_pipeline.sources.langfuse.http import LangfuseHttp, api_error
from hitl_pipeline.spec.model import Filters


class LegacyReader:
    """Listing and fetching through the v1 ``/traces``, ``/observations`` and ``/sessions`` readers."""

    def __init__(self, http: LangfuseHttp, *, page_size: int) -> None:
        self.http = http
        self.page_size = page_size

    def _pages(self, what: str, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self.http.numbered_pages(what, path, params, self.page_size)

    def traces(
        self,
        filters: Filters,
        start: datetime,
        end: datetime,
        *,
        io: bool,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[TraceInfo]:
        """Traces in ``[start, end)`` matching ``filters``, newest first."""
        params: dict[str, Any] = {
            "filter": json.dumps(q.legacy_trace_conditions(filters, start, end)),
            "fields": "core,io" if io else "core",
            "orderBy": "timestamp.desc",
            **(extra or {}),
        }
        for d in self._pages("listing traces", "/api/public/traces", params):
            info = trace_info_from_v1(d)
            if q.client_side_ok(info, filters):
                yield info

    # ------------------------------------------------------------------ candidates

    def candidates(
        self, target: Target, filters: Filters, start: datetime, end: datetime, by: str | None
    ) -> list[ItemRef]:
        """Every item of ``target``'s kind matching ``filters`` in ``[start, end)`` (unsorted)."""
        io = bool(filters.metadata) or q.metadata_key(by) is not None
        if target == "trace":
            return [q.trace_ref(t, by) for t in self.traces(filters, start, end, io=io)]
        if target == "session":
            matched = {t.session_id for t in self.traces(filters, start, end, io=io) if t.session_id}
            return q.session_refs(sorted(matched), start, end, by, self.session_traces)
        if target == "observation":
            return self._observation_candidates(filters, start, end, by, io)
        raise SourceError(f"unknown target {target!r}: expected trace, observation or session")

    def _observation_candidates(
        self, filters: Filters, start: datetime, end: datetime, by: str | None, io: bool
    ) -> list[ItemRef]:
        traces = {t.id: t for t in self.traces(filters, start - q.TRACE_LOOKBACK, end, io=io)}
        params: dict[str, Any] = {"fromStartTime": iso(start), "toStartTime": iso(end)}
        if len(filters.observation_type) == 1:
            params["type"] = filters.observation_type[0]
        if len(filters.observation_name) == 1:
            params["name"] = filters.observation_name[0]
        if filters.environment:
            params["environment"] = list(filters.environment)
        refs = []
        for d in self._pages("listing observations", "/api/public/observations", params):
            info = traces.get(d.get("traceId") or "")
            if info is None:
                continue
            if filters.observation_type and d.get("type") not in filters.observation_type:
                continue
            if filters.observation_name and d.get("name") not in filters.observation_name:
                continue
            refs.append(
                ItemRef(
                    kind="observation",
                    id=d["id"],
                    timestamp=aware(datetime.fromisoformat(d["startTime"].replace("Z", "+00:00"))),
                    trace_id=info.id,
                    stratum=q.observation_stratum(info, by, d.get("type"), d.get("name")),
                )
            )
        return refs

    def session_traces(
        self, session_ids: Sequence[str], start: datetime, end: datetime, meta_key: str | None
    ) -> list[TraceInfo]:
        """Every trace of the sessions, from :data:`~.query.SESSION_LOOKBACK` before ``start``."""
        out: list[TraceInfo] = []
        window = q.legacy_trace_conditions(Filters(), start - q.SESSION_LOOKBACK, end)
        for chunk in chunks(session_ids, q.ID_CHUNK):
            conds = [*window, q.options("sessionId", list(chunk))]
            params = {"fields": "core,io" if meta_key else "core", "filter": json.dumps(conds)}
            out.extend(
                trace_info_from_v1(d) for d in self._pages("listing sessions", "/api/public/traces", params)
            )
        return out

    # ------------------------------------------------------------------ items

    def trace(self, trace_id: str, *, with_observations: bool = True) -> Trace | None:
        """One trace (None when the server has none with this id)."""
        what = f"fetching trace {trace_id}"
        params = None if with_observations else {"fields": "core,io"}
        try:
            response = self.http.request("GET", f"/api/public/traces/{trace_id}", params=params)
        except httpx.HTTPError as exc:
            self.http.fail(what, exc)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            self.http.fail(what, api_error(response))
        return trace_from_v1(response.json(), with_observations=with_observations)

    def item(self, ref: ItemRef) -> dict[str, Item]:
        """``{ref.key: item}``, or empty when the item was not found."""
        if ref.kind == "trace":
            trace = self.trace(ref.id)
            return {ref.key: Item(ref=ref, trace=trace)} if trace is not None else {}
        if ref.kind == "observation":
            d = self.http.get_json(f"fetching observation {ref.id}", f"/api/public/observations/{ref.id}")
            obs = observation_from_v1(d)
            trace = self.trace(obs.trace_id, with_observations=False)
            return {ref.key: Item(ref=ref, trace=trace, observation=obs)}
        d = self.http.get_json(f"fetching session {ref.id}", f"/api/public/sessions/{ref.id}")
        turns = []
        for t in d.get("traces", []):
            full = self.trace(t["id"])
            turns.append(full if full is not None else trace_from_v1(t, with_observations=False))
        turns.sort(key=lambda t: (t.timestamp, t.id))
        created = aware(datetime.fromisoformat(d["createdAt"].replace("Z", "+00:00")))
        return {ref.key: Item(ref=ref, session=Session(id=ref.id, traces=tuple(turns), created_at=created))}
