"""Requests per reviewed item, submit → next item, and time to every score confirmed: a scripted
review campaign against the Langfuse fake (issue 12).

Plain script (no pytest)::

    python bench/bench_requests.py                              # the default matrix (≈ 10 min)
    python bench/bench_requests.py --server array --reviewers 5 --items 200
    python bench/bench_requests.py --server v3 --reviewers 3 --items 60 --think 2
    python bench/bench_requests.py --rate-limited                # 30 requests/min, 3 reviewers at 10 s

Each run: a fresh fake in its own process (400 demo traces, ``--latency-ms`` per request, default
50), a campaign of ``--items`` traces (3 questions: 3 scores per item, the LLM-judge score shown as
context), opened exactly as ``hitl run`` opens it (probe, queue, prefetch, outbox worker), and
``--reviewers`` threads that each take the next item, read it for ``--think`` seconds, submit and
take the next one. Printed per run:

* requests per reviewed item, split into item reads (``v2/observations``, legacy readers, the
  context scores), writes (``POST /scores``), read-back confirmations (``v3/scores?id=``) and the
  rest (probe, configs, queue listing), counted on the server;
* submit → next item, p50/p95 (``submit`` + ``open_next``: what a reviewer waits for);
* time from the last submit until every score is confirmed, next to the floor: ⌈N/100⌉ array posts
  at the fake's latency (N = scores);
* reviewer-visible errors (any exception from ``open_next``/``submit``) and 429s the server sent.

Servers: ``array`` (4.61.0: arrays), ``object`` (4.16.0: single objects only), ``v3`` (3.225.4:
legacy readers, single objects).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hitl_pipeline.campaign.lifecycle import open_campaign  # noqa: E402
from hitl_pipeline.sources.budget import RequestBudget  # noqa: E402
from hitl_pipeline.sources.langfuse import LangfuseSource  # noqa: E402
from hitl_pipeline.spec import load_spec_text  # noqa: E402

NOW = datetime(2026, 11, 5, tzinfo=UTC)
SERVERS = {"array": ("v4", "4.61.0"), "object": ("v4", "4.16.0"), "v3": ("v3", "3.225.4")}
SPEC = """\
version: 1
campaign: bench-requests
title: Requests per item
target: trace
source:
  filters:
    from: "2026-10-01"
    to: "2026-11-01"
  sample:
    size: {items}
    strategy: latest
display:
  parts: [input, output, metadata, tree, scores]
  scores: [llm_judge_helpfulness]
questions:
  - score: support_quality
    type: categorical
    categories:
      - {{label: excellent, value: 2}}
      - {{label: acceptable, value: 1}}
      - {{label: poor, value: 0}}
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
  - score: factually_correct
    type: boolean
review:
  reviewers_per_item: 1
