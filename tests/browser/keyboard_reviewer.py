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
          return facts && facts.value && facts.value !== item && a && a.closest && !!a.closest('[id^="hitl-q-"]');
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
    raise ValueError(kind)


def review_item(pg: Any, n: int, *, max_steps: int = 40) -> ItemRun:
    """Review the item on screen with the keyboard alone; returns once the next one is shown."""
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
        if kind in ("categorical", "boolean", "scale"):
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
