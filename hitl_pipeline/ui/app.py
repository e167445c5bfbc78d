"""The review form, generated from a spec: :func:`build_app` returns a ``gr.Blocks``.

Design decisions (see ``/work/shared/reference/gradio-notes.md``):

* Widgets are built **once**, in a loop over the spec's questions (:mod:`.layout`; no ``gr.render``:
  events created inside it are invisible to ``gradio_client``). Every handler returns the same
  named outputs (:func:`hitl_pipeline.ui.api.api_outputs`, rendered by :mod:`.render`), so load /
  submit / skip / back all re-render the item and pre-fill the answers.
* The **position** always comes from the durable :class:`~hitl_pipeline.campaign.types.ReviewService`
  (``open_next`` / ``previous``); ``gr.State`` only remembers which item is on screen in this tab. A
  reload or a server restart resumes at the right item.
* The **identity** is ``gr.Request.username`` (password login or trusted proxy header), or the
  configured default reviewer when serving without auth on loopback. API callers cannot choose it.
* **Validation never hides the item.** Submit has a ``validator=``: a missing required answer (or
  comment) comes back as one message per question, shown at the question, and the submit itself
  never runs — Gradio leaves every other component as it was and logs nothing. API callers get the
  same messages (HTTP 422). Gradio rejects out-of-choice and out-of-range values at preprocess, and
  the service validates each answer against its score config (``ScoreValidationError``).
* Every action is a named API endpoint (``/load``, ``/submit``, ``/skip``, ``/back``, ``/inspect``,
  ``/progress``).
* **Concurrency** is set deliberately: writes (submit, skip) share one group of 4 — SQLite has a
  single writer, more threads would only queue on its lock; reads (load, back, inspect, progress)
  share one group of 16; the pure visibility handler is unlimited. The service is thread-safe.
* LLM text is shown only by components that never execute it (``gr.Chatbot``, ``gr.JSON``,
  ``gr.Code``, read-only ``gr.Textbox``); chat messages are HTML rendered and allow-list sanitized
  on the server (:mod:`hitl_pipeline.model.text`), which the Chatbot shows as sent
  (:data:`hitl_pipeline.ui.view.CHATBOT_RENDERING`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import hitl_pipeline.ui  # noqa: F401  (sets the telemetry env vars before gradio is imported)

import gradio as gr  # noqa: E402  isort: skip

from hitl_pipeline.campaign.types import Assignment, ReviewService  # noqa: E402
from hitl_pipeline.errors import AlreadyAnsweredError, HitlError  # noqa: E402
from hitl_pipeline.model import Item, ScoreConfig  # noqa: E402
from hitl_pipeline.spec.model import Category, ReviewSpec  # noqa: E402
from hitl_pipeline.ui.answers import (  # noqa: E402,F401  (re-exported for scripts and tests)
    active_questions,
    collect_answers,
    comment_problem,
    find_problems,
    md_escape,
    to_answer,
    to_widget,
)
from hitl_pipeline.ui.api import PANEL_SLOTS, api_outputs  # noqa: E402,F401  (re-exported)
from hitl_pipeline.ui.layout import FormWidgets, build_layout, question_elem_id  # noqa: E402,F401
from hitl_pipeline.ui.pairwise import answers_in, inspect_pair  # noqa: E402
from hitl_pipeline.ui.render import (  # noqa: E402
    Props,
    done_screen,
    item_screen,
    previous_reveal,
    progress_text,
    waiting_adjudications,
)
from hitl_pipeline.ui.shortcuts import focus_js  # noqa: E402
from hitl_pipeline.ui.view import inspect_content  # noqa: E402

#: Items kept in memory for "Inspect" (the one on screen per reviewer, plus recent ones); bounded
#: because one item can hold megabytes of output.
ITEM_CACHE_SIZE = 128

WRITE_GROUP, WRITE_LIMIT = "hitl-write", 4
READ_GROUP, READ_LIMIT = "hitl-read", 16


class _ReviewApp:
    """Handlers bound to one service and spec. Thread-safe: shared state is the service and a locked cache."""

    def __init__(
        self,
        service: ReviewService,
        spec: ReviewSpec,
        widgets: FormWidgets,
        reviewer: str | None,
        may_review: Callable[[str], bool] | None,
    ) -> None:
        self.service = service
        self.spec = spec
        self.w = widgets
        self.names = list(widgets.by_name)
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
        reviewer: str,
        a: Assignment | None,
        notice: str = "",
        st: dict[str, Any] | None = None,
        revealed: str = "",
    ) -> list[Any]:
        """Every output for showing ``a`` (None: the end-of-queue screen) in the tab whose state is ``st``."""
        props = Props((st or {}).get("props"))
        standing = self.service.progress(reviewer)
        progress = progress_text(standing, waiting_adjudications(self.service, self.spec, reviewer))
        if a is None:
            out, state = done_screen(
                self.spec,
                progress=progress,
                notice=notice,
                revealed=revealed,
                props=props,
                why=standing.note,  # quality: a reviewer stopped at qualification is told why
            )
        else:
            self.remember(a.item_key, a.item)
            out, state = item_screen(
                self.spec, a, progress=progress, notice=notice, revealed=revealed, props=props
            )
        return [state, *(out[name] for name in self.names)]

    # handlers --------------------------------------------------------------------------------
    def load(self, st: dict[str, Any], request: gr.Request) -> list[Any]:
        reviewer = self.who(request)
        try:
            return self.render(reviewer, self.service.open_next(reviewer), st=st)
        except HitlError as exc:
            raise gr.Error(str(exc)) from exc

    def validate(self, st: dict[str, Any], *values: Any) -> list[Any]:
        """Submit's ``validator``: one ``gr.validate`` per input (state, questions, comment)."""
        n = len(self.spec.questions)
        _, problems = find_problems(self.spec, values[:n], (st or {}).get("corrections", {}))
        checks = [gr.validate(True, "")]
        checks += [
            gr.validate(q.score not in problems, problems.get(q.score, "")) for q in self.spec.questions
        ]
        if self.w.comment is not None:
            message = comment_problem(self.spec, values[n])
            checks.append(gr.validate(message is None, message or ""))
        return checks

    def submit(self, st: dict[str, Any], request: gr.Request, *values: Any) -> list[Any]:
        reviewer = self.who(request)
        key = (st or {}).get("item_key")
        if not key:
            raise gr.Error("No item is open in this tab: reload the page (or call /load) first.")
        n = len(self.spec.questions)
        answers, problems = find_problems(self.spec, values[:n], (st or {}).get("corrections", {}))
        text = values[n] if self.w.comment is not None else None
        issues = [*problems.values(), *filter(None, [comment_problem(self.spec, text)])]
        if issues:  # the validator catches these first; kept for a caller that bypasses it
            raise gr.Error(" ".join(issues))
        try:
            # A first answer (the tab opened it with Next) to an item answered meanwhile in another
            # tab is refused by the service instead of replacing that answer.
            edit = bool((st or {}).get("revisiting"))
            sent = answers_in(self.spec, key, answers)  # a pair: picks as shown → arm B's outcome
            self.service.submit(reviewer, key, sent, (text or "").strip() or None, edit=edit)
        except AlreadyAnsweredError as exc:
            # A stale tab: keep the screen whole and move it on to this reviewer's open item.
            return self._next_or_error(reviewer, f"⚠ Not saved: {exc}.", st=st, saved=False)
        except HitlError as exc:
            raise gr.Error(str(exc)) from exc
        revealed = previous_reveal(self.spec, self.recall(key), answers)
        return self._next_or_error(reviewer, "✔ Saved.", st=st, revealed=revealed)

    def _next_or_error(
        self, reviewer: str, notice: str, st: dict[str, Any] | None, revealed: str = "", saved: bool = True
    ) -> list[Any]:
        """The reviewer's next item after a submit, with ``notice`` (said again if it cannot open)."""
        try:
            nxt = self.service.open_next(reviewer)
            return self.render(reviewer, nxt, notice, st=st, revealed=revealed)
        except HitlError as exc:
            said = "Your answer is saved, but" if saved else f"{notice} And"
            raise gr.Error(f"{said} the next item could not be opened ({exc}): reload the page.") from exc

    def skip(self, st: dict[str, Any], request: gr.Request) -> list[Any]:
        reviewer = self.who(request)
        if not self.spec.review.allow_skip:
            raise gr.Error("Skipping is turned off for this campaign (review.allow_skip: false).")
        key = (st or {}).get("item_key")
        if not key:
            raise gr.Error("No item is open in this tab: reload the page (or call /load) first.")
        try:
            self.service.skip(reviewer, key)
            return self.render(reviewer, self.service.open_next(reviewer), "Skipped.", st=st)
        except HitlError as exc:
            raise gr.Error(str(exc)) from exc

    def back(self, st: dict[str, Any], request: gr.Request) -> list[Any]:
        reviewer = self.who(request)
        key = (st or {}).get("item_key")
        try:
            a = self.service.previous(reviewer, key)
            if a is None:
                gr.Info("There is no earlier item you answered.")
                # Stay where we are: the answered item being revisited, or the open lease.
                if key and (st or {}).get("revisiting"):
                    return self.render(reviewer, self.service.open_item(reviewer, key), st=st)
                return self.render(reviewer, self.service.open_next(reviewer), st=st)
            return self.render(reviewer, a, st=st)
        except HitlError as exc:
            raise gr.Error(str(exc)) from exc

    def inspect(self, st: dict[str, Any], part: str | None, request: gr.Request) -> Any:
        self.who(request)
        key = (st or {}).get("item_key")
        if not part:
            return gr.update(value="")
        item = self.recall(key) if key else None
        if item is None:
            raise gr.Error("The item is no longer open in this tab: reload the page.")
        try:
            text, is_json = inspect_pair(item, part) if item.pair is not None else inspect_content(item, part)
        except KeyError:
            raise gr.Error(f"This item has no part {part!r}.") from None
        return gr.update(value=text, language="json" if is_json else None)

    def tree_select(self, st: dict[str, Any], evt: gr.SelectData, request: gr.Request) -> list[Any]:
        self.who(request)
        keys = (st or {}).get("tree_keys") or []
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        item = self.recall((st or {}).get("item_key") or "")
        if item is None or not isinstance(row, int) or not 0 <= row < len(keys):
            raise gr.Error("That row is no longer on screen: reload the page.")
        text, _ = inspect_content(item, keys[row])
        return [gr.update(value=text, language="json"), gr.update(open=True)]

    def progress(self, request: gr.Request) -> str:
        reviewer = self.who(request)
        return progress_text(
            self.service.progress(reviewer), waiting_adjudications(self.service, self.spec, reviewer)
        )

    def visibility(self, st: dict[str, Any], *values: Any) -> list[Any]:
        """Show exactly the ``when``-gated questions whose condition the current answers meet."""
        questions = self.spec.questions
        raw = {q.score: to_answer(q, v) for q, v in zip(questions, values, strict=True)}
        asked = {q.score for q in active_questions(questions, raw)}
        gated = [(j, q) for j, q in enumerate(questions) if q.when is not None]
        props = dict((st or {}).get("props") or {})
        for j, q in gated:  # keep the tab's record of what it shows in step (see render.Props)
            props[f"q{j}"] = {"visible": q.score in asked}
        return [{**(st or {}), "props": props}, *[gr.update(visible=q.score in asked) for _, q in gated]]


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


