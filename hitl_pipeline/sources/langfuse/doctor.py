"""``hitl doctor``: is Langfuse reachable, are the keys accepted, what can the server do, and do the
spec's score configs exist and match? Every check runs even when an earlier one fails where that
makes sense, and the report says how to fix each problem. The secret key never appears in it.

The spec's configs are checked by the caller's ``check_spec`` (the scoring layer's
:func:`~hitl_pipeline.scoring.configs.spec_config_check`): a source never imports scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from hitl_pipeline.errors import AuthError, HitlError
from hitl_pipeline.sources.base import Source

if TYPE_CHECKING:
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources.langfuse import Capabilities


class ConfigCheck(Protocol):
    """How one spec question's score config was resolved (``scoring.configs.ConfigResolution``)."""

    @property
    def score(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def config_id(self) -> str | None: ...

    @property
    def problems(self) -> Sequence[str]: ...


#: Checks the spec's score configs on the source (None: no spec given).
SpecCheck = Callable[[Source], Sequence[ConfigCheck]]


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    """What :func:`diagnose` found. ``ok`` is False when any check failed."""

    host: str
    checks: list[Check] = field(default_factory=list)
    capabilities: Capabilities | None = None
    configs: list[ConfigCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and all(r.status != "error" for r in self.configs)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))


def diagnose(settings: Settings, check_spec: SpecCheck | None = None) -> DoctorReport:
    """Check the Langfuse connection (and the spec's score configs with ``check_spec``, when given)."""
    from hitl_pipeline.sources.langfuse import LangfuseSource

    report = DoctorReport(host=settings.langfuse_base_url)
    missing = [
        name
        for name, value in (
            ("LANGFUSE_PUBLIC_KEY", settings.langfuse_public_key),
            ("LANGFUSE_SECRET_KEY", settings.langfuse_secret_key),
        )
        if not value
    ]
    if missing:
        report.add(
            "credentials", False, f"{' and '.join(missing)} not set (and LANGFUSE_BASE_URL for self-hosting)"
        )
        return report
    report.add("credentials", True, f"public key {settings.langfuse_public_key}, secret key set")
    source = LangfuseSource.from_settings(settings)
    try:
        try:
            version = source.http.call("the health check", lambda: source.api.health.health()).version
        except AuthError as exc:  # something in front of the server wants credentials
            report.add("reachable", True, f"{source.host} answers")
            report.add("authenticated", False, str(exc))
            return report
        except HitlError as exc:  # no answer, an error status, or an answer that is not Langfuse's
            report.add("reachable", False, f"{source.host}/api/public/health: {exc}")
            return report
        report.add("reachable", True, f"{source.host} answers, version {version}")
        try:
            caps = source.probe()
        except AuthError as exc:
            report.add("authenticated", False, str(exc))
            return report
        except HitlError as exc:
            report.add("authenticated", True, "keys accepted")
            report.add("capabilities", False, str(exc))
            return report
        report.add("authenticated", True, "keys accepted")
        report.capabilities = caps
        reads = (
            "v2 observations reader (server-side filters, cursor pages of 1000)"
            if caps.v2_observations
            else "legacy /traces + /sessions readers (v3 server; pages of 100)"
        )
        report.add("reads", True, reads)
        report.add(
            "score reads",
            True,
            "/v3/scores (read-back confirms every score)"
            if caps.v3_scores
            else "/v3/scores missing (server before 3.179): read-back uses the deprecated /v2/scores, "
            "one request per trace",
        )
        report.add(
            "score writes",
            True,
            "POST /scores with a JSON array (202/207)"
            if caps.score_body == "array"
            else "POST /scores probably one object per request (server before 4.59; a JSON array is "
            "tried first, 8 single-object requests in flight if refused)",
        )
        if check_spec is not None:
            report.configs = list(check_spec(source))
    finally:
        source.close()
    return report
