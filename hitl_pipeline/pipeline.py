"""The library calls behind ``hitl run``, ``hitl sync``, ``hitl status`` and ``hitl export``.

``open_campaign`` creates a campaign's durable state from its spec (build the queue once, store it
with the ``now`` its relative windows were resolved against) or resumes it. With the state lost (a
new machine), it rebuilds what is done from the scores this campaign already wrote to the source.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hitl_pipeline.campaign.queue import QueuePlan, build_queue
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.errors import CampaignError, ConfigError
from hitl_pipeline.model import Score, ScoreConfig, ScoreWrite
from hitl_pipeline.scoring.build import outbox_entries, question_of, stored_names
from hitl_pipeline.scoring.outbox import CONFIRM_TIMEOUT, Backoff, DrainReport, OutboxWorker, drain
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.diff import SpecChangePlan
from hitl_pipeline.spec.model import Question, ReviewSpec

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def campaign_db_path(home: Path | str, campaign: str) -> Path:
    """Where a campaign's state lives: ``<home>/campaigns/<campaign>.db``."""
    return Path(home) / "campaigns" / f"{campaign}.db"


# -- spec ⇄ JSON (the state keeps the exact spec a campaign ran with) -----------------------------


def spec_to_json(spec: ReviewSpec) -> str:
    """The spec's canonical JSON (sorted keys), as stored in the campaign state."""
    return json.dumps(dataclasses.asdict(spec), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _convert(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _convert(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value
        }
        return typing.cast(Any, tp)(**kwargs)
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(args, value, strict=False))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return _convert(arg, value)
        return value
    return value


def spec_from_json(text: str) -> ReviewSpec:
    """Rebuild the spec stored by :func:`spec_to_json` (e.g. to compare it with an edited spec)."""
    spec = _convert(ReviewSpec, json.loads(text))
    assert isinstance(spec, ReviewSpec)
    return spec


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
    clock: Clock = _utcnow,
    start: bool = True,
    worker: bool = True,
    backoff: Backoff | None = None,
    confirm_timeout: float = CONFIRM_TIMEOUT,
    prefetch_depth: int = 4,
    new_version: bool = False,
) -> CampaignService:
    """Create or resume the campaign of ``spec`` and return its review service.

    Args:
        spec: the validated spec.
        source: where items come from and scores go.
        home: the state directory (``.hitl``); the state is ``<home>/campaigns/<campaign>.db``.
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

    Returns:
        The :class:`CampaignService`; close it when done.

    Raises:
        CampaignError: the spec changed in a way that alters the meaning of answers (the message
            lists every difference) and ``new_version`` is not set.
    """
    # Everything that can refuse the run comes before anything is created or changed: the spec
    # change is planned on the existing state (read only), then the score configs are resolved.
    path = campaign_db_path(home, spec.campaign)
    state = CampaignState(path) if path.exists() else None
    try:
        change = _plan_spec_change(state, spec, new_version=new_version) if state is not None else None
        if configs is None:
            from hitl_pipeline.scoring.configs import resolve_configs

            configs = resolve_configs(spec, source, create=False)
        if state is None:
            state = CampaignState(path)
        created = clock()
        # The spec's commit *now* (a harmless edit may have been committed since creation).
        commit = git_commit_of(spec.path)
        version = 1
        if change is not None:
            state, version = _apply_spec_change(state, change, spec, source)
        if not state.is_initialized():
            plan = build_queue(spec, source, now=now or created)
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
        state.save_configs(configs, created)
        if state.resume_pending():
            resume_from_source(spec, source, state)
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
    except BaseException:
        if state is not None:
            state.close()
        raise
    return service.start() if start else service


def _plan_spec_change(state: CampaignState, spec: ReviewSpec, *, new_version: bool) -> SpecChangePlan | None:
    """Compare ``spec`` with the one the campaign recorded (``hitl_pipeline.spec.diff``), changing nothing.

    Returns None for a state that was never initialized, else the plan. Raises CampaignError for a
    meaning change without ``new_version``, for another campaign's state, and for a new version
    that cannot start yet (unconfirmed scores, an archive already in the way).
    """
    from hitl_pipeline.spec.diff import plan_spec_change

    if not state.is_initialized():
        return None
    meta = state.meta()
    if meta.campaign != spec.campaign:
        raise CampaignError(f"{state.path} holds campaign {meta.campaign!r}, not {spec.campaign!r}")
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
        if _archive_path(state.path, meta.spec_version).exists():
            raise CampaignError(
                f"{_archive_path(state.path, meta.spec_version)} already exists; move it away to start a new "
                f"version of {spec.campaign!r}"
            )
    return change


def _archive_path(path: Path, version: int) -> Path:
    return path.with_name(f"{path.stem}.v{version}.db")


