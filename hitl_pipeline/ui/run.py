"""``hitl run``: open the campaign, serve the form until Ctrl+C, shut everything down cleanly."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hitl_pipeline.errors import ConfigError
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import ReviewSpec
from hitl_pipeline.ui.accounts_db import accounts_for
from hitl_pipeline.ui.auth import ReviewerAccounts


@dataclass(frozen=True)
class Serving:
    """How the form is being served, for the console: URL, who can get in, the queue, where answers go."""

    url: str
    access: str
    items: int = 0  # items in the campaign's queue
    reviews_left: int = 0  # review slots not answered yet (items × reviewers per item − answered)
    destination: str = ""  # where answers are written (the local store's path, the Langfuse host/project)


def choose_access(
    home: Path, *, reviewer: str | None, auth_header: str | None
) -> tuple[ReviewerAccounts | None, str | None, str | None, str]:
    """(accounts, auth_header, reviewer, description) from the options and ``<home>/reviewers.json``.

    Reviewer accounts, when the file has any, always apply (password login); ``--auth-header``
    replaces them; otherwise the form is single-user: ``--reviewer`` or the OS user name.
    """
    from hitl_pipeline.ui.access import default_reviewer_name

    accounts = accounts_for(home)  # the state database's with --state postgresql://…
    if auth_header:
        if reviewer:
            raise ConfigError(
                "--reviewer is for single-user mode; with --auth-header the proxy names the reviewer"
            )
        return None, auth_header, None, f"reviewers identified by the {auth_header} header (trusted proxy)"
    names = accounts.names()
    if names:
        if reviewer:
            raise ConfigError(
                f"{accounts.path} has reviewer accounts, so reviewers log in; drop --reviewer "
                "(or use another --home for single-user mode)"
            )
        return accounts, None, None, f"login required ({len(names)} reviewer account(s) in {accounts.path})"
    name = reviewer or default_reviewer_name()
    return (
        None,
        None,
        name,
        f"single user, no login: reviewing as {name!r} (add accounts: hitl reviewers add NAME)",
    )


def _import_form() -> None:
    """Import the form's modules (gradio, uvicorn, FastAPI); a failure shows when they are used."""
    try:
        importlib.import_module("hitl_pipeline.ui.server")
    except Exception:  # noqa: S110  the main thread's import raises it again, in context
        pass


def serve_campaign(
    spec: ReviewSpec,
    open_source: Callable[[], Source],
    *,
    home: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    reviewer: str | None = None,
    auth_header: str | None = None,
    on_ready: Callable[[Serving], None] | None = None,
    block: bool = True,
    new_version: bool = False,
) -> None:
    """Open (or resume) the campaign of ``spec`` on the source ``open_source()`` returns and serve its form.

    The access options are checked first (a public bind without authentication, or a single user
    the spec's ``review.reviewers`` does not list, is refused before anything is opened or created);
    a new campaign whose filters match nothing is refused with the count left after each filter
    (:class:`~hitl_pipeline.campaign.startup.EmptyQueueError`); the source is closed when serving ends.

    ``new_version`` starts a new campaign version when the spec changed in meaning (``--new-version``).

    The outbox worker drains scores to the source in the background while the server runs. On
    Ctrl+C (or when ``block`` is False, right after ``on_ready``) the server stops, then the
    campaign (worker stopped after its current round; unsent scores stay in the durable outbox for
    the next run or ``hitl sync``).
    """
    # gradio takes seconds to import: import it (with the form's modules) in the background while
    # the options are checked and the spec, source and queue are prepared (network-bound).
    preload = threading.Thread(target=_import_form, name="hitl-import-gradio", daemon=True)
    preload.start()
    from hitl_pipeline.campaign.lifecycle import open_campaign
    from hitl_pipeline.campaign.startup import destination
    from hitl_pipeline.ui.access import check_binding

    accounts, header, name, access = choose_access(home, reviewer=reviewer, auth_header=auth_header)
    check_binding(host, authenticated=accounts is not None or header is not None)  # before opening anything
    listed = spec.review.reviewers
    if name is not None and listed and name not in {*listed, *spec.review.adjudicators}:
        # The form would only say "not a reviewer of this campaign": say how to run it instead.
        raise ConfigError(
            f"{spec.path} lets only {', '.join(listed)} review (review.reviewers), and this single-user "
            f"form would review as {name!r}: run it as one of them (--reviewer {listed[0]}), or add "
            "reviewer accounts (hitl reviewers add NAME) so that each reviewer logs in"
        )
    source = open_source()
    try:
        # An empty new queue is refused with the count left after each filter (EmptyQueueError).
        service = open_campaign(spec, source, home=home, new_version=new_version, allow_empty=False)
        where = destination(source)
    except BaseException:
        source.close()
        raise
    try:
        preload.join()
        from hitl_pipeline.ui.server import serve

        handle = serve(
            service,
            spec,
            host=host,
            port=port,
            auth=accounts,
            auth_header=header,
            reviewer=name,
            block=False,
        )
        try:
            if on_ready is not None:
                counts = service.state.counts(service.n)
                # Adaptive overlap: the review slots decided so far, not items × the maximum.
                total = (
                    service.overlap.total_slots() if service.overlap is not None else counts.items * service.n
                )
                left = max(0, total - counts.reviews)
                on_ready(Serving(handle.url, access, counts.items, left, where))
            if block:
                handle.wait()
        finally:
            handle.close()
    finally:
        service.close()
        source.close()
