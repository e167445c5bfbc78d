"""Pairing the two arms of a pair campaign: by metadata key, dataset item and input hash; unmatched
traces counted and listed; seeded sides."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hitl_pipeline.campaign.lifecycle import dry_run
from hitl_pipeline.campaign.pairs import normalised_input, pair_candidates
from hitl_pipeline.cli import app
from hitl_pipeline.errors import SpecError
from hitl_pipeline.model.pairs import left_arm, pair_traces
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec_text
from tests.pairwise.pair_support import NOW, pair_spec


def _traces(store: LocalSource) -> dict[str, object]:
    item_traces = {}
    for ref in store.iter_candidates("trace", pair_spec().pair.a.filters, now=NOW):  # type: ignore[union-attr]
        item_traces[ref.id] = store.get_item(ref).trace
    for ref in store.iter_candidates("trace", pair_spec().pair.b.filters, now=NOW):  # type: ignore[union-attr]
        item_traces[ref.id] = store.get_item(ref).trace
    return item_traces


@pytest.mark.parametrize("match", ["metadata.question_id", "dataset_item", "input"])
def test_arms_pair_by_each_key_with_one_unmatched_trace_per_arm(pair_store: LocalSource, match: str) -> None:
    spec = pair_spec(match=match)
    pairing = pair_candidates(spec, pair_store, now=NOW)
    traces = _traces(pair_store)
    assert (pairing.candidates_a, pairing.candidates_b) == (30, 30)
    assert len(pairing.pairs) == 29
    for ref in pairing.pairs:
        (a, _), (b, _) = pair_traces(ref.id)
        ta, tb = traces[a], traces[b]
        assert ta.version == "prompt-v1" and tb.version == "prompt-v2"  # type: ignore[attr-defined]
        assert ta.metadata["question_id"] == tb.metadata["question_id"]  # type: ignore[attr-defined]
        assert ref.trace_id == b and ref.kind == "pair"
        assert ref.stratum == ta.metadata["topic"]  # type: ignore[attr-defined]
    assert pairing.counts() == {("a", "no partner"): 1, ("b", "no partner"): 1}
    lone = {u.arm: traces[u.trace_id].metadata["question_id"] for u in pairing.unmatched}  # type: ignore[attr-defined]
    assert lone == {"a": "q-returns-en-04", "b": "q-extra-en-01"}


def test_input_hash_normalises_white_space_and_key_order() -> None:
    a = {"messages": [{"role": "user", "content": "Where is  my order?\n"}]}
    b = {"messages": [{"content": "Where is my order?", "role": "user"}]}
    assert normalised_input(a) == normalised_input(b)
    assert normalised_input(a) != normalised_input(
        {"messages": [{"role": "user", "content": "Where is my parcel?"}]}
    )


def test_duplicates_and_traces_without_a_key_are_counted(pair_store: LocalSource) -> None:
    spec = pair_spec()
    traces = _traces(pair_store)
    b_trace = next(
        t
        for t in traces.values()
        if t.version == "prompt-v2" and t.metadata["question_id"] == "q-billing-en-01"
    )  # type: ignore[attr-defined]
    newer = replace(b_trace, id="b-rerun", timestamp=b_trace.timestamp + timedelta(hours=1), observations=())  # type: ignore[type-var]
    keyless = replace(b_trace, id="b-nokey", metadata={"topic": "billing"}, observations=())  # type: ignore[type-var]
    pair_store.insert_traces([newer, keyless])
    pairing = pair_candidates(spec, pair_store, now=NOW)
    assert pairing.counts() == {
        ("a", "no partner"): 1,
        ("b", "no partner"): 1,
        ("b", "duplicate"): 1,
        ("b", "no key"): 1,
    }
    dup = next(u for u in pairing.unmatched if u.reason == "duplicate")
    assert dup.trace_id == b_trace.id  # type: ignore[attr-defined]  # the newest trace of a key is paired
    assert any(pair_traces(r.id)[1][0] == "b-rerun" for r in pairing.pairs)


def test_sampling_and_sides_are_seeded(pair_store: LocalSource) -> None:
    first = dry_run(pair_spec(size=20, seed=11), pair_store, NOW)
    again = dry_run(pair_spec(size=20, seed=11), pair_store, NOW)
    other = dry_run(pair_spec(size=20, seed=12), pair_store, NOW)
    assert first.keys == again.keys and len(first) == 20
    assert first.keys != other.keys
    sides = [left_arm(11, k) for k in first.keys]
    assert sides == [left_arm(11, k) for k in again.keys]
    assert 5 <= Counter(sides)["b"] <= 15  # about half the pairs show arm B on the left
    every = dry_run(pair_spec(size=40, seed=11), pair_store, NOW).keys
    assert [left_arm(11, k) for k in every] != [left_arm(12, k) for k in every]


def test_dry_run_lists_unmatched_traces(pair_store: LocalSource, tmp_path: Path) -> None:
    spec_path = tmp_path / "pair.yaml"
    spec_path.write_text(Path("specs/pairwise_release.yaml").read_text().replace("$schema=../", "$schema="))
    home = tmp_path / "home"
    home.mkdir()
    pair_store.checkpoint()
    import shutil

    shutil.copy(pair_store.path, home / "local.db")
    result = CliRunner().invoke(
        app, ["run", str(spec_path), "--dry-run", "--source", "local", "--home", str(home)]
    )
    assert result.exit_code == 0, result.output
    assert "Queue: 29 of 29 matching pairs" in result.output
    assert "Unmatched: 2 (arm A no partner: 1, arm B no partner: 1)" in result.output
    assert "metadata.question_id=q-returns-en-04  no partner" in result.output
    assert "metadata.question_id=q-extra-en-01  no partner" in result.output


BAD = """\
version: 1
campaign: bad
title: Bad
target: {target}
{pair}
questions:
  - score: pref
    type: preference
    categories: [x, y]
  - score: quality
    type: numeric
    min: 1
    max: 5
    both_bad: true
