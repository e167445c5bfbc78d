"""The review form, generated from a spec: :func:`build_app` returns a ``gr.Blocks``.

Design decisions (see ``/work/shared/reference/gradio-notes.md``):

* Widgets are built **once**, in a loop over the spec's questions (no ``gr.render``: events created
  inside it are invisible to ``gradio_client``). Every handler returns the same list of outputs, so
  load / submit / skip / back all re-render the item and pre-fill the answers.
* The **position** always comes from the durable :class:`~hitl_pipeline.campaign.types.ReviewService`
  (``open_next`` / ``previous``); ``gr.State`` only remembers which item is on screen in this tab. A
  reload or a server restart resumes at the right item.
* The **identity** is ``gr.Request.username`` (password login or trusted proxy header), or the
  configured default reviewer when serving without auth on loopback. API callers cannot choose it.
* Every action is a named API endpoint (``/load``, ``/submit``, ``/skip``, ``/back``, ``/inspect``,
  ``/progress``). The API enforces the form's rules: Gradio rejects out-of-choice and out-of-range
  values at preprocess, this module checks required answers and the comment rule, and the service
  validates each answer against its score config (``ScoreValidationError`` → ``gr.Error``).
* **Concurrency** is set deliberately: writes (submit, skip) share one group of 4 — SQLite has a
  single writer, more threads would only queue on its lock; reads (load, back, inspect, progress)
  share one group of 16; the pure visibility handler is unlimited. The service is thread-safe.
* LLM text is shown only by components that never execute it (``gr.Chatbot``, ``gr.JSON``,
  ``gr.Code``, read-only ``gr.Textbox``); chat messages are HTML rendered and allow-list sanitized
  on the server (:mod:`hitl_pipeline.model.text`), which the Chatbot shows as sent
  (:data:`hitl_pipeline.ui.view.CHATBOT_RENDERING`).
* A ``gr.update`` makes Gradio rebuild the component server-side (slow); :meth:`_ReviewApp.render`
  sends props only when they change for the tab and plain values otherwise.
"""

from __future__ import annotations

import getpass
import html
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import hitl_pipeline.ui  # noqa: F401  (sets the telemetry env vars before gradio is imported)

import gradio as gr  # noqa: E402  isort: skip

from hitl_pipeline.campaign.types import Assignment, OtherAnswer, Progress, ReviewService  # noqa: E402
from hitl_pipeline.errors import HitlError  # noqa: E402
from hitl_pipeline.model import Item, ScoreConfig  # noqa: E402
from hitl_pipeline.spec.model import Category, Question, ReviewSpec  # noqa: E402
from hitl_pipeline.ui.api import PANEL_SLOTS, api_outputs  # noqa: E402,F401  (re-exported)
from hitl_pipeline.ui.shortcuts import FOCUS_JS  # noqa: E402
from hitl_pipeline.ui.view import CHATBOT_RENDERING, ItemView, build_view, inspect_content  # noqa: E402

#: Items kept in memory for "Inspect" (the one on screen per reviewer, plus recent ones); bounded
#: because one item can hold megabytes of output.
ITEM_CACHE_SIZE = 128

TREE_HEADERS = ["observation", "model", "latency", "level", "status"]
#: Row style of an observation by level: errors stand out in the tree.
_LEVEL_STYLE = {"ERROR": "color: #b00020; font-weight: 600", "WARNING": "color: #9a6700"}

WRITE_GROUP, WRITE_LIMIT = "hitl-write", 4
READ_GROUP, READ_LIMIT = "hitl-read", 16

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def md_escape(text: str) -> str:
    """Text that ``gr.Markdown`` shows literally (HTML-escaped, markdown specials backslashed)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)).replace("\n", "  \n")


def default_reviewer_name() -> str:
    """The OS user name: the reviewer identity when serving without auth on loopback."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still usable, and clearly named
        return "local-reviewer"


def question_elem_id(index: int) -> str:
    """DOM id of question ``index`` (score names may contain spaces and parentheses)."""
    return f"hitl-q-{index}"


# --------------------------------------------------------------------------------------- answers


