"""The form's components, built once per spec inside ``gr.Blocks`` (no ``gr.render``, see app.py).

Desktop (≥ 900 px): a header line, then the item (left, scrolls with the page) beside the question
panel (right, ``position: sticky``: questions, comment, Submit/Skip/Back, progress stay in view).
Narrower: one column, the item first. Every component the handlers update is named: ``by_name``
follows :func:`hitl_pipeline.ui.api.api_outputs`, so the API's output order has one definition.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import hitl_pipeline.ui  # noqa: F401  (telemetry off before gradio loads)

import gradio as gr  # noqa: E402  isort: skip
from gradio.exceptions import Error  # noqa: E402

from hitl_pipeline.spec.model import Question, ReviewSpec  # noqa: E402
from hitl_pipeline.ui.answers import category_text, md_escape, number_text, scale_values  # noqa: E402
from hitl_pipeline.ui.api import PANEL_SLOTS, api_outputs  # noqa: E402
from hitl_pipeline.ui.view import CHATBOT_RENDERING  # noqa: E402

TREE_HEADERS = ["observation", "model", "latency", "level", "status"]


def question_elem_id(index: int) -> str:
    """DOM id of question ``index`` (score names may contain spaces and parentheses)."""
    return f"hitl-q-{index}"


def scale_radio(values: list[float], **kw: Any) -> gr.Radio:
    """A small numeric range as a row of buttons (``1 2 3 4 5``), checked like ``gr.Number``.

    An API value outside the range gets the message a number box gives ("greater than maximum
    value 5"), anything else not on the scale the Radio's "not in the list of choices". (The check
    is set on the instance: a ``gr.Radio`` subclass would make Gradio write a ``.pyi`` file here.)
    """
    radio = gr.Radio(choices=[(number_text(v), v) for v in values], value=None, **kw)
    low, high, base = values[0], values[-1], radio.preprocess

    def preprocess(payload: str | int | float | None) -> str | int | float | None:
        if payload is not None and not isinstance(payload, bool):
            try:
                x = float(payload)
            except (TypeError, ValueError):
                raise Error(f"Value {payload!r} is not a number.") from None
            if x > high:
                raise Error(f"Value {number_text(x)} is greater than maximum value {number_text(high)}.")
            if x < low:
                raise Error(f"Value {number_text(x)} is less than minimum value {number_text(low)}.")
            payload = x
        return base(payload)

    radio.preprocess = preprocess  # type: ignore[method-assign]
    return radio


def make_widget(index: int, q: Question) -> gr.components.Component:
    """The input component of question ``index`` (classes ``hitl-q hitl-<kind>`` for the shortcuts)."""
    label = q.label + (" *" if q.required else "")
    info = q.help or q.description
    kw: dict[str, Any] = {"label": label, "info": info, "elem_id": question_elem_id(index)}
    if q.preference:  # a pair: A (left) / B (right) / tie (ui/pairwise.py)
        from hitl_pipeline.ui.pairwise import preference_choices

        return gr.Radio(
            choices=preference_choices(q), value=None, elem_classes=["hitl-q", "hitl-preference"], **kw
        )
    if q.type == "categorical":
        choices = [(category_text(c), c.label) for c in q.categories]
        return gr.Radio(choices=choices, value=None, elem_classes=["hitl-q", "hitl-categorical"], **kw)
    if q.type == "boolean":
        return gr.Radio(
            choices=[("yes", "yes"), ("no", "no")], value=None, elem_classes=["hitl-q", "hitl-boolean"], **kw
        )
    if q.type == "numeric":
        values = scale_values(q)
        if values is not None:
            return scale_radio(values, elem_classes=["hitl-q", "hitl-scale"], **kw)
        bounds = " · ".join(
            x
            for x in (
                f"min {q.min:g}" if q.min is not None else "",
                f"max {q.max:g}" if q.max is not None else "",
            )
            if x
        )
        kw["info"] = " — ".join(x for x in (info, bounds) if x) or None
        return gr.Number(
            value=None,
            minimum=q.min,
            maximum=q.max,
            step=q.step or 1,
            elem_classes=["hitl-q", "hitl-number"],
            **kw,
        )
    if q.type == "correction":
        kw["info"] = info or (
            "Pre-filled with the output: edit it to what it should have been. Left unchanged, no correction is sent."
        )
        return gr.Textbox(lines=6, max_lines=24, elem_classes=["hitl-q", "hitl-correction"], **kw)
    return gr.Textbox(lines=2, max_lines=12, elem_classes=["hitl-q", "hitl-text"], **kw)


@dataclass
class FormWidgets:
    """Every component of the form. ``by_name`` holds the handlers' outputs in API order."""

    state: gr.State
    by_name: dict[str, Any]
    questions: list[gr.components.Component]
    comment: gr.Textbox | None
    back: gr.Button
    skip: gr.Button
    submit: gr.Button
    tree: gr.Dataframe
    inspect_box: gr.Accordion
    inspect_pick: gr.Dropdown
    inspect_text: gr.Code
    progress: gr.Markdown

    def outputs(self) -> list[Any]:
        """The state, then the named outputs (what load/submit/skip/back return)."""
        return [self.state, *self.by_name.values()]

    def answer_inputs(self) -> list[Any]:
        """The submit inputs after the state: one per question, then the comment if any."""
        return [*self.questions, *([self.comment] if self.comment is not None else [])]


