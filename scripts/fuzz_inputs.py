"""The long run of the input fuzz tests, plus the cost of refusing a 10 MB spec.

    python scripts/fuzz_inputs.py [--examples 5000]

Runs tests/spec/test_spec_fuzz.py and tests/sources/test_jsonl_fuzz.py with
``HITL_FUZZ_EXAMPLES`` examples each (CI runs 150) and prints, side by side, examples, time and
outcome; then validates a 10 MB spec in a fresh process and prints its wall time and peak RSS.
Exit 1 if any fuzz run found a failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = ["tests/spec/test_spec_fuzz.py", "tests/sources/test_jsonl_fuzz.py"]
BIG_SPEC = """
import resource, sys, time
from hitl_pipeline.spec import validate_spec
start = time.perf_counter()
issues = validate_spec(sys.argv[1])
took = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{took:.3f} {rss:.0f} {issues[0].message[:60]!s}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args()
    env = {**os.environ, "HITL_FUZZ_EXAMPLES": str(args.examples), "PYTHONPATH": str(REPO)}
    failed = False
    print(f"{'fuzz test':<40} {'examples':>9} {'time':>9}  outcome")
    for test in TESTS:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-x"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - start
        outcome = "0 failures" if proc.returncode == 0 else "FAILED"
        failed |= proc.returncode != 0
        print(f"{test:<40} {args.examples:>9,} {took:>8.1f}s  {outcome}")
        if proc.returncode != 0:
            print(proc.stdout[-4000:])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        head = (REPO / "specs" / "support_qa.yaml").read_text(encoding="utf-8")
        filler = "".join(f"k{i}: [{i}, abc, {{x: y}}]\n" for i in range(450_000))
        path.write_text(head + filler, encoding="utf-8")
        size = path.stat().st_size / 1e6
        out = subprocess.run(
            [sys.executable, "-c", BIG_SPEC, str(path)], cwd=REPO, env=env, capture_output=True, text=True
        )
        took, rss, message = (out.stdout.strip().split(" ", 2) + ["", "", ""])[:3]
        print(f"\nvalidate a {size:.1f} MB spec: {took} s, peak RSS {rss} MiB: {message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
