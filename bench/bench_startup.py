"""Start-up benchmark: time from launching the command to the review form being served, and server memory.

Measures, side by side in one run on this machine:

* ``hitl run specs/support_qa.yaml`` on the embedded demo store (a fresh state directory each run, the demo
  store already created, as on every run after the first);
* Potato (``potato-annotation`` from PyPI, in its own virtual environment under ``bench/.cache/``, created on the
  first run) serving its first page for an equivalent one-question task.

"Served" means the first ``GET /`` answered 200. Memory is the server process's resident set size once served.

Usage::

    python bench/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
POTATO_VENV = CACHE / "potato-venv"

POTATO_CONFIG = """\
port: 8000
server_name: bench
annotation_task_name: Support QA
task_dir: .
data_files:
  - data/items.json
item_properties:
  id_key: id
  text_key: text
output_annotation_dir: annotation_output/
annotation_codebook_url: ""
user_config:
  allow_all_users: true
  users: []
assignment_strategy: random
max_annotations_per_item: 1
annotation_schemes:
  - annotation_type: radio
    name: support_quality
    description: How good is the answer?
    labels: [excellent, acceptable, poor]
    sequential_key_binding: true
require_password: false
persist_sessions: false
site_dir: default
alert_time_each_instance: 10000000
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            pids.extend(int(c) for c in children)
        except FileNotFoundError:
            continue
    return total


def wait_served(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> float:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(url)


def measure(cmd: list[str], url: str, cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t1 = wait_served(url, proc)
        time.sleep(0.3)  # let the server settle before reading its memory
        return t1 - t0, rss_kb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ensure_potato() -> Path:
    exe = POTATO_VENV / "bin" / "potato"
    if not exe.exists():
        print("creating Potato's venv (one-off) …", file=sys.stderr)
        venv.create(POTATO_VENV, with_pip=True)
        subprocess.run([str(POTATO_VENV / "bin" / "pip"), "install", "-q", "potato-annotation"], check=True)
    return exe


def potato_run(exe: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        task = Path(d)
        (task / "data").mkdir()
        items = [{"id": f"item_{i}", "text": f"Customer message {i}"} for i in range(50)]
        (task / "data" / "items.json").write_text(json.dumps(items))
        (task / "config.yaml").write_text(POTATO_CONFIG)
        port = free_port()
        cmd = [str(exe), "start", "config.yaml", "-p", str(port), "--host", "127.0.0.1"]
        return measure(cmd, f"http://127.0.0.1:{port}/", task, dict(os.environ))


def hitl_run(home: Path, langfuse: dict[str, str] | None = None) -> tuple[float, int]:
    """``hitl run`` of this checkout (``python -m hitl_pipeline``), on the demo store or, with
    ``langfuse`` (its environment variables), on a Langfuse server."""
    port = free_port()
    cmd = [sys.executable, "-m", "hitl_pipeline", "run", str(ROOT / "specs" / "support_qa.yaml")]
    cmd += ["--port", str(port), "--home", str(home)]
    env = dict(
        os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(ROOT)
    )
    if langfuse:
        cmd += ["--source", "langfuse"]
        env.update(langfuse)
    return measure(cmd, f"http://127.0.0.1:{port}/", ROOT, env)


class SlowLangfuse:
    """The Langfuse fake in its own process, ``latency_ms`` per request (400 demo traces)."""

    def __init__(self, latency_ms: float) -> None:
        cmd = [sys.executable, "-m", "tests.support.langfuse_fake", "--traces", "400"]
        cmd += ["--latency-ms", str(latency_ms)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.env = {
            "LANGFUSE_PUBLIC_KEY": info["public_key"],
            "LANGFUSE_SECRET_KEY": info["secret_key"],
            "LANGFUSE_BASE_URL": info["url"],
        }

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--langfuse-latency-ms", type=float, default=300.0, help="also hitl on the Langfuse fake (0: skip)"
    )
    parser.add_argument("--no-potato", action="store_true", help="skip Potato (no venv, no PyPI)")
    args = parser.parse_args()
    exe = None if args.no_potato else ensure_potato()
    results: dict[str, list[tuple[float, int]]] = {"hitl": []}
    if exe is not None:
        results["potato"] = []
    slow = SlowLangfuse(args.langfuse_latency_ms) if args.langfuse_latency_ms else None
    lf_name = f"hitl-lf{args.langfuse_latency_ms:g}ms"
    if slow is not None:
        results[lf_name] = []
    try:
        with tempfile.TemporaryDirectory() as base:
            # One warm-up of each (file caches, the demo store's one-off creation), not counted.
            demo_home = Path(base) / "warm"
            hitl_run(demo_home)
            if exe is not None:
                potato_run(exe)
            for i in range(args.runs):
                home = Path(base) / f"run{i}"
                home.mkdir()
                shutil.copy(
                    demo_home / "local.db", home / "local.db"
                )  # demo store exists, campaign state new
                results["hitl"].append(hitl_run(home))
                if slow is not None:
                    results[lf_name].append(hitl_run(Path(base) / f"lf{i}", slow.env))
                if exe is not None:
                    results["potato"].append(potato_run(exe))
    finally:
        if slow is not None:
            slow.stop()
    print(f"start-up to first form served, {args.runs} runs each (median; min–max), server RSS (median)")
    print(f"{'tool':8} {'seconds':>8} {'range':>14} {'RSS MiB':>8}")
    med: dict[str, float] = {}
    for name, rows in results.items():
        secs = [r[0] for r in rows]
        med[name] = statistics.median(secs)
        mem = statistics.median(r[1] for r in rows) / 1024
        print(f"{name:8} {med[name]:8.2f} {min(secs):6.2f}–{max(secs):<6.2f} {mem:8.0f}")
    if "potato" in med:
        print(f"ratio hitl/potato: {med['hitl'] / med['potato']:.2f}× (target ≤ 2.0×)")
    if lf_name in med:
        print(
            f"Langfuse at {args.langfuse_latency_ms:g} ms vs demo store: +{med[lf_name] - med['hitl']:.2f} s (target ≤ +1.5 s)"
        )


if __name__ == "__main__":
    main()