def _chat(i: int) -> gr.Chatbot:
    return gr.Chatbot(
        visible=False,
        elem_id=f"hitl-chat-{i}",
        elem_classes=["hitl-chat"],
        **CHATBOT_RENDERING,  # the messages are sanitized HTML: shown as sent
        group_consecutive_messages=False,
        autoscroll=False,  # a conversation opens at its first message
        height=None,  # heights follow the content: no empty box under a short chat
        max_height=None,
        min_height=None,
        buttons=["copy"],
        layout="bubble",
    )


def _item_column(spec: ReviewSpec, named: dict[str, Any]) -> tuple[gr.Dataframe, Any, Any, Any]:
    """The item: facts, content panels, tree, metadata, scores, Inspect, other reviewers."""
    named["facts"] = gr.Textbox(label="Item", interactive=False, lines=1, max_lines=4, elem_id="hitl-facts")
    _panel_slots(spec, named)
    return _item_details(spec, named)


def _panel_slots(spec: ReviewSpec, named: dict[str, Any]) -> None:
    sides = spec.target == "pair"  # slots 1 and 2 hold outputs A and B, side by side (ui/pairwise.py)
    with ExitStack() as row:
        for i in range(PANEL_SLOTS):
            if sides and i == 1:
                row.enter_context(gr.Row(equal_height=False, elem_id="hitl-pair"))
            if sides and i == 3:
                row.close()
            with ExitStack() as side:
                if sides and i in (1, 2):
                    side.enter_context(gr.Column(min_width=300, elem_id=f"hitl-side-{'ab'[i - 1]}"))
                _panel_slot(named, i)


def _panel_slot(named: dict[str, Any], i: int) -> None:
    named[f"chat_{i}"] = _chat(i)
    named[f"json_{i}"] = gr.JSON(visible=False, elem_id=f"hitl-json-{i}", open=True, max_height=640)
    named[f"text_{i}"] = gr.Textbox(
        visible=False, interactive=False, lines=1, max_lines=40, elem_id=f"hitl-text-{i}"
    )


def _item_details(spec: ReviewSpec, named: dict[str, Any]) -> tuple[gr.Dataframe, Any, Any, Any]:
    with gr.Accordion("Observation tree", open=True, visible=False, elem_id="hitl-tree-box") as tree_box:
        tree = gr.Dataframe(
            headers=TREE_HEADERS,
            datatype="str",
            show_label=False,
            interactive=False,
            max_height=420,
            wrap=False,
            elem_id="hitl-tree",
        )
        named["tree_note"] = gr.Markdown(visible=False)
    named["tree_box"], named["tree"] = tree_box, tree
    named["metadata"] = gr.JSON(label="Metadata", visible=False, elem_id="hitl-metadata", open=True)
    named["scores"] = gr.Dataframe(
        headers=["score", "value", "source", "on", "comment"],
        datatype="str",
        label="Automated scores",
        interactive=False,
        visible=False,
        elem_id="hitl-scores",
    )
    with gr.Accordion(
        "Inspect: open any part or observation in full", open=False, elem_id="hitl-inspect"
    ) as box:
        pick = gr.Dropdown(label="Part", choices=[], value=None, elem_id="hitl-inspect-pick")
        text = gr.Code(label="Full content", interactive=False, elem_id="hitl-inspect-text", max_lines=40)
    named["inspect_pick"], named["inspect_text"] = pick, text
    named["others"] = gr.Dataframe(
        headers=["reviewer", *[q.label for q in spec.questions], "comment"],
        datatype="str",
        label="Other reviewers' answers",
        interactive=False,
        visible=False,
        elem_id="hitl-others",
    )
    return tree, box, pick, text


