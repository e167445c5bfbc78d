"""The Langfuse backend: reads traces, observations and sessions, writes scores, through SDK 5.

:class:`LangfuseSource` (:mod:`.source`) puts together one part per job:

* :mod:`.http` — the one SDK client (auth, base URL, connection pool) and the mapping of every
  failure to :class:`~hitl_pipeline.errors.SourceError` / :class:`~hitl_pipeline.errors.AuthError`;
* :mod:`.probe` — what the server offers (:class:`Capabilities`), found once per source;
* :mod:`.reads_v2` — listing and fetching through the v2 observations reader (v4 servers, Cloud);
* :mod:`.reads_legacy` — the same through the v1 ``/traces``, ``/observations``, ``/sessions``
  readers of v3 servers;
* :mod:`.query` — what a spec's filters become on either read path, strata, score thresholds;
* :mod:`.scores` — score reads, writes, deletes;
* :mod:`.configs` — score configs;
* :mod:`.project` — annotation queues, datasets, the project id;
* :mod:`.convert` — Langfuse's JSON to the model's types and back;
* :mod:`.doctor` — ``hitl doctor``.

The typed SDK methods serve the probe, score configs, annotation queues and datasets. The bulk
paths — listing and fetching observation rows, reading scores, posting score arrays — send the same
requests through the same client but skip the SDK's typed models: their generic conversion costs
~5 ms per observation row and ~1 ms per score (measured with cProfile; seconds per page of 1,000
rows). What SDK 5 lacks altogether (the legacy readers of self-hosted v3 servers; the single-object
``POST /scores`` of servers before 4.59) uses that client too.
"""

from hitl_pipeline.sources.langfuse.probe import Capabilities
from hitl_pipeline.sources.langfuse.source import LangfuseSource

__all__ = ["Capabilities", "LangfuseSource"]
