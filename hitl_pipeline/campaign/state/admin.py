"""``hitl state migrate | check | copy``: the campaign states of a home directory or a database.

A *state* is every campaign state (current and archived versions; the reviewer accounts, which
live next to them, are the UI layer's: :mod:`hitl_pipeline.ui.accounts_db`). It is either a home directory (``.hitl``: ``campaigns/*.db`` and
``reviewers.json``) or a PostgreSQL URL (schemas ``c_<campaign>`` and ``c_<campaign>.vN``, ``hitl``).

``copy`` moves a state to another engine without losing anything: every table of every campaign,
row for row, then checks that the counts and the export of every campaign are identical on both
sides (it refuses to copy into a campaign that already has state).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.state.location import campaign_schema, state_url
from hitl_pipeline.campaign.state.schema import MIGRATIONS
from hitl_pipeline.db import Database, SchemaTooNew, SQLiteDatabase, applied, pending
from hitl_pipeline.errors import CampaignError, ConfigError

#: Campaign tables in foreign-key order (parents first). ``process_locks`` is not copied: it only
#: describes processes running on the source.
TABLES = (
    "meta",
    "spec_versions",
    "items",
    "reviews",
    "answers",
    "leases",
    "skips",
    "outbox",
    "configs",
    "adjudications",
    "annotation_queue_items",
)
_ARCHIVE = re.compile(r"^(?P<campaign>.+)\.v(?P<version>\d+)$")


@dataclass(frozen=True)
class StateRef:
    """One campaign state in a state location: ``version`` None for the live one."""

    campaign: str
    version: int | None

    @property
    def label(self) -> str:
        return self.campaign if self.version is None else f"{self.campaign} (archived version {self.version})"


@dataclass
class StateReport:
    """What a command found or did, one line per state."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True


def is_url(where: str) -> bool:
    return where.startswith(("postgresql://", "postgres://"))


def _open_db(where: str, ref: StateRef) -> Database:
    if is_url(where):
        from hitl_pipeline.db.postgres import PostgresDatabase

        return PostgresDatabase(where, campaign_schema(ref.campaign, ref.version))
    name = ref.campaign if ref.version is None else f"{ref.campaign}.v{ref.version}"
    return SQLiteDatabase(Path(where) / "campaigns" / f"{name}.db")


def list_states(where: str) -> list[StateRef]:
    """Every campaign state at ``where`` (a home directory or a PostgreSQL URL)."""
    refs: list[StateRef] = []
    if is_url(where):
        from hitl_pipeline.db.postgres import PostgresDatabase, list_schemas

        for schema in list_schemas(where, "c_"):
            db = PostgresDatabase(where, schema, pool_size=1)
            try:
                if "meta" not in db.table_names():
                    continue
                campaign = db.scalar("SELECT value FROM meta WHERE key = 'campaign'")
                archived = re.search(r"\.v(\d+)$", schema)
            finally:
                db.close()
            if campaign:
                refs.append(StateRef(str(campaign), int(archived.group(1)) if archived else None))
        return sorted(refs, key=lambda r: (r.campaign, r.version or 0))
    folder = Path(where) / "campaigns"
    for path in sorted(folder.glob("*.db")) if folder.is_dir() else []:
        m = _ARCHIVE.match(path.stem)
        refs.append(StateRef(m["campaign"], int(m["version"])) if m else StateRef(path.stem, None))
    return refs


def _describe(where: str) -> str:
    if is_url(where):
        from hitl_pipeline.db.postgres import redact

        return redact(where)
    return str(Path(where) / "campaigns")


def check(where: str) -> StateReport:
    """Each state's schema history against this program, without changing anything."""
    report = StateReport()
    refs = list_states(where)
    if not refs:
        report.lines.append(f"no campaign state in {_describe(where)}")
    for ref in refs:
        db = _open_db(where, ref)
        try:
            todo = pending(db, MIGRATIONS)
            state = f"{len(applied(db))} migration(s) applied"
            if todo:
                report.ok = False
                state += f", {len(todo)} to apply ({', '.join(todo)}): run `hitl state migrate`"
            else:
                counts = {
                    t: int(db.scalar(f"SELECT COUNT(*) FROM {t}")) for t in ("items", "reviews", "outbox")
                }
                state += ", up to date; " + ", ".join(f"{n} {t}" for t, n in counts.items())
            report.lines.append(f"{ref.label}: {state}")
        except SchemaTooNew as e:
            report.ok = False
            report.lines.append(f"{ref.label}: {e}")
        finally:
            db.close()
    return report


def migrate_all(where: str) -> StateReport:
    """Apply the missing migrations to every state (and the accounts schema on PostgreSQL)."""
    report = StateReport()
    refs = list_states(where)
    if not refs:
        report.lines.append(f"no campaign state in {_describe(where)}")
    for ref in refs:
        db = _open_db(where, ref)
        try:
            before = set(applied(db))
            CampaignState(db).close()  # migrates (refusing a newer schema) and closes db
            now = [m.name for m in MIGRATIONS if m.name not in before]
            report.lines.append(f"{ref.label}: " + (f"applied {', '.join(now)}" if now else "up to date"))
        except SchemaTooNew as e:
            report.ok = False
            report.lines.append(f"{ref.label}: {e}")
            db.close()
    return report


def _copy_tables(source: CampaignState, target: CampaignState) -> dict[str, int]:
    counts: dict[str, int] = {}
    with target.transaction() as tx:
        for table in TABLES:
            rows = source.db.query(f"SELECT * FROM {table}")
            counts[table] = len(rows)
            if not rows:
                continue
            columns = list(rows[0].keys())
            marks = ", ".join("?" * len(columns))
            tx.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                [tuple(r[c] for c in columns) for r in rows],
            )
    return counts


def copy_state(
    source: str, target: str, *, campaigns: list[str] | None = None, progress: Callable[[str], None] = print
) -> StateReport:
    """Copy every campaign state (or those of ``campaigns``) and the reviewer accounts from one
    location to another; verified by per-table counts and identical exports."""
    if source == target:
        raise ConfigError("--from and --to are the same place")
    for where in (source, target):
        if is_url(where):
            state_url(where)  # a clear error for a malformed URL
    refs = [r for r in list_states(source) if campaigns is None or r.campaign in campaigns]
    if not refs:
        raise ConfigError(f"no campaign state to copy in {_describe(source)}")
    report = StateReport()
    for ref in refs:
        src = CampaignState(_open_db(source, ref))
        dst = CampaignState(_open_db(target, ref))
        try:
            if dst.is_initialized():
                raise CampaignError(
                    f"{ref.label} already has state in {_describe(target)}: nothing was copied for it; "
                    "remove it there first if it should be replaced"
                )
            counts = _copy_tables(src, dst)
            mismatched = [t for t in TABLES if int(dst.db.scalar(f"SELECT COUNT(*) FROM {t}")) != counts[t]]
            if mismatched or src.export_rows() != dst.export_rows():
                report.ok = False
                report.lines.append(
                    f"{ref.label}: copied, but {', '.join(mismatched) or 'the export'} differ"
                )
                continue
            line = f"{ref.label}: copied " + ", ".join(f"{n} {t}" for t, n in counts.items() if n)
            report.lines.append(line + "; counts and export identical")
            progress(report.lines[-1])
        finally:
            src.close()
            dst.close()
    return report
