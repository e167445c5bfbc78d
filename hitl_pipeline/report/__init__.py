"""Campaign reports: agreement statistics, distributions, reviewers, disputes, human vs automated.

Typical use (what ``hitl report`` does)::

    report = make_report(spec, source, home=".hitl")
    Path("report.html").write_text(render_html(report))

The numbers come from the scores stored in the source (local store or Langfuse), so a report
can be produced on any machine with access to the project; the campaign state, when present,
adds what scores do not carry (time spent per item).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.model import Score
from hitl_pipeline.report.compute import (
    AnswerRecord,
    Report,
    automated_from_scores,
    build_report,
    consensus_summaries,
    langfuse_linker,
    records_from_scores,
)
from hitl_pipeline.report.gates import StateFigures, state_figures, trust_section
from hitl_pipeline.report.html import render_html, render_json, report_to_dict, summary_lines
from hitl_pipeline.scoring.scores import stored_names
from hitl_pipeline.sources.base import Source, TraceLinks
from hitl_pipeline.spec.model import ReviewSpec

__all__ = [
    "AnswerRecord",
    "Report",
    "ReportFiles",
    "build_report",
    "make_report",
    "records_from_scores",
    "records_from_state",
    "render_html",
    "report_campaign",
    "render_json",
    "report_to_dict",
    "summary_lines",
    "write_report",
]


def records_from_state(spec: ReviewSpec, state: CampaignState) -> list[AnswerRecord]:
    """Answer records from a campaign's local state: answers with the time spent on each item.

    Useful on the machine that ran the campaign, and to add review times to records read from
    the stored scores (see :func:`make_report`).
    """
    version = str(state.meta().spec_version)
    refs = {row.key: row.ref for row in state.items()}
    out: list[AnswerRecord] = []
    for review in state.reviews():
        ref = refs.get(review.item_key)
        trace_id = None
        if ref is not None:
            trace_id = (
                ref.trace_id if ref.kind == "observation" else (ref.id if ref.kind == "trace" else None)
            )
        for question, value in review.answers.items():
            out.append(
                AnswerRecord(
                    item_key=review.item_key,
                    reviewer=review.reviewer,
                    question=question,
                    value=value,
                    trace_id=trace_id,
                    observation_id=ref.id if ref and ref.kind == "observation" else None,
                    session_id=ref.id if ref and ref.kind == "session" else None,
                    submitted_at=review.created_at,
                    seconds=review.duration_s,
                    spec_version=version,
                )
            )
    return out


def campaign_state_for(spec: ReviewSpec, home: str | Path | None) -> CampaignState | None:
    """The campaign's state under ``home``, if the campaign ran there (None otherwise)."""
    if home is None:
        return None
    from hitl_pipeline.campaign.state.location import StateLocation

    location = StateLocation.of(home, spec.campaign)
    if not location.exists():
        return None
    state = location.open()
    if not state.is_initialized():
        state.close()
        return None
    return state


def make_report(
    spec: ReviewSpec,
    source: Source,
    *,
    home: str | Path | None = None,
    spec_version: int | None = None,
    link: Callable[[AnswerRecord], str | None] | None = None,
) -> Report:
    """Build the report of ``spec``'s campaign from the scores stored in ``source``.

    Args:
        spec: the campaign spec (its questions define what is reported).
        source: where the campaign's scores are stored.
        home: the state directory; when the campaign state is there, its version is the default
            and its recorded review times are used.
        spec_version: report this campaign version (default: the state's, else the newest found).
        link: item → URL for the disputed items (default: Langfuse trace URLs when the source
            knows its host and project id).
    """
    names = sorted(set(stored_names(spec)) | {q.compare_with for q in spec.questions if q.compare_with})
    scores = list(source.iter_scores(names=names))
    state = campaign_state_for(spec, home)
    seconds: dict[tuple[str, str], float] = {}
    strata: dict[str, str | None] = {}
    figures = StateFigures()
    open_adjudications: int | None = None
    not_stored: int | None = None
    try:
        if state is not None and spec_version not in (None, state.meta().spec_version):
            state.close()  # the state holds another campaign version: its times and queue do not apply
            state = None
        if state is not None:
            if spec_version is None:
                spec_version = state.meta().spec_version
            for r in state.reviews():
                if r.duration_s is not None:
                    seconds[(r.item_key, r.reviewer)] = r.duration_s
            strata = {row.key: row.ref.stratum for row in state.items()}  # judge alignment per stratum
            figures = state_figures(spec, state)  # gold accuracy, overlap, throughput
            open_adjudications = _open_adjudications(state, spec)
            outbox = state.counts(spec.review.reviewers_per_item).outbox
            not_stored = sum(n for status, n in outbox.items() if status != "confirmed")
    finally:
        if state is not None:
            state.close()
    records = records_from_scores(spec, scores, spec_version=spec_version)
    if seconds:
        records = [replace(r, seconds=seconds.get((r.item_key, r.reviewer), r.seconds)) for r in records]
    if link is None and isinstance(source, TraceLinks):
        project = source.project_id()
        if project:
            link = langfuse_linker(source.host, project)
    automated = automated_from_scores(spec, scores)
    report = build_report(spec, records, automated=automated, link=link)
    return replace(
        report,
        trust=trust_section(
            spec,
            records,
            automated,
            strata=strata,
            link=link,
            reviewers=figures.reviewers,
            overlap=figures.overlap,
            throughput=figures.throughput,
        ),
        consensus=consensus_summaries(spec, scores, spec_version=spec_version),
        adjudications_open=open_adjudications,
        scores_not_stored=not_stored,
        pairwise=_pairwise(spec, records, scores),
    )


def _pairwise(spec: ReviewSpec, records: list[AnswerRecord], scores: list[Score]) -> Any:
    """The pairwise section of a pair campaign (report/pairwise.py), else None."""
    if spec.target != "pair":
        return None
    from hitl_pipeline.report.pairwise import pairwise_report, strata_of_scores

    return pairwise_report(spec, records, strata_of_scores(scores))


def _open_adjudications(state: CampaignState, spec: ReviewSpec) -> int | None:
    if not spec.consensus.enabled and not state.open_adjudications():
        return None  # consensus was never enabled for this campaign
    return state.open_adjudications()


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` produced."""

    report: Report
    html_path: Path


def write_report(
    spec: ReviewSpec,
    source: Source,
    output: str | Path,
    *,
    home: str | Path | None = None,
    spec_version: int | None = None,
) -> ReportFiles:
    """Build the report and write it as one self-contained HTML file at ``output``."""
    report = make_report(spec, source, home=home, spec_version=spec_version)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return ReportFiles(report=report, html_path=path)


def report_campaign(
    spec_path: str | Path,
    *,
    home: str | Path,
    source_name: str | None = None,
    output: str | Path | None = None,
    spec_version: int | None = None,
) -> ReportFiles:
    """What ``hitl report`` does: load the spec, open the source, write the HTML report.

    Args:
        spec_path: the campaign's spec file.
        home: the state directory (``.hitl``).
        source_name: ``local`` or ``langfuse`` (default: langfuse when its keys are set).
        output: the HTML file (default: ``<home>/reports/<campaign>.html``).
        spec_version: the campaign version to report (default: the current one).
    """
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources import get_source
    from hitl_pipeline.spec import load_spec

    spec = load_spec(spec_path)
    settings = Settings.from_env(home)
    source = get_source(source_name, settings, create_demo=False)
    try:
        target = Path(output) if output is not None else settings.home / "reports" / f"{spec.campaign}.html"
        return write_report(spec, source, target, home=settings.home, spec_version=spec_version)
    finally:
        source.close()