def to_answer(q: Question, value: Any) -> Any:
    """A widget value as the service's answer (None = unanswered): yes/no → bool, number → float."""
    if value is None:
        return None
    if q.type == "boolean":
        if isinstance(value, bool):
            return value
        return {"yes": True, "no": False}.get(str(value).strip().lower())
    if q.type == "numeric":
        if isinstance(value, str) and not value.strip():
            return None
        return float(value)
    if q.type in ("text", "correction"):
        text = str(value)
        return text if text.strip() else None
    return str(value) if str(value) else None


def to_widget(q: Question, answer: Any) -> Any:
    """A stored answer as the widget's value (the inverse of :func:`to_answer`)."""
    if answer is None:
        return None
    if q.type == "boolean":
        return "yes" if answer else "no"
    if q.type == "numeric":
        return float(answer)
    return str(answer)


def active_questions(questions: Sequence[Question], answers: dict[str, Any]) -> list[Question]:
    """Questions asked given ``answers``: a ``when``-gated question only if its (active) condition matches."""
    active: dict[str, Question] = {}
    for q in questions:
        if q.when is None or (q.when.question in active and q.when.matches(answers.get(q.when.question))):
            active[q.score] = q
    return list(active.values())


def collect_answers(
    spec: ReviewSpec, values: Sequence[Any], correction_original: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Widget values (in question order) → (answers to send, problems). Hidden questions are dropped;
    a correction equal to the prefilled output is not a correction and is dropped too."""
    raw = {q.score: to_answer(q, v) for q, v in zip(spec.questions, values, strict=True)}
    answers: dict[str, Any] = {}
    problems: list[str] = []
    for q in active_questions(spec.questions, raw):
        value = raw[q.score]
        if q.type == "correction" and value is not None:
            if value.strip() == correction_original.get(q.score, "").strip():
                value = None
        if value is None:
            if q.required:
                how = "edit the output to correct it" if q.type == "correction" else "answer it"
                problems.append(f"“{q.label}” is required: {how} before submitting.")
            continue
        answers[q.score] = value
    return answers, problems


# --------------------------------------------------------------------------------------- rendering


def progress_text(p: Progress) -> str:
    """``12 / 50 reviewed by you · campaign 30 / 100 reviews · 10 / 50 items complete``."""
    mine_total = p.reviewer_done + p.reviewer_remaining
    return (
        f"**{p.reviewer_done} / {mine_total}** reviewed by you ({md_escape(p.reviewer)}) · "
        f"campaign: **{p.campaign_done} / {p.campaign_total}** reviews · "
        f"{p.items_complete} / {p.items_total} items complete"
    )


def _facts_text(view: ItemView) -> str:
    return view.heading + "\n" + " · ".join(f"{k}: {v}" for k, v in view.facts)


def _others_rows(spec: ReviewSpec, others: Sequence[OtherAnswer]) -> list[list[str]]:
    rows = []
    for o in others:
        row = [o.reviewer]
        for q in spec.questions:
            v = o.answers.get(q.score)
            row.append("" if v is None else str(to_widget(q, v)))
        row.append(o.comment or "")
        rows.append(row)
    return rows


@dataclass
class _Widgets:
    """The components every handler updates, in output order."""

    state: gr.State
    progress: gr.Markdown
    notice: gr.Markdown
    item_key: gr.Textbox
    item_box: gr.Column
    done_box: gr.Column
    done_text: gr.Markdown
    facts: gr.Textbox
    slots: list[tuple[gr.Chatbot, gr.JSON, gr.Textbox]]
    metadata: gr.JSON
    scores: gr.Dataframe
    tree: gr.Dataframe
    tree_note: gr.Markdown
    inspect_pick: gr.Dropdown
    inspect_text: gr.Code
    others: gr.Dataframe
    questions: list[gr.components.Component]
    comment: gr.Textbox | None
    back: gr.Button
    skip: gr.Button
    submit: gr.Button

    def outputs(self) -> list[Any]:
        out: list[Any] = [
            self.state,
            self.progress,
            self.notice,
            self.item_key,
            self.item_box,
            self.done_box,
            self.done_text,
            self.facts,
        ]
        for slot in self.slots:
            out.extend(slot)
        out += [
            self.metadata,
            self.scores,
            self.tree,
            self.tree_note,
            self.inspect_pick,
            self.inspect_text,
            self.others,
        ]
        out += self.questions
        if self.comment is not None:
            out.append(self.comment)
        return out


# --------------------------------------------------------------------------------------- the app


class _ReviewApp:
    """Handlers bound to one service and spec. Thread-safe: shared state is the service and a locked cache."""

    def __init__(
        self,
        service: ReviewService,
        spec: ReviewSpec,
        reviewer: str | None,
        may_review: Callable[[str], bool] | None,
    ) -> None:
        self.service = service
        self.spec = spec
        self.default_reviewer = reviewer
        self.may_review = may_review
        self._items: OrderedDict[str, Item] = OrderedDict()
        self._lock = threading.Lock()

    # identity ----------------------------------------------------------------------------
    def who(self, request: gr.Request | None) -> str:
        """The reviewer behind ``request``: the login name, else the default reviewer (no-auth mode)."""
        name = getattr(request, "username", None) if request is not None else None
        reviewer = name or self.default_reviewer
        if not reviewer:
            raise gr.Error("You are not logged in: reload the page and log in.")
        allowed = set(self.spec.review.reviewers) | set(self.spec.review.adjudicators)
        if self.spec.review.reviewers and reviewer not in allowed:
            raise gr.Error(
                f"“{reviewer}” is not a reviewer of campaign “{self.spec.campaign}”: "
                "ask the campaign owner to add you to review.reviewers in the spec."
            )
        if self.may_review is not None and not self.may_review(reviewer):
            raise gr.Error(f"“{reviewer}” is no longer a reviewer account: log in again.")
        return reviewer

    # cache ---------------------------------------------------------------------------------
    def remember(self, item_key: str, item: Item) -> None:
        with self._lock:
            self._items[item_key] = item
            self._items.move_to_end(item_key)
            while len(self._items) > ITEM_CACHE_SIZE:
                self._items.popitem(last=False)

    def recall(self, item_key: str) -> Item | None:
        with self._lock:
            item = self._items.get(item_key)
        if item is None:
            # Evicted here: the campaign service (if it offers ``item``) still knows its items.
            fetch = getattr(self.service, "item", None)
            if callable(fetch):
                try:
                    item = fetch(item_key)
                except HitlError:
                    return None
        return item if isinstance(item, Item) else None

    # rendering -------------------------------------------------------------------------------
    def render(
        self,
        w: _Widgets,
        reviewer: str,
        a: Assignment | None,
        notice: str = "",
        st: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Every output for showing ``a`` (None: the end-of-queue screen) in the tab whose state is ``st``.

        Prop changes (visibility, labels, choices) are sent only when they differ from what this tab
        already shows: Gradio rebuilds a component server-side for every ``gr.update``, which cost
        more than everything else in a submit. Plain values are cheap.
        """
        spec = self.spec
        shown: dict[str, Any] = dict((st or {}).get("props") or {})

        def put(name: str, value: Any, **props: Any) -> Any:
            if seen_props(name, props):
                return value
            return gr.update(value=value, **props)

        def seen_props(name: str, props: dict[str, Any]) -> bool:
            if shown.get(name) == props:
                return True
            shown[name] = props
            return False

        state_of = self.service.progress(reviewer)
        progress = progress_text(state_of)
        if a is None:
            done = state_of.note or (  # quality: a reviewer stopped at qualification is told why
                "## ✅ Nothing left for you in this campaign\n\n"
                "Every item available to you is reviewed. Thank you! You can still go **Back** to change an answer."
            )
            out: list[Any] = [
                None,  # state, filled in below
                progress,
                notice,
                "",
                gr.update(visible=False),
                gr.update(visible=True),
                done,
                "",
            ]
            out += [None] * (3 * PANEL_SLOTS)
            out += [None, None, None, "", put("inspect", None, choices=[]), "", None]
            out += [None] * len(spec.questions)
            if w.comment is not None:
                out.append("")
            out[0] = {"item_key": None, "corrections": {}, "props": shown}
            return out
        self.remember(a.item_key, a.item)
        view = build_view(a.item, spec.display)
        corrections = {q.score: view.correction_default for q in spec.questions if q.type == "correction"}
        notes = []
        if notice:
            notes.append(notice)
        if a.notice:  # quality: training feedback / a qualification round's result
            notes.append(a.notice)
        if a.revisiting:
            notes.append(
                "↩ You already answered this item: change what you like and submit to update your answer."
            )
        if a.adjudication:
            notes.append("⚖ Adjudication: reviewers disagreed on this item; their answers are shown below.")
        out = [
            None,  # state, filled in below
            progress,
            "  \n".join(notes),
            a.item_key,
            gr.update(visible=True),
            gr.update(visible=False),
            "",
            put("facts", _facts_text(view), label=f"Item · {view.kind}"),
        ]
        for i in range(PANEL_SLOTS):
            panel = view.panels[i] if i < len(view.panels) else None
            title = ""
            if panel is not None:
                title = panel.title + (
                    "  (folded: open it under “Inspect” for all of it)" if panel.folded else ""
                )
            for kind in ("chat", "json", "text"):
                on = panel is not None and panel.kind == kind
                value = panel.value if on and panel is not None else None
                out.append(put(f"{kind}{i}", value, visible=on, label=title if on else ""))
        out.append(put("metadata", view.metadata, visible=view.metadata is not None))
        score_rows = [[r.name, r.value, r.source, r.target, r.comment] for r in view.scores or ()]
        out.append(put("scores", score_rows, visible=view.scores is not None))
        tree_rows = [[r.label, r.model, r.latency, r.level, r.status] for r in view.tree or ()]
        styling = [[_LEVEL_STYLE.get(r.level, "")] * 5 for r in view.tree or ()]
        tree_value = {"headers": TREE_HEADERS, "data": tree_rows, "metadata": {"styling": styling}}
        out.append(put("tree", tree_value, visible=view.tree is not None))
        tree_note = f"{view.tree_hidden:,} more observations not listed." if view.tree_hidden else ""
        out.append(put("tree_note", tree_note, visible=bool(tree_note)))
        out.append(put("inspect", None, choices=[list(c) for c in view.inspect]))
        out.append("")
        show_others = bool(a.others) and (a.adjudication or not spec.review.blind)
        out.append(put("others", _others_rows(spec, a.others) if show_others else [], visible=show_others))
        prefill = {q.score: to_widget(q, a.answers.get(q.score)) for q in spec.questions}
        for q in spec.questions:
            if q.type == "correction" and prefill[q.score] is None:
                prefill[q.score] = corrections[q.score]
        visible = {q.score for q in active_questions(spec.questions, a.answers)}
        for i, q in enumerate(spec.questions):
            out.append(put(f"q{i}", prefill[q.score], visible=q.score in visible))
        if w.comment is not None:
            out.append(a.comment or "")
        out[0] = {
            "item_key": a.item_key,
            "corrections": corrections,
            "revisiting": a.revisiting,
            "props": shown,
            "tree_ids": [r.id for r in view.tree or ()],  # row → observation, for clicks on the tree
        }
        return out

    def failure(self, exc: HitlError) -> gr.Error:
        return gr.Error(str(exc))


def with_config_details(spec: ReviewSpec, configs: Mapping[str, ScoreConfig]) -> ReviewSpec:
    """``spec`` with choices / ranges taken from the resolved score configs where the spec only names a
    ``config_id`` (so the widgets — and Gradio's own preprocess checks — know the categories and bounds)."""
    changed = []
    for q in spec.questions:
        cfg = configs.get(q.score)
        if cfg is None:
            changed.append(q)
            continue
        updates: dict[str, Any] = {}
        if q.type == "categorical" and not q.categories and cfg.categories:
            updates["categories"] = tuple(Category(label, float(value)) for label, value in cfg.categories)
        if q.type == "numeric":
            if q.min is None and cfg.min_value is not None:
                updates["min"] = cfg.min_value
            if q.max is None and cfg.max_value is not None:
                updates["max"] = cfg.max_value
        changed.append(replace(q, **updates) if updates else q)
    return replace(spec, questions=tuple(changed))


def build_app(
    service: ReviewService,
    spec: ReviewSpec | None = None,
    *,
    reviewer: str | None = None,
    show_logout: bool = False,
    may_review: Callable[[str], bool] | None = None,
) -> gr.Blocks:
    """The review form for ``spec`` (default: ``service.spec``), talking only to ``service``.

    Args:
        service: the campaign (thread-safe; every method is fast, no backend call on the request path).
        spec: the validated spec; its questions, display and review settings shape the form.
        reviewer: identity used when a request carries no login (serving without auth on loopback).
            None means every request must be authenticated.
        show_logout: show a "Log out" link (password auth).
        may_review: extra check on the login name (e.g. the account still exists).

    Endpoints (all take the tab's hidden state; see README "Form API"): ``/load``, ``/submit``
    (one value per question in spec order, then the comment if the spec has one), ``/skip``,
    ``/back``, ``/inspect`` (a part key), ``/progress``.
    """
    spec = with_config_details(spec or service.spec, getattr(service, "configs", None) or {})
    ctl = _ReviewApp(service, spec, reviewer, may_review)
    questions = spec.questions

    with gr.Blocks(title=spec.title, analytics_enabled=False, fill_width=False) as demo:
        state = gr.State({"item_key": None, "corrections": {}})
        with gr.Row():
            gr.Markdown(f"# {md_escape(spec.title)}")
            if show_logout:
                gr.Button("Log out", link="/logout", size="sm", scale=0, elem_id="hitl-logout")
        if spec.guidelines.strip():
            with gr.Accordion("Guidelines", open=False, elem_id="hitl-guidelines"):
                gr.Markdown(spec.guidelines)  # written by the campaign owner (trusted), sanitized anyway
        progress = gr.Markdown(elem_id="hitl-progress")
        notice = gr.Markdown(elem_id="hitl-notice")
        # The open item's key, for API scripts (``trace:<id>`` …); hidden in the page.
        item_key = gr.Textbox(visible=False, label="item key", elem_id="hitl-item-key")
        with gr.Column(visible=False, elem_id="hitl-done") as done_box:
            done_text = gr.Markdown()
        with gr.Column(visible=False, elem_id="hitl-item") as item_box:
            facts = gr.Textbox(label="Item", interactive=False, lines=2, max_lines=4, elem_id="hitl-facts")
            slots: list[tuple[gr.Chatbot, gr.JSON, gr.Textbox]] = []
            for i in range(PANEL_SLOTS):
                chat = gr.Chatbot(
                    visible=False,
                    elem_id=f"hitl-chat-{i}",
                    elem_classes=["hitl-chat"],
                    **CHATBOT_RENDERING,  # the messages are sanitized HTML: shown as sent
                    group_consecutive_messages=False,
                    height=520,
                    buttons=["copy"],
                    layout="bubble",
                )
                js = gr.JSON(visible=False, elem_id=f"hitl-json-{i}", open=True)
                text = gr.Textbox(
                    visible=False, interactive=False, lines=6, max_lines=30, elem_id=f"hitl-text-{i}"
                )
                slots.append((chat, js, text))
            metadata = gr.JSON(label="Metadata", visible=False, elem_id="hitl-metadata")
            scores = gr.Dataframe(
                headers=["score", "value", "source", "on", "comment"],
                datatype="str",
                label="Existing scores (context)",
                interactive=False,
                visible=False,
                elem_id="hitl-scores",
            )
            tree = gr.Dataframe(
                headers=TREE_HEADERS,
                datatype="str",
                label="Observation tree (⛔ = ERROR level; open any node under “Inspect”)",
                interactive=False,
                visible=False,
                max_height=360,
                elem_id="hitl-tree",
            )
            tree_note = gr.Markdown(visible=False)
            with gr.Accordion(
                "Inspect: open any part or observation in full", open=False, elem_id="hitl-inspect"
            ) as inspect_box:
                inspect_pick = gr.Dropdown(label="Part", choices=[], value=None, elem_id="hitl-inspect-pick")
                inspect_text = gr.Code(
                    label="Full content", interactive=False, elem_id="hitl-inspect-text", max_lines=40
                )
            others = gr.Dataframe(
                headers=["reviewer", *[q.label for q in questions], "comment"],
                datatype="str",
                label="Other reviewers' answers",
                interactive=False,
                visible=False,
                elem_id="hitl-others",
            )
            gr.Markdown("### Your review")
            widgets: list[gr.components.Component] = []
            for i, q in enumerate(questions):
                widgets.append(_make_widget(i, q))
            comment: gr.Textbox | None = None
            if spec.comment != "off":
                comment = gr.Textbox(
                    label="Comment" + (" *" if spec.comment == "required" else " (optional)"),
                    lines=2,
                    elem_id="hitl-comment",
                )
        with gr.Row():
            back = gr.Button("◀ Back (b)", elem_id="hitl-back")
            skip = gr.Button("Skip (s)", elem_id="hitl-skip", visible=spec.review.allow_skip)
            submit = gr.Button("Submit ▶ (Ctrl+Enter)", variant="primary", elem_id="hitl-submit")
        gr.Markdown("Press **?** for keyboard shortcuts.", elem_id="hitl-hint")

        w = _Widgets(
            state, progress, notice, item_key, item_box, done_box, done_text, facts, slots, metadata, scores, tree,
            tree_note, inspect_pick, inspect_text, others, widgets, comment, back, skip, submit,
        )  # fmt: skip
        outs = w.outputs()

        def on_load(st: dict[str, Any], request: gr.Request) -> list[Any]:
            reviewer_name = ctl.who(request)
            try:
                return ctl.render(w, reviewer_name, service.open_next(reviewer_name), st=st)
            except HitlError as exc:
                raise ctl.failure(exc) from exc

        def on_submit(st: dict[str, Any], request: gr.Request, *values: Any) -> list[Any]:
            reviewer_name = ctl.who(request)
            key = (st or {}).get("item_key")
            if not key:
                raise gr.Error("No item is open in this tab: reload the page (or call /load) first.")
            answer_values = values[: len(questions)]
            comment_value = values[len(questions)] if comment is not None else None
            answers, problems = collect_answers(spec, answer_values, (st or {}).get("corrections", {}))
            text = (comment_value or "").strip() or None
            if spec.comment == "required" and not text:
                problems.append("A comment is required: explain your judgment in the comment box.")
            if problems:
                raise gr.Error(" ".join(problems))
            try:
                service.submit(reviewer_name, key, answers, text)
            except HitlError as exc:
                raise ctl.failure(exc) from exc
            try:
                return ctl.render(w, reviewer_name, service.open_next(reviewer_name), "✔ Saved.", st=st)
            except HitlError as exc:
                raise gr.Error(
                    f"Your answer is saved, but the next item could not be opened ({exc}): reload the page."
                ) from exc

        def on_skip(st: dict[str, Any], request: gr.Request) -> list[Any]:
            reviewer_name = ctl.who(request)
            if not spec.review.allow_skip:
                raise gr.Error("Skipping is turned off for this campaign (review.allow_skip: false).")
            key = (st or {}).get("item_key")
            if not key:
                raise gr.Error("No item is open in this tab: reload the page (or call /load) first.")
            try:
                service.skip(reviewer_name, key)
                return ctl.render(w, reviewer_name, service.open_next(reviewer_name), "Skipped.", st=st)
            except HitlError as exc:
                raise ctl.failure(exc) from exc

        def on_back(st: dict[str, Any], request: gr.Request) -> list[Any]:
            reviewer_name = ctl.who(request)
            key = (st or {}).get("item_key")
            try:
                a = service.previous(reviewer_name, key)
                if a is None:
                    gr.Info("There is no earlier item you answered.")
                    # Stay where we are: the answered item being revisited, or the open lease.
                    if key and (st or {}).get("revisiting"):
                        return ctl.render(w, reviewer_name, service.open_item(reviewer_name, key), st=st)
                    return ctl.render(w, reviewer_name, service.open_next(reviewer_name), st=st)
                return ctl.render(w, reviewer_name, a, st=st)
            except HitlError as exc:
                raise ctl.failure(exc) from exc

        def on_inspect(st: dict[str, Any], part: str | None, request: gr.Request) -> Any:
            ctl.who(request)
            key = (st or {}).get("item_key")
            if not part:
                return gr.update(value="")
            item = ctl.recall(key) if key else None
            if item is None:
                raise gr.Error("The item is no longer open in this tab: reload the page.")
            try:
                text, is_json = inspect_content(item, part)
            except KeyError:
                raise gr.Error(f"This item has no part {part!r}.") from None
            return gr.update(value=text, language="json" if is_json else None)

        def on_tree_select(st: dict[str, Any], evt: gr.SelectData, request: gr.Request) -> list[Any]:
            ctl.who(request)
            ids = (st or {}).get("tree_ids") or []
            row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
            item = ctl.recall((st or {}).get("item_key") or "")
            if item is None or not isinstance(row, int) or not 0 <= row < len(ids):
                raise gr.Error("That row is no longer on screen: reload the page.")
            text, _ = inspect_content(item, f"obs:{ids[row]}")
            return [gr.update(value=text, language="json"), gr.update(open=True)]

        def on_progress(request: gr.Request) -> str:
            return progress_text(service.progress(ctl.who(request)))

        read: dict[str, Any] = {"concurrency_id": READ_GROUP, "concurrency_limit": READ_LIMIT}
        write: dict[str, Any] = {"concurrency_id": WRITE_GROUP, "concurrency_limit": WRITE_LIMIT}
        tail = [*widgets, *([comment] if comment is not None else [])]
        demo.load(on_load, [state], outs, api_name="load", **read).then(None, js=FOCUS_JS)
        submit.click(on_submit, [state, *tail], outs, api_name="submit", **write).then(None, js=FOCUS_JS)
        skip.click(on_skip, [state], outs, api_name="skip", **write).then(None, js=FOCUS_JS)
        back.click(on_back, [state], outs, api_name="back", **read).then(None, js=FOCUS_JS)
        inspect_pick.change(on_inspect, [state, inspect_pick], [inspect_text], api_name="inspect", **read)
        # Clicking a row of the tree opens that observation under Inspect (browser only: needs the click).
        tree.select(on_tree_select, [state], [inspect_text, inspect_box], api_visibility="private", **read)
        progress_btn = gr.Button("refresh progress", visible=False)
        progress_btn.click(on_progress, None, [progress], api_name="progress", **read)

        gated = [(i, q) for i, q in enumerate(questions) if q.when is not None]
        if gated:
            controllers = {q.when.question for _, q in gated if q.when is not None}

            def on_answer_change(st: dict[str, Any], *values: Any) -> list[Any]:
                raw = {q.score: to_answer(q, v) for q, v in zip(questions, values, strict=True)}
                asked = {q.score for q in active_questions(questions, raw)}
                props = dict((st or {}).get("props") or {})
                for j, q in gated:  # keep the tab's record of what it shows in step (see render)
                    props[f"q{j}"] = {"visible": q.score in asked}
                return [
                    {**(st or {}), "props": props},
                    *[gr.update(visible=q.score in asked) for _, q in gated],
                ]

            for i, q in enumerate(questions):
                if q.score in controllers:
                    widgets[i].change(  # type: ignore[attr-defined]
                        on_answer_change,
                        [state, *widgets],
                        [state, *[widgets[j] for j, _ in gated]],
                        api_visibility="private",
                        concurrency_limit=None,
                        queue=False,
                    )
    # Queue-position estimates every second instead of after every finished job: with dozens of
    # reviewers in the queue, per-job broadcasts to every waiting request cost O(waiting) each.
    demo.queue(status_update_rate=1.0)
    return demo


def _make_widget(index: int, q: Question) -> gr.components.Component:
    label = q.label + (" *" if q.required else "")
    info = q.help or q.description
    kw: dict[str, Any] = {"label": label, "info": info, "elem_id": question_elem_id(index)}
    if q.type == "categorical":
        return gr.Radio(choices=list(q.labels), value=None, elem_classes=["hitl-q", "hitl-categorical"], **kw)
    if q.type == "boolean":
        return gr.Radio(choices=["yes", "no"], value=None, elem_classes=["hitl-q", "hitl-boolean"], **kw)
    if q.type == "numeric":
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
            elem_classes=["hitl-q", "hitl-numeric"],
            **kw,
        )
    if q.type == "correction":
        kw["info"] = info or "Edit the output to what it should have been. Only a changed output is sent."
        return gr.Textbox(lines=8, max_lines=30, elem_classes=["hitl-q", "hitl-correction"], **kw)
    return gr.Textbox(lines=3, max_lines=12, elem_classes=["hitl-q", "hitl-text"], **kw)