"""
ANSWER = {"support_quality": "acceptable", "helpfulness": 4, "factually_correct": True}


class RemoteFake:
    """The fake in its own process (its CPU work does not compete for this process's GIL)."""

    def __init__(self, mode: str, version: str, latency_ms: float, traces: int = 400) -> None:
        cmd = [sys.executable, "-m", "tests.support.langfuse_fake", "--traces", str(traces)]
        cmd += ["--mode", mode, "--version", version, "--latency-ms", str(latency_ms)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url, self.public_key, self.secret_key = info["url"], info["public_key"], info["secret_key"]

    def control(self, route: str, body: Any = None) -> Any:
        if body is None:
            return httpx.get(f"{self.url}/__fake/{route}", timeout=30).json()
        return httpx.post(f"{self.url}/__fake/{route}", json=body, timeout=30).json()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def classify(method: str, path: str, query: dict[str, list[str]]) -> str:
    if method == "POST" and path.rstrip("/") == "/api/public/scores":
        return "writes"
    if method == "GET" and path.startswith("/api/public/v3/scores") and "id" in query:
        return "confirms"
    if method == "GET" and path.startswith("/api/public/v2/scores") and "scoreIds" in query:
        return "confirms"
    item_paths = ("/api/public/traces/", "/api/public/observations/", "/api/public/sessions/")
    if method == "GET" and (
        path.startswith(item_paths)
        or (path.startswith("/api/public/v2/observations") and "io" in (query.get("fields") or [""])[0])
        or (path.startswith(("/api/public/v3/scores", "/api/public/v2/scores")) and "name" in query)
    ):
        return "reads"
    return "other"


@dataclass
class Result:
    server: str
    reviewers: int
    items: int
    think: float
    latency_ms: float
    counts: dict[str, int] = field(default_factory=dict)
    waits: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    to_confirmed: float = float("nan")
    scores: int = 0
    rate_limited: int = 0
    budget: str = "none"

    @property
    def floor(self) -> float:
        return math.ceil(self.scores / 100) * self.latency_ms / 1000

    def per_item(self, kind: str) -> float:
        return self.counts.get(kind, 0) / max(1, self.items)

    def line(self) -> str:
        q = statistics.quantiles(self.waits, n=20) if len(self.waits) >= 2 else [float("nan")] * 19
        review_total = sum(self.counts.get(k, 0) for k in ("reads", "writes", "confirms"))
        return (
            f"| {self.server} | {self.reviewers} × {self.think:g} s | {self.items} | {self.budget} "
            f"| {self.per_item('reads'):.3f} | {self.per_item('writes'):.3f} | {self.per_item('confirms'):.3f} "
            f"| {review_total / max(1, self.items):.3f} | {self.counts.get('other', 0)} "
            f"| {statistics.median(self.waits) * 1000:.1f} / {q[18] * 1000:.1f} ms "
            f"| {self.to_confirmed:.2f} s | {self.floor:.2f} s | {len(self.errors)} | {self.rate_limited} |"
        )


HEADER = (
    "| server | reviewers × think | items | budget | reads/item | writes/item | confirms/item "
    "| total/item | other (start-up) | submit→next p50 / p95 | last submit → all confirmed "
    "| floor ⌈N/100⌉ posts | errors | 429s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def run(
    server: str,
    reviewers: int,
    items: int,
    think: float,
    latency_ms: float,
    budget: str | None = None,
    rate_limit: int | None = None,
) -> Result:
    mode, version = SERVERS[server]
    fake = RemoteFake(mode, version, latency_ms)
    result = Result(server, reviewers, items, think, latency_ms, budget=budget or "none")
    try:
        if rate_limit:
            fake.control("ratelimit", {"limit": rate_limit, "period": 60})
        spec = load_spec_text(SPEC.format(items=items), "<bench>")
        src = LangfuseSource(
            base_url=fake.url,
            public_key=fake.public_key,
            secret_key=fake.secret_key,
            budget=RequestBudget.parse(budget),
        )
        home = Path(tempfile.mkdtemp(prefix="hitl-bench-requests-"))
        lock = threading.Lock()
        last_submit = [0.0]
        try:
            svc = open_campaign(spec, src, home=home, now=NOW, worker=True)
            with svc:

                def reviewer(name: str) -> None:
                    try:
                        a = svc.open_next(name)
                    except Exception as exc:  # a reviewer-visible error
                        with lock:
                            result.errors.append(f"{name}: first item: {exc}")
                        return
                    while a is not None:
                        time.sleep(think)
                        t0 = time.perf_counter()
                        try:
                            svc.submit(name, a.item_key, ANSWER, None)
                            with lock:
                                last_submit[0] = time.monotonic()
                            a = svc.open_next(name)
                        except Exception as exc:
                            with lock:
                                result.errors.append(f"{name}: {exc}")
                            return
                        with lock:
                            result.waits.append(time.perf_counter() - t0)

                threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(reviewers)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                total = svc.state.outbox_counts()
                result.scores = sum(total.values())
                deadline = time.monotonic() + 900
                while time.monotonic() < deadline:
                    if svc.state.outbox_counts()["confirmed"] >= result.scores:
                        break
                    time.sleep(0.01)
                result.to_confirmed = time.monotonic() - last_submit[0]
        finally:
            src.close()
        log = fake.control("requests")
        result.rate_limited = int(log.get("rate_limited", 0))
        for method, path, query in log["requests"]:
            kind = classify(method, path, query)
            result.counts[kind] = result.counts.get(kind, 0) + 1
    finally:
        fake.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=sorted(SERVERS), action="append")
    parser.add_argument("--reviewers", type=int, action="append")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--think", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--budget", default=None, help="request budget, e.g. 30/min")
    parser.add_argument("--rate-limited", action="store_true", help="30/min server and budget, 3 × 10 s")
    args = parser.parse_args()
    print(HEADER, flush=True)
    if args.rate_limited:
        for server in args.server or ["array"]:
            r = run(server, 3, args.items, 10.0, args.latency_ms, budget="30/min", rate_limit=30)
            print(r.line(), flush=True)
            for e in r.errors[:5]:
                print("   error:", e, flush=True)
        return
    for server in args.server or ["array", "object", "v3"]:
        for reviewers in args.reviewers or [1, 3, 5]:
            r = run(server, reviewers, args.items, args.think, args.latency_ms, budget=args.budget)
            print(r.line(), flush=True)
            for e in r.errors[:5]:
                print("   error:", e, flush=True)


if __name__ == "__main__":
    main()
