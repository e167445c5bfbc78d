"""What the form shows for an assignment (or the end of the queue), as values by output name.

:func:`item_screen` and :func:`done_screen` return ``{api output name: value}`` (see
:func:`hitl_pipeline.ui.api.api_outputs`) plus the tab's new hidden state. A ``gr.update`` makes
Gradio rebuild the component server-side (slow), so :class:`Props` sends props (visibility, labels,
choices) only when they differ from what this tab already shows, and plain values otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import hitl_pipeline.ui  # noqa: F401  (telemetry off before gradio loads)

import gradio as gr  # noqa: E402  isort: skip

from hitl_pipeline.campaign.types import Assignment, OtherAnswer, Progress  # noqa: E402
from hitl_pipeline.model import Item, Score  # noqa: E402
from hitl_pipeline.spec.model import ReviewSpec  # noqa: E402
from hitl_pipeline.ui.answers import active_questions, md_escape, shown_answer, to_widget  # noqa: E402
from hitl_pipeline.ui.api import PANEL_SLOTS  # noqa: E402
from hitl_pipeline.ui.layout import TREE_HEADERS  # noqa: E402
from hitl_pipeline.ui.view import ItemView, TreeRow, build_view, score_rows  # noqa: E402

#: Row style in the observation tree: the reviewed observation and turn headings stand out, errors too.
_SUBJECT_STYLE = "font-weight: 700; background: rgba(255, 196, 0, 0.22)"
_TURN_STYLE = "font-weight: 700"
_LEVEL_STYLE = {"ERROR": "color: #b00020; font-weight: 600", "WARNING": "color: #9a6700"}


class Props:
    """The props this tab shows per output; :meth:`put` / :meth:`block` send only changes."""

    def __init__(self, shown: dict[str, Any] | None) -> None:
        self.shown: dict[str, Any] = dict(shown or {})

    def _changed(self, name: str, props: dict[str, Any]) -> bool:
        if self.shown.get(name) == props:
            return False
        self.shown[name] = props
        return True

    def put(self, name: str, value: Any, **props: Any) -> Any:
        """A component's value, with ``props`` only if they changed."""
        return gr.update(value=value, **props) if self._changed(name, props) else value

    def block(self, name: str, **props: Any) -> Any:
        """A layout block (no value): its props if they changed, else no update at all."""
        return gr.update(**props) if self._changed(name, props) else gr.skip()


def waiting_adjudications(service: Any, spec: ReviewSpec, reviewer: str) -> int | None:
    """How many items wait for an adjudicator (None: ``reviewer`` is not one, or no consensus)."""
    consensus = getattr(service, "consensus", None)
    if reviewer not in spec.review.adjudicators or consensus is None:
        return None
    return len(consensus.open_adjudications())


def progress_text(p: Progress, adjudications: int | None = None) -> str:
    """``12 / 50 reviewed by you · campaign 30 / 100 reviews · 10 / 50 items complete``."""
    mine_total = p.reviewer_done + p.reviewer_remaining
    text = (
        f"**{p.reviewer_done} / {mine_total}** reviewed by you ({md_escape(p.reviewer)}) · "
        f"campaign: **{p.campaign_done} / {p.campaign_total}** reviews · "
        f"{p.items_complete} / {p.items_total} items complete"
    )
    if adjudications is not None:
        text += f" · ⚖ **{adjudications}** item{'s' if adjudications != 1 else ''} waiting for adjudication"
    return text


def hidden_scores(spec: ReviewSpec) -> bool:
    """Whether automated scores wait until the reviewer has answered (``display.reveal_scores``)."""
    return spec.display.reveal_scores == "after"


def reveal_text(spec: ReviewSpec, scores: Sequence[Score], answers: dict[str, Any], heading: str) -> str:
    """The automated scores of an answered item, each compared one beside the reviewer's answer."""
    lines: list[str] = []
    compared: set[str] = set()
    for q in spec.questions:
        if not q.compare_with:
            continue
        for row in score_rows(scores, [q.compare_with]):
            compared.add(row.name)
            mine = shown_answer(q, answers.get(q.score)) or "—"
            lines.append(
                f"- **{md_escape(q.label)}**: you **{md_escape(mine)}** · "
                f"{md_escape(row.name)} **{md_escape(row.value)}**"
            )
    if spec.display.scores or "scores" in spec.display.parts:
        for row in score_rows(scores, spec.display.scores):
            if row.name not in compared:
                lines.append(f"- {md_escape(row.name)}: **{md_escape(row.value)}** ({md_escape(row.source)})")
    if not lines:
        return ""
    return f"{heading}\n" + "\n".join(lines)


