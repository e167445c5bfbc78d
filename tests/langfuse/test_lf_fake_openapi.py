"""The fake's response bodies conform to the server's OpenAPI schemas (the subset kept in
tests/support/langfuse_openapi_subset.yaml, so a clean clone checks it too).

OpenAPI 3.0 schemas are turned into JSON Schema (``nullable`` → ``null`` allowed, component refs →
``$defs``) and every route the backend uses is called through plain httpx and validated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from hitl_pipeline.sources.demo import DemoData
from tests.support.langfuse_fake import LangfuseFake

SUBSET = Path(__file__).parent.parent / "support" / "langfuse_openapi_subset.yaml"


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if k not in ("nullable", "description", "title", "format")}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
        if node.get("nullable"):
            return {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
        return {"$ref": out["$ref"]}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def defs() -> dict[str, Any]:
    spec = yaml.safe_load(SUBSET.read_text())
    return {name: _convert(schema) for name, schema in spec["components"]["schemas"].items()}


def _check(defs: dict[str, Any], name: str, body: Any) -> None:
    validator = jsonschema.Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def _get(fake: LangfuseFake, path: str, **params: Any) -> Any:
    r = httpx.get(fake.url + path, params=params, auth=(fake.public_key, fake.secret_key))
    assert r.status_code == 200, r.text
    return r.json()


def test_v2_observations_match_the_schema_for_every_field_group(
    defs: dict[str, Any], v4: LangfuseFake
) -> None:
    window = {"fromStartTime": "2026-10-01T00:00:00Z", "toStartTime": "2026-11-01T00:00:00Z"}
    for fields in (
        "core",
        "core,basic",
        "core,basic,io,metadata,model,usage,prompt,metrics,time,trace_context",
    ):
        body = _get(v4, "/api/public/v2/observations", fields=fields, limit=200, **window)
        assert body["data"]
        _check(defs, "ObservationsV2Response", body)
    # Groups not requested are absent (not null); core fields always present.
    row = _get(v4, "/api/public/v2/observations", fields="core", limit=1, **window)["data"][0]
    assert "input" not in row and "name" not in row and {"id", "traceId", "startTime", "type"} <= row.keys()


def test_v3_scores_match_the_schema(defs: dict[str, Any], v4: LangfuseFake) -> None:
    body = _get(v4, "/api/public/v3/scores", fields="details,subject,annotation", limit=100)
    assert body["data"]
    _check(defs, "GetScoresV3Response", body)


def test_score_configs_match_the_schema(defs: dict[str, Any], v4: LangfuseFake) -> None:
    body = _get(v4, "/api/public/score-configs", limit=100)
    assert len(body["data"]) >= 6
    _check(defs, "ScoreConfigs", body)
    _check(defs, "ScoreConfig", _get(v4, f"/api/public/score-configs/{body['data'][0]['id']}"))


def test_legacy_routes_match_the_schema(defs: dict[str, Any], v3: LangfuseFake, small_demo: DemoData) -> None:
    traces = _get(v3, "/api/public/traces", limit=100)
    _check(defs, "Traces", traces)
    trace = small_demo.traces[0]
    _check(defs, "TraceWithFullDetails", _get(v3, f"/api/public/traces/{trace.id}"))
    sessions = _get(v3, "/api/public/sessions", limit=100)
    _check(defs, "PaginatedSessions", sessions)
    _check(defs, "SessionWithTraces", _get(v3, f"/api/public/sessions/{trace.session_id}"))
    _check(defs, "ObservationsView", _get(v3, f"/api/public/observations/{trace.observations[0].id}"))
    _check(defs, "Traces", _get(v3, "/api/public/traces", limit=5, fields="core"))


def test_score_create_responses_match_the_schema(defs: dict[str, Any], make_fake: Any) -> None:
    old = make_fake(mode="v4", version="4.16.0")
    body = {"id": "s1", "traceId": "t1", "name": "x", "value": 1, "dataType": "NUMERIC"}
    r = httpx.post(old.url + "/api/public/scores", json=body, auth=(old.public_key, old.secret_key))
    assert r.status_code == 200
    _check(defs, "CreateScoreResponse", r.json())
    r = httpx.post(old.url + "/api/public/scores", json=[body], auth=(old.public_key, old.secret_key))
    assert r.status_code == 400 and "expected object, received array" in json.dumps(r.json())


def test_v4_legacy_routes_answer_404_with_deprecation(defs: dict[str, Any], v4: LangfuseFake) -> None:
    for path in ("/api/public/traces", "/api/public/sessions", "/api/public/traces/x"):
        r = httpx.get(v4.url + path, auth=(v4.public_key, v4.secret_key))
        assert r.status_code == 404 and "events_only" in r.json()["message"]
        _check(defs, "Deprecation", r.json()["_deprecation"])


def test_v3_has_no_v2_reader(v3: LangfuseFake) -> None:
    r = httpx.get(v3.url + "/api/public/v2/observations", auth=(v3.public_key, v3.secret_key))
    assert r.status_code == 404 and "v4 write mode" in r.json()["message"]


def test_filter_rules_of_the_v2_reader(v4: LangfuseFake) -> None:
    auth = (v4.public_key, v4.secret_key)
    url = v4.url + "/api/public/v2/observations"
    bad = [
        [{"type": "string", "column": "name", "operator": "!=", "value": "x"}],
        [{"type": "string", "column": "nope", "operator": "=", "value": "x"}],
        [{"type": "string", "column": "input", "operator": "contains", "value": "x"}],
        [{"type": "stringObject", "column": "metadata", "operator": "=", "value": "x"}],
    ]
    for conditions in bad:
        assert httpx.get(url, params={"filter": json.dumps(conditions)}, auth=auth).status_code == 400
    assert httpx.get(url, params={"limit": 1001}, auth=auth).status_code == 400
    assert httpx.get(url, params={"parseIoAsJson": "true"}, auth=auth).status_code == 400
    assert httpx.get(url, auth=(v4.public_key, "wrong")).status_code == 401
    # Keys are looked up by the secret: a wrong public key with the right secret is accepted (§7).
    assert httpx.get(url, params={"limit": 1}, auth=("pk-other", v4.secret_key)).status_code == 200
