"""What `hitl run` says: which filter emptied a queue (counted in the real demo store), where answers
go, what is left unsent; an empty new queue creates no campaign state; the starter selects demo items."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hitl_pipeline.campaign.lifecycle import campaign_db_path, dry_run, open_campaign
from hitl_pipeline.campaign.startup import (
    EmptyQueueError,
    destination,
    explain_empty,
    filter_steps,
    unsent_summary,
)
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec_text
from hitl_pipeline.spec.model import Filters
from hitl_pipeline.spec.starter import starter_text
from tests.campaign.campaign_support import DEMO_NOW, demo_configs, make_spec

#: Today, in the story of the issue: the demo data (October 2026) is older than 30 days.
DECEMBER = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_window_that_misses_the_data_is_named_with_the_newest_item(store: LocalSource) -> None:
    spec = make_spec(window=("-30d", "now"))
    steps = filter_steps(spec, store, DECEMBER)
    assert [s.label.split(" ")[0] for s in steps] == ["every", "time"]  # stops where nothing is left
    every = Filters(time_from="1970-01-01", time_to="2100-01-01")
    total = sum(1 for _ in store.iter_candidates("trace", every, now=DECEMBER))
    assert steps[0].count == total > 0 and steps[1].count == 0
    lines = explain_empty(spec, store, DECEMBER)
    assert lines[0] == "No trace matches the spec's filters. Traces left after each filter:"
    assert "time window from -30d to now = [2026-11-05 12:00, 2026-12-05 12:00) UTC" in lines[2]
    assert lines[2].endswith("0   ← emptied the queue") and "←" not in lines[1]
    assert steps[0].newest is not None and steps[0].newest.year == 2026 and steps[0].newest.month == 10
    assert lines[-1] == (
        f"Change source.filters.from / to in <test>: the newest trace is from "
        f'{steps[0].newest:%Y-%m-%d %H:%M} UTC (e.g. from: "2026-10-01").'
    )


def test_each_filter_is_a_step_and_the_one_that_empties_the_queue_is_named(store: LocalSource) -> None:
    spec = make_spec(
        filters="    trace_name: support-chat\n    tags: [no-such-tag]\n    environment: production\n"
    )
    steps = filter_steps(spec, store, DEMO_NOW, stop_at_zero=False)
    labels = [s.label for s in steps]
    assert labels[2:] == ["trace_name: support-chat", "tags: no-such-tag", "environment: production"]
    counts = [s.count for s in steps]
    assert counts[0] >= counts[1] >= counts[2] > 0 and counts[3] == counts[4] == 0
    # Each count is the source's own query with the filters so far: the last step is the spec's.
    assert counts[2] == sum(1 for _ in store.iter_candidates("trace", make_spec().filters, now=DEMO_NOW))
    lines = explain_empty(spec, store, DEMO_NOW)
    assert "tags: no-such-tag" in lines[-2] and lines[-2].endswith("← emptied the queue")
    assert lines[-1] == "Change or remove source.filters.tags in <test>."


def test_counts_stop_at_the_cap(store: LocalSource) -> None:
    steps = filter_steps(make_spec(), store, DEMO_NOW, cap=5)
    assert all(s.capped and s.count == 5 and s.shown == "5+" for s in steps)


def test_an_empty_new_queue_is_refused_and_creates_no_state(store: LocalSource, home: Path) -> None:
    spec = make_spec(window=("-30d", "now"))
    configs = demo_configs(store, spec)
    with pytest.raises(EmptyQueueError) as err:
        open_campaign(spec, store, home=home, now=DECEMBER, configs=configs, start=False, allow_empty=False)
    assert "← emptied the queue" in str(err.value) and "time window from -30d" in str(err.value)
    assert not campaign_db_path(home, spec.campaign).exists()
    # Fixing the window is then no "change of meaning" for a campaign that never existed.
    fixed = make_spec()
    service = open_campaign(
        fixed, store, home=home, now=DEMO_NOW, configs=configs, start=False, allow_empty=False
    )
    try:
        assert service.state.counts(1).items == 10
    finally:
        service.close()


def test_the_starter_spec_selects_demo_items(store: LocalSource) -> None:
    spec = load_spec_text(starter_text(), "review.yaml")
    plan = dry_run(spec, store, DECEMBER)
    assert len(plan) == spec.sample.size and plan.candidates > len(plan)


def test_destination_names_the_store_or_the_langfuse_project(store: LocalSource) -> None:
    assert destination(store) == f"the local store {store.path}"

    class Remote:
        host = "https://langfuse.example"

        def project_id(self) -> str | None:
            return "proj-1"

    assert destination(Remote()) == "Langfuse at https://langfuse.example, project proj-1"  # type: ignore[arg-type]


def test_the_stop_line_counts_what_is_really_left() -> None:
    nothing = {"pending": 0, "sent": 0, "confirmed": 7, "failed": 0, "dropped": 0}
    assert unsent_summary(nothing, "s.yaml") == (
        "Stopped. Every score is saved in the source (7 confirmed); nothing is left to send."
    )
    left = {"pending": 2, "sent": 1, "confirmed": 4, "failed": 1, "dropped": 0}
    assert unsent_summary(left, "s.yaml") == (
        "Stopped. 4 score(s) confirmed; 2 not sent yet, 1 failed, 1 sent but not visible yet — they stay "
        "in the campaign's outbox: `hitl sync s.yaml` sends and confirms them."
    )
    sent_only = {"pending": 0, "sent": 3, "confirmed": 0, "failed": 0, "dropped": 0}
    assert unsent_summary(sent_only, "s.yaml").endswith(
        "3 sent but not visible yet — `hitl sync s.yaml` confirms them."
    )
