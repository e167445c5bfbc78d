"""Keyboard, focus and layout styling, injected with ``head=`` / ``css=`` (Gradio 6: they go to mount/launch).

Gradio has no global hotkey API, so one document-level ``keydown`` listener does it. **One focus
order**: the questions asked (spec order; a ``when`` question as soon as its condition holds), the
comment when it is required, then Submit. ``Tab`` / ``Shift+Tab`` and ``Enter`` on a choice follow
it; answering a choice question with its key moves on to the next question in that order, waiting
for a question the answer just revealed. Keys answer the *focused* question (``1``–``9`` a category,
``y``/``n`` yes/no, the number on a scale button, ``0`` for 10) — or, with no question focused, the
first unanswered one that takes that key. Nothing fires while the reviewer types in a text field
(except ``Ctrl``/``⌘+Enter``, which submits), and no shortcut moves focus into a text field
and then types there. The question order and ``when`` rules reach the page with :func:`focus_js`.

Validation messages from Gradio's ``validator`` appear inside the question's status tracker
(``.validation-error``); a ``MutationObserver`` marks that question ``hitl-invalid`` (red outline)
and focuses the first one. Answering it clears the mark (CSS then hides the message).
"""

from __future__ import annotations

import json
from typing import Any

from hitl_pipeline.spec.model import ReviewSpec
from hitl_pipeline.ui.answers import scale_values, to_widget

#: Shown by ``?`` and in the README.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Tab / Shift+Tab", "next / previous question (then Submit)"),
    ("1 … 9", "choose that category of the focused question"),
    ("1 … 9, 0", "choose that number on a scale (0 = 10)"),
    ("y / n", "answer yes / no"),
    ("Enter", "on a choice: next question; on Submit: submit"),
    ("Ctrl+Enter / ⌘+Enter", "submit (also while typing)"),
    ("a / b / t / x", "pairs: output A / output B is better, tie, both bad"),
    ("s", "skip this item"),
    ("b", "back to the previous item (p in a pair campaign)"),
    ("?", "show / hide this help"),
    ("Esc", "close this help"),
)

_HELP_ROWS = json.dumps([list(row) for row in SHORTCUTS], ensure_ascii=False)[1:-1]


def _kind(q: Any) -> str:
    if getattr(q, "preference", False):
        return "preference"
    if q.type == "numeric":
        return "scale" if scale_values(q) is not None else "number"
    return str(q.type)


def page_config(spec: ReviewSpec) -> dict[str, Any]:
    """What the page script needs of the spec: question ids, kinds and ``when`` rules (widget values)."""
    index = {q.score: i for i, q in enumerate(spec.questions)}
    questions = []
    for i, q in enumerate(spec.questions):
        when = None
        if q.when is not None and q.when.question in index:
            controller = spec.questions[index[q.when.question]]
            when = {
                "q": index[q.when.question],
                "op": q.when.op,
                "values": [str(to_widget(controller, v)) for v in q.when.values],
            }
        questions.append({"id": f"hitl-q-{i}", "kind": _kind(q), "when": when})
    return {
        "questions": questions,
        "comment": "hitl-comment" if spec.comment == "required" else None,
        "pair": spec.target == "pair",
    }


def focus_js(spec: ReviewSpec) -> str:
    """Runs after every item change (``.then(js=...)``): the spec's rules, then focus on the first question."""
    cfg = json.dumps(page_config(spec), ensure_ascii=True)
    return f"() => {{ window.hitlConfig = {cfg}; if (window.hitlFocusFirst) window.hitlFocusFirst(); }}"


