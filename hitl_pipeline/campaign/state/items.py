"""The campaign's meta, its spec versions, the queued items and the resolved score configs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hitl_pipeline.db import Database, aware_us, from_us, now_us
from hitl_pipeline.errors import CampaignError
from hitl_pipeline.model import ItemRef, ScoreConfig


@dataclass(frozen=True)
class CampaignMeta:
    """What the campaign was created from."""

    campaign: str
    spec_hash: str
    spec_json: str
    spec_version: int
    created_at: datetime
    now: datetime
    git_commit: str | None


@dataclass(frozen=True)
class ItemRow:
    key: str
    ref: ItemRef
    position: int
    done: int


def _item(row: Any) -> ItemRow:
    ref = ItemRef(
        kind=row["kind"],
        id=row["id"],
        timestamp=from_us(row["timestamp"]),
        trace_id=row["trace_id"],
        stratum=row["stratum"],
    )
    return ItemRow(key=row["key"], ref=ref, position=row["position"], done=row["done"])


class ItemStore:
    """Meta, spec versions, items and the config cache of one campaign database (``db``)."""

    db: Database
    where: str

    def is_initialized(self) -> bool:
        """True once :meth:`initialize` has run (the queue is stored)."""
        return bool(self.db.query("SELECT 1 FROM meta WHERE key = 'campaign'"))

    def initialize(
        self,
        *,
        campaign: str,
        spec_hash: str,
        spec_json: str,
        spec_version: int,
        now: datetime,
        created_at: datetime,
        git_commit: str | None,
        refs: Sequence[ItemRef],
    ) -> None:
        """Store the campaign's meta and its queue, in one transaction."""
        with self.db.transaction() as c:
            if c.execute("SELECT 1 FROM meta WHERE key = 'campaign'").fetchone():
                raise CampaignError(f"campaign state {self.where} is already initialised")
            meta = {
                "campaign": campaign,
                "spec_hash": spec_hash,
                "spec_json": spec_json,
                "spec_version": str(spec_version),
                "created_at": str(aware_us(created_at)),
                "now": str(aware_us(now)),
                "git_commit": git_commit or "",
            }
            c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            c.execute(
                "INSERT INTO spec_versions (spec_hash, spec_json, version, first_seen) VALUES (?, ?, ?, ?)",
                (spec_hash, spec_json, spec_version, aware_us(created_at)),
            )
            self.append_items(refs)

    def append_items(self, refs: Sequence[ItemRef]) -> None:
        """Queue ``refs`` after the items already queued, in their order."""
        with self.db.transaction() as c:
            start = c.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            c.executemany(
                "INSERT INTO items (key, kind, id, trace_id, position, stratum, timestamp) VALUES (?,?,?,?,?,?,?)",
                [
                    (r.key, r.kind, r.id, r.trace_id, start + i, r.stratum, aware_us(r.timestamp))
                    for i, r in enumerate(refs)
                ],
            )

    def meta(self) -> CampaignMeta:
        """The campaign's meta; CampaignError if the state is empty."""
        rows = {r["key"]: r["value"] for r in self.db.query("SELECT key, value FROM meta")}
        if "campaign" not in rows:
            raise CampaignError(
                f"campaign state {self.where} is empty; open the campaign with its spec first"
            )
        return CampaignMeta(
            campaign=rows["campaign"],
            spec_hash=rows["spec_hash"],
            spec_json=rows["spec_json"],
            spec_version=int(rows["spec_version"]),
            created_at=from_us(int(rows["created_at"])),
            now=from_us(int(rows["now"])),
            git_commit=rows["git_commit"] or None,
        )

    def record_spec(self, spec_hash: str, spec_json: str, spec_version: int, at: datetime) -> bool:
        """Record the spec a run uses; returns True when this hash is new. The meta follows the latest."""
        with self.db.transaction() as c:
            new = (
                c.execute("SELECT 1 FROM spec_versions WHERE spec_hash = ?", (spec_hash,)).fetchone() is None
            )
            if new:
                c.execute(
                    "INSERT INTO spec_versions (spec_hash, spec_json, version, first_seen) VALUES (?, ?, ?, ?)",
                    (spec_hash, spec_json, spec_version, aware_us(at)),
                )
            c.executemany(
                "UPDATE meta SET value = ? WHERE key = ?",
                [(spec_hash, "spec_hash"), (spec_json, "spec_json"), (str(spec_version), "spec_version")],
            )
            return new

    def resume_pending(self) -> bool:
        """True until :meth:`mark_resumed`: the campaign has not yet looked for its scores in the source."""
        return not self.db.query("SELECT 1 FROM meta WHERE key = 'resumed'")

    def mark_resumed(self) -> None:
        """Record that scores already in the source were taken into account."""
        with self.db.transaction() as c:
            c.execute(
                """INSERT INTO meta (key, value) VALUES ('resumed', ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
                (str(now_us()),),
            )

    def mark_archived(self, version: int) -> None:
        """Record that this state is being archived as ``version`` (a process that waited on it
        then opens the campaign's new state instead)."""
        with self.db.transaction() as c:
            c.execute(
                """INSERT INTO meta (key, value) VALUES ('archived_as', ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
                (str(version),),
            )

    def archived_as(self) -> int | None:
        """The version this state was archived as, or None for a live state."""
        value = self.db.scalar("SELECT value FROM meta WHERE key = 'archived_as'")
        return int(value) if value is not None else None

    def spec_hashes(self) -> list[str]:
        """Every spec hash this campaign has run with, oldest first."""
        return [
            r[0] for r in self.db.query("SELECT spec_hash FROM spec_versions ORDER BY first_seen, spec_hash")
        ]

    def items(self) -> list[ItemRow]:
        """Every queued item, in queue order."""
        return [_item(r) for r in self.db.query("SELECT * FROM items ORDER BY position")]

    def item(self, key: str) -> ItemRow | None:
        row = self.db.one("SELECT * FROM items WHERE key = ?", (key,))
        return _item(row) if row is not None else None

    # -- config cache ---------------------------------------------------------------------------

    def save_configs(self, configs: Mapping[str, ScoreConfig], now: datetime) -> None:
        """Cache the resolved score config of each question (question score name → config)."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM configs")
            c.executemany(
                "INSERT INTO configs (question, config_id, config_json, resolved_at) VALUES (?, ?, ?, ?)",
                [(q, cfg.id, json.dumps(config_to_json(cfg)), aware_us(now)) for q, cfg in configs.items()],
            )

    def load_configs(self) -> dict[str, ScoreConfig]:
        """The cached configs (empty when never resolved)."""
        return {
            r["question"]: config_from_json(json.loads(r["config_json"]))
            for r in self.db.query("SELECT question, config_json FROM configs")
        }


def config_to_json(cfg: ScoreConfig) -> dict[str, Any]:
    """A ScoreConfig as plain JSON."""
    return {
        "id": cfg.id,
        "name": cfg.name,
        "data_type": cfg.data_type,
        "categories": [[label, value] for label, value in cfg.categories],
        "min_value": cfg.min_value,
        "max_value": cfg.max_value,
        "description": cfg.description,
        "is_archived": cfg.is_archived,
    }


def config_from_json(data: Mapping[str, Any]) -> ScoreConfig:
    """The inverse of :func:`config_to_json`."""
    return ScoreConfig(
        id=data["id"],
        name=data["name"],
        data_type=data["data_type"],
        categories=tuple((str(label), float(value)) for label, value in data.get("categories", [])),
        min_value=data.get("min_value"),
        max_value=data.get("max_value"),
        description=data.get("description"),
        is_archived=bool(data.get("is_archived", False)),
    )
