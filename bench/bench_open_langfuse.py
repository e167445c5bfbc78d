"""The Langfuse-bound part of ``hitl run``'s start-up: opening ``specs/support_qa.yaml``'s campaign
(source, probe, score configs, queue listing, resume check) against the fake at 300 ms per request.

Plain script::

    python bench/bench_open_langfuse.py [--runs 3] [--latency-ms 300]

Prints the seconds and the requests of each run (a new campaign state each time). The whole
``hitl run`` (gradio included, imported in the background meanwhile) is ``bench/bench_startup.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hitl_pipeline.campaign.lifecycle import open_campaign  # noqa: E402
from hitl_pipeline.sources.demo import generate_demo  # noqa: E402
from hitl_pipeline.sources.langfuse import LangfuseSource  # noqa: E402
from hitl_pipeline.spec import load_spec  # noqa: E402
from tests.support.langfuse_fake import LangfuseFake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    args = parser.parse_args()
    spec = load_spec(ROOT / "specs" / "support_qa.yaml")
    with LangfuseFake(mode="v4", latency_ms=args.latency_ms) as fake:
        fake.load_demo(generate_demo(seed=0, traces=400))
        for _ in range(args.runs):
            fake.reset_counters()
            t0 = time.perf_counter()
            src = LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
            svc = open_campaign(spec, src, home=Path(tempfile.mkdtemp()), worker=False, start=False)
            seconds = time.perf_counter() - t0
            print(f"{seconds:.2f} s, {fake.total_requests} requests", flush=True)
            svc.close()
            src.close()


if __name__ == "__main__":
    main()
