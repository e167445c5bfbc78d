"""The report reads the campaign's scores from Langfuse (the fake) just as from the local store."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_pipeline.report import make_report, render_html
from hitl_pipeline.report.agreement import krippendorff_alpha
from hitl_pipeline.report.compute import langfuse_linker
from hitl_pipeline.sources.langfuse import LangfuseSource
from tests.report.langfuse_extras import InteropFake
from tests.report.test_dataset import ANSWERS, DEMO, SPEC, TRACES, _scores


def test_report_from_langfuse_scores(tmp_path: Path) -> None:
    with InteropFake() as fake:
        fake.load_demo(DEMO)
        for s in _scores():
            fake.add_score(s)
        base = fake.url
        source = LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
        try:
            report = make_report(SPEC, source, home=tmp_path)  # links: host + project from GET /projects
            custom = make_report(SPEC, source, link=langfuse_linker("https://lf.example.com", "p1"))
        finally:
            source.close()
    q = {x.score: x for x in report.questions}
    assert report.items == 5 and {r.reviewer for r in report.reviewers} == {"ann", "bob", "cy"}
    matrix = [[ANSWERS[i][r][0] for i in range(5)] for r in ("ann", "bob", "cy")]
    # Items are sorted by key in the report: the α does not depend on the unit order.
    assert q["support_quality"].alpha["nominal"] == pytest.approx(krippendorff_alpha(matrix, "nominal"))
    assert q["support_quality"].answers == 15  # the adjudicator's consensus scores are not answers
    top = report.disputed[0]
    assert top.url == f"{base}/project/proj-fake/traces/{top.item_key.split(':', 1)[1]}"
    assert (
        custom.disputed[0].url == f"https://lf.example.com/project/p1/traces/{top.item_key.split(':', 1)[1]}"
    )
    assert top.item_key in {f"trace:{TRACES[i].id}" for i in (2, 4)}
    # The adjudicator's stored consensus shows in its own section.
    consensus = {c.question: c for c in report.consensus}
    assert set(consensus) == {"support_quality", "helpfulness"}
    assert consensus["support_quality"].items == 1 and consensus["support_quality"].adjudicated == 1
    assert dict(consensus["support_quality"].distribution)["excellent"] == 1
    assert report.adjudications_open is None  # no campaign state in this home
    page = render_html(report)
    assert "<svg" in page and "<h2>Consensus</h2>" in page
