"""What changed between two versions of a review spec, and whether it changes what answers mean.

A running campaign may pick up *harmless* edits (wording, help, display, a larger sample,
more reviewers…): answers given before and after stay comparable. A *meaning-changing* edit
(a question removed or retyped, categories or a numeric range changed, another target,
other filters…) would mix answers to different questions under one score name, so the
campaign refuses it unless the user starts a new campaign version (``--new-version``).

Every field of :class:`~hitl_pipeline.spec.model.ReviewSpec` is classified here; a test
checks that no field is left out, so a new spec field cannot slip through unclassified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Literal

from hitl_pipeline.errors import CampaignError
from hitl_pipeline.spec.model import Question, ReviewSpec

Kind = Literal["harmless", "meaning"]

#: ReviewSpec fields that are not part of the spec's content.
_NOT_CONTENT = {"path", "spec_hash", "data_json"}


@dataclass(frozen=True)
class Change:
    """One difference between two specs. ``path`` is a spec path like ``questions[helpfulness].max``."""

    kind: Kind
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class SpecDiff:
    """Every difference between an old and a new spec, classified."""

    changes: tuple[Change, ...]

    @property
    def identical(self) -> bool:
        return not self.changes

    @property
    def harmless(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == "harmless")

    @property
    def meaning(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == "meaning")

    @property
    def changes_meaning(self) -> bool:
        """True when answers given under the old spec are not comparable with new ones."""
        return bool(self.meaning)

    def lines(self) -> list[str]:
        """Human-readable list: meaning-changing differences first."""
        return [f"[changes meaning] {c}" for c in self.meaning] + [f"[harmless] {c}" for c in self.harmless]


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, str):
        return repr(v)
    return str(v)


def _text(v: str | None, limit: int = 40) -> str:
    if v is None:
        return "(none)"
    return repr(v if len(v) <= limit else v[: limit - 1] + "…")


def _question_changes(old: Question, new: Question) -> Iterable[Change]:
    p = f"questions[{new.score}]"
    if old.type != new.type:
        yield Change("meaning", f"{p}.type", f"type changed from {old.type} to {new.type}")
        return  # everything else follows from the type change
    if old.config_id != new.config_id:
        yield Change(
            "meaning", f"{p}.config_id", f"score config changed from {old.config_id} to {new.config_id}"
        )
    yield from _category_changes(p, old, new)
    for attr in ("min", "max"):
        a, b = getattr(old, attr), getattr(new, attr)
        if a != b:
            yield Change("meaning", f"{p}.{attr}", f"numeric {attr} changed from {a} to {b}")
    if old.when != new.when:
        yield Change(
            "meaning", f"{p}.when", f"condition changed from {_condition(old.when)} to {_condition(new.when)}"
        )
    yield from _question_form_changes(p, old, new)


def _condition(c: Any) -> str:
    return "(always asked)" if c is None else f"{c.question} {c.op} {_show(c.values)}"


def _category_changes(p: str, old: Question, new: Question) -> Iterable[Change]:
    """Categories removed, added or revalued (meaning); reordered or reworded (harmless)."""
    old_cats = {c.label: c.value for c in old.categories}
    new_cats = {c.label: c.value for c in new.categories}
    for label in old_cats.keys() - new_cats.keys():
        yield Change("meaning", f"{p}.categories", f"category {label!r} removed")
    for label in new_cats.keys() - old_cats.keys():
        yield Change("meaning", f"{p}.categories", f"category {label!r} added")
    for label in old_cats.keys() & new_cats.keys():
        if old_cats[label] != new_cats[label]:
            yield Change(
                "meaning",
                f"{p}.categories",
                f"value of {label!r} changed from {old_cats[label]:g} to {new_cats[label]:g}",
            )
    if old_cats == new_cats and old.labels != new.labels:
        yield Change("harmless", f"{p}.categories", "categories reordered (same labels and values)")
    old_text = {c.label: c.text for c in old.categories}
    for c in new.categories:
        if c.label in old_text and old_text[c.label] != c.text:
            yield Change(
                "harmless",
                f"{p}.categories",
                f"text of {c.label!r} changed from {_text(old_text[c.label])} to {_text(c.text)}",
            )


def _question_form_changes(p: str, old: Question, new: Question) -> Iterable[Change]:
    """What the form shows and how the report compares: answers keep their meaning."""
    if old.step != new.step:
        yield Change("harmless", f"{p}.step", f"slider step changed from {old.step} to {new.step}")
    for attr in ("label", "help", "description"):
        a, b = getattr(old, attr), getattr(new, attr)
        if a != b:
            yield Change("harmless", f"{p}.{attr}", f"{attr} text changed from {_text(a)} to {_text(b)}")
    if old.required != new.required:
        yield Change("harmless", f"{p}.required", f"required changed from {old.required} to {new.required}")
    if old.compare_with != new.compare_with:
        yield Change(
            "harmless",
            f"{p}.compare_with",
            f"report comparison changed from {old.compare_with} to {new.compare_with}",
        )
    for attr in ("hard", "compare_range"):  # who reviews / how the report compares: answers keep meaning
        a, b = getattr(old, attr), getattr(new, attr)
        if a != b:
            yield Change("harmless", f"{p}.{attr}", f"changed from {_show(a)} to {_show(b)}")


def _questions(old: ReviewSpec, new: ReviewSpec) -> Iterable[Change]:
    old_q = {q.score: q for q in old.questions}
    new_q = {q.score: q for q in new.questions}
    removed = [s for s in old_q if s not in new_q]
    added = [s for s in new_q if s not in old_q]
    for s in removed:
        twin = next((a for a in added if new_q[a].type == old_q[s].type), None)
        hint = f" (renamed to {twin!r}?)" if twin else ""
        yield Change("meaning", f"questions[{s}]", f"question removed{hint}")
    for s in added:
        if new_q[s].required and new_q[s].when is None:
            yield Change(
                "meaning",
                f"questions[{s}]",
                "required question added: items reviewed so far have no answer to it",
            )
        else:
            yield Change("harmless", f"questions[{s}]", "optional question added")
    for s in old_q.keys() & new_q.keys():
        yield from _question_changes(old_q[s], new_q[s])
    common_old = [s for s in old_q if s in new_q]
    common_new = [s for s in new_q if s in old_q]
    if common_old != common_new:
        yield Change("harmless", "questions", "question order changed")


def _compare_fields(old: Any, new: Any, prefix: str) -> list[tuple[str, Any, Any]]:
    return [
        (f"{prefix}.{f.name}", getattr(old, f.name), getattr(new, f.name))
        for f in fields(old)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def _sections(old: ReviewSpec, new: ReviewSpec) -> Iterable[Change]:
    yield from _identity_changes(old, new)
    for path, a, b in _compare_fields(old.filters, new.filters, "source.filters"):
        yield Change("meaning", path, f"filter changed from {_show(a)} to {_show(b)}: it selects other items")
    for path, a, b in _compare_fields(old.sample, new.sample, "source.sample"):
        yield _sample_change(path, a, b)
    for path, a, b in _compare_fields(old.display, new.display, "display"):
        yield Change("harmless", path, f"display changed from {_show(a)} to {_show(b)}")
    if old.comment != new.comment:
        kind: Kind = "meaning" if new.comment == "required" else "harmless"
        yield Change(kind, "comment", f"comment changed from {old.comment} to {new.comment}")
    for path, a, b in _compare_fields(old.review, new.review, "review"):
        yield _review_change(path, a, b)
    for path, a, b in _compare_fields(old.consensus, new.consensus, "consensus"):
        if path == "consensus.numeric":
            yield Change(
                "meaning", path, f"numeric consensus changed from {a} to {b}: consensus scores differ"
            )
        else:
            yield Change("harmless", path, f"changed from {_show(a)} to {_show(b)}")
    for path, a, b in _compare_fields(old.langfuse, new.langfuse, "langfuse"):
        yield Change("harmless", path, f"changed from {_show(a)} to {_show(b)}")
    # Gold items and gates judge reviewers and labels; they never change what an answer means.
    if old.quality != new.quality:
        yield Change("harmless", "quality", "gold items / qualification / honeypots changed")
    if old.gates != new.gates:
        yield Change("harmless", "gates", "gates changed")
    yield from _pair_changes(old, new)


def _identity_changes(old: ReviewSpec, new: ReviewSpec) -> Iterable[Change]:
    """The campaign id, format version, target, title and guidelines."""
    if old.campaign != new.campaign:
        yield Change("meaning", "campaign", f"campaign id changed from {old.campaign!r} to {new.campaign!r}")
    if old.version != new.version:
        yield Change("meaning", "version", f"spec format version changed from {old.version} to {new.version}")
    if old.target != new.target:
        yield Change("meaning", "target", f"target changed from {old.target} to {new.target}")
    if old.title != new.title:
        yield Change("harmless", "title", f"title changed from {_text(old.title)} to {_text(new.title)}")
    if old.guidelines != new.guidelines:
        yield Change("harmless", "guidelines", "guidelines text changed")


def _sample_change(path: str, a: Any, b: Any) -> Change:
    """A larger or unlimited sample keeps the items reviewed so far; any other change selects others."""
    if path.endswith(".size") and a is not None and b is not None and b > a:
        return Change("harmless", path, f"sample size increased from {a} to {b}")
    if path.endswith(".size") and b is None:
        return Change("harmless", path, f"sample size limit removed (was {a})")
    return Change(
        "meaning",
        path,
        f"sampling changed from {_show(a)} to {_show(b)}: the queue would hold other items",
    )


def _review_change(path: str, a: Any, b: Any) -> Change:
    """Only turning blind review off changes what answers mean."""
    if path == "review.blind" and a and not b:
        return Change(
            "meaning",
            path,
            "reviews are no longer blind: answers stop being independent, agreement is not comparable",
        )
    if path in ("review.reviewers", "review.adjudicators"):
        gone, came = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        parts = ([f"added {', '.join(came)}"] if came else []) + (
            [f"removed {', '.join(gone)}"] if gone else []
        )
        return Change("harmless", path, "; ".join(parts) or "reordered")
    return Change("harmless", path, f"changed from {_show(a)} to {_show(b)}")


def _pair_changes(old: ReviewSpec, new: ReviewSpec) -> Iterable[Change]:
    """``pair``: which traces form the pairs is meaning (filters, match); names and the report's
    breakdown are harmless."""
    a, b = old.pair, new.pair
    if a == b:
        return
    if a is None or b is None:
        yield Change("meaning", "pair", "pair section added or removed")
        return
    for arm in ("a", "b"):
        for path, x, y in _compare_fields(
            getattr(a, arm).filters, getattr(b, arm).filters, f"pair.arms.{arm}.filters"
        ):
            yield Change("meaning", path, f"arm filter changed from {_show(x)} to {_show(y)}: other pairs")
        if getattr(a, arm).label != getattr(b, arm).label:
            yield Change(
                "harmless", f"pair.arms.{arm}.label", f"arm label changed to {_text(getattr(b, arm).label)}"
            )
    if a.match != b.match:
        yield Change("meaning", "pair.match", f"match key changed from {a.match} to {b.match}: other pairs")
    for attr in ("reveal_arms", "report_by"):
        x, y = getattr(a, attr), getattr(b, attr)
        if x != y:
            yield Change("harmless", f"pair.{attr}", f"changed from {_show(x)} to {_show(y)}")


#: Top-level ReviewSpec fields classified by :func:`diff_specs` (checked by a test).
CLASSIFIED_FIELDS = frozenset(
    {
        "campaign",
        "title",
        "target",
        "questions",
        "guidelines",
        "filters",
        "sample",
        "display",
        "comment",
        "review",
        "consensus",
        "langfuse",
        "quality",
        "gates",
        "pair",
        "version",
    }
)


def diff_specs(old: ReviewSpec, new: ReviewSpec) -> SpecDiff:
    """Every difference between ``old`` and ``new``, classified as harmless or meaning-changing."""
    changes = list(_sections(old, new)) + list(_questions(old, new))
    # A spec field added after this module was written: assume the worst until it is classified
    # (a test fails until CLASSIFIED_FIELDS covers every field).
    for f in fields(ReviewSpec):
        if f.name not in CLASSIFIED_FIELDS | _NOT_CONTENT and getattr(old, f.name) != getattr(new, f.name):
            changes.append(Change("meaning", f.name, f"changed (not yet classified as harmless): {f.name}"))
    return SpecDiff(tuple(changes))


def require_compatible(old: ReviewSpec, new: ReviewSpec, *, current_version: int) -> SpecDiff:
    """The diff of ``old`` → ``new``; raises :class:`CampaignError` when it changes the meaning of answers.

    ``current_version`` is the campaign version the old spec runs under (for the message).
    """
    diff = diff_specs(old, new)
    if diff.changes_meaning:
        listed = "\n".join(f"  - {c}" for c in diff.meaning)
        msg = (
            f"The spec {new.path} changes the meaning of answers in campaign {new.campaign!r} "
            f"(version {current_version}):\n{listed}\n"
            f"Undo these changes to continue the campaign, or re-run with --new-version to start campaign "
            f"version {current_version + 1}, whose scores are kept apart from version {current_version}'s."
        )
        raise CampaignError(msg)
    return diff


@dataclass(frozen=True)
class SpecChangePlan:
    """What to do when a campaign is re-run with a (possibly) changed spec.

    ``action``: ``same`` (nothing changed), ``continue`` (harmless changes: keep the campaign
    version, record the new spec hash and JSON) or ``new_version`` (start ``version`` with its own
    queue and scores, kept apart by the version in score ids and ``hitl_spec_version``).
    """

    action: Literal["same", "continue", "new_version"]
    version: int
    diff: SpecDiff


def plan_spec_change(
    old: ReviewSpec, stored_version: int, new: ReviewSpec, *, new_version: bool = False
) -> SpecChangePlan:
    """Decide how a campaign continues under ``new``, given the spec it recorded.

    Args:
        old: the spec the campaign state recorded (``spec.codec.spec_from_json(meta.spec_json)``).
        stored_version: the campaign version the state runs under.
        new: the spec being run now.
        new_version: the user asked for a new campaign version (``--new-version``).

    Raises:
        CampaignError: the change alters the meaning of answers and ``new_version`` is not set.
    """
    if new_version:
        return SpecChangePlan("new_version", stored_version + 1, diff_specs(old, new))
    if new.spec_hash and old.spec_hash == new.spec_hash:
        return SpecChangePlan("same", stored_version, SpecDiff(()))
    diff = require_compatible(old, new, current_version=stored_version)
    return SpecChangePlan("same" if diff.identical else "continue", stored_version, diff)
