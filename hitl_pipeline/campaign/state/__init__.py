"""A campaign's durable state: one database per campaign (by default the SQLite file
``<home>/campaigns/<campaign>.db``).

What it holds: the campaign's meta (spec hash and canonical JSON, the ``now`` relative windows were
resolved against), the queued items in order, leases, each reviewer's answers, skips, the score
outbox (what must be / has been written to the source), the resolved score configs, the
adjudication queue and the annotation-queue mirror.

Why a database and not a JSON file: every change is one transaction (an answer and its outbox rows
land together or not at all), the review server, the drain worker and ``hitl status`` use it at
the same time, and a crash (even SIGKILL) loses nothing that was committed. Connections,
transactions, migrations and times come from :mod:`hitl_pipeline.db`; the schema's history is in
:mod:`.schema`. The state is split by job, one mixin each: :class:`ItemStore` (meta, spec
versions, items, configs), :class:`LeaseStore` (leases, skips), :class:`ReviewStore` (reviews,
answers), :class:`~hitl_pipeline.scoring.outbox_store.OutboxStore` (the outbox, whose rules live
with its drainer) and :class:`ExportQueries`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hitl_pipeline.campaign.state.export import Counts, ExportQueries, parse_ts, ts
from hitl_pipeline.campaign.state.items import (
    CampaignMeta,
    ItemRow,
    ItemStore,
    config_from_json,
    config_to_json,
)
from hitl_pipeline.campaign.state.leases import LeaseStore
from hitl_pipeline.campaign.state.reviews import ReviewRow, ReviewStore
from hitl_pipeline.campaign.state.schema import MIGRATIONS
from hitl_pipeline.db import Database, SQLiteDatabase, Tx, applied, migrate
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.scoring.outbox_store import (
    OUTBOX_STATUSES,
    OutboxEntry,
    OutboxRow,
    OutboxStore,
)


class CampaignState(ItemStore, LeaseStore, ReviewStore, OutboxStore, ExportQueries):
    """The durable state of one campaign. Thread-safe; several processes may open the same file.

    Args:
        path: the SQLite file, or an open :class:`~hitl_pipeline.db.Database` (another engine).
    """

    def __init__(self, path: Path | str | Database) -> None:
        if isinstance(path, Database):
            self.db = path
            self.path = Path(path.where)  # not a file: for messages only
        else:
            if str(path).startswith(("postgresql:", "postgres:")):
                raise ConfigError(
                    f"{path} is a PostgreSQL state, not a file: open it with its location "
                    "(hitl_pipeline.campaign.state.location.StateLocation)"
                )
            self.path = Path(path)
            self.db = SQLiteDatabase(
                self.path,
                synchronous="FULL",  # an answer a reviewer saw as saved survives a power cut
                open_error=lambda e: ConfigError(
                    f"cannot open campaign state {self.path}: {e}; check that the directory is writable"
                ),
                closed_error=lambda: ConfigError(f"the campaign state {self.path} is closed"),
            )
        #: Where the state is, for messages (a file, or a schema of a database).
        self.where = self.db.where
        try:
            migrate(self.db, MIGRATIONS)
        except BaseException:
            self.db.close()
            raise

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection(s)."""
        self.db.close()

    def __enter__(self) -> CampaignState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: everything inside commits together or not at all. Opened inside
        another one (same thread), it is a savepoint of it."""
        with self.db.transaction() as tx:
            yield tx

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in order."""
        return applied(self.db)

    # -- numbers across jobs --------------------------------------------------------------------

    def counts(self, n: int) -> Counts:
        """Campaign-wide counts; reviews are capped at ``n`` per item."""
        items, complete, reviews = self.item_counts(n)
        return Counts(items=items, items_complete=complete, reviews=reviews, outbox=self.outbox_counts())

    def per_reviewer(self) -> dict[str, dict[str, int]]:
        """Per reviewer: answered items and their outbox rows by status."""
        out: dict[str, dict[str, int]] = {}
        for reviewer, answered in self.answered_by_reviewer():
            out[reviewer] = {"answered": answered, **{s: 0 for s in OUTBOX_STATUSES}}
        for reviewer, status, rows in self.outbox_by_reviewer():
            out.setdefault(reviewer, {"answered": 0, **{s: 0 for s in OUTBOX_STATUSES}})[status] = rows
        return out

    def open_adjudications(self) -> int:
        """Items waiting for an adjudicator."""
        return int(self.db.scalar("SELECT COUNT(*) FROM adjudications WHERE status = 'open'"))


__all__ = [
    "OUTBOX_STATUSES",
    "CampaignMeta",
    "CampaignState",
    "Counts",
    "ItemRow",
    "OutboxEntry",
    "OutboxRow",
    "ReviewRow",
    "config_from_json",
    "config_to_json",
    "parse_ts",
    "ts",
]