def _question_panel(spec: ReviewSpec, named: dict[str, Any]) -> tuple[Any, ...]:
    """The panel beside the item: notices, guidelines, questions, comment, buttons, progress."""
    named["notice"] = gr.Markdown(elem_id="hitl-notice")
    named["revealed"] = gr.Markdown(elem_id="hitl-revealed")
    if spec.guidelines.strip():
        with gr.Accordion("Guidelines", open=False, elem_id="hitl-guidelines"):
            gr.Markdown(spec.guidelines)  # written by the campaign owner (trusted), sanitized anyway
    with gr.Column(elem_id="hitl-questions") as questions_box:
        questions = [make_widget(i, q) for i, q in enumerate(spec.questions)]
        comment: gr.Textbox | None = None
        if spec.comment != "off":
            required = spec.comment == "required"
            comment = gr.Textbox(
                label="Comment" + (" *" if required else " (optional)"),
                lines=2,
                max_lines=10,
                elem_id="hitl-comment",
                elem_classes=["hitl-comment", *(["hitl-q", "hitl-text"] if required else [])],
            )
    with gr.Row(elem_id="hitl-buttons"):
        # In a pair campaign `b` picks output B: Back is `p` (previous) there.
        back_key = "p" if spec.target == "pair" else "b"
        back = gr.Button(f"◀ Back ({back_key})", elem_id="hitl-back", min_width=60)
        skip = gr.Button("Skip (s)", elem_id="hitl-skip", visible=spec.review.allow_skip, min_width=60)
        submit = gr.Button("Submit (Ctrl+Enter)", variant="primary", elem_id="hitl-submit", min_width=120)
    progress = gr.Markdown(elem_id="hitl-progress")
    gr.Markdown("Keys: **Tab** next question · **?** all shortcuts", elem_id="hitl-hint")
    return questions_box, questions, comment, back, skip, submit, progress


def build_layout(spec: ReviewSpec, *, show_logout: bool) -> FormWidgets:
    """All components, placed; call inside ``gr.Blocks``."""
    state = gr.State({"item_key": None, "corrections": {}})
    named: dict[str, Any] = {}
    with gr.Row(elem_id="hitl-header", equal_height=False):
        gr.Markdown(f"## {md_escape(spec.title)}", elem_id="hitl-title")
        if show_logout:
            gr.Button("Log out", link="/logout", size="sm", scale=0, min_width=80, elem_id="hitl-logout")
    with gr.Row(elem_id="hitl-main", equal_height=False):
        with gr.Column(scale=3, min_width=0, elem_id="hitl-item-col"):
            with gr.Column(visible=False, elem_id="hitl-done") as done_box:
                named["done_text"] = gr.Markdown()
            with gr.Column(visible=False, elem_id="hitl-item") as item_box:
                tree, inspect_box, pick, text = _item_column(spec, named)
        with gr.Column(scale=2, min_width=0, elem_id="hitl-panel"):
            questions_box, questions, comment, back, skip, submit, progress = _question_panel(spec, named)
    # item_key: the open item's key, for API scripts (``trace:<id>`` …); hidden in the page.
    item_key = gr.Textbox(visible=False, label="item key", elem_id="hitl-item-key")
    ordered: dict[str, Any] = {
        "progress": progress, "notice": named["notice"], "revealed": named["revealed"], "item_key": item_key,
        "item_box": item_box, "done_box": done_box, "done_text": named["done_text"], "facts": named["facts"],
    }  # fmt: skip
    for i in range(PANEL_SLOTS):
        for kind in ("chat", "json", "text"):
            ordered[f"{kind}_{i}"] = named[f"{kind}_{i}"]
    for name in (
        "metadata",
        "scores",
        "tree_box",
        "tree",
        "tree_note",
        "inspect_pick",
        "inspect_text",
        "others",
    ):
        ordered[name] = named[name]
    ordered.update(questions_box=questions_box, submit_button=submit, skip_button=skip)
    for q, widget in zip(spec.questions, questions, strict=True):
        ordered[f"q:{q.score}"] = widget
    if comment is not None:
        ordered["comment"] = comment
    assert list(ordered) == api_outputs(spec)  # noqa: S101  (one definition of the API's order)
    return FormWidgets(
        state=state,
        by_name=ordered,
        questions=questions,
        comment=comment,
        back=back,
        skip=skip,
        submit=submit,
        tree=tree,
        inspect_box=inspect_box,
        inspect_pick=pick,
        inspect_text=text,
        progress=progress,
    )
