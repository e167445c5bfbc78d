"""A campaign's life: open (create or resume) from its spec, spec changes, dry run and sync.

:func:`open_campaign` creates a campaign's durable state from its spec (build the queue once,
store it with the ``now`` its relative windows were resolved against) or resumes it. With the state
lost (a new machine), it rebuilds what is done from the scores this campaign already wrote to the
source (:mod:`hitl_pipeline.campaign.resume`). A changed spec is compared with the recorded one
(:mod:`hitl_pipeline.spec.diff`): a harmless change continues, a larger sample grows the queue, a
change of meaning needs a new campaign version.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from hitl_pipeline.campaign.queue import QueuePlan, build_queue
from hitl_pipeline.campaign.resume import resume_from_source
from hitl_pipeline.campaign.service import SERVER_LOCK_PREFIX, CampaignService
from hitl_pipeline.campaign.startup import EmptyQueueError, explain_empty
from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.state.location import StateLocation
from hitl_pipeline.db import locks
from hitl_pipeline.errors import CampaignError
from hitl_pipeline.model import ScoreConfig
from hitl_pipeline.model.clock import Clock, utcnow
from hitl_pipeline.scoring.outbox import CONFIRM_TIMEOUT, Backoff, DrainReport, OutboxWorker, drain
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.codec import spec_from_json, spec_to_json
from hitl_pipeline.spec.diff import SpecChangePlan, plan_spec_change
from hitl_pipeline.spec.model import ReviewSpec


def campaign_db_path(home: Path | str, campaign: str) -> Path:
    """Where a campaign's state lives: ``<home>/campaigns/<campaign>.db``."""
    return Path(home) / "campaigns" / f"{campaign}.db"


def git_commit_of(path: str) -> str | None:
    """The git commit (HEAD) of the repository holding ``path``, or None (not in git, git missing)."""
    folder = Path(path).resolve().parent if path and not path.startswith("<") else None
    if folder is None or not folder.is_dir():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


# -- open / resume ------------------------------------------------------------------------------


def open_campaign(
    spec: ReviewSpec,
    source: Source,
    *,
    home: Path | str,
    now: datetime | None = None,
    configs: Mapping[str, ScoreConfig] | None = None,
    clock: Clock = utcnow,
    start: bool = True,
    worker: bool = True,
    backoff: Backoff | None = None,
    confirm_timeout: float = CONFIRM_TIMEOUT,
    prefetch_depth: int = 4,
    new_version: bool = False,
    allow_empty: bool = True,
) -> CampaignService:
    """Create or resume the campaign of ``spec`` and return its review service.

    Args:
        spec: the validated spec.
        source: where items come from and scores go.
        home: the state directory (``.hitl``); the state is ``<home>/campaigns/<campaign>.db``, or
            a schema of the PostgreSQL database named by ``HITL_STATE_URL`` (``--state``).
        now: the instant relative time windows resolve against, for a *new* campaign (default:
            the clock); a resumed campaign keeps the one it was created with.
        configs: question → score config, when already resolved; else resolved from the source
            (``scoring.configs.resolve_configs``) before anything is created or changed, so a spec
            whose configs do not match leaves no campaign state behind.
        clock: time source for leases and timestamps.
        start: start the outbox worker and the prefetch of the first items.
        worker: attach a background outbox worker (drains scores while reviewers work).
        backoff, confirm_timeout: outbox worker settings.
        prefetch_depth: items fetched ahead of each reviewer.
        new_version: start a new campaign version (``--new-version``): the current state is
            archived as ``<campaign>.v<N>.db`` and version N+1 starts with a fresh queue; its scores
            have their own ids and ``hitl_spec_version``.
        allow_empty: create a new campaign even when no item matches its filters; when False
            (``hitl run``) an empty new queue raises :class:`EmptyQueueError`, whose message
            counts the items left after each filter, and nothing is created.

    Returns:
        The :class:`CampaignService`; close it when done.

    Raises:
        CampaignError: the spec changed in a way that alters the meaning of answers (the message
            lists every difference) and ``new_version`` is not set.
    """
    # Everything that can refuse the run comes before anything is created or changed: the spec
    # change is planned on the existing state (read only), then the score configs are resolved.
    location = StateLocation.of(home, spec.campaign)
    state = location.open() if location.exists() else None
    try:
        if state is not None:
            _plan_spec_change(state, spec, new_version=new_version, location=location)
        if configs is None:
            from hitl_pipeline.scoring.configs import resolve_configs

            configs = resolve_configs(spec, source, create=False)
        created = clock()
        plan = build_queue(spec, source, now=now or created) if state is None else None
        if plan is not None and not plan.refs and not allow_empty:
            # Refused before any state exists: fixing the filters is then no meaning change.
            raise EmptyQueueError("\n".join(explain_empty(spec, source, plan.now)))
        if state is None:
            state = location.open()
        # The spec's commit *now* (a harmless edit may have been committed since creation).
        commit = git_commit_of(spec.path)
        # Decided once under the campaign's lifecycle lease: two processes starting at once (a
        # second server, a `--new-version`) see each other's decision, never both act on a stale one.
        with _lifecycle(location, state) as current:
            state = current
            change = _plan_spec_change(state, spec, new_version=new_version, location=location)
            version = 1
            if change is not None:
                state, version = _apply_spec_change(state, change, spec, source, location)
            _initialise_or_record(
                state, spec, source, plan=plan, version=version, now=now, created=created, commit=commit
            )
        state.save_configs(configs, created)
        if state.resume_pending():
            resume_from_source(spec, source, state)
        service = _service(
            spec,
            state,
            source,
            configs,
            clock=clock,
            commit=commit,
            start=start,
            worker=worker,
            backoff=backoff,
            confirm_timeout=confirm_timeout,
            prefetch_depth=prefetch_depth,
        )
    except BaseException:
        if state is not None:
            state.close()
        raise
    return service.start() if start else service


