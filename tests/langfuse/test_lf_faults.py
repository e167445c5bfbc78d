"""Faults on the read side and hostile answers: reads are retried (bounded) for dropped connections,
429 and 5xx; writes are sent once (the outbox retries them); what a server echoes is quoted only
without credentials; an answer of the wrong shape is a clear error naming the endpoint."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from hitl_pipeline.errors import SourceError
from hitl_pipeline.model import ItemRef, ScoreWrite
from hitl_pipeline.sources.demo import DemoData
from hitl_pipeline.sources.langfuse import LangfuseSource
from hitl_pipeline.sources.langfuse.http import READ_ATTEMPTS, scrub
from hitl_pipeline.spec.model import Filters
from tests.support.langfuse_fake import LangfuseFake

Source = Callable[..., LangfuseSource]
NOW = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = Filters(time_from="2026-10-01", time_to="2026-11-01")


def _refs(small_demo: DemoData, n: int = 5) -> list[ItemRef]:
    return [ItemRef("trace", t.id, t.timestamp, trace_id=t.id) for t in small_demo.traces[:n]]


@pytest.mark.parametrize("kind", ["drop", 503, 500, 429])
def test_reads_absorb_transient_faults(
    v4: LangfuseFake, source_for: Source, small_demo: DemoData, kind: str | int
) -> None:
    src = source_for(v4)
    src.probe()
    refs = _refs(small_demo)
    v4.fail_next(READ_ATTEMPTS - 1, kind, retry_after=0.05, route="/api/public/v2/observations")
    items = src.get_items(refs)
    assert [i.ref.key for i in items] == [r.key for r in refs]
    v4.fail_next(2, kind, retry_after=0.05, route="/api/public/v3/scores")
    assert isinstance(src.read_scores(["nope"]), dict)
    v4.fail_next(2, kind, retry_after=0.05, route="/api/public/v2/observations")
    assert list(src.iter_candidates("trace", WINDOW, now=NOW))
    if kind == 429:
        assert src.http.budget.throttled >= 1  # the budget heard about it


def test_the_probe_absorbs_dropped_connections(v4: LangfuseFake, source_for: Source) -> None:
    v4.fail_next(1, "drop", route="/api/public/score-configs")
    v4.fail_next(1, "drop", route="/api/public/v2/observations")
    v4.fail_next(1, 503, route="/api/public/v3/scores")
    assert source_for(v4).probe().v2_observations


def test_read_retries_are_bounded(v4: LangfuseFake, source_for: Source, small_demo: DemoData) -> None:
    src = source_for(v4)
    src.probe()
    v4.reset_counters()
    v4.fail_next(READ_ATTEMPTS + 5, "drop", route="/api/public/v2/observations")
    with pytest.raises(SourceError, match="cannot reach Langfuse"):
        src.get_items(_refs(small_demo, 1))
    assert v4.counters["GET /api/public/v2/observations"] == READ_ATTEMPTS


def test_writes_are_sent_once_the_outbox_retries(
    v4: LangfuseFake, source_for: Source, small_demo: DemoData
) -> None:
    src = source_for(v4)
    src.probe()
    t = small_demo.traces[0]
    score = ScoreWrite(id="w1", name="tone-note", value="ok", data_type="TEXT", trace_id=t.id, source="API")
    v4.reset_counters()
    v4.fail_next(1, 503, route="/api/public/scores")
    [result] = src.write_scores([score])
    assert not result.ok and result.retryable
    assert v4.counters["POST /api/public/scores"] == 1


def test_an_echoed_authorization_header_is_not_quoted(
    v4: LangfuseFake, source_for: Source, small_demo: DemoData
) -> None:
    src = source_for(v4)
    src.probe()
    basic = base64.b64encode(f"{v4.public_key}:{v4.secret_key}".encode()).decode()
    v4.fail_next(READ_ATTEMPTS, "echo_auth", route="/api/public/v2/observations")
    with pytest.raises(SourceError) as caught:
        src.get_items(_refs(small_demo, 1))
    text = str(caught.value)
    assert "502" in text and "upstream failed" in text
    assert basic not in text and v4.secret_key not in text and "[redacted]" in text
    t = small_demo.traces[0]
    v4.fail_next(1, "echo_auth", route="/api/public/scores")
    [result] = src.write_scores(
        [ScoreWrite(id="w2", name="n", value="x", data_type="TEXT", trace_id=t.id, source="API")]
    )
    assert result.error and basic not in result.error and "[redacted]" in result.error


def test_scrub_removes_what_looks_like_a_credential() -> None:
    text = (
        'Authorization: Basic cGstbGYtMTIzOnNrLWxmLXNlY3JldA== {"authorization": "Bearer abc.def.ghi"} '
        "key sk-lf-1234-abcd and pk-lf-9 password=hunter2 my-own-secret"
    )
    out = scrub(text, ("my-own-secret",))
    for leaked in ("cGstbGYtMTIzOnNrLWxmLXNlY3JldA==", "abc.def.ghi", "sk-lf-1234", "pk-lf-9", "hunter2"):
        assert leaked not in out
    assert "my-own-secret" not in out and out.count("[redacted]") >= 5


@pytest.mark.parametrize("kind", ["wrong_shape", "not_json"])
def test_an_answer_of_the_wrong_shape_names_the_endpoint(
    v4: LangfuseFake, source_for: Source, small_demo: DemoData, kind: str
) -> None:
    src = source_for(v4)
    src.probe()
    v4.fail_next(1, kind, route="/api/public/v2/observations")
    with pytest.raises(SourceError, match=r"unexpected answer to .*GET /api/public/v2/observations"):
        src.get_items(_refs(small_demo, 1))
    v4.fail_next(1, kind, route="/api/public/v3/scores")
    with pytest.raises(SourceError, match=r"unexpected answer to reading scores back"):
        src.read_scores(["x"])
    v4.fail_next(1, kind, route="/api/public/score-configs")
    with pytest.raises(SourceError, match="unexpected answer to listing score configs"):
        src.list_score_configs()


@pytest.mark.parametrize("kind", ["wrong_shape", "not_json"])
def test_cli_commands_exit_1_with_a_message_on_a_wrong_shape(
    v4: LangfuseFake, tmp_path: Path, kind: str
) -> None:
    env = {**v4.env, "HITL_HOME": str(tmp_path / "home")}
    v4.fail_next(1, kind, route="/api/public/score-configs")
    result = CliRunner().invoke(app, ["doctor"], env=env)
    assert result.exit_code == 1, result.output
    assert "unexpected answer" in result.output and "Traceback" not in result.output


def test_doctor_reports_a_401_on_health_as_an_auth_error(v4: LangfuseFake, tmp_path: Path) -> None:
    env = {**v4.env, "HITL_HOME": str(tmp_path / "home")}
    v4.fail_next(1, 401, route="/api/public/health")
    result = CliRunner().invoke(app, ["doctor"], env=env)
    assert result.exit_code == 1, result.output
    assert "✗ authenticated" in result.output and "rejected the credentials" in result.output
    assert "no answer" not in result.output and "✗ reachable" not in result.output
