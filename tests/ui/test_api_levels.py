"""The form's API on observation and session targets (the bundled example specs), corrections,
and the other reviewers' answers when review is not blind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ui_support import running

from hitl_pipeline.spec import load_spec, load_spec_text
from hitl_pipeline.ui.api import PANEL_SLOTS
from hitl_pipeline.ui.client import FormClient, FormError


def test_observation_target_with_correction(demo_db: Path, tmp_path: Path, repo_root: Path) -> None:
    spec = load_spec(repo_root / "specs" / "tool_calls.yaml")
    with running(spec, demo_db, tmp_path / "hitl", reviewer="obs") as (handle, service):
        with FormClient(handle.url, spec) as form:
            screen = form.load()
            key = screen.item_key
            assert key and key.startswith("observation:")
            item = service.item(key)
            assert item.observation is not None and item.trace is not None
            form.new_tab()  # a fresh tab gets every panel's label and visibility
            raw = dict(zip(form.names, form.call("load"), strict=True))
            assert raw["item_key"] == key
            # The tool call's own input and output (marked under review), the generation that made
            # the call, and the trace's input as context.
            labels = [raw[f"{kind}_{i}"] for i in range(PANEL_SLOTS) for kind in ("chat", "json", "text")]
            titles = " | ".join(str(v.get("label", "")) for v in labels if isinstance(v, dict))
            assert "Context: input of trace" in titles and "TOOL input" in titles and "TOOL output" in titles
            assert "▶ TOOL output · under review" in titles
            assert "Output of the generation that made this call: generate-answer" in titles
            original = screen.answers["tool_output"]
            assert original and json.loads(original) == item.observation.output  # prefilled, editable JSON
            assert "obs" in form.progress()
            metadata = raw["metadata"]["value"]
            assert (
                set(metadata) <= {"topic", "language"} and metadata
            )  # the trace's metadata, as the spec asks
            with pytest.raises(FormError, match="comment is required"):
                form.submit({"tool_call_correct": "correct"})
            # The output unchanged: no correction is sent, even though the question was shown.
            nxt = form.submit({"tool_call_correct": "incorrect", "tool_output": original}, comment="wrong id")
            stored = service.state.review(key, "obs")
            assert stored is not None and "tool_output" not in stored.answers
            # A changed output is sent as the correction.
            second = nxt.item_key
            edited = (
                original.replace("}", ', "note": "fixed"}', 1)
                if original.endswith("}")
                else original + " (fixed)"
            )
            form.submit({"tool_call_correct": "minor_issues", "tool_output": edited}, comment="sloppy")
            stored2 = service.state.review(second or "", "obs")
            assert stored2 is not None and stored2.answers["tool_output"] == edited


def test_session_target_turn_by_turn(demo_db: Path, tmp_path: Path, repo_root: Path) -> None:
    spec = load_spec(repo_root / "specs" / "session_resolution.yaml")
    with running(spec, demo_db, tmp_path / "hitl", reviewer="alice") as (handle, service):
        with FormClient(handle.url, spec) as form:
            screen = form.load()
            key = screen.item_key
            assert key and key.startswith("session:")
            session = service.item(key).session
            assert session is not None
            chat = screen.values["chat_0"]
            messages = chat["value"] if isinstance(chat, dict) else chat
            text = json.dumps(messages, ensure_ascii=False)
            for n, trace in enumerate(sorted(session.traces, key=lambda t: t.timestamp), start=1):
                assert f"Turn {n}" in text and trace.id in text
            nxt = form.submit({"issue_resolved": "no", "support_quality": "poor"})
            assert nxt.item_key != key
            stored = service.state.review(key, "alice")
            assert stored is not None and stored.answers == {
                "issue_resolved": False,
                "support_quality": "poor",
            }


def test_open_review_shows_the_other_answers(demo_db: Path, tmp_path: Path) -> None:
    spec = load_spec_text(
        """
version: 1
campaign: ui-open-review
title: Open review
target: trace
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 1, strategy: latest}
questions:
  - {score: factually_correct, type: boolean}
comment: optional
review: {reviewers_per_item: 2, blind: false}
""",
        "<open>",
    )
    from hitl_pipeline.ui.auth import ReviewerAccounts

    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    accounts.add("ann", "ann-password")
    accounts.add("ben", "ben-password")
    with running(spec, demo_db, tmp_path / "hitl", auth=accounts) as (handle, _):
        with FormClient(handle.url, spec, username="ann", password="ann-password") as ann:
            ann.load()
            ann.submit({"factually_correct": "no"}, comment="made up a refund rule")
        with FormClient(handle.url, spec, username="ben", password="ben-password") as ben:
            raw = dict(zip(ben.names, ben.call("load"), strict=True))
            assert raw["others"]["visible"] is True
            assert raw["others"]["value"]["data"] == [["ann", "no", "made up a refund rule"]]


def test_the_end_screen_has_no_active_submit_or_skip(demo_db: Path, tmp_path: Path) -> None:
    from ui_support import GOOD, trace_spec

    spec = trace_spec("ui-end", size=1)
    with running(spec, demo_db, tmp_path / "hitl", reviewer="solo") as (handle, _):
        with FormClient(handle.url, spec) as form:
            form.load()
            form.submit(GOOD)
            form.new_tab()  # a fresh tab: every prop is sent
            raw = dict(zip(form.names, form.call("load"), strict=True))
            assert raw["item_key"] == "" and "Nothing left" in raw["done_text"]
            assert raw["submit_button"]["interactive"] is False and raw["skip_button"]["interactive"] is False
            assert raw["questions_box"]["visible"] is False and raw["done_box"]["visible"] is True
