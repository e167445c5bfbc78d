"""Golden datasets from reviewed items: conditions, consensus, Langfuse (fake) and JSONL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hitl_pipeline.errors import ConfigError
from hitl_pipeline.model import Score
from hitl_pipeline.report.dataset import export_dataset, parse_condition, read_jsonl
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from hitl_pipeline.spec import load_spec_text
from tests.report.langfuse_extras import InteropFake

SPEC = load_spec_text(
    """
version: 1
campaign: golden
title: Golden
target: trace
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
questions:
  - score: support_quality
    type: categorical
    categories:
      - {label: excellent, value: 2}
      - {label: acceptable, value: 1}
      - {label: poor, value: 0}
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
  - score: better_answer
    type: correction
    required: false
review: {reviewers_per_item: 3}
consensus: {enabled: true}
""",
    "specs/golden.yaml",
)
DEMO = generate_demo(seed=0, traces=60)
TRACES = [t for t in DEMO.traces if t.name == "support-chat"][:5]
T0 = datetime(2026, 11, 2, tzinfo=UTC)
# trace index → reviewer → (quality, helpfulness)
ANSWERS = {
    0: {"ann": ("excellent", 5), "bob": ("excellent", 4), "cy": ("excellent", 5)},  # excellent
    1: {"ann": ("excellent", 5), "bob": ("excellent", 5), "cy": ("poor", 5)},  # excellent by 2 of 3
    2: {"ann": ("poor", 1), "bob": ("acceptable", 2), "cy": ("excellent", 3)},  # tie: no consensus
    3: {"ann": ("acceptable", 3), "bob": ("acceptable", 3), "cy": ("acceptable", 3)},  # acceptable
    4: {"ann": ("excellent", 1), "bob": ("excellent", 5), "cy": ("excellent", 3)},  # helpfulness spread 1.0
}


def _scores() -> list[Score]:
    out: list[Score] = []
    for i, by in ANSWERS.items():
        t = TRACES[i]
        for j, (reviewer, (quality, helpful)) in enumerate(by.items()):
            md = {"hitl_campaign": "golden", "hitl_reviewer": reviewer, "hitl_spec_version": 1}
            at = T0 + timedelta(minutes=i, seconds=j)
            out.append(
                Score(
                    id=f"q{i}{j}",
                    name="support_quality",
                    value=quality,
                    string_value=quality,
                    data_type="CATEGORICAL",
                    timestamp=at,
                    trace_id=t.id,
                    metadata=md,
                    source="ANNOTATION",
                )
            )
            out.append(
                Score(
                    id=f"h{i}{j}",
                    name="helpfulness",
                    value=float(helpful),
                    data_type="NUMERIC",
                    timestamp=at,
                    trace_id=t.id,
                    metadata=md,
                    source="ANNOTATION",
                )
            )
    # Item 0 has a correction; item 4's dispute was settled by an adjudicator (a stored consensus).
    md0 = {"hitl_campaign": "golden", "hitl_reviewer": "bob", "hitl_spec_version": 1}
    out.append(
        Score(
            id="c0",
            name="better_answer",
            value="A better answer.",
            string_value="A better answer.",
            data_type="CORRECTION",
            timestamp=T0 + timedelta(hours=1),
            trace_id=TRACES[0].id,
            metadata=md0,
        )
    )
    adj = {
        "hitl_campaign": "golden",
        "hitl_reviewer": "judge",
        "hitl_spec_version": 1,
        "hitl_consensus": True,
        "hitl_consensus_method": "adjudicated",
    }
    out.append(
        Score(
            id="a4q",
            name="support_quality",
            value="excellent",
            string_value="excellent",
            data_type="CATEGORICAL",
            timestamp=T0 + timedelta(hours=2),
            trace_id=TRACES[4].id,
            metadata=adj,
        )
    )
    out.append(
        Score(
            id="a4h",
            name="helpfulness",
            value=3.0,
            data_type="NUMERIC",
            timestamp=T0 + timedelta(hours=2),
            trace_id=TRACES[4].id,
            metadata=adj,
        )
    )
    return out


def test_parse_condition() -> None:
    c = parse_condition("support_quality = excellent", SPEC)
    assert (c.question, c.op, c.value) == ("support_quality", "=", "excellent")
    assert parse_condition("helpfulness>=4", SPEC).op == ">="
    for bad in ("nonsense", "nope=1", "support_quality=great", "better_answer=x"):
        with pytest.raises(ConfigError):
            parse_condition(bad, SPEC)


def test_conditions_that_could_never_mean_what_they_say_are_refused() -> None:
    spec = load_spec_text(
        """
