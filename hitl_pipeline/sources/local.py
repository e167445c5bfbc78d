"""The embedded local store: a SQLite database shaped like Langfuse, and the default source.

Tables mirror Langfuse's objects: ``traces``, ``observations`` (with parent ids), ``sessions``,
``score_configs`` and ``scores`` (primary key ``(id, name)``: the same id and name replaces a score,
the same id with another name adds a row, exactly as the Langfuse server behaves). Two side tables,
``trace_tags`` and ``trace_metadata``, exist only so tag and metadata filters use indexes.

Every spec filter runs in SQL; :meth:`LocalSource.iter_candidates` streams rows from a cursor.
Timestamps are stored as integer microseconds since the Unix epoch (UTC): exact, compact, and
ordered by plain integer comparison.

Filter semantics (shared with the Langfuse backend and checked by ``tests/sources/test_contract.py``):

* a list value means "any of"; ``tags`` = all of, ``exclude_tags`` = none of;
* ``metadata`` matches the *trace's* top-level metadata exactly (type included: ``"1"`` ≠ ``1``);
* the time window ``[from, to)`` applies to the trace timestamp (trace and session targets) or the
  observation start time (observation target);
* for sessions, the trace filters select traces and a session qualifies when one of its traces does;
* score thresholds hold when the item's subject has at least one score of that name satisfying them
  (numbers compare with the value of NUMERIC and BOOLEAN scores, strings with the string value /
  label; a CATEGORICAL score is matched by its label only).

``stratum`` (``sample.by``): ``metadata.<key>``, ``user_id``, ``session_id``, ``environment``,
``release`` and ``version`` come from the trace (for an observation, its trace; for a session, its
earliest trace); ``name`` is the item's own name (trace name, observation name, or the session's
earliest trace's name); ``observation_type`` / ``observation_name`` are the observation's.
Non-string values are rendered as JSON (``true``, ``3``); a missing value gives ``None``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from hitl_pipeline.db import Migration, SQLiteDatabase, applied, from_us, migrate, to_us
from hitl_pipeline.errors import SourceError
from hitl_pipeline.model import (
    CORRECTION_SCORE_NAME,
    Item,
    ItemRef,
    Observation,
    Score,
    ScoreConfig,
    ScoreDataType,
    ScoreWrite,
    Session,
    Target,
    Trace,
    WriteResult,
)
from hitl_pipeline.model.score_rules import check_score, score_config_problems
from hitl_pipeline.spec.model import Filters, Scalar, ScoreThreshold

#: Named migrations, applied in order, each in one transaction together with its record.
#: Never edit a released migration: append a new one.
MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "0001_initial",
        [
            """CREATE TABLE traces (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                ts INTEGER NOT NULL,
                user_id TEXT,
                session_id TEXT,
                environment TEXT NOT NULL DEFAULT 'default',
                release TEXT,
                version TEXT,
                tags TEXT NOT NULL DEFAULT '[]',
                input TEXT,
                output TEXT,
                metadata TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX traces_ts ON traces (ts)",
            "CREATE INDEX traces_name_ts ON traces (name, ts)",
            "CREATE INDEX traces_user_ts ON traces (user_id, ts)",
            "CREATE INDEX traces_session_ts ON traces (session_id, ts)",
            "CREATE INDEX traces_env_ts ON traces (environment, ts)",
            "CREATE INDEX traces_release ON traces (release)",
            "CREATE INDEX traces_version ON traces (version)",
            """CREATE TABLE trace_tags (
                trace_id TEXT NOT NULL REFERENCES traces (id) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                PRIMARY KEY (trace_id, tag)
            ) WITHOUT ROWID""",
            "CREATE INDEX trace_tags_tag ON trace_tags (tag, trace_id)",
            # Top-level scalar metadata values, JSON-encoded (so the type is part of the match).
            """CREATE TABLE trace_metadata (
                trace_id TEXT NOT NULL REFERENCES traces (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (trace_id, key)
            ) WITHOUT ROWID""",
            "CREATE INDEX trace_metadata_kv ON trace_metadata (key, value, trace_id)",
            """CREATE TABLE observations (
                id TEXT PRIMARY KEY,
                trace_id TEXT NOT NULL REFERENCES traces (id) ON DELETE CASCADE,
                parent_id TEXT,
                type TEXT NOT NULL,
                name TEXT NOT NULL,
                start_ts INTEGER NOT NULL,
                end_ts INTEGER,
                level TEXT NOT NULL DEFAULT 'DEFAULT',
                status_message TEXT,
                model TEXT,
                input TEXT,
                output TEXT,
                metadata TEXT NOT NULL DEFAULT '{}',
                usage TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX observations_trace ON observations (trace_id, start_ts)",
            "CREATE INDEX observations_start ON observations (start_ts)",
            "CREATE INDEX observations_type_start ON observations (type, start_ts)",
            "CREATE INDEX observations_name_start ON observations (name, start_ts)",
            """CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                created_ts INTEGER NOT NULL,
                environment TEXT NOT NULL DEFAULT 'default'
            )""",
            "CREATE INDEX sessions_created ON sessions (created_ts)",
            """CREATE TABLE score_configs (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                data_type TEXT NOT NULL,
                categories TEXT NOT NULL DEFAULT '[]',
                min_value REAL,
                max_value REAL,
                description TEXT,
                is_archived INTEGER NOT NULL DEFAULT 0,
                created_ts INTEGER NOT NULL
            )""",
            "CREATE INDEX score_configs_name ON score_configs (name)",
            """CREATE TABLE scores (
                id TEXT NOT NULL,
                name TEXT NOT NULL,
                value REAL,
                string_value TEXT,
                data_type TEXT NOT NULL,
                ts INTEGER NOT NULL,
                updated_ts INTEGER NOT NULL,
                trace_id TEXT,
                observation_id TEXT,
                session_id TEXT,
                comment TEXT,
                metadata TEXT NOT NULL DEFAULT '{}',
                config_id TEXT,
                source TEXT NOT NULL DEFAULT 'API',
                queue_id TEXT,
                environment TEXT NOT NULL DEFAULT 'default',
                PRIMARY KEY (id, name)
            )""",
            "CREATE INDEX scores_trace ON scores (trace_id, name)",
            "CREATE INDEX scores_observation ON scores (observation_id, name)",
            "CREATE INDEX scores_session ON scores (session_id, name)",
            "CREATE INDEX scores_name_ts ON scores (name, ts)",
            "CREATE INDEX scores_ts ON scores (ts)",
        ],
    ),
    (
        # Newest-first listing orders by (time, id): with the id in the index, SQLite walks the
        # index backwards and streams rows without a sort step.
        "0002_time_id_indexes",
        [
            "CREATE INDEX traces_ts_id ON traces (ts, id)",
            "DROP INDEX traces_ts",
            "CREATE INDEX observations_start_id ON observations (start_ts, id)",
            "DROP INDEX observations_start",
            "CREATE INDEX sessions_created_id ON sessions (created_ts, id)",
            "DROP INDEX sessions_created",
        ],
    ),
]

_TRACE_COLUMNS = {
    "user_id": "user_id",
    "session_id": "session_id",
    "environment": "environment",
    "release": "release",
    "version": "version",
}
_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=", "!=": "<>"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _scalar_key(value: Any) -> str | None:
    """Canonical JSON of a scalar metadata value (``1.0`` and ``1`` agree), or None for non-scalars."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return json.dumps(value)
    return None


