"""The exceptions hitl-pipeline raises on purpose.

Every error a *user* can cause or fix derives from :class:`HitlError`; the CLI prints
those as ``Error: …`` with no traceback and exits 1. Anything else is a bug and is shown
with a traceback (exit 2).

::

    HitlError
    ├── SpecError          a review spec does not load or validate (carries every located issue)
    ├── ConfigError        settings, credentials, paths, a missing optional dependency
    ├── SourceError        the trace source (local store or Langfuse) failed or refused a request
    │   └── AuthError      the source rejected the credentials
    ├── ScoreValidationError  an answer breaks its score config (never sent)
    ├── CampaignError      campaign state conflicts (spec changed, unknown item, lease lost…)
    └── ImportDataError    a JSONL import file has bad lines (carries every located issue)

Messages say what is wrong, where, and how to fix it. They never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass


class HitlError(Exception):
    """Base class of every error the user can fix."""


@dataclass(frozen=True)
class SpecIssue:
    """One located problem in a spec file: ``file:line:col: path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(HitlError):
    """A spec failed to load or validate. ``issues`` holds every problem found, in file order."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        count = len(issues)
        summary = "\n".join(str(i) for i in issues)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in spec:\n{summary}")


class ConfigError(HitlError):
    """Bad settings, missing credentials, an unusable path or a missing optional dependency."""


class SourceError(HitlError):
    """The trace source failed or refused a request."""


class AuthError(SourceError):
    """The source rejected the credentials (HTTP 401/403)."""


class ScoreValidationError(HitlError):
    """An answer does not satisfy its score config; it is never sent."""


class CampaignError(HitlError):
    """The campaign's state forbids the operation (e.g. the spec changed in meaning)."""


class AlreadyAnsweredError(CampaignError):
    """A first answer from a stale tab to an item this reviewer answered meanwhile elsewhere: the
    stored answer is kept, this one is not saved."""


class ImportDataError(HitlError):
    """A JSONL file could not be imported; ``issues`` lists ``line N: message`` for every bad line."""

    def __init__(self, path: str, issues: list[str]) -> None:
        self.path = path
        self.issues = issues
        shown = "\n".join(f"{path}:{i}" for i in issues[:50])
        more = f"\n… and {len(issues) - 50} more" if len(issues) > 50 else ""
        super().__init__(f"{len(issues)} bad line(s) in {path}, nothing was imported:\n{shown}{more}")
