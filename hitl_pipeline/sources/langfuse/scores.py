"""Scores on Langfuse: reads (``/v3/scores``, or ``/v2/scores`` on old v3 servers), threshold
filters, writes and deletes.

**Reads** go through ``/v3/scores`` page by page (raw JSON: the SDK's typed models cost ~1 ms per
score). v3 servers before 3.179 have no ``/v3/scores``: every score read then uses the deprecated
page-based ``/v2/scores``. **Score thresholds** read by name (numeric ranges pushed as
``valueMin``/``valueMax``) and keep the subjects with a satisfying score.

**Writes** are synchronous and sent once (the campaign outbox retries). A JSON array of up to 100
scores is tried first whatever version the server reports; a server that answers "expected object,
received array" (nothing stored) gets single objects from then on, up to
``OBJECT_WRITES_IN_FLIGHT`` requests at once, and the answer is remembered for the source's life. Every score is first checked with the server's own rules
(:func:`~hitl_pipeline.model.score_rules.check_score`): the server answers 200 to a score that
breaks its config and drops it later, so what would be dropped is never sent.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from hitl_pipeline.model import ItemRef, Score, ScoreConfig, ScoreWrite, Target, WriteResult
from hitl_pipeline.model.score_rules import check_score
from hitl_pipeline.sources.langfuse import query as q
from hitl_pipeline.sources.langfuse.convert import chunks, iso, score_body, score_from_v2, score_from_v3
from hitl_pipeline.sources.langfuse.http import LangfuseHttp, api_error, json_or_text, server_message
from hitl_pipeline.sources.langfuse.probe import CapabilityCache
from hitl_pipeline.spec.model import ScoreThreshold

log = logging.getLogger(__name__)

#: Scores per ``POST /scores`` array (the body limit is 1 MB; annotation scores are small).
WRITE_CHUNK = 100
#: Ids per read-back request (``/v3/scores?id=…``; a page holds 100).
READ_CHUNK = 100
#: Single-object ``POST /scores`` requests in flight at once on servers that take no arrays.
OBJECT_WRITES_IN_FLIGHT = 8

SCORE_FIELDS = "details,subject"
#: snake_case keyword → query parameter of /v3/scores.
_CAMEL = {
    "data_type": "dataType",
    "value_min": "valueMin",
    "value_max": "valueMax",
    "trace_id": "traceId",
    "session_id": "sessionId",
    "observation_id": "observationId",
    "from_timestamp": "fromTimestamp",
    "to_timestamp": "toTimestamp",
    "config_id": "configId",
}
#: /v3/scores keyword → query parameter of the deprecated /v2/scores (one value each).
_V2_SINGLE = {"trace_id": "traceId", "session_id": "sessionId", "name": "name"}
_V2_PLAIN = {"source": "source", "data_type": "dataType", "config_id": "configId"}


def _v2_queries(params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``/v3/scores`` keywords as ``/v2/scores`` queries: one value per trace/session/name parameter
    (so one query per combination), ``scoreIds`` for ids, one numeric bound as ``operator``/``value``."""
    base: dict[str, Any] = {}
    if params.get("id"):
        base["scoreIds"] = params["id"]
    for key, query in _V2_PLAIN.items():
        if params.get(key):
            base[query] = params[key]
    if isinstance(params.get("from_timestamp"), datetime):
        base["fromTimestamp"] = iso(params["from_timestamp"])
    if params.get("value_min") is not None:
        base.update(operator=">=", value=params["value_min"])
    elif params.get("value_max") is not None:
        base.update(operator="<=", value=params["value_max"])
    combos: list[dict[str, Any]] = [{}]
    for key, query in _V2_SINGLE.items():
        if params.get(key):
            combos = [{**c, query: v} for c in combos for v in str(params[key]).split(",")]
    for combo in combos:
        yield {**base, **combo}


def group_scores(refs: Sequence[ItemRef], found: Iterable[Score]) -> dict[str, list[Score]]:
    """``found`` by the key of the item they are on (only ``refs``' items), each list by time."""
    wanted = {r.key for r in refs}
    out: dict[str, list[Score]] = {}
    for s in found:
        if s.observation_id:
            key = f"observation:{s.observation_id}"
        elif s.trace_id:
            key = f"trace:{s.trace_id}"
        elif s.session_id:
            key = f"session:{s.session_id}"
        else:
            continue
        if key in wanted:
            out.setdefault(key, []).append(s)
    for scores in out.values():
        scores.sort(key=lambda s: (s.timestamp, s.name, s.id))
    return out


