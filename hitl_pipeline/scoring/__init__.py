"""Scores: validating a reviewer's answers, building scores from them, and writing them back.

(Langfuse's own rules for one score, ``check_score``, are domain model:
:mod:`hitl_pipeline.model.score_rules`.)

* :mod:`~hitl_pipeline.scoring.answers` — ``validate_answers``: a reviewer's answers against the
  spec's questions and the resolved configs.
* :mod:`~hitl_pipeline.scoring.scores` — ``build_scores`` and the deterministic ``score_id``.
* :mod:`~hitl_pipeline.scoring.outbox` — ``drain`` and ``OutboxWorker``: send, retry, read back,
  confirm or flag as dropped.
* :mod:`~hitl_pipeline.scoring.configs` — resolving the questions' score configs.
"""
