"""Graceful shutdown: a submit in flight when the server is told to stop (Ctrl+C, SIGTERM, a
container being replaced) finishes and is stored before the server and the campaign close."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from hitl_pipeline.ui.client import FormClient, FormError
from hitl_pipeline.ui.server import serve
from tests.ui.ui_support import open_service, trace_spec

ANSWERS = {"support_quality": "acceptable", "helpfulness": 4, "factually_correct": True}


def test_a_submit_in_flight_finishes_before_the_server_stops(demo_db: Path, tmp_path: Path) -> None:
    spec = trace_spec("ui-shutdown", size=3)
    service, source = open_service(spec, demo_db, tmp_path / "home")
    handle = serve(service, spec, host="127.0.0.1", port=0, block=False, reviewer="alice")
    try:
        form = FormClient(handle.url, spec)
        key = form.load().item_key
        assert key is not None
        # Another process holds the state's write lock: the submit waits inside the server.
        blocker = sqlite3.connect(service.state.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        entered = threading.Event()
        validate = service.validate

        def probe(*args: Any, **kw: Any) -> Any:  # the real validation, and a signal that it ran
            entered.set()
            return validate(*args, **kw)

        service.validate = probe  # type: ignore[method-assign]

        def submit() -> None:
            try:
                form.submit(ANSWERS)
            except (FormError, Exception):  # the connection may close with the server: the answer counts
                pass

        client = threading.Thread(target=submit)
        client.start()
        assert entered.wait(60)
        closer = threading.Thread(target=handle.close)
        closer.start()
        closer.join(1.5)
        assert closer.is_alive()  # the stop waits for the submit in flight…
        blocker.execute("COMMIT")
        blocker.close()
        closer.join(60)
        assert not closer.is_alive()
        review = service.state.review(key, "alice")  # …which was stored before it returned
        assert review is not None and review.answers["helpfulness"] == 4
        client.join(60)
        form.close()
    finally:
        handle.close()
        service.close()
        service.state.close()
        source.close()