def _facts_text(view: ItemView) -> str:
    return view.heading + "\n" + " · ".join(f"{k}: {v}" for k, v in view.facts)


def _others_rows(spec: ReviewSpec, others: Sequence[OtherAnswer]) -> list[list[str]]:
    rows = []
    for o in others:
        row = [o.reviewer]
        for q in spec.questions:
            row.append(shown_answer(q, o.answers.get(q.score)))
        row.append(o.comment or "")
        rows.append(row)
    return rows


def _row_style(r: TreeRow) -> str:
    if r.subject:
        return _SUBJECT_STYLE
    if r.turn:
        return _TURN_STYLE
    return _LEVEL_STYLE.get(r.level, "")


def _tree_value(view: ItemView) -> dict[str, Any]:
    rows = view.tree or ()
    return {
        "headers": TREE_HEADERS,
        "data": [[r.label, r.model, r.latency, r.level, r.status] for r in rows],
        "metadata": {"styling": [[_row_style(r)] * len(TREE_HEADERS) for r in rows]},
    }


def _panels(view: ItemView, props: Props) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(PANEL_SLOTS):
        panel = view.panels[i] if i < len(view.panels) else None
        title = ""
        if panel is not None:
            title = f"▶ {panel.title} · under review" if panel.under_review else panel.title
            if panel.folded:
                title += "  (folded: open it under “Inspect” for all of it)"
        for kind in ("chat", "json", "text"):
            on = panel is not None and panel.kind == kind
            value = panel.value if on and panel is not None else None
            out[f"{kind}_{i}"] = props.put(f"{kind}{i}", value, visible=on, label=title if on else "")
    return out


def _notes(a: Assignment, notice: str) -> str:
    notes = [notice] if notice else []
    if a.notice:  # quality: training feedback / a qualification round's result
        notes.append(a.notice)
    if a.revisiting:
        notes.append(
            "↩ You already answered this item: change what you like and submit to update your answer."
        )
    if a.adjudication:
        notes.append(
            "⚖ Adjudication: reviewers disagreed on this item; their answers are shown with the item."
        )
    return "  \n".join(notes)


def _context(spec: ReviewSpec, a: Assignment, view: ItemView, props: Props) -> dict[str, Any]:
    """Metadata, automated scores (after the answer unless ``reveal_scores: before``), the tree, Inspect."""
    show_scores = view.scores is not None and (not hidden_scores(spec) or a.revisiting)
    scores = (
        [[r.name, r.value, r.source, r.target, r.comment] for r in view.scores or ()] if show_scores else []
    )
    session = view.kind == "session"
    return {
        "metadata": props.put("metadata", view.metadata, visible=view.metadata is not None),
        "scores": props.put("scores", scores, visible=show_scores),
        # A session's turns each have a tree: closed until asked for; a trace's tree is open.
        "tree_box": props.block(
            "tree_box",
            visible=view.tree is not None,
            open=not session,
            label="Observation trees of the turns (click a row to open it)"
            if session
            else "Observation tree (▶ = under review, red = error; click a row to open it)",
        ),
        "tree": props.put("tree", _tree_value(view)),
        "tree_note": props.put(
            "tree_note",
            f"{view.tree_hidden:,} more observations not listed." if view.tree_hidden else "",
            visible=bool(view.tree_hidden),
        ),
        "inspect_pick": props.put("inspect", None, choices=[list(c) for c in view.inspect]),
        "inspect_text": "",
    }


def _others(spec: ReviewSpec, a: Assignment, props: Props) -> Any:
    show = bool(a.others) and (a.adjudication or not spec.review.blind)
    others = a.others
    if a.item.pair is not None:  # other reviewers' picks as shown (A, B, tie), not arm B's outcome
        from hitl_pipeline.ui.pairwise import widget_answers

        others = tuple(replace(o, answers=widget_answers(spec, a.item_key, o.answers)) for o in others)
    return props.put("others", _others_rows(spec, others) if show else [], visible=show)