HEAD = (
    """<style>
/* Page-level rules (Gradio scopes css= below its container, so they go here). */
@media (max-width: 899px) { .main.fillable { padding-left: 8px !important; padding-right: 8px !important; } }
</style>
<script>
(() => {
  const HELP = [__HELP__];
  const cfg = () => window.hitlConfig || { questions: [], comment: null };
  const byId = (id) => document.getElementById(id);
  const visible = (el) => !!el && el.offsetParent !== null;
  const answerOf = (i) => {
    const box = byId(cfg().questions[i].id);
    if (!box) return null;
    const checked = box.querySelector('input[type=radio]:checked');
    if (checked) return checked.value;
    const field = box.querySelector('textarea, input[type=number]');
    return field && field.value.trim() ? field.value : null;
  };
  const same = (a, b) => a === b || (a !== '' && b !== '' && !isNaN(Number(a)) && Number(a) === Number(b));
  const matches = (w, answer) => {
    if (answer === null) return false;
    const hit = w.values.some((v) => same(String(v), String(answer)));
    return w.op === 'not_equals' ? !hit : hit;
  };
  // The questions the current answers ask, by the spec's `when` rules (as the server decides).
  const asked = () => {
    const on = [];
    cfg().questions.forEach((q, i) => { on[i] = !q.when || (on[q.when.q] && matches(q.when, answerOf(q.when.q))); });
    return on;
  };
  const order = () => {
    const on = asked();
    const ids = cfg().questions.filter((q, i) => on[i]).map((q) => q.id);
    if (cfg().comment) ids.push(cfg().comment);
    ids.push('hitl-submit');
    return ids;
  };
  const stopOf = (el) => {
    const box = el && el.closest ? el.closest('[id^="hitl-q-"], #hitl-comment, #hitl-submit') : null;
    return box ? box.id : null;
  };
  const target = (box) => {
    if (!box) return null;
    if (box.id === 'hitl-submit') return box;
    return box.querySelector('input[type=radio]:checked') || box.querySelector('input[type=radio], textarea, input');
  };
  const focusStop = (id, keepScroll) => {
    const el = target(byId(id));
    if (!el || !visible(el) || el.disabled) return false;
    el.focus({ preventScroll: !!keepScroll });
    return true;
  };
  // Wait (a frame at a time, at most 10 s: a busy server answers late) until `ready()`, then `go()`.
  const when = (ready, go, fallback) => {
    const until = performance.now() + 10000;
    const step = () => {
      if (ready()) go();
      else if (performance.now() < until) requestAnimationFrame(step);
      else if (fallback) fallback();
    };
    requestAnimationFrame(step);
  };
  // Focus the stop `delta` steps from `from` in the order, once it is shown (a question the last
  // answer revealed appears after the server's reply); else the nearest one that is shown.
  const move = (from, delta) => {
    const ids = order();
    const i = ids.indexOf(from);
    const next = i < 0 ? undefined : ids[i + delta];
    if (!next) return false;
    if (focusStop(next)) return true;  // shown already: at once, so the next key lands there
    when(() => visible(target(byId(next))), () => focusStop(next), () => {
      const now = order();
      const j = now.indexOf(from);
      const rest = delta > 0 ? now.slice(j + 1) : now.slice(0, Math.max(j, 0)).reverse();
      for (const id of rest) if (focusStop(id)) return;
    });
    return true;
  };
  const takes = (kind, key) => {
    if (kind === 'categorical') return /^[1-9]$/.test(key);
    if (kind === 'boolean') return /^[yn12]$/.test(key);
    if (kind === 'scale') return /^[0-9]$/.test(key);
    if (kind === 'preference') return /^[abtx]$/.test(key);
    return false;
  };
  const choose = (box, kind, key) => {
    const inputs = [...box.querySelectorAll('input[type=radio]')];
    let input = null;
    if (kind === 'categorical') input = inputs[Number(key) - 1];
    else if (kind === 'boolean') input = inputs.find((el) => el.value === ({ y: 'yes', 1: 'yes', n: 'no', 2: 'no' })[key]);
    else if (kind === 'preference') input = inputs.find((el) => el.value === ({ a: 'A', b: 'B', t: 'tie', x: 'both_bad' })[key]);
    else if (kind === 'scale') {
      const label = (el) => (el.closest('label')?.innerText || el.value).trim();
      input = inputs.find((el) => label(el) === key) || (key === '0' ? inputs.find((el) => label(el) === '10') : null);
    }
    if (!input) return false;
    input.click();
    return true;
  };
  const answerKey = (e, focused) => {
    const qs = cfg().questions;
    let index = qs.findIndex((q) => q.id === focused);
    if (index < 0) {  // nothing focused: the first unanswered question asked that takes this key
      const on = asked();
      index = qs.findIndex((q, i) => on[i] && answerOf(i) === null && takes(q.kind, e.key) && visible(byId(q.id)));
    }
    if (index < 0 || !takes(qs[index].kind, e.key)) return false;
    const id = qs[index].id;
    if (!choose(byId(id), qs[index].kind, e.key)) return false;
    move(id, 1);
    return true;
  };
  const click = (sel) => { const el = document.querySelector(sel); if (visible(el) && !el.disabled) { el.click(); return true; } return false; };
  const toggleHelp = (force) => {
    let box = byId('hitl-shortcuts');
    if (!box) {
      box = document.createElement('div');
      box.id = 'hitl-shortcuts';
      box.setAttribute('role', 'dialog');
      box.setAttribute('aria-label', 'Keyboard shortcuts');
      box.style.cssText = 'position:fixed;inset:auto 1rem 1rem auto;z-index:10000;background:var(--background-fill-primary,#fff);' +
        'color:var(--body-text-color,#111);border:1px solid #888;border-radius:8px;padding:1rem 1.25rem;' +
        'box-shadow:0 4px 24px rgba(0,0,0,.25);font:14px/1.6 sans-serif;display:none;max-width:min(28rem,90vw)';
      const h = document.createElement('strong');
      h.textContent = 'Keyboard shortcuts';
      box.appendChild(h);
      const table = document.createElement('table');
      for (const [k, v] of HELP) {
        const tr = document.createElement('tr');
        const a = document.createElement('td'); a.textContent = k; a.style.cssText = 'padding-right:1rem;font-family:monospace;white-space:nowrap';
        const b = document.createElement('td'); b.textContent = v;
        tr.append(a, b); table.appendChild(tr);
      }
      box.appendChild(table);
      document.body.appendChild(box);
    }
    const show = force === undefined ? box.style.display === 'none' : force;
    box.style.display = show ? 'block' : 'none';
  };
  window.hitlOrder = order;  // the focus order now (tests and the keyboard benchmark read it)
  window.hitlFocusFirst = () => {
    // A new item opens at its top, with the first question focused once Gradio has shown it.
    window.scrollTo(0, 0);
    document.querySelectorAll('.hitl-invalid').forEach((el) => el.classList.remove('hitl-invalid'));
    const first = () => order()[0];
    // Without scrolling: the item stays at its top (on a phone the questions are further down).
    when(() => visible(target(byId(first()))), () => focusStop(first(), true),
      () => focusStop('hitl-submit', true));
  };
  // Validation messages (Gradio's validator) → mark each question, focus the first.
  const markInvalid = () => {
    const boxes = [...document.querySelectorAll('.validation-error')]
      .map((el) => el.closest('[id^="hitl-q-"], #hitl-comment'))
      .filter((box) => box && !box.dataset.hitlMarked);
    if (!boxes.length) return;
    boxes.forEach((box) => { box.classList.add('hitl-invalid'); box.dataset.hitlMarked = '1'; });
    const ids = order();
    const firstBad = ids.find((id) => byId(id)?.classList.contains('hitl-invalid'));
    if (firstBad) focusStop(firstBad);
  };
  const observer = new MutationObserver(() => {
    document.querySelectorAll('[data-hitl-marked]').forEach((box) => {
      if (!box.querySelector('.validation-error')) delete box.dataset.hitlMarked;
    });
    markInvalid();
  });
  const watch = () => observer.observe(document.body, { childList: true, subtree: true });
  if (document.body) watch(); else document.addEventListener('DOMContentLoaded', watch);
  const cleared = (e) => {
    const box = e.target.closest ? e.target.closest('.hitl-invalid') : null;
    if (box) box.classList.remove('hitl-invalid');
  };
  document.addEventListener('input', cleared, true);
  document.addEventListener('change', cleared, true);
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = !!t && (t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable ||
      (t.tagName === 'INPUT' && !['radio', 'checkbox', 'range', 'button', 'submit'].includes(t.type)));
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      if (click('#hitl-submit')) e.preventDefault();
      return;
    }
    const focused = stopOf(t);
    if (e.key === 'Tab' && !e.altKey && !e.ctrlKey && !e.metaKey && focused && focused !== 'hitl-submit') {
      if (move(focused, e.shiftKey ? -1 : 1)) e.preventDefault();
      return;
    }
    if (e.key === 'Tab' && e.shiftKey && focused === 'hitl-submit') {
      if (move(focused, -1)) e.preventDefault();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    let done = false;
    if (e.key === 'Enter' && focused && focused !== 'hitl-submit' && t.type === 'radio') done = move(focused, 1);
    else if (/^[0-9yn]$/.test(e.key) || (cfg().pair && /^[abtx]$/.test(e.key))) done = answerKey(e, focused);
    if (!done && !/^[0-9]$/.test(e.key)) {
      if (e.key === 's') done = click('#hitl-skip');
      else if (e.key === (cfg().pair ? 'p' : 'b')) done = click('#hitl-back');
      else if (e.key === '?') { toggleHelp(); done = true; }
      else if (e.key === 'Escape') toggleHelp(false);
    }
    if (done) e.preventDefault();
  }, true);
})();
</script>"""
).replace("__HELP__", _HELP_ROWS)

