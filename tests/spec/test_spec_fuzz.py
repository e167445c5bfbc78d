"""Fuzz: hostile values put into valid specs (YAML tags, huge and tiny numbers, extreme times, huge
sizes). Whatever comes in, loading either succeeds, and then what `hitl run` does with a spec works
too (time window, score configs, spec diff), or raises a SpecError whose every issue is located.

Bounded for CI (``HITL_FUZZ_EXAMPLES``, default 150 examples per test); `scripts/fuzz_inputs.py`
runs the same properties for longer.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitl_pipeline.errors import HitlError, SpecError
from hitl_pipeline.scoring.configs import check_configs
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec_text
from hitl_pipeline.spec.diff import diff_specs
from hitl_pipeline.spec.loader import MAX_SPEC_CHARS

REPO = Path(__file__).resolve().parents[2]
TEXTS = [p.read_text(encoding="utf-8") for p in sorted((REPO / "specs").glob("*.yaml"))]
ORIGINALS = [load_spec_text(t, "original.yaml") for t in TEXTS]
EXAMPLES = int(os.environ.get("HITL_FUZZ_EXAMPLES", "150"))
#: `key: value` lines whose value is a plain or quoted scalar (not a nested block).
SCALAR_LINE = re.compile(r"^(\s*(?:- )?[A-Za-z_]+: )(?![|>]\s*$)(\S.*)$", re.MULTILINE)

TAGS = [
    "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!set", "!!omap",
    "!!pairs", "!!seq", "!!map", "!!merge", "!!value", "!!yaml", "!!python/object:os.system",
    "!!python/object/apply:os.system", "!!python/name:os.system", "!foo", "!", "!<tag:yaml.org,2002:int>",
]  # fmt: skip

digits = st.integers(0, 5000).map(lambda n: "1" + "0" * n)
huge_ints = st.tuples(st.sampled_from(["", "-", "+"]), digits).map("".join)
ints = st.integers(-(2**70), 2**70).map(str)
floats = st.builds(
    lambda sign, whole, frac, exp_sign, exp: f"{sign}{whole}.{frac}e{exp_sign}{exp}",
    st.sampled_from(["", "-", "+"]),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.sampled_from(["+", "-"]),
    st.integers(0, 1200),
)
odd_numbers = st.sampled_from(
    [".inf", "-.inf", ".nan", "1e3", "1e1000", "0x" + "f" * 30, "0o17", "0b101", "1_000", "1:30", "190:20:30.15",
     "-0", "0.0", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e+308", "9007199254740992", ""]
)  # fmt: skip
relative = st.builds(
    lambda n, unit: f'"-{n}{unit}"',
    st.integers(0, 10**30) | digits,
    st.sampled_from("mhdw"),
)
absolute = st.builds(
    lambda y, m, d, hh, mm, off: f'"{y:04d}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}{off}"',
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.sampled_from(["", "Z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59", "+2400", ".999999999Z"]),
)
dates = st.builds(lambda y: f'"{y:04d}-01-01"', st.integers(0, 9999))
sizes = st.one_of(
    st.integers(0, 200_000).map(lambda n: "x" * n),
    st.integers(0, 20_000).map(lambda n: "[" + ", ".join(["1"] * n) + "]"),
    st.integers(0, 5_000).map(lambda n: "{" + ", ".join(f"k{i}: {i}" for i in range(n)) + "}"),
    st.integers(0, 60).map(lambda n: "[" * n + "]" * n),
    st.just("x" * (MAX_SPEC_CHARS + 1)),
)
plain = huge_ints | ints | floats | odd_numbers | relative | absolute | dates
tagged = st.tuples(st.sampled_from(TAGS), plain | st.text(max_size=10)).map(lambda t: f"{t[0]} {t[1]}")
hostile = plain | tagged | sizes | st.text(max_size=20).map(lambda s: '"' + s.replace('"', "") + '"')


def _mutate(text: str, data: st.DataObject) -> str:
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        spots = list(SCALAR_LINE.finditer(text))
        spot = data.draw(st.sampled_from(spots), label="spot")
        text = text[: spot.start(2)] + data.draw(hostile, label="value") + text[spot.end(2) :]
    return text


def assert_loads_or_located(text: str, original_index: int, store: LocalSource) -> None:
    try:
        spec = load_spec_text(text, "mutant.yaml")
    except SpecError as exc:
        assert exc.issues
        last_line = len(text.splitlines()) + 1
        for issue in exc.issues:
            assert 1 <= issue.line <= last_line and issue.column >= 1, issue
            assert issue.file == "mutant.yaml" and issue.message, issue
            assert "Traceback" not in issue.message
        return
    # What `hitl run` does with a spec before it shows anything: none of it may raise.
    spec.filters.window(datetime.now(UTC))
    diff_specs(ORIGINALS[original_index], spec)
    try:
        check_configs(spec, store)
    except HitlError:
        pass  # a located or explained refusal of the source is fine; only a crash is not


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalSource:
    source = LocalSource(tmp_path_factory.mktemp("fuzz") / "local.db")
    yield source  # type: ignore[misc]
    source.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_values_in_a_spec_are_located_errors(data: st.DataObject, store: LocalSource) -> None:
    index = data.draw(st.integers(0, len(TEXTS) - 1), label="spec")
    assert_loads_or_located(_mutate(TEXTS[index], data), index, store)
