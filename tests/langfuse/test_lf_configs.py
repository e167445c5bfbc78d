"""Score configs as code (``scoring/configs.py``) on both sources: the Langfuse fake and the local store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.errors import ConfigError, SourceError
from hitl_pipeline.scoring.configs import check_configs, resolve_configs
from hitl_pipeline.sources.base import Source
from hitl_pipeline.sources.demo import DemoData, load_demo
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec_text

HEAD = """
version: 1
campaign: cfg-test
title: Config test
target: trace
questions:
"""


def _spec(questions: str) -> Any:
    return load_spec_text(HEAD + questions, "spec.yaml")


@pytest.fixture(params=["langfuse", "local"])
def source(
    request: pytest.FixtureRequest, make_fake: Any, source_for: Any, small_demo: DemoData, tmp_path: Path
) -> Iterator[Source]:
    if request.param == "langfuse":
        yield source_for(make_fake(mode="v4"))
    else:
        store = LocalSource(tmp_path / "local.db")
        load_demo(store, small_demo)
        yield store
        store.close()


QUALITY = """
  - score: support_quality
    type: categorical
    categories: [{label: excellent, value: 2}, {label: acceptable, value: 1}, {label: poor, value: 0}]
"""


def test_demo_spec_questions_match_their_configs(source: Source) -> None:
    spec = _spec(
        QUALITY
        + """
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
  - score: factually_correct
    type: boolean
  - score: reviewer_notes
    type: text
  - score: better_answer
    type: correction
"""
    )
    mapping = resolve_configs(spec, source)
    assert {k: v.id for k, v in mapping.items()} == {
        "support_quality": "cfg-support-quality",
        "helpfulness": "cfg-helpfulness",
        "factually_correct": "cfg-factually-correct",
        "reviewer_notes": "cfg-reviewer-notes",
    }
    rows = check_configs(spec, source)
    assert [r.status for r in rows] == ["matched"] * 4 + ["not needed"]


def test_shape_mismatch_names_each_difference(source: Source) -> None:
    spec = _spec(
        """
  - score: support_quality
    type: categorical
    categories: [excellent, poor]
  - score: helpfulness
    type: numeric
    min: 0
    max: 10
"""
    )
    with pytest.raises(ConfigError) as info:
        resolve_configs(spec, source)
    text = str(info.value)
    assert "categories" in text and "excellent=2" in text and "acceptable=1" in text
    assert "minimum: the spec says 0, the config says 1" in text
    assert "maximum: the spec says 10, the config says 5" in text
    assert "--create" in text


def test_config_id_reference_checks(source: Source) -> None:
    ok = _spec("""
  - score: helpfulness
    type: numeric
    config_id: cfg-helpfulness
""")
    assert resolve_configs(ok, source)["helpfulness"].id == "cfg-helpfulness"
    wrong_type = _spec("""
  - score: helpfulness
    type: boolean
    config_id: cfg-helpfulness
""")
    with pytest.raises(ConfigError, match="data type: the spec says BOOLEAN, the config is NUMERIC"):
        resolve_configs(wrong_type, source)
    wrong_name = _spec("""
  - score: helpful
    type: numeric
    config_id: cfg-helpfulness
""")
    with pytest.raises(ConfigError, match="named 'helpfulness'"):
        resolve_configs(wrong_name, source)
    missing = _spec("""
  - score: helpfulness
    type: numeric
    config_id: cfg-nope
""")
    with pytest.raises(ConfigError, match="'cfg-nope' does not exist"):
        resolve_configs(missing, source)


def test_create_makes_the_missing_config_once(source: Source) -> None:
    spec = _spec("""
  - score: tone
    type: categorical
    categories: [friendly, neutral, rude]
    description: Tone of the answer
""")
    with pytest.raises(ConfigError, match="--create"):
        resolve_configs(spec, source)
    rows = check_configs(spec, source, create=True)
    assert rows[0].status == "created" and rows[0].config is not None
    assert rows[0].config.categories == (("friendly", 0.0), ("neutral", 1.0), ("rude", 2.0))
    again = check_configs(spec, source, create=True)
    assert again[0].status == "matched" and again[0].config_id == rows[0].config_id
    assert len([c for c in source.list_score_configs() if c.name == "tone"]) == 1


def test_ambiguous_names_are_an_error_listing_ids(source: Source) -> None:
    a = source.create_score_config("verdict", "BOOLEAN")
    b = source.create_score_config("verdict", "BOOLEAN")
    spec = _spec("""
  - score: verdict
    type: boolean
""")
    with pytest.raises(ConfigError) as info:
        resolve_configs(spec, source, create=True)
    assert a.id in str(info.value) and b.id in str(info.value) and "config_id" in str(info.value)


def test_archived_configs_do_not_match(source: Source, make_fake: Any) -> None:
    cfg = source.create_score_config("old_metric", "NUMERIC", min_value=0, max_value=1)
    _archive(source, cfg.id)
    inline = _spec("""
  - score: old_metric
    type: numeric
    min: 0
    max: 1
""")
    rows = check_configs(inline, source)
    assert rows[0].status == "error" and any("archived" in p for p in rows[0].problems)
    by_id = _spec(f"""
  - score: old_metric
    type: numeric
    config_id: {cfg.id}
""")
    with pytest.raises(ConfigError, match="archived"):
        resolve_configs(by_id, source)


def test_create_changes_nothing_when_another_question_is_broken(source: Source) -> None:
    spec = _spec("""
  - score: brand_new
    type: boolean
  - score: helpfulness
    type: numeric
    config_id: cfg-nope
""")
    rows = check_configs(spec, source, create=True)
    assert [r.status for r in rows] == ["error", "error"]
    assert not [c for c in source.list_score_configs() if c.name == "brand_new"]


def _archive(source: Source, config_id: str) -> None:
    from hitl_pipeline.sources.langfuse import LangfuseSource

    if isinstance(source, LangfuseSource):
        r = source.http.request(
            "PATCH", f"/api/public/score-configs/{config_id}", json_body={"isArchived": True}, retries=0
        )
        assert r.status_code == 200
    else:
        with source.transaction() as tx:
            tx.execute("UPDATE score_configs SET is_archived = 1 WHERE id = ?", (config_id,))


def test_both_sources_refuse_an_invalid_config_alike_and_langfuse_sends_nothing(
    make_fake: Any, source_for: Any, tmp_path: Path
) -> None:
    fake = make_fake(mode="v4", load=False)
    langfuse = source_for(fake)
    langfuse.probe()
    local = LocalSource(tmp_path / "local.db")
    bad = dict(name="bad/name", data_type="CATEGORICAL", categories=[("a", 0), ("a", 1)])
    messages = []
    for src in (langfuse, local):
        with pytest.raises(SourceError) as info:
            src.create_score_config(**bad)
        messages.append(str(info.value))
    local.close()
    assert messages[0] == messages[1]
    assert "'bad/name'" in messages[0] and "category labels must be unique" in messages[0]
    assert fake.counters["POST /api/public/score-configs"] == 0