CSS = """
/* Desktop: item (left) beside the question panel (right), which stays in view while the item scrolls. */
#hitl-header { align-items: center; flex-wrap: nowrap; gap: 0.5rem; }
#hitl-header h2 { margin: 0; font-size: 1.25rem; line-height: 1.3; overflow-wrap: anywhere; }
#hitl-main { align-items: flex-start; flex-wrap: nowrap; gap: 1rem; }
#hitl-item-col, #hitl-panel { min-width: 0 !important; }
#hitl-panel { position: sticky; top: 0.5rem; max-height: calc(100vh - 1rem); overflow-y: auto; overflow-x: hidden;
  padding-right: 2px; }
#hitl-notice:has(span.md:empty), #hitl-revealed:has(span.md:empty) { display: none; }
#hitl-revealed { border-left: 3px solid var(--color-accent, #f97316); padding-left: 0.5rem; }
#hitl-buttons { flex-wrap: wrap; gap: 0.5rem; }
#hitl-buttons button { flex: 1 1 auto; }
#hitl-progress, #hitl-hint { font-size: 0.85rem; }
#hitl-done { padding: 2rem 0; }
/* A small scale is a row of buttons; a number box needs no full width. */
.hitl-scale .wrap { flex-wrap: wrap; gap: 0.4rem; }
.hitl-number input { max-width: 10rem; }
/* A missing or invalid answer: outlined, its message beside it; answering clears both. */
.hitl-invalid { box-shadow: inset 0 0 0 2px var(--error-border-color, #dc2626) !important; border-radius: 8px;
  background: var(--error-background-fill, #fef2f2) !important; }
.hitl-q:not(.hitl-invalid) div.validation-error, #hitl-comment:not(.hitl-invalid) div.validation-error { display: none !important; }
#hitl-panel [data-testid="status-tracker"]:has(div.validation-error) { position: static !important; inset: auto !important;
  height: auto !important; min-height: 0 !important; background: none !important; padding: 0 !important; display: block !important; }
#hitl-panel div.validation-error { position: static !important; display: block; font-size: 0.85rem !important; font-weight: 600;
  text-align: left !important; padding: 0.2rem 0 !important; margin: 0 !important; border: none !important;
  background: none !important; color: var(--error-text-color, #b91c1c) !important; box-shadow: none !important; width: auto !important; }
#hitl-panel div.validation-error button { display: none !important; }
.hitl-q:not(.hitl-invalid) textarea.validation-error, #hitl-comment:not(.hitl-invalid) textarea.validation-error {
  border-color: var(--input-border-color) !important; }
/* The item is read-only: the Chatbot's "Clear" button would only blank the reviewer's view. */
.hitl-chat button[aria-label="Clear"] { display: none !important; }
/* Wide content (tables, JSON, code) scrolls inside its own box, never the page sideways. */
#hitl-item .table-wrap, #hitl-item .json-holder, #hitl-item .cm-editor { max-width: 100%; overflow-x: auto; }
#hitl-facts textarea { font-size: 0.85rem; }
/* A pair: outputs A and B side by side, each in its own box; stacked when there is no room. */
#hitl-pair { flex-wrap: wrap; gap: 0.75rem; align-items: stretch; }
#hitl-pair > .column { flex: 1 1 300px; border: 1px solid var(--border-color-primary, #ddd); border-radius: 8px; padding: 4px; }
@media (max-width: 899px) {
  #hitl-main { flex-direction: column; }
  #hitl-item-col, #hitl-panel { width: 100% !important; flex: 1 1 auto !important; }
  #hitl-panel { position: static; max-height: none; overflow: visible; }
}
"""