def _apply_spec_change(
    state: CampaignState, change: SpecChangePlan, spec: ReviewSpec, source: Source
) -> tuple[CampaignState, int]:
    """Carry out a planned change: returns the state to continue with and the campaign version.

    The same state for an unchanged or harmlessly changed spec (a larger sample appends the new
    items to the queue); for a new version, an empty state at the campaign's path after archiving
    the current one as ``<campaign>.v<N>.db``.
    """
    meta = state.meta()
    if change.action != "new_version":
        if any(c.path == "source.sample.size" for c in change.diff.harmless):
            _grow_queue(state, spec, source, meta.now)
        return state, meta.spec_version
    path = state.path
    archive = _archive_path(path, meta.spec_version)
    state.close()
    path.replace(archive)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(archive.with_name(archive.name + suffix))
    return CampaignState(path), change.version


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


def _answer_from_score(q: Question, score: Score) -> Any:
    if q.type == "boolean":
        value = score.value
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)
    if q.type == "numeric":
        return float(score.value) if score.value is not None else None
    if q.type == "categorical":
        return score.string_value if isinstance(score.string_value, str) else str(score.value)
    return str(score.value if score.value is not None else score.string_value)


def _score_key(score: Score) -> str | None:
    if score.observation_id:
        return f"observation:{score.observation_id}"
    if score.session_id:
        return f"session:{score.session_id}"
    if score.trace_id:
        return f"trace:{score.trace_id}"
    return None


def resume_from_source(spec: ReviewSpec, source: Source, state: CampaignState) -> int:
    """Mark review slots done from the scores this campaign already wrote (state lost or new machine).

    Reads the source's scores with the questions' names, keeps those whose metadata names this
    campaign, and records each (item, reviewer) found as answered, its scores as confirmed.
    Returns the number of slots restored.
    """
    configs = state.load_configs()
    version = state.meta().spec_version
    by_name: dict[str, Question] = {}
    for q in spec.questions:
        by_name[q.score] = q
        if q.score in configs:
            by_name[configs[q.score].name] = q
    keys = {row.key for row in state.items()}
    slots: dict[tuple[str, str], dict[str, Score]] = {}
    for score in source.iter_scores(names=stored_names(spec, configs)):
        meta = score.metadata or {}
        if meta.get("hitl_campaign") != spec.campaign or not meta.get("hitl_reviewer"):
            continue
        if meta.get("hitl_consensus") or str(meta.get("hitl_spec_version", 1)) != str(version):
            continue  # consensus scores and other campaign versions are not reviewers' answers here
        key = _score_key(score)
        asked = by_name.get(question_of(score))
        if key is None or key not in keys or asked is None:
            continue
        slot = slots.setdefault((key, str(meta["hitl_reviewer"])), {})
        if asked.score not in slot or slot[asked.score].timestamp < score.timestamp:
            slot[asked.score] = score
    restored = 0
    # One transaction: the restore is all or nothing, and one commit (not one a slot) at start-up.
    with state.transaction():
        for (key, reviewer), scores in sorted(slots.items()):
            if state.review(key, reviewer) is not None:
                continue
            answers = {name: _answer_from_score(spec.question(name), s) for name, s in scores.items()}
            first = min(s.timestamp for s in scores.values())
            comment = next((s.comment for s in scores.values() if s.comment), None)
            state.record_submission(
                item_key=key,
                reviewer=reviewer,
                answers=answers,
                comment=comment,
                now=first,
                duration_s=None,
                entries=outbox_entries([(name, _as_write(s)) for name, s in scores.items()]),
                origin="source",
                outbox_status="confirmed",
            )
            restored += 1
        state.mark_resumed()
    return restored


def _as_write(s: Score) -> ScoreWrite:
    value: float | str = s.value if isinstance(s.value, str | int | float) else (s.string_value or "")
    if s.data_type == "CATEGORICAL" and s.string_value:
        value = s.string_value
    return ScoreWrite(
        id=s.id,
        name=s.name,
        value=value,
        data_type=s.data_type,
        trace_id=s.trace_id,
        observation_id=s.observation_id,
        session_id=s.session_id,
        comment=s.comment,
        metadata=dict(s.metadata),
        config_id=s.config_id,
        source=s.source,
        environment=s.environment,
        timestamp=s.timestamp,
    )


# -- dry run, sync, status, export --------------------------------------------------------------


def dry_run(
    spec: ReviewSpec, source: Source, now: datetime | None = None, *, home: Path | str | None = None
) -> QueuePlan:
    """The queue ``hitl run`` would build, without creating any state (``hitl run --dry-run``).

    When the campaign already has a state under ``home``, its stored ``now`` is used (relative
    windows then resolve exactly as when the campaign was created); else ``now`` or the clock.
    """
    if now is None and home is not None:
        path = campaign_db_path(home, spec.campaign)
        if path.exists():
            state = CampaignState(path)
            try:
                if state.is_initialized():
                    now = state.meta().now
            finally:
                state.close()
    return build_queue(spec, source, now=now or _utcnow())


