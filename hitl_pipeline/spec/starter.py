"""The commented starter spec ``hitl init`` writes (it validates as written; a test checks it)."""

from __future__ import annotations

from pathlib import Path

from hitl_pipeline.errors import ConfigError

STARTER_SPEC = """\
# yaml-language-server: $schema=review-spec.schema.json
# (editor completion: save the schema next to this file with `hitl schema > review-spec.schema.json`)
# A review campaign as code. Check it with:  hitl validate __NAME__
# Create its score configs (once):           hitl configs sync __NAME__ --create
# Run it with:                                hitl run __NAME__
# Every key is described in the README's spec reference (or run `hitl schema`).

version: 1
# Stable id: goes into every score's metadata and into deterministic score ids.
# Change it only to start a new campaign.
campaign: my-review
title: Review of support answers
# What one review item is: trace | observation | session
target: trace
guidelines: |
  Read the user's question and the answer. Rate the answer as a whole.

source:
  filters:
    # Lists mean "any of"; tags means "all of". Times: ISO dates, now, or -30m/-12h/-7d/-2w.
    # These dates select the bundled demo data (October 2026); for your own traces use e.g.
    # from: "-30d" and to: now (`hitl run __NAME__ --dry-run` shows what a spec selects).
    trace_name: support-chat
    environment: production
    from: "2026-10-01"
    to: "2026-11-01"
    # metadata: {topic: billing}
    # tags: [escalated]
    # scores: [{name: llm_judge_helpfulness, op: "<", value: 0.5}]
  sample:
    size: 50
    strategy: random   # random | latest | stratified (with by: metadata.<key>)
    seed: 1            # same spec + same data = same items, in the same order

display:
  parts: [input, output, metadata, tree]

# One question per Langfuse score. The score config is declared inline (or use config_id).
questions:
  - score: answer_quality
    type: categorical
    label: How good is the answer?
    categories: [good, acceptable, bad]   # values 0, 1, 2; or {label: good, value: 2}
  - score: answer_correct
    type: boolean
    label: Is the answer factually correct?
  - score: answer_fix
    type: text
    label: What should it have said?
    required: false
    when: {question: answer_quality, equals: bad}

comment: optional   # off | optional | required

review:
  reviewers_per_item: 1
  allow_skip: true
"""


def starter_text(name: str = "review.yaml") -> str:
    """The starter spec, mentioning ``name`` in its usage comments."""
    return STARTER_SPEC.replace("__NAME__", name)


def write_starter(path: str | Path, *, force: bool = False) -> Path:
    """Write the starter spec to ``path`` (parent folders are created) and return the path.

    Raises:
        ConfigError: the file exists and ``force`` is false, or it cannot be written.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{target} is a directory; give a file name, e.g. {target / 'review.yaml'}")
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; choose another path or pass --force to overwrite it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(starter_text(str(target)), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
