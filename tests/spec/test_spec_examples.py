"""The example specs agree with the demo store's score configs (name, type, categories, range), so
`hitl run specs/….yaml` on the demo store writes scores its configs accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_pipeline.model import ScoreConfig
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.demo_pairwise import generate_pairwise_demo
from hitl_pipeline.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def configs() -> dict[str, ScoreConfig]:
    # The demo store holds both demos' configs: the single-item one and the pair campaign's.
    pairwise = generate_pairwise_demo().score_configs
    return {c.name: c for c in [*generate_demo(seed=0, traces=20).score_configs, *pairwise]}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_questions_match_the_demo_score_configs(path: Path, configs: dict[str, ScoreConfig]) -> None:
    spec = load_spec(path)
    for q in spec.questions:
        if q.type == "correction":
            assert q.config_id is None
            continue
        config = configs.get(q.score)
        assert config is not None, f"{path.name}: no demo score config named {q.score!r}"
        assert config.data_type == q.data_type
        if q.config_id is not None:
            assert q.config_id == config.id
        if q.categories:
            assert {c.label: c.value for c in q.categories} == dict(config.categories)
        if q.type == "numeric":
            assert (q.min, q.max) == (config.min_value, config.max_value)