def _wire(demo: gr.Blocks, ctl: _ReviewApp, w: FormWidgets, spec: ReviewSpec) -> None:
    """Connect the events: every item change is followed by the focus script (first question)."""
    outs = w.outputs()
    after = focus_js(spec)
    read: dict[str, Any] = {"concurrency_id": READ_GROUP, "concurrency_limit": READ_LIMIT}
    write: dict[str, Any] = {"concurrency_id": WRITE_GROUP, "concurrency_limit": WRITE_LIMIT}
    demo.load(ctl.load, [w.state], outs, api_name="load", **read).then(None, js=after)
    w.submit.click(
        ctl.submit, [w.state, *w.answer_inputs()], outs, api_name="submit", validator=ctl.validate, **write
    ).then(None, js=after)
    w.skip.click(ctl.skip, [w.state], outs, api_name="skip", **write).then(None, js=after)
    w.back.click(ctl.back, [w.state], outs, api_name="back", **read).then(None, js=after)
    w.inspect_pick.change(
        ctl.inspect, [w.state, w.inspect_pick], [w.inspect_text], api_name="inspect", **read
    )
    # Clicking a row of the tree opens that observation under Inspect (browser only: needs the click).
    w.tree.select(
        ctl.tree_select, [w.state], [w.inspect_text, w.inspect_box], api_visibility="private", **read
    )
    progress_btn = gr.Button("refresh progress", visible=False)
    progress_btn.click(ctl.progress, None, [w.progress], api_name="progress", **read)
    gated = [w.questions[j] for j, q in enumerate(spec.questions) if q.when is not None]
    controllers = {q.when.question for q in spec.questions if q.when is not None}
    for i, q in enumerate(spec.questions):
        if gated and q.score in controllers:
            w.questions[i].change(  # type: ignore[attr-defined]
                ctl.visibility,
                [w.state, *w.questions],
                [w.state, *gated],
                api_visibility="private",
                concurrency_limit=None,
                queue=False,
            )


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
    demo = gr.Blocks(title=spec.title, analytics_enabled=False, fill_width=True)
    with demo:  # (Blocks.__enter__ returns the Blocks itself, untyped)
        w = build_layout(spec, show_logout=show_logout)
        ctl = _ReviewApp(service, spec, w, reviewer, may_review)
        _wire(demo, ctl, w, spec)
    # Queue-position estimates every second instead of after every finished job: with dozens of
    # reviewers in the queue, per-job broadcasts to every waiting request cost O(waiting) each.
    demo.queue(status_update_rate=1.0)
    return demo
