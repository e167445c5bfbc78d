"""A scripted reviewer who uses only the keyboard (shared by the browser tests and bench/bench_keyboard.py).

It reads where the focus is and answers that question the way a person would: a category's digit,
``y``/``n``, a scale button's number, text typed into a required text box or the correction editor,
``Tab`` past an optional text box, ``Enter`` on Submit (``Ctrl+Enter`` from a text box). It never
clicks and never moves the focus itself: the form's focus order has to lead it through every
question. Every step waits for what the reviewer would see change (focus moved, next item shown),
never for a fixed time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

#: Where the focus is: the question / comment / Submit box holding it, its kind and the open item.
_WHERE = """() => {
  const a = document.activeElement;
  const box = a && a.closest ? a.closest('[id^="hitl-q-"], #hitl-comment, #hitl-submit') : null;
  const cfg = window.hitlConfig || { questions: [] };
  const q = box ? cfg.questions.find((x) => x.id === box.id) : null;
  const kind = !box ? null : box.id === 'hitl-submit' ? 'submit' : box.id === 'hitl-comment' ? 'comment'
    : (q ? q.kind : null);
  const facts = document.querySelector('#hitl-facts textarea');
  return { stop: box ? box.id : null, kind, item: facts ? facts.value : '',
           required: !!box && /\\*\\s*$/.test((box.querySelector('[data-testid="block-info"]') || {}).innerText || ''),
           done: !!document.querySelector('#hitl-done') && document.querySelector('#hitl-done').offsetParent !== null };
}"""


@dataclass
class ItemRun:
    """What one item took: key presses (answers and navigation), characters typed, seconds, questions seen."""

    item: str
    keys: list[str] = field(default_factory=list)
    typed: int = 0
    seconds: float = 0.0
    questions: int = 0  # questions (and a required comment) the reviewer answered or passed


def where(pg: Any) -> dict[str, Any]:
    return dict(pg.evaluate(_WHERE))


def _wait_focus_left(pg: Any, stop: str, item: str) -> None:
    pg.wait_for_function(
        """([stop, item]) => {
          const a = document.activeElement;
          const box = a && a.closest ? a.closest('[id^="hitl-q-"], #hitl-comment, #hitl-submit') : null;
          const facts = document.querySelector('#hitl-facts textarea');
          const done = document.querySelector('#hitl-done');
          return (box && box.id !== stop) || (facts && facts.value !== item) || (done && done.offsetParent !== null);
        }""",
        arg=[stop, item],
    )


def _wait_next_item(pg: Any, item: str) -> None:
    """The next item is shown (or the end screen) and its first question has the focus."""
    pg.wait_for_function(
        """(item) => {
          const done = document.querySelector('#hitl-done');
          if (done && done.offsetParent !== null) return true;
          const facts = document.querySelector('#hitl-facts textarea');
          const a = document.activeElement;
          // The focus must be on the new item's *first* stop: it may still be in a question of the
          // last item (a text box) for a frame after the new item is drawn.
          const first = window.hitlOrder ? window.hitlOrder()[0] : 'hitl-q-0';
          return facts && facts.value && facts.value !== item && a && a.closest && !!a.closest('#' + first);
        }""",
        arg=item,
    )


def answer_key(kind: str, n: int) -> str:
    """The key the scripted reviewer presses for item ``n`` on a question of ``kind``."""
    if kind == "categorical":
        return str(n % 3 + 1)
    if kind == "boolean":
        return "y" if n % 2 == 0 else "n"
    if kind == "scale":
        return str(n % 5 + 1)
    if kind == "preference":  # a pair: output A / B better, tie
        return "abt"[n % 3]
    raise ValueError(kind)


_STATE = """() => ({ focus: document.activeElement ? (document.activeElement.closest?.('[id]')?.id || document.activeElement.tagName) : null,
  order: window.hitlOrder ? window.hitlOrder() : null,
  invalid: [...document.querySelectorAll('div.validation-error')].map((el) => el.innerText),
  shown: [...document.querySelectorAll('[id^="hitl-q-"]')].filter((el) => el.offsetParent !== null).map((el) => el.id),
  checked: [...document.querySelectorAll('input[type=radio]:checked')].map((el) => el.value),
  toast: [...document.querySelectorAll('.toast-body, [data-testid="toast-body"]')].map((el) => el.innerText) })"""


def review_item(pg: Any, n: int, *, max_steps: int = 40) -> ItemRun:
    """Review the item on screen with the keyboard alone; returns once the next one is shown.

    A step that times out fails with what the page showed (focus, order, messages), not only the wait.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return _review_item(pg, n, max_steps=max_steps)
    except PlaywrightTimeout as exc:
        raise AssertionError(
            f"item {n}: {exc.message.splitlines()[0]}; the page: {pg.evaluate(_STATE)}"
        ) from exc


def _review_item(pg: Any, n: int, *, max_steps: int) -> ItemRun:
    start = where(pg)
    run = ItemRun(item=start["item"])
    t0 = time.perf_counter()
    for _ in range(max_steps):
        here = where(pg)
        if here["item"] != run.item or here["done"]:
            break
        kind, stop = here["kind"], here["stop"]
        if kind is None:
            raise AssertionError(f"the focus left the form's order on item {run.item!r}: {here}")
        if kind == "submit":
            pg.keyboard.press("Enter")
            run.keys.append("Enter")
            _wait_next_item(pg, run.item)
            break
        run.questions += 1
        if kind in ("categorical", "boolean", "scale", "preference"):
            key = answer_key(kind, n)
            pg.keyboard.press(key)
            run.keys.append(key)
            _wait_focus_left(pg, stop, run.item)
            continue
        if kind == "correction":  # edit the pre-filled output: append a note at its end
            pg.keyboard.press("Control+End")
            run.keys.append("Control+End")
            text = " (corrected)"
        else:
            text = "Checked by keyboard." if here["required"] else ""
        if text:
            pg.keyboard.type(text)
            run.typed += len(text)
        order = pg.evaluate("() => window.hitlOrder()")
        if order.index(stop) + 1 < len(order) and order[order.index(stop) + 1] == "hitl-submit":
            pg.keyboard.press("Control+Enter")  # the last stop: submit from the text box
            run.keys.append("Control+Enter")
            _wait_next_item(pg, run.item)
            break
        pg.keyboard.press("Tab")
        run.keys.append("Tab")
        _wait_focus_left(pg, stop, run.item)
    else:
        raise AssertionError(f"item {run.item!r} was not submitted within {max_steps} steps")
    run.seconds = time.perf_counter() - t0
    return run
