"""Adaptive overlap vs fixed overlap 3: reviews spent, α with its interval, consensus accuracy.

What it simulates: the demo store with 1,000 traces and its LLM judge scores
(``llm_judge_helpfulness``). Each trace gets a simulated true label for the boolean question
"is the answer helpful?": what the judge says (score ≥ 0.5), flipped for ``--judge-error`` of the
items (the judge is wrong there). A pool of reviewers with known error rates (``--errors``) works
through the campaign through :class:`~hitl_pipeline.campaign.service.CampaignService` — the real
queue, leases and adaptive overlap policy, on the local store — each answering the truth except
for their error rate (seeded).

Two campaigns over the same 1,000 items, side by side:

- **fixed 3**: ``reviewers_per_item: 3``; consensus = majority of 3;
- **adaptive 1–3**: ``reviewers_per_item: {min: 1, max: 3, spot_check: 0.1}``; a second reviewer
  when the first disagrees with the judge or on the 10 % spot-check, a third when two disagree;
  consensus = majority of the reviews the item got (a 1–1 tie cannot remain: it triggers a third).

Printed: reviews spent, Krippendorff's α with its bootstrap 95 % interval (fixed: all items;
adaptive: the spot-check sample's first two answers, the unbiased estimate the report uses, and,
for contrast, all multiply-reviewed items, which are selected for disagreement), the consensus
accuracy against the simulated truth with its Wilson interval, and the saving.

Goal (issue 13): ≥ 40 % fewer reviews for a consensus accuracy within 1 point of fixed overlap 3.

Usage::

    python bench/bench_adaptive.py [--items 1000] [--errors 0.08,0.12,0.15,0.2,0.25] [--judge-error 0.15]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hitl_pipeline.spec  # noqa: E402,F401  (import order: spec package first)
from hitl_pipeline.campaign.lifecycle import open_campaign  # noqa: E402
from hitl_pipeline.model.stats import wilson_interval  # noqa: E402
from hitl_pipeline.quality.overlap import is_spot_checked  # noqa: E402
from hitl_pipeline.report.gates import alpha_estimate  # noqa: E402
from hitl_pipeline.sources.demo import generate_demo, load_demo  # noqa: E402
from hitl_pipeline.sources.local import LocalSource  # noqa: E402
from hitl_pipeline.spec import load_spec_text  # noqa: E402

NOW = datetime(2026, 11, 5, tzinfo=UTC)

SPEC = """\
version: 1
campaign: bench-{name}
title: Adaptive overlap benchmark
target: trace
source:
  filters: {{from: "2026-09-01", to: "2026-11-05"}}
  sample: {{size: {items}, seed: 1}}
questions:
  - score: helpful
    type: boolean
    compare_with: llm_judge_helpfulness
review:
  reviewers_per_item: {overlap}
  lease_minutes: 600
