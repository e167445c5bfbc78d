"""The request plan ``hitl run --dry-run`` prints: how many requests a campaign costs a rate-limited
Langfuse (Cloud: 30 requests/min on Hobby, 100 on Core, 1,000 on Pro, shared by the organisation).

The figures follow from how hitl talks to the server: items are prefetched ``PREFETCH_BATCH`` at a
time (v4 servers: one ``v2/observations`` and one ``v3/scores`` request per batch; v3 servers: one
request per item plus one per turn or parent trace), answers are written in one request per
``WRITE_WINDOW`` (up to 100 scores; one request per score on servers that take no arrays), and read
back in at most one request per ``CONFIRM_GAP`` round. Under a budget, write-back and read-back wait
for it (the answers are durable; their requests only get bigger), reviewers' items go first.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitl_pipeline.campaign.service import PREFETCH_BATCH
from hitl_pipeline.scoring.outbox import CONFIRM_GAP, WRITE_WINDOW

#: Langfuse Cloud's "all other APIs" limits per minute (reference §9).
CLOUD_PLANS = (("Hobby", 30), ("Core", 100), ("Pro", 1000))
PACES = (5.0, 10.0, 30.0)
REVIEWERS = (1, 2, 3, 5, 10)


@dataclass(frozen=True)
class RequestPlan:
    """Requests of one campaign on one server.

    ``reads_per_item``: item reads per reviewed item; ``scores_per_item``: answers per item (one
    score each); ``arrays``: whether ``POST /scores`` takes arrays (else one request per score).
    """

    target: str
    items: int
    queue_requests: int
    v2_reads: bool
    arrays: bool
    scores_per_item: int
    budget_per_min: float | None = None

    @property
    def reads_per_item(self) -> float:
        if self.v2_reads:
            return 2 / PREFETCH_BATCH
        extra = {"trace": 0.0, "observation": 1.0, "session": 3.0}.get(self.target, 0.0)
        return 1 + extra + 1 / PREFETCH_BATCH

    def per_minute(self, reviewers: int, seconds_per_item: float) -> float:
        """Requests per minute at steady state, before a budget makes write-back wait."""
        items = reviewers * 60.0 / seconds_per_item
        reads = items * self.reads_per_item
        if self.arrays:
            writes = min(60.0 / WRITE_WINDOW, items)
        else:
            writes = items * self.scores_per_item
        confirms = min(60.0 / CONFIRM_GAP, items)
        return reads + writes + confirms

    def reviewers_within(self, budget: float, seconds_per_item: float) -> int:
        """How many reviewers at this pace stay within ``budget`` requests/min (write-back included)."""
        n = 0
        while n < 1000 and self.per_minute(n + 1, seconds_per_item) <= budget:
            n += 1
        return n

    def lines(self) -> list[str]:
        body = "JSON arrays (≤100 scores a request)" if self.arrays else "one score per request (8 in flight)"
        out = [
            f"  queue: {self.queue_requests} request(s) to probe the server and build this queue of "
            f"{self.items} {self.target}(s)",
            f"  per reviewed item: {self.reads_per_item:.2f} read request(s) "
            + (
                f"(items prefetched {PREFETCH_BATCH} at a time: 2 requests per batch)"
                if self.v2_reads
                else "(v3 server: one request per item, more for observations and sessions)"
            ),
            f"  write-back: {body}, at most one request per {WRITE_WINDOW:g} s window shared by all "
            f"reviewers; read-back: at most one request per {CONFIRM_GAP:g} s (≤100 ids)",
            "  requests/min, reviewers × seconds per item: "
            + "; ".join(
                f"{r}×{p:g}s {self.per_minute(r, p):.0f}" for p in PACES for r in REVIEWERS if r in (1, 3, 5)
            ),
        ]
        budgets = [("your budget", self.budget_per_min)] if self.budget_per_min else []
        budgets += [(f"Cloud {name}", float(limit)) for name, limit in CLOUD_PLANS]
        for label, per_min in budgets:
            assert per_min is not None
            counts = [self.reviewers_within(per_min, p) for p in PACES]
            fits = ", ".join(
                f"{n if n < 1000 else '1000+'} at {p:g} s/item" for n, p in zip(counts, PACES, strict=True)
            )
            out.append(f"  {label} {per_min:g}/min: reviewers without waiting write-back: {fits}")
        out.append(
            "  beyond that, write-back and read-back wait for the budget (answers are saved locally and "
            "sent in bigger requests); reviewers' items go first"
        )
        return out
