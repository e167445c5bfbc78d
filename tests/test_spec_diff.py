"""Every class of spec change is classified as harmless or meaning-changing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.errors import CampaignError
from hitl_pipeline.spec.diff import CLASSIFIED_FIELDS, diff_specs, require_compatible
from hitl_pipeline.spec.model import (
    Category,
    Condition,
    Consensus,
    Display,
    Filters,
    LangfuseOptions,
    Question,
    Review,
    ReviewSpec,
    Sample,
)

QUALITY = Question(
    score="support_quality",
    type="categorical",
    label="Quality",
    categories=(Category("excellent", 2), Category("acceptable", 1), Category("poor", 0)),
)
HELPFUL = Question(score="helpfulness", type="numeric", label="Helpful", min=1, max=5, step=1)
RESOLVED = Question(
    score="issue_resolved",
    type="boolean",
    label="Resolved?",
    when=Condition("support_quality", "not_equals", ("poor",)),
)
BASE = ReviewSpec(
    campaign="support-qa",
    title="Support QA",
    target="trace",
    questions=(QUALITY, HELPFUL, RESOLVED),
    guidelines="Be fair.",
    filters=Filters(trace_name=("support-chat",), time_from="2026-10-01", time_to="2026-11-01"),
    sample=Sample(size=50, strategy="random", seed=1),
    review=Review(reviewers_per_item=2, reviewers=("ann", "bob")),
)


def _with_question(q: Question, index: int = 0) -> ReviewSpec:
    qs = list(BASE.questions)
    qs[index] = q
    return replace(BASE, questions=tuple(qs))


HARMLESS = {
    "title": replace(BASE, title="Support QA, round 2"),
    "guidelines": replace(BASE, guidelines="Be fair and kind."),
    "label": _with_question(replace(QUALITY, label="Overall quality")),
    "help": _with_question(replace(QUALITY, help="Think about tone.")),
    "description": _with_question(replace(QUALITY, description="desc")),
    "category order": _with_question(replace(QUALITY, categories=tuple(reversed(QUALITY.categories)))),
    "step": _with_question(replace(HELPFUL, step=0.5), 1),
    "required": _with_question(replace(HELPFUL, required=False), 1),
    "compare_with": _with_question(replace(HELPFUL, compare_with="llm_judge_helpfulness"), 1),
    "question order": replace(BASE, questions=(HELPFUL, QUALITY, RESOLVED)),
    "optional question added": replace(
        BASE,
        questions=(*BASE.questions, Question(score="reviewer_notes", type="text", label="n", required=False)),
    ),
    "larger sample": replace(BASE, sample=replace(BASE.sample, size=80)),
    "no sample limit": replace(BASE, sample=replace(BASE.sample, size=None)),
    "display": replace(BASE, display=Display(parts=("output", "input"))),
    "reviewers added": replace(BASE, review=replace(BASE.review, reviewers=("ann", "bob", "cy"))),
    "adjudicators": replace(BASE, review=replace(BASE.review, adjudicators=("lead",))),
    "lease": replace(BASE, review=replace(BASE.review, lease_minutes=60)),
    "reviewers per item": replace(BASE, review=replace(BASE.review, reviewers_per_item=3)),
    "allow skip": replace(BASE, review=replace(BASE.review, allow_skip=False)),
    "comment off": replace(BASE, comment="off"),
    "consensus on": replace(BASE, consensus=Consensus(enabled=True)),
    "threshold": replace(BASE, consensus=Consensus(max_disagreement=0.5)),
    "annotation queue": replace(BASE, langfuse=LangfuseOptions(annotation_queue=True)),
    "path and hash only": replace(BASE, path="other.yaml", spec_hash="x"),
}

MEANING = {
    "question removed": (replace(BASE, questions=(QUALITY, RESOLVED)), "questions[helpfulness]"),
    "question renamed": (_with_question(replace(HELPFUL, score="helpful"), 1), "renamed to 'helpful'"),
    "required question added": (
        replace(BASE, questions=(*BASE.questions, Question(score="tone", type="boolean", label="t"))),
        "questions[tone]",
    ),
    "type changed": (
        _with_question(
            replace(
                HELPFUL, type="categorical", categories=QUALITY.categories, min=None, max=None, step=None
            ),
            1,
        ),
        "type changed",
    ),
    "category added": (
        _with_question(replace(QUALITY, categories=(*QUALITY.categories, Category("awful", -1)))),
        "category 'awful' added",
    ),
    "category relabelled": (
        _with_question(replace(QUALITY, categories=(Category("great", 2), *QUALITY.categories[1:]))),
        "category 'excellent' removed",
    ),
    "category value": (
        _with_question(replace(QUALITY, categories=(Category("excellent", 3), *QUALITY.categories[1:]))),
        "value of 'excellent' changed from 2 to 3",
    ),
    "numeric max": (_with_question(replace(HELPFUL, max=10), 1), "numeric max changed"),
    "numeric min": (_with_question(replace(HELPFUL, min=0), 1), "numeric min changed"),
    "config id": (_with_question(replace(QUALITY, config_id="cfg-other")), "score config changed"),
    "when": (_with_question(replace(RESOLVED, when=None), 2), "condition changed"),
    "target": (replace(BASE, target="observation"), "target changed"),
    "filters": (replace(BASE, filters=replace(BASE.filters, tags=("vip",))), "source.filters.tags"),
    "time window": (
        replace(BASE, filters=replace(BASE.filters, time_to="2026-12-01")),
        "source.filters.time_to",
    ),
    "smaller sample": (replace(BASE, sample=replace(BASE.sample, size=20)), "source.sample.size"),
    "seed": (replace(BASE, sample=replace(BASE.sample, seed=2)), "source.sample.seed"),
    "comment required": (replace(BASE, comment="required"), "comment"),
    "not blind": (replace(BASE, review=replace(BASE.review, blind=False)), "no longer blind"),
    "numeric consensus": (replace(BASE, consensus=Consensus(numeric="mean")), "consensus.numeric"),
    "campaign id": (replace(BASE, campaign="support-qa-2"), "campaign id changed"),
}


def test_identical_specs() -> None:
    d = diff_specs(BASE, replace(BASE))
    assert d.identical and not d.changes_meaning and d.lines() == []


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_harmless_changes(name: str) -> None:
    d = diff_specs(BASE, HARMLESS[name])
    assert not d.changes_meaning, d.lines()
    if name != "path and hash only":
        assert d.harmless, f"{name} was not detected"
        assert all(line.startswith("[harmless]") for line in d.lines())


@pytest.mark.parametrize("name", sorted(MEANING))
def test_meaning_changes(name: str) -> None:
    new, needle = MEANING[name]
    d = diff_specs(BASE, new)
    assert d.changes_meaning, f"{name} not flagged: {d.lines()}"
    assert any(needle in line for line in d.lines()), d.lines()


def test_mixed_changes_are_all_listed_meaning_first() -> None:
    new = replace(_with_question(replace(HELPFUL, max=10, label="How helpful?"), 1), title="New title")
    lines = diff_specs(BASE, new).lines()
    assert lines[0].startswith("[changes meaning] questions[helpfulness].max")
    assert {line.split("] ")[1].split(":")[0] for line in lines} == {
        "questions[helpfulness].max",
        "questions[helpfulness].label",
        "title",
    }


def test_every_spec_field_is_classified() -> None:
    assert {f.name for f in fields(ReviewSpec)} - {"path", "spec_hash", "data_json"} == CLASSIFIED_FIELDS


def test_require_compatible_refuses_with_the_list_and_the_fix() -> None:
    assert require_compatible(BASE, HARMLESS["guidelines"], current_version=1).harmless
    with pytest.raises(CampaignError) as err:
        require_compatible(BASE, MEANING["numeric max"][0], current_version=3)
    text = str(err.value)
    assert "questions[helpfulness].max: numeric max changed from 5 to 10" in text
    assert "--new-version" in text and "version 4" in text


SPEC_YAML = """
version: 1
campaign: plan-test
title: Plan test
target: trace
guidelines: Be fair.
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 20, seed: 1}
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
"""


def test_plan_spec_change_same_continue_refuse_new_version() -> None:
    from hitl_pipeline.spec import load_spec_text
    from hitl_pipeline.spec.codec import spec_from_json, spec_to_json
    from hitl_pipeline.spec.diff import plan_spec_change

    # The old spec goes through the campaign state's JSON round trip, as in `hitl run`.
    stored = spec_from_json(spec_to_json(load_spec_text(SPEC_YAML, "specs/p.yaml")))
    same = plan_spec_change(stored, 1, load_spec_text(SPEC_YAML, "specs/p.yaml"))
    assert (same.action, same.version) == ("same", 1)

    harmless = load_spec_text(
        SPEC_YAML.replace("Be fair.", "Be fair and kind.").replace("size: 20", "size: 40")
    )
    plan = plan_spec_change(stored, 1, harmless)
    assert (plan.action, plan.version) == ("continue", 1)
    assert {c.path for c in plan.diff.harmless} == {"guidelines", "source.sample.size"}

    meaning = load_spec_text(SPEC_YAML.replace("max: 5", "max: 7"), "specs/p.yaml")
    with pytest.raises(CampaignError, match=r"questions\[helpfulness\]\.max") as err:
        plan_spec_change(stored, 2, meaning)
    assert "specs/p.yaml" in str(err.value) and "version 3" in str(err.value)

    bumped = plan_spec_change(stored, 2, meaning, new_version=True)
    assert (bumped.action, bumped.version) == ("new_version", 3) and bumped.diff.changes_meaning


# -- the check where it matters: re-running a campaign with an edited spec ------------------------


@pytest.fixture
def demo_store(tmp_path: Path) -> Iterator[Any]:
    from hitl_pipeline.sources.demo import generate_demo, load_demo
    from hitl_pipeline.sources.local import LocalSource

    store = LocalSource(tmp_path / "local.db")
    load_demo(store, generate_demo(seed=0, traces=80))
    yield store
    store.close()


RUN_SPEC = """
version: 1
campaign: change-test
title: Change test
target: trace
guidelines: Be fair.
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 3, seed: 1}
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
"""


def test_rerun_continues_refuses_or_starts_a_new_version(demo_store: Any, tmp_path: Path) -> None:
    from hitl_pipeline.campaign.lifecycle import campaign_db_path, open_campaign
    from hitl_pipeline.scoring.outbox import drain
    from hitl_pipeline.spec import load_spec_text

    home = tmp_path / "home"
    configs = {"helpfulness": next(c for c in demo_store.list_score_configs() if c.name == "helpfulness")}

    def run(text: str, **kw: Any) -> Any:
        spec = load_spec_text(text, "specs/change.yaml")
        return open_campaign(spec, demo_store, home=home, configs=configs, start=False, worker=False, **kw)

    svc = run(RUN_SPEC)
    a = svc.open_next("ann")
    svc.submit("ann", a.item_key, {"helpfulness": 4.0}, None)
    drain(svc.state, demo_store, deadline=10, confirm_timeout=5, poll_interval=0.01)
    first_id = svc.state.outbox(item_key=a.item_key)[0].score_id
    svc.close()

    # Harmless: continues (same version, the answer is still there, the new hash is recorded).
    svc = run(RUN_SPEC.replace("Be fair.", "Be fair and kind."))
    assert svc.spec_version == 1 and svc.state.review(a.item_key, "ann") is not None
    assert len(svc.state.spec_hashes()) == 2
    svc.close()

    # Meaning-changing: refused with the differences and how to go on.
    with pytest.raises(
        CampaignError, match=r"questions\[helpfulness\]\.max: numeric max changed from 5\.0 to 10"
    ) as e:
        run(RUN_SPEC.replace("max: 5", "max: 10"))
    assert "--new-version" in str(e.value)

    # --new-version: version 2 starts fresh; version 1's state is archived, its scores kept apart.
    svc = run(RUN_SPEC.replace("max: 5", "max: 10"), new_version=True)
    try:
        assert svc.spec_version == 2
        assert svc.state.reviews() == []  # version 1's answer is not carried over (resume skips it)
        assert campaign_db_path(home, "change-test").with_name("change-test.v1.db").exists()
        b = svc.open_next("ann")
        svc.submit("ann", b.item_key, {"helpfulness": 3.0}, None)
        row = svc.state.outbox(item_key=b.item_key)[0]
        assert row.score_id != first_id and row.payload["metadata"]["hitl_spec_version"] == 2
        drain(svc.state, demo_store, deadline=10, confirm_timeout=5, poll_interval=0.01)
    finally:
        svc.close()

    # Reports keep the versions apart: the current one by default, an older one on request.
    from hitl_pipeline.report import make_report

    spec2 = load_spec_text(RUN_SPEC.replace("max: 5", "max: 10"), "specs/change.yaml")
    current = make_report(spec2, demo_store, home=home)
    old = make_report(spec2, demo_store, home=home, spec_version=1)
    assert (current.spec_version, current.questions[0].numeric) == (
        "2",
        {"mean": 3.0, "median": 3.0, "min": 3.0, "max": 3.0},
    )
    assert (old.spec_version, old.questions[0].numeric) == (
        "1",
        {"mean": 4.0, "median": 4.0, "min": 4.0, "max": 4.0},
    )


@pytest.mark.slow  # imports gradio (the form) before refusing
def test_hitl_run_refuses_a_meaning_change_with_the_list(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hitl_pipeline.campaign.lifecycle import open_campaign
    from hitl_pipeline.cli import app
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources import get_source
    from hitl_pipeline.spec import load_spec

    home = tmp_path / "home"
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(RUN_SPEC, encoding="utf-8")
    new.write_text(RUN_SPEC.replace("max: 5", "max: 10").replace("Be fair.", "Be kind."), encoding="utf-8")
    from hitl_pipeline.sources.demo import generate_demo, load_demo
    from hitl_pipeline.sources.local import LocalSource

    home.mkdir()
    small = LocalSource(home / "local.db")  # a small store where `hitl run` looks (no 400-trace demo)
    load_demo(small, generate_demo(seed=0, traces=80))
    small.close()
    source = get_source("local", Settings.from_env(home))
    try:
        configs = {"helpfulness": next(c for c in source.list_score_configs() if c.name == "helpfulness")}
        open_campaign(load_spec(old), source, home=home, configs=configs, start=False, worker=False).close()
    finally:
        source.close()
    result = CliRunner().invoke(app, ["run", str(new), "--home", str(home), "--reviewer", "ann"])
    assert result.exit_code == 1, result.output
    err = result.stderr
    assert err.startswith("Error: ") and "Traceback" not in err
    assert "questions[helpfulness].max: numeric max changed from 5.0 to 10.0" in err
    assert "guidelines" not in err  # only the meaning changes are listed in the refusal
    assert "--new-version" in err


def test_example_specs_survive_the_state_round_trip_without_differences(repo_root: Path) -> None:
    from hitl_pipeline.spec import load_spec
    from hitl_pipeline.spec.codec import spec_from_json, spec_to_json

    paths = sorted((repo_root / "specs").glob("*.yaml"))
    assert paths
    for path in paths:
        spec = load_spec(path)
        assert diff_specs(spec_from_json(spec_to_json(spec)), spec).identical, path


def test_a_larger_sample_appends_items_to_the_running_campaign(demo_store: Any, tmp_path: Path) -> None:
    from hitl_pipeline.campaign.lifecycle import open_campaign
    from hitl_pipeline.campaign.queue import build_queue
    from hitl_pipeline.spec import load_spec_text

    home = tmp_path / "home"
    configs = {"helpfulness": next(c for c in demo_store.list_score_configs() if c.name == "helpfulness")}

    def run(text: str) -> Any:
        spec = load_spec_text(text, "specs/grow.yaml")
        return open_campaign(spec, demo_store, home=home, configs=configs, start=False, worker=False)

    svc = run(RUN_SPEC)
    before = [row.key for row in svc.state.items()]
    a = svc.open_next("ann")
    svc.submit("ann", a.item_key, {"helpfulness": 4.0}, None)
    now = svc.state.meta().now
    svc.close()

    bigger = RUN_SPEC.replace("size: 3", "size: 6")
    svc = run(bigger)
    try:
        after = [row.key for row in svc.state.items()]
        assert len(before) == 3 and after[:3] == before and len(after) == 6
        # Exactly the items a fresh campaign with the larger sample would hold.
        fresh = build_queue(load_spec_text(bigger), demo_store, now=now)
        assert set(after) == {r.key for r in fresh.refs}
        assert svc.state.review(a.item_key, "ann") is not None and svc.spec_version == 1
    finally:
        svc.close()
    # Re-running the same spec adds nothing more.
    svc = run(bigger)
    assert len(svc.state.items()) == 6
    svc.close()
