"""Review items and what they are made of: traces, observations, sessions.

Shapes follow Langfuse so the local store and the Langfuse backend are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hitl_pipeline.model.scores import Score

#: What a campaign reviews (a spec's ``target``).
Target = Literal["trace", "observation", "session", "pair"]

#: Observation types Langfuse knows (``observation_type`` filter values).
OBSERVATION_TYPES = (
    "SPAN",
    "GENERATION",
    "EVENT",
    "TOOL",
    "AGENT",
    "CHAIN",
    "RETRIEVER",
    "EVALUATOR",
    "EMBEDDING",
    "GUARDRAIL",
)


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

    ``kind`` is the spec's target. ``trace_id`` is set for traces and observations (for a pair: arm
    B's trace; ``id`` is the pair id, :func:`hitl_pipeline.model.pairs.pair_id`).
    ``stratum`` carries the value of the spec's ``sample.by`` field when asked for.
    """

    kind: Target
    id: str
    timestamp: datetime
    trace_id: str | None = None
    stratum: str | None = None

    @property
    def key(self) -> str:
        """Stable key of the item within a campaign: ``trace:<id>``, ``observation:<id>``, ``session:<id>``,
        ``pair:<id>``."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Item:
    """One review item in full, ready to display. Exactly one of trace / observation / session is the subject."""

    ref: ItemRef
    trace: Trace | None = None  # the trace (trace target) or the observation's trace (observation target)
    observation: Observation | None = None
    session: Session | None = None
    scores: tuple[Score, ...] = ()  # scores already on the subject (context, e.g. an LLM judge)
    #: A pair (target pair): both arms' items and the sides; ``trace`` is then arm A's trace.
    pair: PairView | None = None


@dataclass(frozen=True)
class PairView:
    """Both items of a pair, as fetched for the form: ``a`` and ``b`` by arm, ``left`` the arm shown
    on the left (labelled "A" in the form), ``match`` the value that paired them."""

    a: Item
    b: Item
    left: Literal["a", "b"]
    match: str | None = None

    @property
    def shown(self) -> tuple[Item, Item]:
        """(left item, right item) as the reviewer sees them."""
        return (self.a, self.b) if self.left == "a" else (self.b, self.a)
