"""Where a campaign's state lives: a SQLite file under the home directory (the default), or a schema
of a PostgreSQL database named by ``--state postgresql://…`` / ``HITL_STATE_URL``.

Both are opened, archived (``--new-version``) and checked the same way, so the rest of the program
does not know which engine it runs on. On PostgreSQL one database holds every campaign: the state
of campaign ``c`` is schema ``c_<c>``, its archived version N ``c_<c>.vN`` (the SQLite file
``<c>.db`` and its archive ``<c>.vN.db``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.db import Database
from hitl_pipeline.errors import ConfigError

#: The state URL's environment variable (the ``--state`` option sets it for the process).
STATE_URL_ENV = "HITL_STATE_URL"
_SCHEMES = ("postgresql://", "postgres://")


def state_url(explicit: str | None = None) -> str | None:
    """The state database URL in force (``explicit``, else ``HITL_STATE_URL``), None for SQLite files."""
    url = explicit if explicit is not None else os.environ.get(STATE_URL_ENV, "")
    url = url.strip()
    if not url:
        return None
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            f"--state / {STATE_URL_ENV}: {url.split('@')[-1]!r} is not a postgresql:// URL; leave it unset "
            "to keep the state in SQLite files under the home directory"
        )
    return url


def campaign_schema(campaign: str, version: int | None = None) -> str:
    """The PostgreSQL schema of a campaign's state (``version``: an archived version's)."""
    base = f"c_{campaign}"
    if len(base) > 50:  # identifiers are at most 63 bytes; keep room for ".v<N>"
        base = f"{base[:40]}_{hashlib.sha256(campaign.encode()).hexdigest()[:8]}"
    return base if version is None else f"{base}.v{version}"


def open_database(url: str, schema: str) -> Database:
    from hitl_pipeline.db.postgres import PostgresDatabase

    return PostgresDatabase(url, schema)


@dataclass(frozen=True)
class StateLocation:
    """The state of one campaign: ``url`` None = the SQLite file under ``home``."""

    home: Path
    campaign: str
    url: str | None = None

    @classmethod
    def of(cls, home: Path | str, campaign: str, url: str | None = None) -> StateLocation:
        return cls(Path(home), campaign, state_url(url))

    @property
    def path(self) -> Path:
        """The SQLite file (also for messages)."""
        return self.home / "campaigns" / f"{self.campaign}.db"

    def archive_path(self, version: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.v{version}.db")

    def describe(self, version: int | None = None) -> str:
        """Where the state (or an archived version) is, for messages."""
        if self.url is None:
            return str(self.path if version is None else self.archive_path(version))
        from hitl_pipeline.db.postgres import redact

        return f"schema {campaign_schema(self.campaign, version)!r} of {redact(self.url)}"

    def container(self) -> str:
        """Where the campaigns' states are (the directory, or the database)."""
        if self.url is None:
            return str(self.path.parent)
        from hitl_pipeline.db.postgres import redact

        return redact(self.url)

    def _schema_exists(self, schema: str) -> bool:
        assert self.url is not None
        from hitl_pipeline.db.postgres import schema_exists

        return schema_exists(self.url, schema)

    def exists(self) -> bool:
        if self.url is None:
            return self.path.exists()
        return self._schema_exists(campaign_schema(self.campaign))

    def archive_exists(self, version: int) -> bool:
        if self.url is None:
            return self.archive_path(version).exists()
        return self._schema_exists(campaign_schema(self.campaign, version))

    def open(self, version: int | None = None) -> CampaignState:
        """Open (creating and migrating when needed) the campaign's state, or an archived version's."""
        if self.url is None:
            return CampaignState(self.path if version is None else self.archive_path(version))
        return CampaignState(open_database(self.url, campaign_schema(self.campaign, version)))

    def archive(self, state: CampaignState, version: int) -> None:
        """Close ``state`` and move it aside as archived version ``version``."""
        state.close()
        if self.url is None:
            path, archive = self.path, self.archive_path(version)
            path.replace(archive)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    side.replace(archive.with_name(archive.name + suffix))
            return
        from hitl_pipeline.db.postgres import rename_schema

        rename_schema(self.url, campaign_schema(self.campaign), campaign_schema(self.campaign, version))