version: 1
campaign: golden-bool
title: Golden
target: trace
source:
  filters: {trace_name: support-chat}
questions:
  - score: support_quality
    type: categorical
    categories: [{label: excellent, value: 2}, {label: poor, value: 0}]
  - {score: helpfulness, type: numeric, min: 1, max: 5}
  - {score: factually_correct, type: boolean}
""",
        "specs/golden-bool.yaml",
    )
    assert parse_condition("factually_correct=no", spec).holds(spec.question("factually_correct"), False)
    assert parse_condition("factually_correct!=yes", spec).holds(spec.question("factually_correct"), False)
    assert parse_condition("support_quality>=poor", spec).op == ">="
    assert parse_condition("support_quality>1", spec).op == ">"
    # A typo in a yes/no value used to mean "no", and ordering ops or non-numbers matched nothing.
    for bad in (
        "factually_correct=ye",
        "factually_correct>yes",
        "helpfulness>=high",
        "support_quality>=great",
    ):
        with pytest.raises(ConfigError, match="--where"):
            parse_condition(bad, spec)


def _expected_keys(*indexes: int) -> list[str]:
    return sorted(f"trace:{TRACES[i].id}" for i in indexes)


def test_local_jsonl_export(tmp_path: Path) -> None:
    with InteropFake() as fake:  # any Source works; the fake is just a convenient store of scores
        fake.load_demo(DEMO)
        for s in _scores():
            fake.add_score(s)
        source = LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
        try:
            out = tmp_path / "golden.jsonl"
            done = export_dataset(
                SPEC,
                source,
                "golden",
                [parse_condition("support_quality=excellent", SPEC)],
                home=tmp_path,
                output=out,
            )
        finally:
            source.close()
    rows = read_jsonl(out)
    # 0 and 1 by majority, 4 by the adjudicator; 2 (tie) and 3 (acceptable) are out.
    assert sorted(r["metadata"]["hitl_item"] for r in rows) == _expected_keys(0, 1, 4)
    assert done.considered == 4 and done.target == str(out)
    by_trace = {r["sourceTraceId"]: r for r in rows}
    first = by_trace[TRACES[0].id]
    assert first["input"] == TRACES[0].input and first["expectedOutput"] == "A better answer."
    assert first["metadata"]["hitl_corrected"] is True
    second = by_trace[TRACES[1].id]
    assert second["expectedOutput"] == TRACES[1].output and second["metadata"]["hitl_consensus"] == {
        "support_quality": "excellent",
        "helpfulness": 5.0,
    }
    assert by_trace[TRACES[4].id]["metadata"]["hitl_consensus"]["helpfulness"] == 3.0


def test_langfuse_dataset_export_is_idempotent(tmp_path: Path) -> None:
    with InteropFake() as fake:
        fake.load_demo(DEMO)
        for s in _scores():
            fake.add_score(s)
        source = LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
        try:
            cond = [parse_condition("helpfulness>=3", SPEC)]
            first = export_dataset(SPEC, source, "golden-helpful", cond, home=tmp_path)
            again = export_dataset(SPEC, source, "golden-helpful", cond, home=tmp_path)
        finally:
            source.close()
        assert first.target == "golden-helpful" and [r.id for r in first.rows] == [r.id for r in again.rows]
        assert list(fake.datasets) == ["golden-helpful"]
        items = list(fake.dataset_items.values())
        # helpfulness consensus (median): 5, 5, 3, 3 (adjudicated) → items 0, 1, 3, 4; 2 has no consensus.
        assert sorted(f"trace:{i['sourceTraceId']}" for i in items) == _expected_keys(0, 1, 3, 4)
        assert fake.counters["POST /api/public/dataset-items"] == 8  # 4 items, twice: upserts, no duplicates
        assert all(
            i["datasetName"] == "golden-helpful" and i["metadata"]["hitl_campaign"] == "golden" for i in items
        )


def test_a_local_export_does_not_import_the_langfuse_sdk() -> None:
    # `hitl export --source local` must not pay the SDK's ~1 s import.
    code = (
        "import sys, hitl_pipeline.report, hitl_pipeline.report.dataset, hitl_pipeline.sources.local; "
        "print('langfuse' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
