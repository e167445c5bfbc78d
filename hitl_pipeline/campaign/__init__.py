"""Review campaigns: the queue, its durable state and the service the review form talks to.

* :mod:`~hitl_pipeline.campaign.queue` — ``build_queue(spec, source, now=…) -> QueuePlan``: filters
  in the source, seeded sampling (random / latest / stratified) in bounded memory.
* :mod:`~hitl_pipeline.campaign.state` — ``CampaignState``: one SQLite file per campaign
  (``<home>/campaigns/<campaign>.db``): items, leases, answers, skips, the score outbox, configs.
* :mod:`~hitl_pipeline.campaign.service` — ``CampaignService``, the
  :class:`~hitl_pipeline.campaign.types.ReviewService` the UI calls (leases, N reviewers, skip,
  Back, edits, validation, prefetching).
* :mod:`~hitl_pipeline.campaign.consensus`, :mod:`~hitl_pipeline.campaign.annotation_queue` —
  consensus/adjudication and the Langfuse annotation-queue mirror, hooked into the service.

Open a campaign with :func:`hitl_pipeline.campaign.lifecycle.open_campaign`.
"""