def _initialise_or_record(
    state: CampaignState,
    spec: ReviewSpec,
    source: Source,
    *,
    plan: QueuePlan | None,
    version: int,
    now: datetime | None,
    created: datetime,
    commit: str | None,
) -> None:
    """Create a new campaign's queue, or record the (unchanged or harmlessly changed) spec."""
    if not state.is_initialized():
        plan = plan or build_queue(spec, source, now=now or created)
        state.initialize(
            campaign=spec.campaign,
            spec_hash=spec.spec_hash,
            spec_json=spec_to_json(spec),
            spec_version=version,
            now=plan.now,
            created_at=created,
            git_commit=commit,
            refs=plan.refs,
        )
    else:
        # Another campaign's state or a meaning-changing edit was refused by _plan_spec_change;
        # here the (unchanged or harmlessly changed) spec is recorded.
        state.record_spec(spec.spec_hash, spec_to_json(spec), state.meta().spec_version, created)


def _service(
    spec: ReviewSpec,
    state: CampaignState,
    source: Source,
    configs: Mapping[str, ScoreConfig],
    *,
    clock: Clock,
    commit: str | None,
    start: bool,
    worker: bool,
    backoff: Backoff | None,
    confirm_timeout: float,
    prefetch_depth: int,
) -> CampaignService:
    """The review service of an opened state, with its outbox worker and annotation-queue mirror."""
    meta = state.meta()
    outbox = (
        OutboxWorker(state, source, backoff=backoff, confirm_timeout=confirm_timeout, clock=clock)
        if worker
        else None
    )
    service = CampaignService(
        spec,
        state,
        source,
        configs,
        clock=clock,
        git_commit=commit or meta.git_commit,
        prefetch_depth=prefetch_depth,
        worker=outbox,
    )
    if spec.langfuse.annotation_queue:
        from hitl_pipeline.campaign.annotation_queue import attach_queue_mirror

        try:
            attach_queue_mirror(service, background=start)
        except BaseException:
            service.close()
            raise
    return service


#: The lease that serialises opening a campaign (spec-change and new-version decisions).
LIFECYCLE_LOCK = "lifecycle"
_LIFECYCLE_TTL = 120.0
_LIFECYCLE_WAIT = 90.0


@contextmanager
def _lifecycle(location: StateLocation, state: CampaignState) -> Iterator[CampaignState]:
    """Hold the campaign's lifecycle lease while deciding; yields the live state (re-opened when
    another process archived the one we had while we waited)."""
    holder = locks.new_holder()
    end = time.monotonic() + _LIFECYCLE_WAIT
    while True:
        held = locks.acquire(
            state.db, LIFECYCLE_LOCK, holder, _LIFECYCLE_TTL, f"hitl run, {locks.describe_process()}"
        )
        if held is None and state.archived_as() is None:
            break
        if held is None:  # archived meanwhile by the process we waited for: use the new state
            locks.release(state.db, LIFECYCLE_LOCK, holder)
            state.close()
            state = location.open()
            continue
        if time.monotonic() >= end:
            raise CampaignError(
                f"campaign {location.campaign!r} is being opened by another process ({held}); "
                "try again once it has started"
            )
        time.sleep(0.2)
    try:
        yield state
    finally:
        try:
            locks.release(state.db, LIFECYCLE_LOCK, holder)
        except Exception:  # archived and closed (the lease went with it), or the database is gone
            pass


def _plan_spec_change(
    state: CampaignState, spec: ReviewSpec, *, new_version: bool, location: StateLocation
) -> SpecChangePlan | None:
    """Compare ``spec`` with the one the campaign recorded (``hitl_pipeline.spec.diff``), changing nothing.

    Returns None for a state that was never initialized, else the plan. Raises CampaignError for a
    meaning change without ``new_version``, for another campaign's state, and for a new version
    that cannot start yet (unconfirmed scores, an archive already in the way, a review server
    still running on the campaign).
    """
    if not state.is_initialized():
        return None
    meta = state.meta()
    if meta.campaign != spec.campaign:
        raise CampaignError(f"{state.where} holds campaign {meta.campaign!r}, not {spec.campaign!r}")
    change = plan_spec_change(
        spec_from_json(meta.spec_json), meta.spec_version, spec, new_version=new_version
    )
    if change.action == "new_version":
        outbox = state.outbox_counts()
        unsent = outbox.get("pending", 0) + outbox.get("sent", 0)
        if unsent:
            raise CampaignError(
                f"campaign {spec.campaign!r} version {meta.spec_version} still has {unsent} score(s) not "
                f"confirmed; run `hitl sync {spec.path}` first, then start the new version"
            )
        if location.archive_exists(meta.spec_version):
            raise CampaignError(
                f"{location.describe(meta.spec_version)} already exists; move it away to start a new "
                f"version of {spec.campaign!r}"
            )
        servers = locks.live(state.db, SERVER_LOCK_PREFIX)
        if servers:
            raise CampaignError(
                f"campaign {spec.campaign!r} is being served right now ({servers[0]}); stop every "
                "`hitl run` of it before starting a new version — archiving its state under a live "
                "server would file that server's answers into the archive"
            )
    return change


