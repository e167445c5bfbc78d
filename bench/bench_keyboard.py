"""Key presses and time per item for a scripted keyboard-only reviewer, on every example spec.

Serves each spec in ``specs/`` on 127.0.0.1 (fresh campaign on the demo store) and lets the
scripted reviewer of ``tests/browser/keyboard_reviewer.py`` review N items in Debian's Chromium at
1366×900 with the keyboard alone: digits / y / n answer the focused question, text is typed where
required, Tab passes an optional text box, Enter on Submit or Ctrl+Enter from a text box submits.
Key presses count every key but typed characters (those are counted separately). The goal is
≤ questions + 1 key presses per item, where "questions" are the stops the reviewer passed
(questions asked for that item, plus a required comment).

    python bench/bench_keyboard.py            # 10 items per spec
    python bench/bench_keyboard.py --items 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "browser"))  # the scripted reviewer, shared with the tests

from keyboard_reviewer import ItemRun, review_item  # noqa: E402

from hitl_pipeline.campaign.lifecycle import open_campaign  # noqa: E402
from hitl_pipeline.sources.demo import ensure_demo_store  # noqa: E402
from hitl_pipeline.sources.local import LocalSource  # noqa: E402
from hitl_pipeline.spec import load_spec  # noqa: E402
from hitl_pipeline.ui.server import serve  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


def run_spec(browser: Any, spec_path: Path, work: Path, items: int) -> list[ItemRun]:
    spec = load_spec(spec_path)
    reviewer = spec.review.reviewers[0] if spec.review.reviewers else "bench"
    db = work / "demo.db"
    ensure_demo_store(db)
    source = LocalSource(db)
    service = open_campaign(spec, source, home=work / f"home-{spec.campaign}")
    handle = serve(service, spec, host="127.0.0.1", port=0, block=False, reviewer=reviewer)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        pg.goto(handle.url)
        pg.wait_for_function("() => !!document.activeElement?.closest?.('#hitl-q-0')")
        return [review_item(pg, n) for n in range(items)]
    finally:
        context.close()
        handle.close()
        service.close()
        source.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10, help="items reviewed per spec (default 10)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for spec_path in sorted((ROOT / "specs").glob("*.yaml")):
                runs = run_spec(browser, spec_path, Path(tmp), args.items)
                keys = [len(r.keys) for r in runs]
                over = [r for r in runs if len(r.keys) > r.questions + 1]
                rows.append(
                    (
                        spec_path.stem,
                        len(runs),
                        f"{statistics.mean(keys):.1f} ({min(keys)}–{max(keys)})",
                        f"{statistics.mean(r.questions for r in runs):.1f}",
                        f"{statistics.mean(r.typed for r in runs):.0f}",
                        f"{statistics.median(r.seconds for r in runs):.2f} s",
                        "yes" if not over else f"no ({len(over)} items)",
                    )
                )
        finally:
            browser.close()
    head = (
        "spec",
        "items",
        "keys / item (min–max)",
        "stops / item",
        "chars typed / item",
        "median time / item",
        "≤ stops + 1",
    )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for row in (head, *rows):
        print(" | ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
