"""The backend-neutral data model and the :class:`Source` protocol both backends implement.

Shapes follow Langfuse (traces, observations, sessions, score configs, scores) so the local
store and the Langfuse backend are interchangeable, and tests run one suite against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from hitl_pipeline.spec.model import Filters, Target

ScoreDataType = Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION"]


@dataclass(frozen=True)
class Observation:
    id: str
    trace_id: str
    type: str  # SPAN | GENERATION | EVENT | TOOL | AGENT | RETRIEVER | …
    name: str
    start_time: datetime
    parent_id: str | None = None
    end_time: datetime | None = None
    level: str = "DEFAULT"  # DEBUG | DEFAULT | WARNING | ERROR
    status_message: str | None = None
    model: str | None = None
    input: Any = None
    output: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_ms(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds() * 1000


@dataclass(frozen=True)
class Trace:
    id: str
    name: str
    timestamp: datetime
    user_id: str | None = None
    session_id: str | None = None
    tags: tuple[str, ...] = ()
    environment: str = "default"
    release: str | None = None
    version: str | None = None
    input: Any = None
    output: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    observations: tuple[Observation, ...] = ()  # empty unless fetched in full


@dataclass(frozen=True)
class Session:
    id: str
    traces: tuple[Trace, ...]  # in time order, oldest first
    created_at: datetime | None = None


@dataclass(frozen=True)
class ItemRef:
    """A light reference to one review item, as listed before sampling.

    ``kind`` is the spec's target. ``trace_id`` is set for traces and observations.
    ``stratum`` carries the value of the spec's ``sample.by`` field when asked for.
    """

    kind: Target
    id: str
    timestamp: datetime
    trace_id: str | None = None
    stratum: str | None = None

    @property
    def key(self) -> str:
        """Stable key of the item within a campaign: ``trace:<id>``, ``observation:<id>``, ``session:<id>``."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Score:
    """A score as stored (local store or Langfuse)."""

    id: str
    name: str
    value: float | str | None  # number for NUMERIC/BOOLEAN, label/text for CATEGORICAL/TEXT/CORRECTION
    data_type: ScoreDataType
    timestamp: datetime
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    string_value: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config_id: str | None = None
    source: str = "API"  # API | ANNOTATION | EVAL
    queue_id: str | None = None
    environment: str = "default"


@dataclass(frozen=True)
class Item:
    """One review item in full, ready to display. Exactly one of trace / observation / session is the subject."""

    ref: ItemRef
    trace: Trace | None = None  # the trace (trace target) or the observation's trace (observation target)
    observation: Observation | None = None
    session: Session | None = None
    scores: tuple[Score, ...] = ()  # scores already on the subject (context, e.g. an LLM judge)


@dataclass(frozen=True)
class ScoreConfig:
    id: str
    name: str
    data_type: Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT"]
    categories: tuple[tuple[str, float], ...] = ()  # (label, value)
    min_value: float | None = None
    max_value: float | None = None
    description: str | None = None
    is_archived: bool = False


@dataclass(frozen=True)
class ScoreWrite:
    """A score to create or replace (same ``id`` + ``name`` replaces, as in Langfuse)."""

    id: str
    name: str
    value: float | str
    data_type: ScoreDataType
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config_id: str | None = None
    source: str = "ANNOTATION"
    queue_id: str | None = None
    environment: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True)
class WriteResult:
    """Outcome of sending one score. ``retryable`` is True for 429/5xx/transport failures."""

    id: str
    ok: bool
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


@runtime_checkable
class Source(Protocol):
    """What a trace source offers. Implemented by ``local`` (SQLite) and ``langfuse``."""

    name: str

    def iter_candidates(
        self,
        target: Target,
        filters: Filters,
        *,
        now: datetime,
        stratify_by: str | None = None,
    ) -> Iterator[ItemRef]:
        """Yield every item matching ``filters`` (applied in the source, not in Python), newest first."""
        ...

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        """Fetch one item in full (tree, session turns, existing scores) for display."""
        ...

    def list_score_configs(self) -> list[ScoreConfig]: ...

    def get_score_config(self, config_id: str) -> ScoreConfig | None: ...

    def create_score_config(
        self,
        name: str,
        data_type: str,
        *,
        categories: Sequence[tuple[str, float]] = (),
        min_value: float | None = None,
        max_value: float | None = None,
        description: str | None = None,
    ) -> ScoreConfig: ...

    def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        """Send scores synchronously; one result per score, in order. Never raises for a single bad score."""
        ...

    def delete_scores(self, ids: Sequence[str]) -> list[WriteResult]:
        """Delete scores by id (every name under the id); one result per id, in order. Deleting an
        id that is not there is ok. Never raises for a single failed delete."""
        ...

    def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
        """Read scores back by id; missing ids are absent from the result."""
        ...

    def iter_scores(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        source: str | None = None,
    ) -> Iterator[Score]:
        """Every stored score, optionally by name / newer than ``since`` / by source (reports, resume)."""
        ...

    def close(self) -> None: ...
