"""The domain model every layer shares: value types and Langfuse's rules for scores.

This is the bottom layer: it imports nothing else of hitl_pipeline, and every other package may
import it.

* :mod:`~hitl_pipeline.model.items` — review items: :class:`ItemRef`, :class:`Item`, :class:`Trace`,
  :class:`Observation`, :class:`Session`, ``Target`` and ``OBSERVATION_TYPES``;
* :mod:`~hitl_pipeline.model.scores` — :class:`Score`, :class:`ScoreConfig`, :class:`ScoreWrite`,
  :class:`WriteResult`;
* :mod:`~hitl_pipeline.model.queues` — :class:`AnnotationQueue`, :class:`AnnotationQueueItem`;
* :mod:`~hitl_pipeline.model.score_rules` — the server's own validation rules for scores and score
  configs (``check_score``, ``score_config_problems``), applied before anything is sent or stored;
* :mod:`~hitl_pipeline.model.json_text` — strict JSON text (``decode_json``): what a user's JSON
  file may hold (no NaN/Infinity, overflowing numbers, lone surrogates or runaway nesting);
* :mod:`~hitl_pipeline.model.stats` — pure statistics for label quality (weighted κ, Wilson and
  bootstrap intervals, binary metrics), used by the quality policies and the report.

The value types are importable from the package itself (``from hitl_pipeline.model import Item``).
"""

from hitl_pipeline.model.items import OBSERVATION_TYPES, Item, ItemRef, Observation, Session, Target, Trace
from hitl_pipeline.model.queues import AnnotationQueue, AnnotationQueueItem
from hitl_pipeline.model.scores import (
    CORRECTION_SCORE_NAME,
    Score,
    ScoreConfig,
    ScoreDataType,
    ScoreWrite,
    WriteResult,
)

__all__ = [
    "CORRECTION_SCORE_NAME",
    "AnnotationQueue",
    "AnnotationQueueItem",
    "OBSERVATION_TYPES",
    "Item",
    "ItemRef",
    "Observation",
    "Score",
    "ScoreConfig",
    "ScoreDataType",
    "ScoreWrite",
    "Session",
    "Target",
    "Trace",
    "WriteResult",
]
