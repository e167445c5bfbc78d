"""The :class:`Source` protocol both backends implement.

Its data types (items, traces, scores, score configs) are the model layer's
(:mod:`hitl_pipeline.model`); their shapes follow Langfuse so the local store and the Langfuse
backend are interchangeable, and tests run one suite against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from hitl_pipeline.model import Item, ItemRef, Score, ScoreConfig, ScoreWrite, Target, WriteResult
from hitl_pipeline.spec.model import Filters


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
