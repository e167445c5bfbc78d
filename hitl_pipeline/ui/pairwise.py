"""The review form for pairs (``target: pair``): the shared input once, the two outputs side by side.

The reviewer sees "A" (the output shown on the left) and "B" (the right one) — which arm is on which
side is drawn per pair from the spec's seed (:func:`hitl_pipeline.model.pairs.left_arm`) — and never
the arms' names, versions or trace ids unless the spec sets ``pair.reveal_arms``. Metadata is shown
only where both traces agree (a key that differs, like a prompt version, would tell the arms apart).
A preference question is a radio with the choices A / B / tie (/ both bad); its widget value is the
pick as shown, and the service stores arm B's outcome (:func:`answers_in`, :func:`widget_value`).
A per-side question is two widgets labelled "(A)" and "(B)": its arm A half first, arm B's second
in spec order, so the one labelled "(A)" asks about the output shown on the left. When arm B is on
the left, the two answers are swapped between the halves on the way in and on the way back.
"""

from __future__ import annotations

from typing import Any

from hitl_pipeline.model import Item
from hitl_pipeline.model.pairs import CHOICE_TEXT, PairView, choice_of_outcome, left_arm, outcome_of_choice
from hitl_pipeline.model.text import safe_text
from hitl_pipeline.spec.model import Question, ReviewSpec
from hitl_pipeline.ui.view import ItemView, Panel, fold, output_messages, pretty, to_chat, truncate_json


def preference_choices(q: Question) -> list[tuple[str, str]]:
    """A preference question's radio choices: (what the reviewer reads, the widget value)."""
    picks = ["A", "B", "tie", *(["both_bad"] if q.both_bad else [])]
    return [(f"{CHOICE_TEXT[p]} ({_KEY[p]})", p) for p in picks]


_KEY = {"A": "a", "B": "b", "tie": "t", "both_bad": "x"}


def _panel(title: str, value: Any) -> Panel:
    chat = to_chat(value)
    if chat is not None:
        return Panel(title, "chat", chat)
    if isinstance(value, str):
        text, cut = fold(safe_text(value))
        return Panel(title, "text", text, cut)
    shown, cut = truncate_json(value)
    return Panel(title, "json", shown, cut)


def side_title(spec: ReviewSpec, side: str, view: PairView) -> str:
    """``A`` / ``B``, with the arm's label only when the spec reveals the arms."""
    arm = view.left if side == "A" else ("b" if view.left == "a" else "a")
    if spec.pair is not None and spec.pair.reveal_arms:
        label = spec.pair.a.label if arm == "a" else spec.pair.b.label
        return f"{side} · {label}"
    return side


def pair_item_view(item: Item, spec: ReviewSpec) -> ItemView:
    """The view of a pair: panel 0 the shared input, panels 1 and 2 the outputs shown as A and B."""
    view = item.pair
    assert view is not None  # noqa: S101  (callers check item.pair)
    left, right = view.shown
    lt, rt = left.trace, right.trace
    if lt is None or rt is None:
        raise ValueError(f"pair {item.ref.key} lacks a trace")
    parts = spec.display.parts
    panels = (
        [_panel("Input (the same for A and B)", lt.input)] if "input" in parts else [Panel("", "text", "")]
    )
    panels.append(Panel(side_title(spec, "A", view), "chat", output_messages(lt.output), under_review=True))
    panels.append(Panel(side_title(spec, "B", view), "chat", output_messages(rt.output), under_review=True))
    metadata = None
    if "metadata" in parts:
        keys = spec.display.metadata_keys or tuple(lt.metadata)
        metadata = {
            k: lt.metadata[k] for k in keys if k in lt.metadata and rt.metadata.get(k) == lt.metadata[k]
        }
    facts: tuple[tuple[str, str], ...] = (("compare", "two answers to the same input"),)
    if view.match is not None and spec.pair is not None:
        facts += ((spec.pair.match.removeprefix("metadata."), view.match),)
    return ItemView(
        kind="pair",
        key=item.ref.key,
        heading="Pair · which output is better?",
        facts=facts,
        panels=tuple(panels),
        metadata=metadata,
        inspect=(("Input", "input"), ("Output A", "A"), ("Output B", "B")),
    )


def inspect_pair(item: Item, part: str) -> tuple[str, bool]:
    """The full text of ``input``, ``A`` or ``B`` of a pair (KeyError for anything else)."""
    view = item.pair
    if view is None:
        raise KeyError(part)
    left, right = view.shown
    subject = {
        "input": left.trace.input if left.trace else None,
        "A": left.trace.output if left.trace else None,
        "B": right.trace.output if right.trace else None,
    }
    if part not in subject:
        raise KeyError(part)
    value = subject[part]
    return safe_text(pretty(value)), not isinstance(value, str)


def answers_in(spec: ReviewSpec, item_key: str, answers: dict[str, Any]) -> dict[str, Any]:
    """The form's picks (A, B, tie, both_bad as shown) as the service's answers (arm B's outcome)."""
    if spec.target != "pair":
        return answers
    left = left_arm(spec.sample.seed, item_key)
    out = _sides_as_arms(spec, left, answers)
    for q in spec.questions:
        if q.preference and out.get(q.score) is not None:
            out[q.score] = outcome_of_choice(str(out[q.score]), left)
    return out


def widget_value(spec: ReviewSpec, item_key: str, q: Question, answer: Any) -> Any:
    """A stored outcome as the pick the reviewer made (pre-filling Back)."""
    if answer is None or not q.preference:
        return answer
    return choice_of_outcome(str(answer), left_arm(spec.sample.seed, item_key))


def _sides_as_arms(spec: ReviewSpec, left: str, answers: dict[str, Any]) -> dict[str, Any]:
    """Per-side answers keyed by the side shown ("(A)" = left) as keyed by arm, or back (its own inverse)."""
    out = dict(answers)
    if left == "a":
        return out
    for q in spec.questions:
        if q.arm == "a":
            other = f"{q.score_name}@b"
            out.pop(q.score, None)
            out.pop(other, None)
            if q.score in answers:
                out[other] = answers[q.score]
            if other in answers:
                out[q.score] = answers[other]
    return out


def widget_answers(spec: ReviewSpec, item_key: str, answers: dict[str, Any]) -> dict[str, Any]:
    """Stored answers (by arm, B's outcome) as the widgets show them: per-side halves by the side
    shown, picks as made."""
    shown = _sides_as_arms(spec, left_arm(spec.sample.seed, item_key), answers)
    return {k: widget_value(spec, item_key, spec.question(k), v) for k, v in shown.items()}
