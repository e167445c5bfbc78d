"""Round trips and wall time of the Langfuse backend against the local fake with injected latency.

Plain script (no pytest):

    python bench/bench_langfuse.py                  # 1,000 traces, 50 ms per request
    python bench/bench_langfuse.py --traces 200 --latency-ms 20 --naive-items 100

Measures, each against a fresh fake loaded with ``generate_demo(traces=N)``:

1. **Queue build**: list the candidates of a trace campaign over the whole month and fetch every
   item in full (observation tree, I/O, existing scores) the way the app does —
   ``iter_candidates`` + ``get_items`` (batched) — versus the naive loop (list, then ``get_item``
   for each trace: its observations, then its scores). The floor is round trips × latency:
   requests are sequential, so no client can beat it without parallel requests.
2. **Write-back** of N scores: array bodies (servers ≥ 4.59) and single objects (older servers),
   then the read-back of all of them by id.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hitl_pipeline.model import ScoreWrite  # noqa: E402
from hitl_pipeline.sources.demo import DemoData, generate_demo  # noqa: E402
from hitl_pipeline.sources.langfuse import LangfuseSource  # noqa: E402
from hitl_pipeline.spec.model import Filters  # noqa: E402

NOW = datetime(2026, 11, 1, tzinfo=UTC)
MONTH = Filters(time_from="2026-10-01", time_to="2026-11-01")
#: The existing scores shown next to each item (``display.scores`` of specs/support_qa.yaml).
SHOWN_SCORES = ["llm_judge_helpfulness"]


@dataclass
class Run:
    name: str
    requests: int
    seconds: float
    items: int
    latency_ms: float

    @property
    def floor(self) -> float:
        return self.requests * self.latency_ms / 1000

    def row(self) -> str:
        ratio = self.seconds / self.floor if self.floor else float("nan")
        return (
            f"| {self.name} | {self.items} | {self.requests} | {self.seconds:.2f} s | {self.floor:.2f} s "
            f"| {ratio:.2f}× |"
        )


class RemoteFake:
    """The fake in its own process (``python -m tests.support.langfuse_fake``), so its CPU work does
    not compete with the client for this process's GIL; counters come over ``/__fake/*``."""

    def __init__(self, traces: int, latency_ms: float, version: str | None = None) -> None:
        cmd = [sys.executable, "-m", "tests.support.langfuse_fake", "--traces", str(traces)]
        cmd += ["--latency-ms", str(latency_ms)]
        if version:
            cmd += ["--version", version]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url, self.public_key, self.secret_key = info["url"], info["public_key"], info["secret_key"]

    def reset_counters(self) -> None:
        httpx.post(self.url + "/__fake/reset")

    @property
    def total_requests(self) -> int:
        return int(httpx.get(self.url + "/__fake/counters").json()["total"])

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _fake(demo: DemoData, latency_ms: float, version: str | None = None) -> RemoteFake:
    return RemoteFake(len(demo.traces), latency_ms, version)


def _source(fake: RemoteFake, **kw: int) -> LangfuseSource:
    return LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, **kw)


def bench_queue(demo: DemoData, latency_ms: float, naive_items: int | None) -> tuple[Run, Run]:
    fake = _fake(demo, latency_ms)
    try:
        src = _source(fake)
        fake.reset_counters()
        t0 = time.perf_counter()
        src.probe()
        refs = list(src.iter_candidates("trace", MONTH, now=NOW))
        items = src.get_items(refs, score_names=SHOWN_SCORES)
        fast = Run(
            "batched (probe + list + get_items)",
            fake.total_requests,
            time.perf_counter() - t0,
            len(items),
            latency_ms,
        )
        assert all(i.trace is not None and i.trace.observations for i in items)

        # The same code, one request at a time: what a loop over get_item does without batching.
        naive_src = _source(fake, fetch_workers=1)
        naive_src.probe()
        fake.reset_counters()
        t0 = time.perf_counter()
        listed = list(naive_src.iter_candidates("trace", MONTH, now=NOW))
        subset = listed[: naive_items or len(listed)]
        for ref in subset:
            naive_src.get_item(ref, score_names=SHOWN_SCORES)
        naive = Run(
            "naive (list, then get_item per trace, sequential)",
            fake.total_requests,
            time.perf_counter() - t0,
            len(subset),
            latency_ms,
        )
        return fast, naive
    finally:
        fake.stop()


def bench_writes(demo: DemoData, latency_ms: float, n: int, version: str) -> tuple[Run, Run]:
    fake = _fake(demo, latency_ms, version)
    try:
        src = _source(fake)
        src.probe()
        src.get_score_config("cfg-helpfulness")
        writes = [
            ScoreWrite(
                id=f"bench-{version}-{i}",
                name="helpfulness",
                value=1 + i % 5,
                data_type="NUMERIC",
                trace_id=demo.traces[i % len(demo.traces)].id,
                config_id="cfg-helpfulness",
                metadata={"hitl_campaign": "bench", "hitl_reviewer": f"r{i % 3}"},
            )
            for i in range(n)
        ]
        fake.reset_counters()
        t0 = time.perf_counter()
        results = src.write_scores(writes)
        write = Run(
            f"write {n} scores (server {version})",
            fake.total_requests,
            time.perf_counter() - t0,
            n,
            latency_ms,
        )
        assert all(r.ok for r in results)
        fake.reset_counters()
        t0 = time.perf_counter()
        got = src.read_scores(w.id for w in writes)
        read = Run(
            f"read back {n} scores by id", fake.total_requests, time.perf_counter() - t0, len(got), latency_ms
        )
        assert len(got) == n
        return write, read
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--naive-items", type=int, default=None, help="Fetch only this many items naively.")
    parser.add_argument("--scores", type=int, default=1000)
    parser.add_argument(
        "--old-scores", type=int, default=100, help="Scores written to a 4.16 server (1 request each)."
    )
    args = parser.parse_args()

    demo = generate_demo(seed=0, traces=args.traces)
    print(f"fake Langfuse, {args.traces} traces, {args.latency_ms:g} ms per request\n")
    fast, naive = bench_queue(demo, args.latency_ms, args.naive_items)
    print("| run | items | requests | time | floor (requests × latency) | time / floor |")
    print("|---|---|---|---|---|---|")
    print(fast.row())
    print(naive.row())
    per_item_naive = naive.seconds / max(naive.items, 1)
    naive_full = per_item_naive * fast.items
    print(
        f"\nqueue build: batched {fast.seconds:.2f} s vs naive {naive_full:.2f} s for {fast.items} items"
        f"{f' (extrapolated from {naive.items})' if naive.items != fast.items else ''}: "
        f"{naive_full / fast.seconds:.1f}× faster; "
        f"{fast.requests} vs {naive.requests * fast.items / max(naive.items, 1):.0f} requests; "
        f"batched is {fast.seconds / fast.floor:.2f}× its floor\n"
    )
    print("| run | scores | requests | time | floor (requests × latency) | time / floor |")
    print("|---|---|---|---|---|---|")
    write, read = bench_writes(demo, args.latency_ms, args.scores, "4.61.0")
    print(write.row())
    print(read.row())
    old_write, _ = bench_writes(demo, args.latency_ms, args.old_scores, "4.16.0")
    print(old_write.row())


if __name__ == "__main__":
    main()