def open_state(spec: ReviewSpec, home: Path | str) -> CampaignState:
    """Open an existing campaign's state; CampaignError when the campaign never ran here."""
    path = campaign_db_path(home, spec.campaign)
    if not path.exists():
        message = (
            f"campaign {spec.campaign!r} has no state in {path.parent}; start it with `hitl run {spec.path}`"
        )
        raise CampaignError(message)
    state = CampaignState(path)
    if not state.is_initialized():
        state.close()
        message = f"campaign state {path} is empty; start the campaign with `hitl run {spec.path}`"
        raise CampaignError(message)
    return state


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
            state.requeue(["failed", "dropped"], _utcnow())
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


@dataclass(frozen=True)
class ReviewerStatus:
    reviewer: str
    answered: int
    pending: int
    sent: int
    confirmed: int
    failed: int
    dropped: int


@dataclass(frozen=True)
class CampaignStatus:
    """What ``hitl status`` shows for a campaign."""

    campaign: str
    spec_hash: str
    spec_version: int
    created_at: datetime
    items: int
    reviews_per_item: int
    items_complete: int
    answered: int  # review slots answered
    outbox: dict[str, int]
    reviewers: tuple[ReviewerStatus, ...]
    failures: tuple[tuple[str, int], ...]  # (reason, rows) for failed and dropped rows

    @property
    def queued(self) -> int:
        """Review slots not answered yet."""
        return max(0, self.items * self.reviews_per_item - self.answered)


def status(spec: ReviewSpec, *, home: Path | str) -> CampaignStatus:
    """The campaign's counts from its state (no source call): queued, answered, sent, confirmed, failed…"""
    state = open_state(spec, home)
    try:
        meta = state.meta()
        n = spec.review.reviewers_per_item
        counts = state.counts(n)
        reasons: dict[str, int] = {}
        for status_name in ("failed", "dropped"):
            for row in state.outbox(status=status_name):
                reason = f"{status_name}: {row.last_error or 'no reason recorded'}"
                reasons[reason] = reasons.get(reason, 0) + 1
        reviewers = tuple(
            ReviewerStatus(
                reviewer=name,
                answered=c["answered"],
                pending=c["pending"],
                sent=c["sent"],
                confirmed=c["confirmed"],
                failed=c["failed"],
                dropped=c["dropped"],
            )
            for name, c in sorted(state.per_reviewer().items())
        )
        return CampaignStatus(
            campaign=meta.campaign,
            spec_hash=meta.spec_hash,
            spec_version=meta.spec_version,
            created_at=meta.created_at,
            items=counts.items,
            reviews_per_item=n,
            items_complete=counts.items_complete,
            answered=counts.reviews,
            outbox=counts.outbox,
            reviewers=reviewers,
            failures=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        )
    finally:
        state.close()


EXPORT_COLUMNS = (
    "campaign",
    "item_key",
    "kind",
    "item_id",
    "trace_id",
    "observation_id",
    "session_id",
    "position",
    "stratum",
    "reviewer",
    "question",
    "value",
    "comment",
    "created_at",
    "updated_at",
    "duration_s",
    "score_id",
    "outbox_status",
    "outbox_error",
    "confirmed_at",
    "origin",
)


def export_rows(spec: ReviewSpec, *, home: Path | str) -> Iterator[dict[str, Any]]:
    """One row per item × reviewer × question (columns: :data:`EXPORT_COLUMNS`)."""
    state = open_state(spec, home)
    try:
        rows = state.export_rows()
    finally:
        state.close()
    for r in rows:
        kind = r["kind"]
        yield {
            "campaign": spec.campaign,
            "item_key": r["item_key"],
            "kind": kind,
            "item_id": r["item_id"],
            "trace_id": r["item_id"] if kind == "trace" else r["trace_id"],
            "observation_id": r["item_id"] if kind == "observation" else None,
            "session_id": r["item_id"] if kind == "session" else None,
            "position": r["position"],
            "stratum": r["stratum"],
            "reviewer": r["reviewer"],
            "question": r["question"],
            "value": json.loads(r["value_json"]),
            "comment": r["comment"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
            "duration_s": r["duration_s"],
            "score_id": r["score_id"],
            "outbox_status": r["outbox_status"],
            "outbox_error": r["last_error"],
            "confirmed_at": r["confirmed_at"],
            "origin": r["origin"],
        }


def export(spec: ReviewSpec, *, home: Path | str, fmt: str, out: io.TextIOBase | Any) -> int:
    """Write the campaign's answers to ``out`` as ``csv`` or ``jsonl``; returns the row count."""
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"unknown export format {fmt!r}; use csv or jsonl")
    count = 0
    rows = list(export_rows(spec, home=home))  # fails (no state) before anything is written
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS)) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for row in rows:
        if writer is not None:
            value = row["value"]
            writer.writerow({**row, "value": json.dumps(value) if isinstance(value, bool) else value})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


__all__ = [
    "CampaignStatus",
    "EXPORT_COLUMNS",
    "ReviewerStatus",
    "campaign_db_path",
    "dry_run",
    "export",
    "export_rows",
    "open_campaign",
    "open_state",
    "resume_from_source",
    "spec_from_json",
    "spec_to_json",
    "status",
    "sync",
]