def _answers(spec: ReviewSpec, a: Assignment, corrections: dict[str, str], props: Props) -> dict[str, Any]:
    """The question panel: the questions asked, pre-filled (an unanswered correction with the output)."""
    out: dict[str, Any] = {
        "questions_box": props.block("questions_box", visible=True),
        "submit_button": props.block("submit_button", interactive=True),
        "skip_button": props.block("skip_button", interactive=True),
    }
    prefill = {q.score: to_widget(q, a.answers.get(q.score)) for q in spec.questions}
    if a.item.pair is not None:  # arm B's outcome → the pick as shown (A, B, tie); per-side halves by side
        from hitl_pipeline.ui.pairwise import widget_answers

        shown = widget_answers(spec, a.item_key, a.answers)
        prefill = {
            q.score: shown.get(q.score) if q.preference else to_widget(q, shown.get(q.score))
            for q in spec.questions
        }
    for q in spec.questions:
        if q.type == "correction" and prefill[q.score] is None:
            prefill[q.score] = corrections[q.score]
    asked = {q.score for q in active_questions(spec.questions, a.answers)}
    for i, q in enumerate(spec.questions):
        out[f"q:{q.score}"] = props.put(f"q{i}", prefill[q.score], visible=q.score in asked)
    if spec.comment != "off":
        out["comment"] = a.comment or ""
    return out


def item_screen(
    spec: ReviewSpec,
    a: Assignment,
    *,
    progress: str,
    notice: str,
    revealed: str,
    props: Props,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Outputs and hidden tab state for showing assignment ``a``."""
    if a.item.pair is not None:  # a pair: input once, outputs A and B side by side
        from hitl_pipeline.ui.pairwise import pair_item_view

        view = pair_item_view(a.item, spec)
    else:
        view = build_view(a.item, spec.display)
    corrections = {q.score: view.correction_default for q in spec.questions if q.type == "correction"}
    if a.revisiting and hidden_scores(spec) and not revealed:
        revealed = reveal_text(
            spec, a.item.scores, a.answers, "**Automated scores** (you answered this item):"
        )
    kind_label = {"trace": "Trace", "observation": "Observation", "session": "Session", "pair": "Pair"}.get(
        view.kind, view.kind
    )
    out: dict[str, Any] = {
        "progress": progress,
        "notice": _notes(a, notice),
        "revealed": revealed,
        "item_key": a.item_key,
        "item_box": props.block("item_box", visible=True),
        "done_box": props.block("done_box", visible=False),
        "done_text": "",
        "facts": props.put("facts", _facts_text(view), label=f"Item · {kind_label}"),
        **_panels(view, props),
        **_context(spec, a, view, props),
        "others": _others(spec, a, props),
        **_answers(spec, a, corrections, props),
    }
    state = {
        "item_key": a.item_key,
        "corrections": corrections,
        "revisiting": a.revisiting,
        "props": props.shown,
        "tree_keys": [r.key for r in view.tree or ()],  # row → what a click on it opens
    }
    return out, state


def done_screen(
    spec: ReviewSpec, *, progress: str, notice: str, revealed: str, props: Props, why: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Outputs and hidden tab state for the end of the reviewer's queue (Submit and Skip disabled);
    ``why`` replaces the "nothing left" text when the campaign says why there is nothing for them."""
    done = why or (
        "## ✅ Nothing left for you in this campaign\n\n"
        "Every item available to you is reviewed. Thank you! You can still go **Back** to change an answer."
    )
    out: dict[str, Any] = {
        "progress": progress,
        "notice": notice,
        "revealed": revealed,
        "item_key": "",
        "item_box": props.block("item_box", visible=False),
        "done_box": props.block("done_box", visible=True),
        "done_text": done,
        "facts": "",
    }
    for i in range(PANEL_SLOTS):
        for kind in ("chat", "json", "text"):
            out[f"{kind}_{i}"] = None
    out.update(
        metadata=None, scores=None, tree_box=gr.skip(), tree=None, tree_note="", inspect_text="", others=None
    )
    out["inspect_pick"] = props.put("inspect", None, choices=[])
    out["questions_box"] = props.block("questions_box", visible=False)
    out["submit_button"] = props.block("submit_button", interactive=False)
    out["skip_button"] = props.block("skip_button", interactive=False)
    for q in spec.questions:
        out[f"q:{q.score}"] = None
    if spec.comment != "off":
        out["comment"] = ""
    return out, {"item_key": None, "corrections": {}, "props": props.shown}


def previous_reveal(spec: ReviewSpec, item: Item | None, answers: dict[str, Any]) -> str:
    """After a submit: the just-answered item's automated scores beside the answers (hidden before)."""
    if item is None or not hidden_scores(spec):
        return ""
    return reveal_text(spec, item.scores, answers, "**Your last answer beside the automated scores:**")
