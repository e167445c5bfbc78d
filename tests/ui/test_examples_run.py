"""Every example spec runs out of the box: served as `hitl run SPEC` serves it, for the default
single user (no --reviewer, no accounts), on the demo store, it opens an item to review."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hitl_pipeline.errors import ConfigError
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec, load_spec_text
from hitl_pipeline.ui.client import FormClient
from hitl_pipeline.ui.run import Serving, serve_campaign

EXAMPLES = ("support_qa.yaml", "tool_calls.yaml", "session_resolution.yaml")


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_spec_serves_an_item_to_the_default_user(
    name: str, demo_db: Path, tmp_path: Path, repo_root: Path
) -> None:
    spec = load_spec(repo_root / "specs" / name)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_db, home / "local.db")
    seen: dict[str, object] = {}

    def ready(serving: Serving) -> None:
        seen["serving"] = serving
        with FormClient(serving.url, spec) as form:
            seen["item"] = form.load().item_key

    serve_campaign(spec, lambda: LocalSource(home / "local.db"), home=home, on_ready=ready, block=False)
    serving = seen["serving"]
    assert isinstance(serving, Serving)
    assert "single user, no login" in serving.access
    assert isinstance(seen["item"], str) and seen["item"].startswith(f"{spec.target}:")
    assert serving.items == spec.sample.size  # the demo data has more than enough of each
    assert serving.reviews_left == serving.items * spec.review.reviewers_per_item
    assert serving.destination == f"the local store {home / 'local.db'}"


def test_a_single_user_the_spec_does_not_list_is_told_how_to_run_it(demo_db: Path, tmp_path: Path) -> None:
    spec = load_spec_text(
        """
version: 1
campaign: listed-only
title: Listed reviewers only
target: trace
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 2}
questions:
  - {score: factually_correct, type: boolean}
review: {reviewers_per_item: 1, reviewers: [alice, bob]}
""",
        "listed.yaml",
    )
    opened: list[str] = []

    def source() -> LocalSource:
        opened.append("source")
        return LocalSource(demo_db)

    with pytest.raises(ConfigError) as err:
        serve_campaign(spec, source, home=tmp_path, reviewer="mallory", block=False)
    assert str(err.value) == (
        "listed.yaml lets only alice, bob review (review.reviewers), and this single-user form would review "
        "as 'mallory': run it as one of them (--reviewer alice), or add reviewer accounts "
        "(hitl reviewers add NAME) so that each reviewer logs in"
    )
    assert opened == [] and not (tmp_path / "campaigns").exists()  # refused before anything was opened
