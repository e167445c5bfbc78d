"""Benchmark: listing review candidates from the local store at 10,000 and 100,000 traces.

For each store size it builds a local store with ``generate_large`` (cached under ``--dir`` so a
rerun skips the build), then lists candidates for a few filters — timing the full listing and
measuring the peak Python memory allocated while listing (``tracemalloc``). Candidates are counted,
not kept, as the queue builder streams them: the peak should stay flat as the store grows.

    python bench/bench_queue.py                 # 10k and 100k traces
    python bench/bench_queue.py --sizes 10000   # quicker

The campaign engineer adds sampling timings on top of :func:`list_candidates`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hitl_pipeline.model import Target
from hitl_pipeline.sources.demo import generate_large
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.model import Filters

NOW = datetime(2026, 11, 1, tzinfo=UTC)
MONTH = {"time_from": "2026-10-01", "time_to": "2026-11-01"}

#: (label, target, filters): a selective filter, a broad one, and the other two targets.
CASES: list[tuple[str, Target, Filters]] = [
    (
        "selective: billing+vip+production",
        "trace",
        Filters(**MONTH, metadata=(("topic", ("billing",)),), tags=("vip",), environment=("production",)),
    ),
    (
        "selective: de/ja, one week",
        "trace",
        Filters(time_from="2026-10-08", time_to="2026-10-15", metadata=(("language", ("de", "ja")),)),
    ),
    ("broad: whole month", "trace", Filters(**MONTH)),
    (
        "observations: answers, order-lookup",
        "observation",
        Filters(**MONTH, observation_name=("generate-answer",), trace_name=("order-lookup",)),
    ),
    ("sessions: escalated", "session", Filters(**MONTH, tags=("escalated",))),
]


@dataclass(frozen=True)
class Listing:
    count: int
    seconds: float
    peak_bytes: int


def build_store(path: Path, n_traces: int, seed: int = 0) -> float:
    """Create ``path`` with ``n_traces`` generated traces (skipped when it exists); returns seconds spent."""
    if path.exists():
        return 0.0
    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    start = time.perf_counter()
    with LocalSource(tmp) as store:
        store.insert_traces(generate_large(n_traces, seed=seed))
        store.analyze()
        store.checkpoint()
    tmp.rename(path)
    return time.perf_counter() - start


def list_candidates(
    store: LocalSource, target: Target, filters: Filters, stratify_by: str | None = None
) -> Listing:
    """List every candidate (counting, not keeping them): one timed pass, then one pass under
    ``tracemalloc`` for the peak memory (tracing slows allocation down, so it is not timed)."""
    start = time.perf_counter()
    count = sum(1 for _ in store.iter_candidates(target, filters, now=NOW, stratify_by=stratify_by))
    seconds = time.perf_counter() - start
    tracemalloc.start()
    tracemalloc.reset_peak()
    for _ in store.iter_candidates(target, filters, now=NOW, stratify_by=stratify_by):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Listing(count=count, seconds=seconds, peak_bytes=peak)


#: Sampling cases (campaign engineer): 1,000 items out of a filtered month, each strategy.
SAMPLING: list[tuple[str, Filters, str, str | None]] = [
    (
        "random 1,000 of support-chat/production",
        Filters(**MONTH, trace_name=("support-chat",), environment=("production",)),
        "random",
        None,
    ),
    (
        "latest 1,000 of support-chat/production",
        Filters(**MONTH, trace_name=("support-chat",), environment=("production",)),
        "latest",
        None,
    ),
    ("stratified 1,000 by topic, whole month", Filters(**MONTH), "stratified", "metadata.topic"),
]


def sample_queue(
    store: LocalSource, filters: Filters, strategy: str, by: str | None, size: int = 1000
) -> Listing:
    """Time :func:`hitl_pipeline.campaign.queue.build_queue` (filter in SQL + seeded sampling), then
    measure its peak Python memory in a second, traced pass. ``count`` = items queued."""
    from hitl_pipeline.campaign.queue import build_queue
    from hitl_pipeline.spec.model import Question, ReviewSpec, Sample

    spec = ReviewSpec(
        campaign="bench",
        title="bench",
        target="trace",
        questions=(Question(score="issue_resolved", type="boolean", label="Resolved?"),),
        filters=filters,
        sample=Sample(size=size, strategy=strategy, by=by, seed=42),  # type: ignore[arg-type]
    )
    start = time.perf_counter()
    plan = build_queue(spec, store, now=NOW)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    tracemalloc.reset_peak()
    build_queue(spec, store, now=NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Listing(count=len(plan), seconds=seconds, peak_bytes=peak)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "hitl-bench-queue")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)

    results: dict[tuple[int, str], Listing] = {}
    for size in args.sizes:
        path = args.dir / f"large-{size}.db"
        built = build_store(path, size)
        how = f"built in {built:.1f} s" if built else "cached"
        print(f"store {size:>7,} traces: {path} ({how})")
        with LocalSource(path) as store:
            for label, target, filters in CASES:
                # Warm the page cache first: this times the queries, not the disk.
                sum(1 for _ in store.iter_candidates(target, filters, now=NOW))
                results[(size, label)] = list_candidates(store, target, filters, stratify_by="metadata.topic")
            for label, filters, strategy, by in SAMPLING:
                results[(size, label)] = sample_queue(store, filters, strategy, by)

    print()
    head = f"{'filter':<36} " + " ".join(f"{f'{s:,} traces':>30}" for s in args.sizes)
    print(head)
    print(f"{'':<36} " + " ".join(f"{'items     time   peak mem':>30}" for _ in args.sizes))
    print("-" * len(head))
    for label in [c[0] for c in CASES] + [c[0] for c in SAMPLING]:
        cells = []
        for size in args.sizes:
            r = results[(size, label)]
            cells.append(f"{r.count:>9,} {r.seconds * 1000:>7.0f} ms {r.peak_bytes / 1024:>7.0f} KiB")
        print(f"{label:<36} " + " ".join(f"{c:>30}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