class LocalSource:
    """A :class:`~hitl_pipeline.sources.base.Source` on a local SQLite file.

    Safe to share between threads: each thread gets its own connection (WAL mode lets readers and
    one writer work at the same time). Opening the store creates the file and applies any pending
    migrations.

    Example::

        src = LocalSource(".hitl/local.db")
        for ref in src.iter_candidates("trace", spec.filters, now=datetime.now(UTC)):
            item = src.get_item(ref)
    """

    name = "local"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: Set by the registry when it just created this store with demo data (so the CLI can say so).
        self.demo_created = False
        self._db = SQLiteDatabase(
            self.path,
            synchronous="NORMAL",
            open_error=self._open_error,
            closed_error=lambda: SourceError(f"the local store {self.path} is closed"),
            named_rows=False,
        )
        try:
            self.migrate()
        except BaseException:
            self.close()  # do not leak the connection of a store that failed to open
            raise

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (:class:`hitl_pipeline.db.SQLiteDatabase`)."""
        return self._db.connection()

    def _open_error(self, exc: Exception) -> SourceError:
        if isinstance(exc, OSError):
            return SourceError(f"cannot create the directory for the local store {self.path}: {exc}")
        return SourceError(
            f"cannot open the local store {self.path}: {exc}. Check the path and its permissions, "
            "or choose another one with --db / HITL_HOME."
        )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception);
        nested inside another one (an import calling insert_traces in its own), a savepoint of it."""
        with self._db.transaction() as tx:
            yield cast(sqlite3.Connection, tx)

    def close(self) -> None:
        """Close the store (see :meth:`hitl_pipeline.db.SQLiteDatabase.close`)."""
        self._db.close()

    def __enter__(self) -> LocalSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalSource({str(self.path)!r})"

    # ------------------------------------------------------------------ migrations

    def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied now (empty when up to date)."""
        return migrate(self._db, [Migration(name, statements) for name, statements in MIGRATIONS])

    def analyze(self) -> None:
        """Refresh SQLite's planner statistics (worth it after a large bulk insert)."""
        self._conn().execute("ANALYZE")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main database file (before copying or renaming it)."""
        self._db.checkpoint()

    def applied_migrations(self) -> list[str]:
        """Names of the migrations recorded in this store, in order applied."""
        return applied(self._db)

    # ------------------------------------------------------------------ bulk inserts

    def insert_traces(self, traces: Iterable[Trace]) -> int:
        """Insert or update traces with their observations, in one transaction; returns the count.

        Re-inserting a trace id updates it (Langfuse upserts by id); its tags and metadata are
        replaced, its observations upserted. ``traces`` may be a generator (streamed, not listed).
        """
        count = 0
        with self.transaction() as tx:
            for trace in traces:
                self._upsert_trace(tx, trace)
                if trace.observations:
                    self._upsert_observations(tx, trace.observations)
                count += 1
        return count

    def insert_observations(self, observations: Iterable[Observation]) -> int:
        """Insert or update observations (their traces must exist), in one transaction."""
        with self.transaction() as tx:
            return self._upsert_observations(tx, observations)

    def insert_scores(self, scores: Iterable[Score]) -> int:
        """Store scores as given, without config validation (demo data, imports, EVAL scores).

        Same ``(id, name)`` replaces the row. Returns the count.
        """
        count = 0
        configs: dict[str, ScoreConfig | None] = {}
        with self.transaction() as tx:
            for s in scores:
                numeric, string = _split_value(s.data_type, s.value, s.string_value)
                if s.data_type == "CATEGORICAL" and numeric is None and s.config_id:
                    # Like Langfuse: a categorical score also stores its category's numeric value.
                    if s.config_id not in configs:
                        configs[s.config_id] = self.get_score_config(s.config_id)
                    config = configs[s.config_id]
                    if config is not None:
                        numeric = next((v for label, v in config.categories if label == string), 0.0)
                ts = to_us(s.timestamp)
                tx.execute(
                    """INSERT INTO scores (id, name, value, string_value, data_type, ts, updated_ts, trace_id,
                           observation_id, session_id, comment, metadata, config_id, source, queue_id, environment)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (id, name) DO UPDATE SET
                           value = excluded.value, string_value = excluded.string_value,
                           data_type = excluded.data_type, ts = excluded.ts, updated_ts = excluded.updated_ts,
                           trace_id = excluded.trace_id, observation_id = excluded.observation_id,
                           session_id = excluded.session_id, comment = excluded.comment,
                           metadata = excluded.metadata, config_id = excluded.config_id,
                           source = excluded.source, queue_id = excluded.queue_id,
                           environment = excluded.environment""",
                    (
                        s.id,
                        s.name,
                        numeric,
                        string,
                        s.data_type,
                        ts,
                        ts,
                        s.trace_id,
                        s.observation_id,
                        s.session_id,
                        s.comment,
                        _dumps(s.metadata or {}),
                        s.config_id,
                        s.source,
                        s.queue_id,
                        s.environment,
                    ),
                )
                count += 1
        return count

    def insert_score_configs(self, configs: Iterable[ScoreConfig]) -> int:
        """Store score configs as given (fixed ids, e.g. the demo's); same id replaces."""
        count = 0
        now = to_us(datetime.now(UTC))
        with self.transaction() as tx:
            for c in configs:
                tx.execute(
                    """INSERT INTO score_configs (id, name, data_type, categories, min_value, max_value,
                           description, is_archived, created_ts)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (id) DO UPDATE SET
                           name = excluded.name, data_type = excluded.data_type,
                           categories = excluded.categories, min_value = excluded.min_value,
                           max_value = excluded.max_value, description = excluded.description,
                           is_archived = excluded.is_archived""",
                    (
                        c.id,
                        c.name,
                        c.data_type,
                        _dumps([list(cat) for cat in c.categories]),
                        c.min_value,
                        c.max_value,
                        c.description,
                        int(c.is_archived),
                        now,
                    ),
                )
                count += 1
        return count

    def has_trace(self, trace_id: str) -> bool:
        """Whether a trace with this id is stored."""
        return self._conn().execute("SELECT 1 FROM traces WHERE id = ?", (trace_id,)).fetchone() is not None

    def has_observation(self, observation_id: str) -> bool:
        """Whether an observation with this id is stored."""
        row = self._conn().execute("SELECT 1 FROM observations WHERE id = ?", (observation_id,)).fetchone()
        return row is not None

    def observation_link(self, observation_id: str) -> tuple[str, str | None] | None:
        """``(trace id, parent observation id)`` of a stored observation, or None when not stored."""
        row = (
            self._conn()
            .execute("SELECT trace_id, parent_id FROM observations WHERE id = ?", (observation_id,))
            .fetchone()
        )
        return None if row is None else (row[0], row[1])

    def counts(self) -> dict[str, int]:
        """Row counts per object kind: traces, observations, sessions, scores, score_configs."""
        conn = self._conn()
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("traces", "observations", "sessions", "scores", "score_configs")
        }

    def _upsert_trace(self, tx: sqlite3.Connection, t: Trace) -> None:
        ts = to_us(t.timestamp)
        tx.execute(
            """INSERT INTO traces (id, name, ts, user_id, session_id, environment, release, version, tags,
                   input, output, metadata)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET
                   name = excluded.name, ts = excluded.ts, user_id = excluded.user_id,
                   session_id = excluded.session_id, environment = excluded.environment,
                   release = excluded.release, version = excluded.version, tags = excluded.tags,
                   input = excluded.input, output = excluded.output, metadata = excluded.metadata""",
            (
                t.id,
                t.name,
                ts,
                t.user_id,
                t.session_id,
                t.environment or "default",
                t.release,
                t.version,
                _dumps(list(t.tags)),
                _dumps(t.input),
                _dumps(t.output),
                _dumps(t.metadata or {}),
            ),
        )
        tx.execute("DELETE FROM trace_tags WHERE trace_id = ?", (t.id,))
        tx.executemany(
            "INSERT OR IGNORE INTO trace_tags (trace_id, tag) VALUES (?, ?)", [(t.id, tag) for tag in t.tags]
        )
        tx.execute("DELETE FROM trace_metadata WHERE trace_id = ?", (t.id,))
        rows = []
        for key, value in (t.metadata or {}).items():
            encoded = _scalar_key(value)
            if encoded is not None:
                rows.append((t.id, str(key), encoded))
        tx.executemany("INSERT INTO trace_metadata (trace_id, key, value) VALUES (?, ?, ?)", rows)
        if t.session_id:
            # A session exists because traces reference it; its creation time is its earliest trace's.
            tx.execute(
                """INSERT INTO sessions (id, created_ts, environment) VALUES (?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET created_ts = MIN(created_ts, excluded.created_ts)""",
                (t.session_id, ts, t.environment or "default"),
            )

    def _upsert_observations(self, tx: sqlite3.Connection, observations: Iterable[Observation]) -> int:
        count = 0
        for o in observations:
            tx.execute(
                """INSERT INTO observations (id, trace_id, parent_id, type, name, start_ts, end_ts, level,
                       status_message, model, input, output, metadata, usage)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET
                       trace_id = excluded.trace_id, parent_id = excluded.parent_id, type = excluded.type,
                       name = excluded.name, start_ts = excluded.start_ts, end_ts = excluded.end_ts,
                       level = excluded.level, status_message = excluded.status_message,
                       model = excluded.model, input = excluded.input, output = excluded.output,
                       metadata = excluded.metadata, usage = excluded.usage""",
                (
                    o.id,
                    o.trace_id,
                    o.parent_id,
                    o.type,
                    o.name,
                    to_us(o.start_time),
                    None if o.end_time is None else to_us(o.end_time),
                    o.level or "DEFAULT",
                    o.status_message,
                    o.model,
                    _dumps(o.input),
                    _dumps(o.output),
                    _dumps(o.metadata or {}),
                    _dumps(o.usage or {}),
                ),
            )
            count += 1
        return count

    # ------------------------------------------------------------------ candidates

    def iter_candidates(
        self,
        target: Target,
        filters: Filters,
        *,
        now: datetime,
        stratify_by: str | None = None,
    ) -> Iterator[ItemRef]:
        """Yield every item matching ``filters``, newest first (ties: larger id first).

        The whole selection runs as one SQL query; rows are streamed from the cursor, so memory
        does not grow with the store. See the module docstring for the exact semantics.
        """
        sql, params = build_candidate_query(target, filters, now=now, stratify_by=stratify_by)
        cursor = self._conn().cursor()
        try:
            cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(500)
                if not rows:
                    break
                for item_id, ts, trace_id, stratum in rows:
                    yield ItemRef(
                        kind=target,
                        id=item_id,
                        timestamp=from_us(ts),
                        trace_id=trace_id,
                        stratum=stratum,
                    )
        finally:
            cursor.close()

    # ------------------------------------------------------------------ items

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        """The item in full: a trace with its observation tree, an observation with its trace (and tree), or a
        session with its traces (oldest first, each with observations); plus the subject's scores."""
        conn = self._conn()
        if ref.kind == "trace":
            trace = self._load_trace(conn, ref.id, with_observations=True)
            if trace is None:
                raise SourceError(f"trace {ref.id!r} is not in the local store {self.path}")
            scores = self._scores_where(
                conn, "trace_id = ? AND observation_id IS NULL", [ref.id], score_names
            )
            return Item(ref=ref, trace=trace, scores=scores)
        if ref.kind == "observation":
            row = conn.execute(f"SELECT {_OBS_COLS} FROM observations WHERE id = ?", (ref.id,)).fetchone()
            if row is None:
                raise SourceError(f"observation {ref.id!r} is not in the local store {self.path}")
            obs = _observation_from_row(row)
            # With its tree: the form shows where the observation sits and the generation above it.
            trace = self._load_trace(conn, obs.trace_id, with_observations=True)
            scores = self._scores_where(conn, "observation_id = ?", [ref.id], score_names)
            return Item(ref=ref, trace=trace, observation=obs, scores=scores)
        if ref.kind == "session":
            srow = conn.execute("SELECT created_ts FROM sessions WHERE id = ?", (ref.id,)).fetchone()
            if srow is None:
                raise SourceError(f"session {ref.id!r} is not in the local store {self.path}")
            ids = [
                r[0]
                for r in conn.execute("SELECT id FROM traces WHERE session_id = ? ORDER BY ts, id", (ref.id,))
            ]
            traces = tuple(t for t in (self._load_trace(conn, i, with_observations=True) for i in ids) if t)
            session = Session(id=ref.id, traces=traces, created_at=from_us(srow[0]))
            scores = self._scores_where(conn, "session_id = ?", [ref.id], score_names)
            return Item(ref=ref, session=session, scores=scores)
        raise SourceError(f"unknown item kind {ref.kind!r}: expected trace, observation or session")

    def _load_trace(
        self, conn: sqlite3.Connection, trace_id: str, *, with_observations: bool
    ) -> Trace | None:
        row = conn.execute(
            """SELECT id, name, ts, user_id, session_id, tags, environment, release, version, input, output,
                      metadata FROM traces WHERE id = ?""",
            (trace_id,),
        ).fetchone()
        if row is None:
            return None
        observations: tuple[Observation, ...] = ()
        if with_observations:
            observations = tuple(
                _observation_from_row(r)
                for r in conn.execute(
                    f"SELECT {_OBS_COLS} FROM observations WHERE trace_id = ? ORDER BY start_ts, id",
                    (trace_id,),
                )
            )
        return Trace(
            id=row[0],
            name=row[1],
            timestamp=from_us(row[2]),
            user_id=row[3],
            session_id=row[4],
            tags=tuple(_loads(row[5]) or ()),
            environment=row[6],
            release=row[7],
            version=row[8],
            input=_loads(row[9]),
            output=_loads(row[10]),
            metadata=_loads(row[11]) or {},
            observations=observations,
        )

    # ------------------------------------------------------------------ score configs

    def list_score_configs(self) -> list[ScoreConfig]:
        """All configs (archived ones included), by name then id."""
        rows = self._conn().execute(f"SELECT {_CFG_COLS} FROM score_configs ORDER BY name, id")
        return [_config_from_row(r) for r in rows]

    def get_score_config(self, config_id: str) -> ScoreConfig | None:
        """The config with this id, or None."""
        row = (
            self._conn()
            .execute(f"SELECT {_CFG_COLS} FROM score_configs WHERE id = ?", (config_id,))
            .fetchone()
        )
        return None if row is None else _config_from_row(row)

    def create_score_config(
        self,
        name: str,
        data_type: str,
        *,
        categories: Sequence[tuple[str, float]] = (),
        min_value: float | None = None,
        max_value: float | None = None,
        description: str | None = None,
    ) -> ScoreConfig:
        """Create a config with Langfuse's create rules; raises :class:`SourceError` listing every violation."""
        problems = score_config_problems(name, data_type, categories, min_value, max_value)
        if problems:
            raise SourceError(f"cannot create score config {name!r}: " + "; ".join(problems))
        if data_type == "BOOLEAN":
            categories = (("True", 1.0), ("False", 0.0))
        config = ScoreConfig(
            id=str(uuid.uuid4()),
            name=name,
            data_type=cast(Any, data_type),
            categories=tuple((str(label), float(value)) for label, value in categories),
            min_value=min_value,
            max_value=max_value,
            description=description,
        )
        self.insert_score_configs([config])
        return config

    # ------------------------------------------------------------------ scores

    def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        """Validate each score against its stored config (Langfuse's rules); store the valid ones in
        one transaction. An invalid score gets ``WriteResult(ok=False, error=…)`` and is never stored.

        Like the Langfuse server, a CORRECTION score is stored under the name ``output`` whatever its
        name. Re-sending an id behaves like the server: same id + name replaces value and name,
        keeps the first timestamp, environment and target; comment and metadata are kept when the new
        write leaves them out.
        """
        results: list[WriteResult] = []
        valid: list[tuple[ScoreWrite, ScoreConfig | None]] = []
        configs: dict[str, ScoreConfig | None] = {}
        for s in scores:
            config = None
            if s.config_id:
                if s.config_id not in configs:
                    configs[s.config_id] = self.get_score_config(s.config_id)
                config = configs[s.config_id]
            problems = check_score(s, config)
            if problems:
                results.append(WriteResult(id=s.id, ok=False, error="; ".join(problems)))
            else:
                results.append(WriteResult(id=s.id, ok=True))
                valid.append((s, config))
        if not valid:
            return results
        now = to_us(datetime.now(UTC))
        with self.transaction() as tx:
            for s, config in valid:
                numeric, string = _write_value(s, config)
                ts = to_us(s.timestamp) if s.timestamp else now
                tx.execute(
                    """INSERT INTO scores (id, name, value, string_value, data_type, ts, updated_ts, trace_id,
                           observation_id, session_id, comment, metadata, config_id, source, queue_id, environment)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (id, name) DO UPDATE SET
                           value = excluded.value, string_value = excluded.string_value,
                           data_type = excluded.data_type, updated_ts = excluded.updated_ts,
                           comment = COALESCE(excluded.comment, comment),
                           metadata = CASE WHEN excluded.metadata = '{}' THEN metadata ELSE excluded.metadata END,
                           config_id = excluded.config_id, source = excluded.source,
                           queue_id = COALESCE(excluded.queue_id, queue_id)""",
                    (
                        s.id,
                        CORRECTION_SCORE_NAME if s.data_type == "CORRECTION" else s.name,
                        numeric,
                        string,
                        s.data_type,
                        ts,
                        now,
                        s.trace_id,
                        s.observation_id,
                        s.session_id,
                        s.comment,
                        _dumps(s.metadata or {}),
                        s.config_id,
                        s.source,
                        s.queue_id,
                        s.environment or "default",
                    ),
                )
        return results

    def delete_scores(self, ids: Sequence[str]) -> list[WriteResult]:
        """Delete the rows of ``ids`` (every name) in one transaction; an absent id is ok."""
        if not ids:
            return []
        with self.transaction() as tx:
            tx.executemany("DELETE FROM scores WHERE id = ?", [(i,) for i in dict.fromkeys(ids)])
        return [WriteResult(id=i, ok=True) for i in ids]

    def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
        """Scores by id; when an id has rows under several names, the most recently written wins."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, Score] = {}
        conn = self._conn()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT {_SCORE_COLS} FROM scores WHERE id IN ({marks}) ORDER BY updated_ts, rowid", chunk
            )
            for row in rows:
                out[row[0]] = _score_from_row(row)
        return out

    def iter_scores(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        source: str | None = None,
    ) -> Iterator[Score]:
        """Every stored score (oldest first), optionally by name, timestamp ≥ ``since``, or source."""
        where: list[str] = []
        params: list[Any] = []
        if names is not None:
            where.append(f"name IN ({','.join('?' * len(names))})" if names else "0")
            params.extend(names)
        if since is not None:
            where.append("ts >= ?")
            params.append(to_us(since))
        if source is not None:
            where.append("source = ?")
            params.append(source)
        sql = f"SELECT {_SCORE_COLS} FROM scores"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts, id, name"
        cursor = self._conn().cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(500):
                for row in rows:
                    yield _score_from_row(row)
        finally:
            cursor.close()

    def _scores_where(
        self, conn: sqlite3.Connection, where: str, params: list[Any], names: Sequence[str] | None
    ) -> tuple[Score, ...]:
        sql = f"SELECT {_SCORE_COLS} FROM scores WHERE {where}"
        if names is not None:
            if not names:
                return ()
            sql += f" AND name IN ({','.join('?' * len(names))})"
            params = [*params, *names]
        sql += " ORDER BY ts, id, name"
        return tuple(_score_from_row(r) for r in conn.execute(sql, params))


# ---------------------------------------------------------------------- SQL building


def build_candidate_query(
    target: Target, filters: Filters, *, now: datetime, stratify_by: str | None = None
) -> tuple[str, list[Any]]:
    """The SQL (and parameters) selecting ``(id, ts, trace_id, stratum)`` rows, newest first.

    Public so the benchmark and tests can ``EXPLAIN QUERY PLAN`` it.
    """
    start, end = filters.window(now)
    params: list[Any] = []
    trace_where = _trace_conditions(filters, "t", params)
    if target == "trace":
        where = [*trace_where, "t.ts >= ?", "t.ts < ?"]
        params += [to_us(start), to_us(end)]
        # The unary + keeps SQLite from choosing the observation_id index for "IS NULL", which would
        # walk every trace-level score of that name for each trace instead of one trace's scores.
        where += _score_conditions(filters.scores, "s.trace_id = t.id AND +s.observation_id IS NULL", params)
        stratum = _stratum_sql(target, stratify_by, "t", None)
        sql = (
            f"SELECT t.id, t.ts, t.id, {stratum} FROM traces t WHERE {' AND '.join(where)} "
            "ORDER BY t.ts DESC, t.id DESC"
        )
        return sql, params
    if target == "observation":
        where = [*trace_where, "o.start_ts >= ?", "o.start_ts < ?"]
        params += [to_us(start), to_us(end)]
        if filters.observation_type:
            where.append(f"o.type IN ({_marks(filters.observation_type)})")
            params += list(filters.observation_type)
        if filters.observation_name:
            where.append(f"o.name IN ({_marks(filters.observation_name)})")
            params += list(filters.observation_name)
        where += _score_conditions(filters.scores, "s.observation_id = o.id", params)
        stratum = _stratum_sql(target, stratify_by, "t", "o")
        sql = (
            f"SELECT o.id, o.start_ts, o.trace_id, {stratum} FROM observations o "
            f"JOIN traces t ON t.id = o.trace_id WHERE {' AND '.join(where)} "
            "ORDER BY o.start_ts DESC, o.id DESC"
        )
        return sql, params
    if target == "session":
        # The matching traces' session ids are computed once (SQLite materialises the IN list with
        # the best trace index); sessions are then walked newest first by their own time index.
        inner = [*trace_where, "t.session_id IS NOT NULL", "t.ts >= ?", "t.ts < ?"]
        params += [to_us(start), to_us(end)]
        where = [f"ss.id IN (SELECT t.session_id FROM traces t WHERE {' AND '.join(inner)})"]
        where += _score_conditions(filters.scores, "s.session_id = ss.id", params)
        # The session's earliest trace supplies the stratum (its "first turn").
        first = "(SELECT f.id FROM traces f WHERE f.session_id = ss.id ORDER BY f.ts, f.id LIMIT 1)"
        stratum = _stratum_sql(target, stratify_by, "ft", None)
        stratum_sql = f"(SELECT {stratum} FROM traces ft WHERE ft.id = {first})" if stratify_by else "NULL"
        sql = (
            f"SELECT ss.id, ss.created_ts, NULL, {stratum_sql} FROM sessions ss WHERE {' AND '.join(where)} "
            "ORDER BY ss.created_ts DESC, ss.id DESC"
        )
        return sql, params
    raise SourceError(f"unknown target {target!r}: expected trace, observation or session")


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _trace_conditions(filters: Filters, t: str, params: list[Any]) -> list[str]:
    where: list[str] = []
    columns: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("name", filters.trace_name),
        ("user_id", filters.user_id),
        ("session_id", filters.session_id),
        ("environment", filters.environment),
        ("release", filters.release),
        ("version", filters.version),
    )
    for column, values in columns:
        if values:
            where.append(f"{t}.{column} IN ({_marks(values)})")
            params.extend(values)
    for tag in filters.tags:
        where.append(f"EXISTS (SELECT 1 FROM trace_tags g WHERE g.trace_id = {t}.id AND g.tag = ?)")
        params.append(tag)
    if filters.exclude_tags:
        where.append(
            f"NOT EXISTS (SELECT 1 FROM trace_tags g WHERE g.trace_id = {t}.id "
            f"AND g.tag IN ({_marks(filters.exclude_tags)}))"
        )
        params.extend(filters.exclude_tags)
    for key, wanted in filters.metadata:
        encoded = [e for e in (_scalar_key(v) for v in wanted) if e is not None]
        where.append(
            f"EXISTS (SELECT 1 FROM trace_metadata m WHERE m.trace_id = {t}.id AND m.key = ? "
            f"AND m.value IN ({_marks(encoded) or 'NULL'}))"
        )
        params.append(key)
        params.extend(encoded)
    return where


def _score_conditions(thresholds: Sequence[ScoreThreshold], subject: str, params: list[Any]) -> list[str]:
    where: list[str] = []
    for th in thresholds:
        op = _OPS[th.op]
        condition, value = _threshold_operand(th.value)
        where.append(f"EXISTS (SELECT 1 FROM scores s WHERE {subject} AND s.name = ? AND {condition} {op} ?)")
        params += [th.name, value]
    return where


def _threshold_operand(value: Scalar) -> tuple[str, Any]:
    """Numbers (and booleans, as 0/1) compare with the value of NUMERIC and BOOLEAN scores (a
    CATEGORICAL score's stored number is not compared: Langfuse reads it back as its label);
    strings with the label/text."""
    if isinstance(value, bool | int | float):
        return "s.data_type IN ('NUMERIC', 'BOOLEAN') AND s.value", float(value)
    return "s.string_value", value


def _stratum_sql(target: Target, by: str | None, t: str, o: str | None) -> str:
    """SQL giving the stratum as text (strings as is, other JSON scalars as JSON text), or NULL.

    Decoding happens in SQL: decoding JSON per row in Python would double the listing time.
    """
    if by is None:
        return "NULL"
    if by.startswith("metadata."):
        key = by.removeprefix("metadata.")
        value = (
            "CASE json_type(m.value) WHEN 'text' THEN json_extract(m.value, '$') "
            "WHEN 'null' THEN NULL ELSE m.value END"
        )
        return f"(SELECT {value} FROM trace_metadata m WHERE m.trace_id = {t}.id AND m.key = {_sql_str(key)})"
    if by == "name":
        return f"{o}.name" if o else f"{t}.name"
    if by in _TRACE_COLUMNS:
        return f"{t}.{_TRACE_COLUMNS[by]}"
    if by in ("observation_type", "observation_name"):
        if o is None:
            return "NULL"
        return f"{o}.{'type' if by == 'observation_type' else 'name'}"
    raise SourceError(
        f"cannot stratify by {by!r}: use metadata.<key>, name, user_id, session_id, environment, release, "
        "version, observation_type or observation_name"
    )


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------------- rows ↔ objects

_OBS_COLS = (
    "id, trace_id, parent_id, type, name, start_ts, end_ts, level, status_message, model, input, output, "
    "metadata, usage"
)
_CFG_COLS = "id, name, data_type, categories, min_value, max_value, description, is_archived"
_SCORE_COLS = (
    "id, name, value, string_value, data_type, ts, trace_id, observation_id, session_id, comment, metadata, "
    "config_id, source, queue_id, environment"
)


def _observation_from_row(r: sqlite3.Row | tuple[Any, ...]) -> Observation:
    return Observation(
        id=r[0],
        trace_id=r[1],
        parent_id=r[2],
        type=r[3],
        name=r[4],
        start_time=from_us(r[5]),
        end_time=None if r[6] is None else from_us(r[6]),
        level=r[7],
        status_message=r[8],
        model=r[9],
        input=_loads(r[10]),
        output=_loads(r[11]),
        metadata=_loads(r[12]) or {},
        usage=_loads(r[13]) or {},
    )


def _config_from_row(r: tuple[Any, ...]) -> ScoreConfig:
    return ScoreConfig(
        id=r[0],
        name=r[1],
        data_type=r[2],
        categories=tuple((str(label), float(value)) for label, value in _loads(r[3]) or ()),
        min_value=r[4],
        max_value=r[5],
        description=r[6],
        is_archived=bool(r[7]),
    )


def _score_from_row(r: tuple[Any, ...]) -> Score:
    data_type = cast(ScoreDataType, r[4])
    value: float | str | None
    if data_type in ("CATEGORICAL", "TEXT", "CORRECTION"):
        value = r[3]
    else:
        value = r[2]
    return Score(
        id=r[0],
        name=r[1],
        value=value,
        data_type=data_type,
        timestamp=from_us(r[5]),
        trace_id=r[6],
        observation_id=r[7],
        session_id=r[8],
        string_value=r[3],
        comment=r[9],
        metadata=_loads(r[10]) or {},
        config_id=r[11],
        source=r[12],
        queue_id=r[13],
        environment=r[14],
    )


def _split_value(
    data_type: str, value: float | str | None, string_value: str | None
) -> tuple[float | None, str | None]:
    """(numeric, string) columns for a score given as a :class:`Score` (demo/import)."""
    if data_type in ("CATEGORICAL", "TEXT", "CORRECTION"):
        if isinstance(value, str):
            return None, value
        return (None if value is None else float(value)), string_value
    numeric = None if value is None or isinstance(value, str) else float(value)
    if data_type == "BOOLEAN" and string_value is None and numeric is not None:
        string_value = "True" if numeric == 1 else "False"
    return numeric, string_value


def _write_value(s: ScoreWrite, config: ScoreConfig | None) -> tuple[float | None, str | None]:
    """How Langfuse stores a validated write: categories map label → value, booleans get True/False."""
    if s.data_type == "CATEGORICAL":
        label = str(s.value)
        mapped = 0.0
        if config is not None:
            mapped = next((v for lbl, v in config.categories if lbl == label), 0.0)
        return mapped, label
    if s.data_type in ("TEXT", "CORRECTION"):
        return None, str(s.value)
    numeric = float(s.value)
    if s.data_type == "BOOLEAN":
        return numeric, "True" if numeric == 1 else "False"
    return numeric, None