gates:
  - {{metric: win_rate, question: quality, min: 0.5}}
"""


def test_located_errors() -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(BAD.format(target="trace", pair=""), "bad.yaml")
    text = str(err.value)
    assert (
        "bad.yaml:8:11: questions[0].type: preference questions compare two outputs: they need target: pair"
        in text
    )
    assert "bad.yaml:14:5: questions[1].both_bad: 'both_bad' only applies to type: preference" in text
    assert "bad.yaml:16:14: gates[0].metric: a win_rate gate needs target: pair" in text
    pair = "pair:\n  arms: {a: {filters: {version: v1}}, b: {filters: {version: v1}}}\n  match: input"
    with pytest.raises(SpecError) as err:
        load_spec_text(BAD.format(target="pair", pair=pair), "bad.yaml")
    text = str(err.value)
    assert (
        "questions[0].categories: 'categories' is only for categorical questions (this one is preference)"
        in text
    )
    assert "bad.yaml:13:11: questions[1].type: target: pair asks preference questions" in text
    assert "pair.arms.b: arms a and b select the same traces" in text
    assert "gates[0].question: no preference question writes score 'quality'" in text
    with pytest.raises(SpecError) as err:
        load_spec_text(BAD.format(target="pair", pair="").replace("    categories: [x, y]\n", ""), "bad.yaml")
    assert "bad.yaml:4:9: target: target: pair needs a 'pair' section" in str(err.value)
    when = BAD.format(target="pair", pair=pair).replace(
        "    categories: [x, y]\n", "    when: {question: quality, equals: 1}\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec_text(when, "bad.yaml")
    assert "questions[0].when: a preference question has no 'when'" in str(err.value)


def test_no_pair_is_explained(pair_store: LocalSource, home: Path) -> None:
    from hitl_pipeline.campaign.lifecycle import open_campaign
    from hitl_pipeline.errors import HitlError

    text = Path("specs/pairwise_release.yaml").read_text().replace("version: prompt-v2", "version: prompt-v9")
    spec = load_spec_text(text, "x.yaml")
    with pytest.raises(HitlError) as err:
        open_campaign(spec, pair_store, home=home, now=NOW, start=False, worker=False, allow_empty=False)
    message = str(err.value)
    assert "No pair matches the spec's arms" in message
    assert "arm A (prompt v1) 30 traces, arm B (prompt v2) 0 traces" in message
    assert "Unmatched: 30 (arm A no partner: 30)" in message
