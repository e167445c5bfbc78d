"""What ``hitl run`` tells its user: where answers go, why a queue is empty, what is left unsent.

* :func:`destination` names where the scores of a run are written (the local store's file, or
  the Langfuse host and project);
* :func:`filter_steps` counts the items left after each filter of the spec, applied one after
  another in the source, and :func:`explain_empty` turns that into the message of an empty queue
  (which filter emptied it, and what to change);
* :func:`unsent_summary` is the line printed when the form stops, from the campaign's outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from itertools import islice
from typing import Any

from hitl_pipeline.errors import CampaignError
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import Filters, ReviewSpec, ScoreThreshold

#: Items counted per filter step at most (the Langfuse backend pages through them).
COUNT_CAP = 1_000
#: "Any time" for the first step: wide enough for any real data, accepted by every backend.
_ANY_TIME = ("1970-01-01", "2100-01-01")


class EmptyQueueError(CampaignError):
    """No item matched the spec's filters: nothing to review (the message says which filter emptied it)."""


def destination(source: Source) -> str:
    """Where answers go, for the console: the local store's path, or the Langfuse host and project."""
    host = getattr(source, "host", None)
    if isinstance(host, str) and host:
        project = None
        project_id = getattr(source, "project_id", None)
        if callable(project_id):
            project = project_id()
        return f"Langfuse at {host}" + (f", project {project}" if project else "")
    path = getattr(source, "path", None)
    if path is not None:
        return f"the local store {path}"
    return repr(source)


@dataclass(frozen=True)
class FilterStep:
    """The items left after one more filter: ``count`` (a lower bound when ``capped``)."""

    label: str  # e.g. "trace_name: support-chat"
    spec_path: str | None  # the spec key to change, e.g. "source.filters.trace_name"; None: no filter
    count: int
    capped: bool = False
    newest: datetime | None = None  # the newest item's time (items come newest first)

    @property
    def shown(self) -> str:
        return f"{self.count:,}+" if self.capped else f"{self.count:,}"


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):
        parts = []
        for v in value:
            if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], tuple):  # metadata (key, values)
                parts.append(f"{v[0]}={'|'.join(map(str, v[1]))}")
            elif isinstance(v, ScoreThreshold):
                parts.append(f"{v.name} {v.op} {v.value}")
            else:
                parts.append(str(v))
        return ", ".join(parts)
    return str(value)


#: Spec keys of the Filters fields whose YAML name differs.
_YAML_NAME = {"time_from": "from", "time_to": "to"}


def filter_steps(
    spec: ReviewSpec, source: Source, now: datetime, *, cap: int = COUNT_CAP, stop_at_zero: bool = True
) -> list[FilterStep]:
    """Items matching the spec's filters added one at a time: every item of the target (any
    time), then the time window, then each other filter the spec sets, in the schema's order.

    Each count runs the source's own query (what the queue is built from), stopping at ``cap``;
    with ``stop_at_zero`` the steps end at the first one that leaves nothing.
    """
    f = spec.filters
    target = spec.target
    start, end = f.window(now)
    current = Filters(time_from=_ANY_TIME[0], time_to=_ANY_TIME[1])
    plan: list[tuple[str, str | None, Filters]] = [(f"every {target} (any time)", None, current)]
    current = replace(current, time_from=f.time_from, time_to=f.time_to)
    window = (
        f"time window from {f.time_from} to {f.time_to} = [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) UTC"
    )
    plan.append((window, "source.filters.from / to", current))
    for field in fields(Filters):
        if field.name in ("time_from", "time_to"):
            continue
        value = getattr(f, field.name)
        if not value:
            continue
        current = replace(current, **{field.name: value})
        name = _YAML_NAME.get(field.name, field.name)
        plan.append((f"{name}: {_value_text(value)}", f"source.filters.{name}", current))
    steps: list[FilterStep] = []
    for label, path, filters in plan:
        refs = list(islice(source.iter_candidates(target, filters, now=now), cap + 1))
        newest = max((r.timestamp for r in refs), default=None)
        steps.append(FilterStep(label, path, min(len(refs), cap), len(refs) > cap, newest))
        if stop_at_zero and not refs:
            break
    return steps


def explain_empty(spec: ReviewSpec, source: Source, now: datetime) -> list[str]:
    """Lines saying which filter left no item, with the count after every step and what to change."""
    if spec.target == "pair":  # no pair: say what each arm holds and what was left unmatched
        from hitl_pipeline.campaign.pairs import pair_candidates, pairing_lines

        head = f"No pair matches the spec's arms (pair.arms in {spec.path}):"
        return [head, *pairing_lines(spec, pair_candidates(spec, source, now=now))]
    steps = filter_steps(spec, source, now)
    target = spec.target
    lines = [f"No {target} matches the spec's filters. {target.capitalize()}s left after each filter:"]
    width = max(len(s.label) for s in steps)
    for s in steps:
        mark = "   ← emptied the queue" if s.count == 0 else ""
        lines.append(f"  {s.label:<{width}}  {s.shown:>7}{mark}")
    last = steps[-1]
    if last.count:
        lines.append("(every filter matches something: the sample or the source changed meanwhile)")
        return lines
    if last.spec_path is None:
        lines.append(f"The source has no {target}s at all: import or generate some first (hitl demo).")
    elif last.spec_path.startswith("source.filters.from") and steps[0].newest is not None:
        newest = steps[0].newest
        lines.append(
            f"Change {last.spec_path} in {spec.path}: the newest {target} is from {newest:%Y-%m-%d %H:%M} UTC"
            f' (e.g. from: "{newest:%Y-%m-01}").'
        )
    else:
        lines.append(f"Change or remove {last.spec_path} in {spec.path}.")
    return lines


def unsent_summary(outbox: dict[str, int], spec_path: str) -> str:
    """The line ``hitl run`` prints when it stops: the real state of the campaign's scores."""
    pending, sent = outbox.get("pending", 0), outbox.get("sent", 0)
    failed, dropped = outbox.get("failed", 0), outbox.get("dropped", 0)
    confirmed = outbox.get("confirmed", 0)
    if not (pending or sent or failed or dropped):
        return (
            f"Stopped. Every score is saved in the source ({confirmed} confirmed); nothing is left to send."
        )
    parts = [
        f"{n} {what}"
        for n, what in ((pending, "not sent yet"), (failed, "failed"), (dropped, "dropped"))
        if n
    ]
    if sent:
        parts.append(f"{sent} sent but not visible yet")
    unsent = pending + failed + dropped
    tail = (
        f"they stay in the campaign's outbox: `hitl sync {spec_path}` sends and confirms them"
        if unsent
        else f"`hitl sync {spec_path}` confirms them"
    )
    return f"Stopped. {confirmed} score(s) confirmed; {', '.join(parts)} — {tail}."