"""


def run(
    name: str,
    overlap: str,
    items: int,
    store: LocalSource,
    home: Path,
    truth: dict[str, bool],
    errors: list[float],
    seed: int,
) -> dict[str, Any]:
    spec = load_spec_text(SPEC.format(name=name, items=items, overlap=overlap), f"<{name}>")
    reviewers = [f"r{i}" for i in range(len(errors))]
    rng = random.Random(seed)
    clock = [NOW]
    answers: dict[str, list[tuple[str, bool]]] = {}
    started = time.perf_counter()
    with open_campaign(
        spec, store, home=home, now=NOW, clock=lambda: clock[0], start=False, worker=False
    ) as svc:
        queued = [r.key for r in svc.state.items()]
        active = list(reviewers)
        while active:
            for reviewer, error in zip(reviewers, errors, strict=True):
                if reviewer not in active:
                    continue
                a = svc.open_next(reviewer)
                if a is None:
                    active.remove(reviewer)
                    continue
                right = truth[a.item_key]
                given = right if rng.random() >= error else not right
                clock[0] += timedelta(seconds=20)
                svc.submit(reviewer, a.item_key, {"helpful": given}, None)
                answers.setdefault(a.item_key, []).append((reviewer, given))
    elapsed = time.perf_counter() - started
    q = spec.question("helpful")
    units = {k: dict(v) for k, v in answers.items()}
    correct = 0
    for key in queued:
        votes = Counter(v for _, v in answers.get(key, []))
        top = votes.most_common()
        consensus = top[0][0] if top and (len(top) == 1 or top[0][1] > top[1][1]) else None
        correct += int(consensus == truth[key])
    out: dict[str, Any] = {
        "reviews": sum(len(v) for v in answers.values()),
        "items": len(queued),
        "accuracy": correct / len(queued),
        "accuracy_ci": wilson_interval(correct, len(queued)),
        "alpha_all": alpha_estimate(q, units),
        "seconds": elapsed,
    }
    if spec.review.adaptive is not None:
        spot = {k: dict(v[:2]) for k, v in answers.items() if is_spot_checked(spec, k)}
        out["alpha_spot"] = alpha_estimate(q, spot)
        out["spot_items"] = len(spot)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--errors", default="0.08,0.12,0.15,0.2,0.25", help="reviewers' error rates")
    parser.add_argument("--judge-error", type=float, default=0.15, help="share of items the judge gets wrong")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    errors = [float(x) for x in args.errors.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = LocalSource(root / "local.db")
        data = generate_demo(seed=0, traces=args.items)
        load_demo(store, data)
        store.create_score_config("helpful", "BOOLEAN", description="bench: is the answer helpful?")
        judge = {
            f"trace:{s.trace_id}": float(s.value)  # type: ignore[arg-type]
            for s in data.scores
            if s.name == "llm_judge_helpfulness" and s.observation_id is None
        }
        rng = random.Random(args.seed)
        truth = {}
        for t in data.traces:
            key = f"trace:{t.id}"
            says = judge.get(key, rng.random()) >= 0.5
            truth[key] = says if rng.random() >= args.judge_error else not says
        try:
            fixed = run("fixed", "3", args.items, store, root / "fixed", truth, errors, args.seed)
            adaptive = run(
                "adaptive",
                "{min: 1, max: 3, spot_check: 0.1, seed: 3}",
                args.items,
                store,
                root / "adaptive",
                truth,
                errors,
                args.seed,
            )
        finally:
            store.close()

    def acc(r: dict[str, Any]) -> str:
        lo, hi = r["accuracy_ci"]
        return f"{100 * r['accuracy']:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"

    print(
        f"{args.items} demo items ({sum(1 for k in truth if k in judge)} with a judge score), "
        f"reviewer error rates {errors}, judge wrong on {args.judge_error:.0%} of items"
    )
    print(f"{'':34}{'fixed 3':>30}{'adaptive 1–3':>30}")
    print(f"{'reviews spent':34}{fixed['reviews']:>30}{adaptive['reviews']:>30}")
    print(f"{'items':34}{fixed['items']:>30}{adaptive['items']:>30}")
    print(f"{'consensus accuracy vs truth':34}{acc(fixed):>30}{acc(adaptive):>30}")
    print(
        f"{'α nominal (all multi-rated items)':34}{fixed['alpha_all'].shown():>30}{adaptive['alpha_all'].shown():>30}"
    )
    spot = f"{adaptive['alpha_spot'].shown()} (n={adaptive['spot_items']})"
    print(f"{'α nominal (spot-check sample)':34}{'—':>30}{spot:>30}")
    print(f"{'wall time (s)':34}{fixed['seconds']:>30.1f}{adaptive['seconds']:>30.1f}")
    saved = 1 - adaptive["reviews"] / fixed["reviews"]
    delta = 100 * (adaptive["accuracy"] - fixed["accuracy"])
    ok = saved >= 0.40 and delta >= -1.0
    print(
        f"reviews saved: {saved:.1%}; accuracy difference: {delta:+.1f} points → goal (≥ 40 % fewer, "
        f"within 1 point): {'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