class ScoreApi:
    """Score reads, writes and deletes of one source.

    ``config_for`` returns the config of a config id (cached by the source), for the checks
    before sending.
    """

    def __init__(
        self,
        http: LangfuseHttp,
        caps: CapabilityCache,
        config_for: Callable[[str | None], ScoreConfig | None],
        *,
        page_size: int,
    ) -> None:
        self.http = http
        self.caps = caps
        self.config_for = config_for
        self.page_size = page_size
        #: What ``POST /scores`` was found to take (None: not written yet, an array is tried first).
        self.body: str | None = None

    # ------------------------------------------------------------------ reads

    def query(self, what: str, params: dict[str, Any]) -> Iterator[Score]:
        """Scores matching ``params`` (``/v3/scores`` keywords) from ``/v3/scores``, or from the
        deprecated ``/v2/scores`` on v3 servers older than 3.179 that lack it."""
        if self.caps.get().v3_scores:
            return self._v3(what, params)
        return self._v2(what, params)

    def _v2(self, what: str, params: dict[str, Any]) -> Iterator[Score]:
        for query in _v2_queries(params):
            yield from self.http.numbered_pages(
                what, "/api/public/v2/scores", query, self.page_size, score_from_v2
            )

    def _v3(self, what: str, params: dict[str, Any]) -> Iterator[Score]:
        base = {_CAMEL.get(k, k): v for k, v in params.items() if v is not None}
        base["limit"] = self.page_size
        for key, value in list(base.items()):
            if isinstance(value, datetime):
                base[key] = iso(value)
        yield from self.http.cursor_pages(what, "/api/public/v3/scores", base, score_from_v3)

    def read(self, ids: Iterable[str]) -> dict[str, Score]:
        """Scores by id (``/v3/scores?id=…`` in chunks of 50); ids not (yet) readable are absent."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, Score] = {}
        for chunk in chunks(wanted, READ_CHUNK):
            for s in self.query("reading scores back", {"id": ",".join(chunk), "fields": SCORE_FIELDS}):
                out[s.id] = s
        return out

    def every(
        self, *, names: Sequence[str] | None, since: datetime | None, source: str | None
    ) -> Iterator[Score]:
        """Every readable score, optionally by name / newer than ``since`` / by source."""
        params: dict[str, Any] = {"fields": SCORE_FIELDS}
        if names:
            params["name"] = ",".join(names)
        if since is not None:
            params["from_timestamp"] = since
        if source:
            params["source"] = source
        return self.query("reading scores", params)

    def threshold_subjects(self, target: Target, thresholds: Sequence[ScoreThreshold]) -> set[str]:
        """Ids of the subjects (of ``target``'s kind) meeting every threshold."""
        result: set[str] | None = None
        for th in thresholds:
            ids: set[str] = set()
            for params in q.threshold_queries(th):
                for s in self.query("reading scores for a threshold", params):
                    subject = q.subject_id(target, s)
                    if subject is not None and q.threshold_holds(s, th):
                        ids.add(subject)
            result = ids if result is None else result & ids
        return result or set()

    def item_tasks(
        self, refs: Sequence[ItemRef], score_names: Sequence[str] | None
    ) -> list[Callable[[], list[Score]]]:
        """Reads of the existing scores on the items' subjects (``/v3/scores``, 100 subjects a request)."""
        if score_names is not None and not score_names:
            return []
        by_trace = sorted({r.trace_id or r.id for r in refs if r.kind in ("trace", "observation")})
        sessions = sorted({r.id for r in refs if r.kind == "session"})
        base: dict[str, Any] = {"fields": SCORE_FIELDS}
        if score_names:
            base["name"] = ",".join(score_names)
        params = [{**base, "trace_id": ",".join(c)} for c in chunks(by_trace, q.ID_CHUNK)]
        params += [{**base, "session_id": ",".join(c)} for c in chunks(sessions, q.ID_CHUNK)]
        return [lambda p=p: list(self.query("reading scores", p)) for p in params]  # type: ignore[misc]

    # ------------------------------------------------------------------ writes

    def write(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        """Check, then send ``scores``; one result per score, in order (see ``LangfuseSource.write_scores``)."""
        if not scores:
            return []
        self.caps.get()
        results: dict[int, WriteResult] = {}
        sendable: list[tuple[int, ScoreWrite]] = []
        for i, s in enumerate(scores):
            problems = check_score(s, self.config_for(s.config_id))
            if problems:
                results[i] = WriteResult(id=s.id, ok=False, error="; ".join(problems), retryable=False)
            else:
                sendable.append((i, s))
        to_send = [s for _, s in sendable]
        sent: list[WriteResult] = []
        for chunk in chunks(to_send, WRITE_CHUNK):
            # An array first whatever the version says: servers that report an older version may
            # take arrays (one request per 100 scores instead of one per score).
            sent.extend(self._write_array(chunk) if self.body != "object" else self._write_objects(chunk))
        for (i, _), result in zip(sendable, sent, strict=True):
            results[i] = result
        return [results[i] for i in range(len(scores))]

    def _write_array(self, chunk: Sequence[ScoreWrite]) -> list[WriteResult]:
        """One ``POST /scores`` with a JSON array (what SDK 5's ``api.scores.create`` sends), built
        directly: the SDK's generic model conversion costs ~1 ms per score (measured)."""
        try:
            response = self.http.request(
                "POST", "/api/public/scores", json_body=[score_body(s) for s in chunk], retries=0
            )
        except httpx.HTTPError as exc:
            return [self.http.write_failure(s.id, exc) for s in chunk]
        body = json_or_text(response)
        if response.status_code >= 300 and response.status_code != 207:
            if response.status_code == 400 and "received array" in server_message(body).lower():
                # The server predates array bodies (nothing was stored): single objects for good.
                log.info("Langfuse at %s takes one score per POST /scores; switching", self.http.host)
                self.body = "object"
                self.caps.use_object_body()
                return self._write_objects(chunk)
            error = api_error(response)
            return [self.http.write_failure(s.id, error) for s in chunk]
        if self.body is None:
            self.body = "array"
            self.caps.use_array_body()
        errors = (
            [e for e in (body.get("errors") or []) if isinstance(e, dict)] if isinstance(body, dict) else []
        )
        if response.status_code != 207 or not errors:
            return [WriteResult(id=s.id, ok=True) for s in chunk]
        return self._partial(chunk, errors)

    def _partial(self, chunk: Sequence[ScoreWrite], errors: list[dict[str, Any]]) -> list[WriteResult]:
        """A 207: map each error to its score by index or id when the server says which; otherwise
        find out by re-sending one at a time (safe: the same id and name replaces the score)."""
        by_index: dict[int, str] = {}
        for err in errors:
            message = str(err.get("message") or "rejected")
            index = err.get("index")
            if isinstance(index, int) and 0 <= index < len(chunk):
                by_index[index] = message
                continue
            for i, s in enumerate(chunk):
                if s.id == err.get("id"):
                    by_index[i] = message
        if len(by_index) != len(errors):
            if len(chunk) == 1:
                return [
                    WriteResult(
                        id=chunk[0].id, ok=False, error=f"rejected by Langfuse: {errors[0].get('message')}"
                    )
                ]
            out: list[WriteResult] = []
            for s in chunk:
                out.extend(self._write_array([s]))
            return out
        return [
            WriteResult(id=s.id, ok=False, error=f"rejected by Langfuse: {by_index[i]}")
            if i in by_index
            else WriteResult(id=s.id, ok=True)
            for i, s in enumerate(chunk)
        ]

    def _write_objects(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        """One single-object request per score, up to ``OBJECT_WRITES_IN_FLIGHT`` at once (in the
        caller's context: background work stays background for the request budget)."""
        if len(scores) <= 1:
            return [self._write_one(s) for s in scores]
        workers = min(OBJECT_WRITES_IN_FLIGHT, len(scores))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hitl-write") as pool:
            futures = [pool.submit(contextvars.copy_context().run, self._write_one, s) for s in scores]
            return [f.result() for f in futures]

    def _write_one(self, score: ScoreWrite) -> WriteResult:
        try:
            response = self.http.request("POST", "/api/public/scores", json_body=score_body(score), retries=0)
        except httpx.HTTPError as exc:
            return self.http.write_failure(score.id, exc)
        if response.status_code < 300:
            return WriteResult(id=score.id, ok=True)
        return self.http.write_failure(score.id, api_error(response))

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        """``DELETE /api/public/scores/{id}`` per id (see ``LangfuseSource.delete_scores``)."""
        return [self._delete_one(i) for i in ids]

    def _delete_one(self, score_id: str) -> WriteResult:
        path = f"/api/public/scores/{quote(score_id, safe='')}"
        try:
            response = self.http.request("DELETE", path, retries=0)
        except httpx.HTTPError as exc:
            return self.http.write_failure(score_id, exc)
        if response.status_code < 300 or response.status_code == 404:
            return WriteResult(id=score_id, ok=True)
        return self.http.write_failure(score_id, api_error(response))
