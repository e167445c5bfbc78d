"""Labels a team can trust: gold items, qualification, honeypots and adaptive overlap.

* :mod:`~hitl_pipeline.quality.gold` — the gold set (gold file next to the spec, gold answers from
  existing scores) and grading against it;
* :mod:`~hitl_pipeline.quality.manager` — qualification rounds and honeypots in a running campaign
  (the service's quality hooks), and each reviewer's standing for ``hitl status`` and the report;
* :mod:`~hitl_pipeline.quality.overlap` — adaptive overlap (``reviewers_per_item: {min, max}``);
* :mod:`~hitl_pipeline.quality.judge` — how a ``compare_with`` score reads as an answer.

Layer: with the campaign (it uses the campaign state and is used by the campaign service).
"""
