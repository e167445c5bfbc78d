"""Issue 15's benchmark: 50 scripted reviewers on one server with SQLite state, side by side with the
same 50 reviewers spread round-robin over three servers sharing one PostgreSQL state.

Each configuration starts its `hitl run` processes (demo store as the source, trusted-header
identity so that logins are not measured), then the reviewer threads (one client process per
server) open an item and submit answers through the form's HTTP API, as
``bench/bench_reviewers.py`` does. PostgreSQL is a throw-away server started in a temporary
directory with Debian's binaries (tests/support/postgres.py), unless ``--state URL`` names one.

    python bench/bench_team.py                  # 50 reviewers × 6 submits, no pause
    python bench/bench_team.py --think 5        # … with 2.5–7.5 s per item
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_reviewers import SPEC_TEMPLATE, free_port, pct, run_reviewers  # noqa: E402

from hitl_pipeline.spec import load_spec  # noqa: E402


def start_servers(
    spec: Path, work: Path, count: int, state_url: str | None
) -> list[tuple[subprocess.Popen[str], str]]:
    servers = []
    for i in range(count):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "HITL_STATE_URL"))}
        env["HITL_HOME"] = str(work / f"home{i}")
        if state_url:
            env["HITL_STATE_URL"] = state_url
        proc = subprocess.Popen(
            [sys.executable, "-m", "hitl_pipeline", "run", str(spec), "--port", str(port),
             "--auth-header", "X-Forwarded-User"],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                if httpx.get(url + "healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"a server exited early ({proc.returncode})")
            time.sleep(0.1)
        servers.append((proc, url))
    return servers


def measure(label: str, servers: int, state_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="hitl-team-bench-"))
    spec_path = work / "bench.yaml"
    spec_path.write_text(SPEC_TEMPLATE.format(size=args.reviewers * args.submits + args.reviewers))
    load_spec(spec_path)
    running = start_servers(spec_path, work, servers, state_url)
    try:
        start_at = time.time() + 3.0
        jobs = []
        for s, (_, url) in enumerate(running):
            indices = [i for i in range(args.reviewers) if i % servers == s]  # round-robin
            jobs.append((url, str(spec_path), indices, args.submits, args.think, start_at))
        t0 = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            parts = pool.starmap(run_reviewers, jobs)
        wall = time.perf_counter() - t0 - max(0.0, start_at - time.time())
    finally:
        for proc, _ in running:
            proc.send_signal(signal.SIGINT)
        for proc, _ in running:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    ms = [x * 1000 for part in parts for x in part["latencies"]]
    errors = [x for part in parts for x in part["errors"]]
    return {
        "label": label,
        "submits": len(ms),
        "errors": len(errors),
        "error_samples": errors[:3],
        "p50": statistics.median(ms) if ms else float("nan"),
        "p95": pct(ms, 95) if ms else float("nan"),
        "max": max(ms) if ms else float("nan"),
        "throughput": len(ms) / wall if wall > 0 else float("nan"),
        "loadavg": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reviewers", type=int, default=50)
    ap.add_argument("--submits", type=int, default=6)
    ap.add_argument("--think", type=float, default=0.0)
    ap.add_argument("--servers", type=int, default=3, help="servers sharing the PostgreSQL state")
    ap.add_argument("--state", default=None, help="a PostgreSQL URL to use instead of a throw-away server")
    args = ap.parse_args()
    pg = None
    url = args.state
    if url is None:
        from tests.support.postgres import PostgresServer, postgres_bin

        bindir = postgres_bin()
        if bindir is None:
            raise SystemExit("no PostgreSQL binaries (apt-get install postgresql) and no --state URL")
        pg = PostgresServer(bindir).start()
        url = pg.create_database()
    try:
        rows = [
            measure("1 server, SQLite", 1, None, args),
            measure(f"{args.servers} servers, PostgreSQL", args.servers, url, args),
        ]
    finally:
        if pg is not None:
            pg.stop()
    print(f"{args.reviewers} reviewers × {args.submits} submits, think {args.think:g} s")
    print(
        f"{'configuration':<26} {'submits':>7} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'per s':>7} {'load':>5}"
    )
    for r in rows:
        print(
            f"{r['label']:<26} {r['submits']:>7} {r['errors']:>6} {r['p50']:>8.0f} {r['p95']:>8.0f} "
            f"{r['max']:>8.0f} {r['throughput']:>7.1f} {r['loadavg']:>5.1f}"
        )
        for sample in r["error_samples"]:
            print(f"  error: {sample}")


if __name__ == "__main__":
    main()