def _apply_spec_change(
    state: CampaignState, change: SpecChangePlan, spec: ReviewSpec, source: Source, location: StateLocation
) -> tuple[CampaignState, int]:
    """Carry out a planned change: returns the state to continue with and the campaign version.

    The same state for an unchanged or harmlessly changed spec (a larger sample appends the new
    items to the queue); for a new version, an empty state at the campaign's place after archiving
    the current one as version N (``<campaign>.v<N>.db``, or schema ``c_<campaign>.vN``).
    """
    meta = state.meta()
    if change.action != "new_version":
        if any(c.path == "source.sample.size" for c in change.diff.harmless):
            _grow_queue(state, spec, source, meta.now)
        return state, meta.spec_version
    state.mark_archived(meta.spec_version)  # a process waiting on this state re-opens the new one
    location.archive(state, meta.spec_version)
    return location.open(), change.version


def _grow_queue(state: CampaignState, spec: ReviewSpec, source: Source, now: datetime) -> int:
    """Append the items a larger sample adds, after the queued ones (same ``now``, same seed).

    Returns how many were added. The sample is deterministic, so the queued items stay queued and
    keep their order; reviews already given are untouched.
    """
    plan = build_queue(spec, source, now=now)
    queued = {row.key for row in state.items()}
    new = [r for r in plan.refs if r.key not in queued]
    state.append_items(new)
    return len(new)


# -- dry run, sync ------------------------------------------------------------------------------


def dry_run(
    spec: ReviewSpec, source: Source, now: datetime | None = None, *, home: Path | str | None = None
) -> QueuePlan:
    """The queue ``hitl run`` would build, without creating any state (``hitl run --dry-run``).

    When the campaign already has a state under ``home``, its stored ``now`` is used (relative
    windows then resolve exactly as when the campaign was created); else ``now`` or the clock.
    """
    if now is None and home is not None:
        location = StateLocation.of(home, spec.campaign)
        if location.exists():
            state = location.open()
            try:
                if state.is_initialized():
                    now = state.meta().now
            finally:
                state.close()
    return build_queue(spec, source, now=now or utcnow())


def open_state(spec: ReviewSpec, home: Path | str) -> CampaignState:
    """Open an existing campaign's state; CampaignError when the campaign never ran here."""
    location = StateLocation.of(home, spec.campaign)
    if not location.exists():
        message = (
            f"campaign {spec.campaign!r} has no state in {location.container()}; "
            f"start it with `hitl run {spec.path}`"
        )
        raise CampaignError(message)
    state = location.open()
    if not state.is_initialized():
        state.close()
        message = f"campaign state {state.where} is empty; start the campaign with `hitl run {spec.path}`"
        raise CampaignError(message)
    return state


def require_state(spec: ReviewSpec, home: Path | str) -> None:
    """CampaignError when the campaign never ran under ``home`` (check it before opening a source)."""
    open_state(spec, home).close()


def sync(
    spec: ReviewSpec,
    source: Source,
    *,
    home: Path | str,
    deadline: float = 120.0,
    confirm_timeout: float = CONFIRM_TIMEOUT,
    retry_failed: bool = False,
    on_progress: Callable[[DrainReport], None] | None = None,
    backoff: Backoff | None = None,
    poll_interval: float = 0.5,
) -> DrainReport:
    """Send every pending score of the campaign and confirm it by reading it back (``hitl sync``).

    ``retry_failed`` puts ``failed`` and ``dropped`` rows back in the queue first (after fixing the cause).
    """
    state = open_state(spec, home)
    try:
        if retry_failed:
            state.requeue(["failed", "dropped"], utcnow())
        report = drain(
            state,
            source,
            deadline=deadline,
            confirm_timeout=confirm_timeout,
            on_progress=on_progress,
            backoff=backoff,
            poll_interval=poll_interval,
        )
        if spec.langfuse.annotation_queue:
            from hitl_pipeline.campaign.annotation_queue import sync_queue

            sync_queue(spec, state, source)  # complete the queue items whose scores are now confirmed
        return report
    finally:
        state.close()


__all__ = [
    "campaign_db_path",
    "dry_run",
    "git_commit_of",
    "open_campaign",
    "open_state",
    "require_state",
    "sync",
]
