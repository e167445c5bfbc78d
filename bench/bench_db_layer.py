"""What a query builder would cost on the submit path: the same transaction through the database
layer (plain DB-API, ``hitl_pipeline.db``) and through SQLAlchemy Core (``text()`` statements on an
engine), side by side, on the same kind of SQLite file.

The transaction is the submit's shape: 12 short statements (reads and upserts with parameters) and
a commit. Run with ``synchronous=NORMAL`` (no fsync per commit, so the statements' own cost shows)
and ``FULL`` (the campaign state's setting). SQLAlchemy is not a dependency: the script says so
and measures only our layer when it is missing (``pip install sqlalchemy`` to compare).

    python bench/bench_db_layer.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hitl_pipeline.db import SQLiteDatabase  # noqa: E402

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS r (k TEXT, who TEXT, seq INTEGER, v TEXT, at INTEGER, PRIMARY KEY (k, who))",
    "CREATE TABLE IF NOT EXISTS a (k TEXT, who TEXT, q TEXT, v TEXT, at INTEGER, PRIMARY KEY (k, who, q))",
]
READ = "SELECT seq FROM r WHERE k = :k AND who = :who"
NEXT = "SELECT COALESCE(MAX(seq), 0) + 1 FROM r"
UPSERT_R = """INSERT INTO r (k, who, seq, v, at) VALUES (:k, :who, :seq, :v, :at)
              ON CONFLICT (k, who) DO UPDATE SET v = excluded.v, at = excluded.at"""
UPSERT_A = """INSERT INTO a (k, who, q, v, at) VALUES (:k, :who, :q, :v, :at)
              ON CONFLICT (k, who, q) DO UPDATE SET v = excluded.v, at = excluded.at"""


def params(i: int) -> dict[str, Any]:
    return {"k": f"trace:{i % 500}", "who": f"r{i % 7}", "seq": i, "v": '{"x": 1}', "at": i}


def ours(path: Path, rounds: int, sync: str) -> list[float]:
    db = SQLiteDatabase(path, synchronous=sync)
    with db.transaction() as tx:
        for s in SCHEMA:
            tx.execute(s)
    out = []
    for i in range(rounds):
        p = params(i)
        t0 = time.perf_counter()
        with db.transaction() as tx:
            tx.execute(READ, p).fetchone()
            tx.execute(NEXT).fetchone()
            tx.execute(UPSERT_R, p)
            for q in range(8):
                tx.execute(UPSERT_A, {**p, "q": f"q{q}"})
            tx.execute(READ, p).fetchone()
        out.append(time.perf_counter() - t0)
    db.close()
    return out


def sqlalchemy_core(path: Path, rounds: int, sync: str) -> list[float] | None:
    try:
        from sqlalchemy import create_engine, event, text
    except ImportError:
        return None
    engine = create_engine(f"sqlite:///{path}", isolation_level="AUTOCOMMIT")

    @event.listens_for(engine, "connect")
    def pragmas(conn: Any, _: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={sync}")
        cur.close()

    statements = {
        name: text(sql) for name, sql in (("read", READ), ("next", NEXT), ("r", UPSERT_R), ("a", UPSERT_A))
    }
    out = []
    with engine.connect() as conn:
        for s in SCHEMA:
            conn.execute(text(s))
        for i in range(rounds):
            p = params(i)
            t0 = time.perf_counter()
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.execute(statements["read"], p).fetchone()
            conn.execute(statements["next"]).fetchone()
            conn.execute(statements["r"], p)
            for q in range(8):
                conn.execute(statements["a"], {**p, "q": f"q{q}"})
            conn.execute(statements["read"], p).fetchone()
            conn.exec_driver_sql("COMMIT")
            out.append(time.perf_counter() - t0)
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    print(f"one submit-shaped transaction (12 statements + commit), {args.rounds} rounds, median / p95 µs")
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("NORMAL", "FULL"):
            rows = [("hitl_pipeline.db (DB-API)", ours(Path(tmp) / f"ours-{sync}.db", args.rounds, sync))]
            sa = sqlalchemy_core(Path(tmp) / f"sa-{sync}.db", args.rounds, sync)
            rows.append(("SQLAlchemy Core text()", sa))
            for label, times in rows:
                if times is None:
                    print(f"  synchronous={sync:<6} {label:<28} not installed")
                    continue
                us = sorted(t * 1e6 for t in times)
                p95 = us[int(0.95 * (len(us) - 1))]
                print(f"  synchronous={sync:<6} {label:<28} {statistics.median(us):>8.0f} {p95:>8.0f}")


if __name__ == "__main__":
    main()
