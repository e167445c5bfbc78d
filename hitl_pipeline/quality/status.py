"""What ``hitl status`` adds for quality: reviewers' qualification and gold accuracy, adaptive
overlap, throughput and ETA (all from the campaign state, no source call)."""

from __future__ import annotations

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.model.stats import wilson_interval
from hitl_pipeline.quality.manager import reviewer_quality
from hitl_pipeline.quality.throughput import throughput
from hitl_pipeline.spec.model import ReviewSpec


def remaining_reviews(spec: ReviewSpec, state: CampaignState) -> int:
    """Review slots still open: per item, the reviewers it needs (so far) minus those it has."""
    return throughput(spec, state).remaining_reviews or 0


def status_lines(spec: ReviewSpec, state: CampaignState) -> list[str]:
    lines: list[str] = []
    standing = reviewer_quality(spec, state)
    if standing:
        lines.append("  gold items (qualification, honeypots):")
        for r in standing:
            acc = ""
            if r.graded:
                low, high = wilson_interval(r.correct, r.graded) or (0.0, 1.0)
                acc = (
                    f"; accuracy {r.correct}/{r.graded} = {r.correct / r.graded:.2f} [{low:.2f}, {high:.2f}]"
                )
            honey = f"; honeypots {r.honeypot_correct}/{r.honeypot_graded}" if r.honeypot_graded else ""
            warn = " ⚠ below the honeypot threshold (drift)" if r.flagged else ""
            note = f" — {r.note}" if r.note and r.status in ("failed", "stopped", "retry") else ""
            lines.append(f"    {r.reviewer}: {r.status}{acc}{honey}{warn}{note}")
    if spec.review.adaptive is not None:
        with state.transaction() as c:
            rows = c.execute(
                "SELECT COALESCE(needed, ?), COUNT(*) FROM items GROUP BY 1 ORDER BY 1",
                (spec.review.adaptive.min,),
            ).fetchall()
        shown = ", ".join(f"{int(n)}: {int(count)}" for n, count in rows)
        lines.append(f"  adaptive overlap: items by reviewers needed so far — {shown}")
    tp = throughput(spec, state)
    if tp.reviewers:
        parts = [
            f"{r.reviewer} {r.items_per_hour:.0f}/h" if r.items_per_hour else f"{r.reviewer} n/a"
            for r in tp.reviewers
        ]
        lines.append("  throughput (items per active hour): " + ", ".join(parts))
        if tp.remaining_reviews == 0:
            lines.append("  ETA: nothing left to review")
        elif tp.eta_hours is not None:
            lines.append(
                f"  ETA: {tp.remaining_reviews} review(s) to go, about {tp.eta_hours:.1f} h at this pace"
            )
    return lines


__all__ = ["remaining_reviews", "status_lines"]
