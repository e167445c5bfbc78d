"""Screenshots of the review form for every example spec, at a desktop and a phone size.

Usage: ``python scripts/screenshots.py [--out docs/screenshots] [--spec specs/support_qa.yaml …]``

Each spec is served on 127.0.0.1 against a fresh demo store (in a temporary directory) and shown in
Debian's Chromium (``/usr/bin/chromium``, driven by Playwright): the first item as it opens
(``<spec>-desktop.png`` at 1366×900, ``<spec>-phone.png`` at 390×844) and the screen after a
submit with the required answers missing (``<spec>-missing.png``). Each picture is the viewport,
as the reviewer sees it without scrolling.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hitl_pipeline.campaign.lifecycle import open_campaign  # noqa: E402
from hitl_pipeline.sources.demo import ensure_demo_store  # noqa: E402
from hitl_pipeline.sources.local import LocalSource  # noqa: E402
from hitl_pipeline.spec import load_spec  # noqa: E402
from hitl_pipeline.ui.server import serve  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def reviewer_of(spec: Any) -> str:
    """Who reviews in the pictures: the first listed reviewer, else a neutral name."""
    return spec.review.reviewers[0] if spec.review.reviewers else "reviewer"


def wait_ready(pg: Any) -> None:
    """The item is shown with its content and the first question has the focus."""
    pg.wait_for_selector("#hitl-item", state="visible")
    pg.wait_for_function(
        """() => [...document.querySelectorAll('[id^="hitl-chat-"], [id^="hitl-json-"], [id^="hitl-text-"]')]
              .some((el) => el.offsetParent !== null && el.innerText.trim().length > 20)"""
    )
    pg.wait_for_function("() => !!document.activeElement?.closest?.('#hitl-q-0')")


def shoot(spec_path: Path, out: Path, browser: Any, work: Path) -> list[Path]:
    spec = load_spec(spec_path)
    db = work / "demo.db"
    ensure_demo_store(db)
    source = LocalSource(db)
    service = open_campaign(spec, source, home=work / f"home-{spec.campaign}")
    handle = serve(service, spec, host="127.0.0.1", port=0, block=False, reviewer=reviewer_of(spec))
    made: list[Path] = []
    try:
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            pg = context.new_page()
            pg.set_default_timeout(20_000)
            pg.goto(handle.url)
            wait_ready(pg)
            path = out / f"{spec_path.stem}-{size}.png"
            pg.screenshot(path=str(path))
            made.append(path)
            if size == "desktop":
                pg.click("#hitl-submit")
                pg.wait_for_selector(".hitl-q.hitl-invalid")
                path = out / f"{spec_path.stem}-missing.png"
                pg.screenshot(path=str(path))
                made.append(path)
            context.close()
    finally:
        handle.close()
        service.close()
        source.close()
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--spec", type=Path, action="append", help="spec file (default: every specs/*.yaml)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    specs = args.spec or sorted((REPO / "specs").glob("*.yaml"))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for spec_path in specs:
                for path in shoot(spec_path, args.out, browser, Path(tmp)):
                    print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
