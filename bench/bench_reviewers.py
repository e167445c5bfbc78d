"""50 concurrent scripted reviewers against one review server process.

Starts ``hitl run`` (a separate process, demo store, trusted-header identity so that logins are
not part of the measurement) and lets N reviewer threads each open an item and submit K answers
through the form's plain HTTP API (``POST /gradio_api/call/submit`` + the SSE result stream, the
same calls the browser makes). Reports submit latency (the full round trip: validation, the SQLite
transaction, leasing and rendering the next item), errors and the server's memory.

    python bench/bench_reviewers.py                      # 50 reviewers × 6 submits, no pause
    python bench/bench_reviewers.py --think 5            # … with 2.5–7.5 s reading time per item

Results are printed and written to bench/results/reviewers-<time>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hitl_pipeline.spec import load_spec  # noqa: E402
from hitl_pipeline.ui.client import FormClient, FormError  # noqa: E402

SPEC_TEMPLATE = """\
version: 1
campaign: bench-reviewers
title: Benchmark — many reviewers
target: trace
source:
  filters: {{trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}}
  sample: {{size: {size}, strategy: random, seed: 1}}
display:
  parts: [input, output, metadata, tree, scores]
questions:
  - score: support_quality
    type: categorical
    categories: [{{label: excellent, value: 2}}, {{label: acceptable, value: 1}}, {{label: poor, value: 0}}]
  - {{score: helpfulness, type: numeric, min: 1, max: 5, step: 1}}
  - {{score: factually_correct, type: boolean}}
comment: optional
review: {{reviewers_per_item: 1, lease_minutes: 30}}
"""


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of ``pid`` in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run_reviewers(
    url: str, spec_path: str, indices: list[int], submits: int, think: float, start_at: float
) -> dict[str, list[Any]]:
    """Reviewers ``indices``, one thread each, in this process; returns their timings and errors."""
    spec = load_spec(spec_path)
    latencies: list[float] = []
    loads: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def reviewer(i: int) -> None:
        name = f"rev{i:03d}"
        rng = random.Random(i)
        try:
            with FormClient(url, spec, headers={"X-Forwarded-User": name}) as form:
                time.sleep(max(0.0, start_at - time.time()))
                t0 = time.perf_counter()
                screen = form.load()
                with lock:
                    loads.append(time.perf_counter() - t0)
                for k in range(submits):
                    if not screen.item_key:
                        break
                    if think:  # reading time, spread ±50 % so reviewers do not submit in lockstep
                        time.sleep(think * rng.uniform(0.5, 1.5))
                    answers = {"support_quality": ["excellent", "acceptable", "poor"][(i + k) % 3],
                               "helpfulness": 1 + (i + k) % 5, "factually_correct": (i + k) % 2 == 0}  # fmt: skip
                    t0 = time.perf_counter()
                    try:
                        screen = form.submit(answers, comment=f"bench {name} #{k}")
                    except FormError as exc:
                        with lock:
                            errors.append(f"{name}: {exc}")
                        continue
                    with lock:
                        latencies.append(time.perf_counter() - t0)
        except Exception as exc:  # any failure counts as an error of the run
            with lock:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in indices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": latencies, "loads": loads, "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reviewers", type=int, default=50)
    ap.add_argument("--submits", type=int, default=6, help="answers per reviewer")
    ap.add_argument(
        "--think", type=float, default=0.0, help="seconds between opening an item and submitting it"
    )
    ap.add_argument(
        "--procs", type=int, default=1, help="client processes the reviewer threads are spread over"
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
    spec_path = work / "bench.yaml"
    spec_path.write_text(SPEC_TEMPLATE.format(size=args.reviewers * args.submits + args.reviewers))
    load_spec(spec_path)  # fail early on a bad spec, before starting anything
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGFUSE_")}
    env["HITL_HOME"] = str(work / "home")
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "hitl_pipeline", "run", str(spec_path), "--port", str(port),
         "--auth-header", "X-Forwarded-User"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        while True:
            try:
                if (
                    httpx.get(url + "config", headers={"X-Forwarded-User": "probe"}, timeout=2).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"the server exited early ({server.returncode})")
            time.sleep(0.1)
        ready_s = time.monotonic() - started
        rss_idle, _ = rss_kib(server.pid)

        start_at = time.time() + 2.0 * args.procs  # every reviewer starts at the same instant (after imports)
        chunks = [list(range(args.reviewers))[i :: args.procs] for i in range(args.procs)]
        jobs = [(url, str(spec_path), c, args.submits, args.think, start_at) for c in chunks if c]
        t_run = time.perf_counter()
        peak_during = 0
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            pending = pool.starmap_async(run_reviewers, jobs)
            while not pending.ready():
                peak_during = max(peak_during, rss_kib(server.pid)[0])
                time.sleep(0.2)
            parts = pending.get()
        wall = time.perf_counter() - t_run - max(0.0, start_at - time.time())
        latencies = [x for part in parts for x in part["latencies"]]
        loads = [x for part in parts for x in part["loads"]]
        errors = [x for part in parts for x in part["errors"]]
        rss_end, rss_peak = rss_kib(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    ms = [x * 1000 for x in latencies]
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "reviewers": args.reviewers,
        "submits_per_reviewer": args.submits,
        "think_s": args.think,
        "client_processes": args.procs,
        "server_ready_s": round(ready_s, 2),
        "submits": len(ms),
        "errors": len(errors),
        "error_samples": errors[:5],
        "submit_ms": {
            "median": round(statistics.median(ms), 1) if ms else None,
            "p95": round(pct(ms, 95), 1) if ms else None,
            "max": round(max(ms), 1) if ms else None,
        },
        "load_ms_median": round(statistics.median(loads) * 1000, 1) if loads else None,
        "throughput_submits_per_s": round(len(ms) / wall, 1) if wall else None,
        "server_rss_mib": {
            "idle": round(rss_idle / 1024),
            "peak": round(max(rss_peak, peak_during) / 1024),
            "end": round(rss_end / 1024),
        },  # fmt: skip
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "clean_shutdown": server.returncode == 0,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"reviewers-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
