"""Keyboard shortcuts and focus handling, injected with ``head=`` (Gradio 6: head/css go to mount/launch).

Gradio has no global hotkey API, so one document-level ``keydown`` listener does it. The question
widgets carry CSS classes set by :mod:`hitl_pipeline.ui.app`: ``hitl-q`` on every question,
``hitl-categorical`` / ``hitl-boolean`` by type; buttons have ids ``hitl-submit``, ``hitl-skip``,
``hitl-back``. Nothing fires while the reviewer types in a text field (except Ctrl/Cmd+Enter).
"""

from __future__ import annotations

import json

#: Shown by ``?`` and in the README.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("1 … 9", "choose a category of the focused (or first) categorical question"),
    ("y / n", "answer the focused (or first) yes/no question"),
    ("Ctrl+Enter / ⌘+Enter", "submit (also while typing)"),
    ("s", "skip this item"),
    ("b", "back to the previous item"),
    ("?", "show / hide this help"),
    ("Esc", "close this help"),
)

_HELP_ROWS = json.dumps([list(row) for row in SHORTCUTS], ensure_ascii=False)[1:-1]

HEAD = (
    """<script>
(() => {
  const HELP = [__HELP__];
  const visible = (el) => !!el && el.offsetParent !== null;
  const questions = () => [...document.querySelectorAll('.hitl-q')].filter(visible);
  const ofType = (cls) => questions().filter((q) => q.classList.contains(cls));
  const focusedQuestion = () => {
    const a = document.activeElement;
    return a && a.closest ? a.closest('.hitl-q') : null;
  };
  const target = (cls) => {
    const q = focusedQuestion();
    return q && q.classList.contains(cls) && visible(q) ? q : ofType(cls)[0];
  };
  const focusQuestion = (q) => {
    if (!q) return false;
    const el = q.querySelector('input:checked') || q.querySelector('input, textarea');
    if (el) { el.focus(); return true; }
    return false;
  };
  const advance = (q) => {
    const all = questions();
    const i = all.indexOf(q);
    if (i >= 0 && i + 1 < all.length) focusQuestion(all[i + 1]);
    else { const b = document.querySelector('#hitl-submit'); if (b) b.focus(); }
  };
  const pick = (q, index) => {
    if (!q) return false;
    const inputs = q.querySelectorAll('input[type=radio]');
    if (!inputs[index]) return false;
    inputs[index].click();
    advance(q);
    return true;
  };
  const click = (sel) => { const el = document.querySelector(sel); if (visible(el) && !el.disabled) { el.click(); return true; } return false; };
  const toggleHelp = (force) => {
    let box = document.getElementById('hitl-shortcuts');
    if (!box) {
      box = document.createElement('div');
      box.id = 'hitl-shortcuts';
      box.setAttribute('role', 'dialog');
      box.setAttribute('aria-label', 'Keyboard shortcuts');
      box.style.cssText = 'position:fixed;inset:auto 1rem 1rem auto;z-index:10000;background:var(--background-fill-primary,#fff);' +
        'color:var(--body-text-color,#111);border:1px solid #888;border-radius:8px;padding:1rem 1.25rem;' +
        'box-shadow:0 4px 24px rgba(0,0,0,.25);font:14px/1.6 sans-serif;display:none;max-width:28rem';
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
  window.hitlFocusFirst = () => {
    // Gradio applies updates asynchronously: wait for the new item's widgets before focusing.
    setTimeout(() => { if (!focusQuestion(questions()[0])) { const b = document.querySelector('#hitl-submit'); if (visible(b)) b.focus(); } }, 80);
  };
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = !!t && (t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable ||
      (t.tagName === 'INPUT' && !['radio', 'checkbox', 'range', 'button', 'submit'].includes(t.type)));
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      if (click('#hitl-submit')) e.preventDefault();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    let done = false;
    if (/^[1-9]$/.test(e.key)) done = pick(target('hitl-categorical'), Number(e.key) - 1);
    else if (e.key === 'y') done = pick(target('hitl-boolean'), 0);
    else if (e.key === 'n') done = pick(target('hitl-boolean'), 1);
    else if (e.key === 's') done = click('#hitl-skip');
    else if (e.key === 'b') done = click('#hitl-back');
    else if (e.key === '?') { toggleHelp(); done = true; }
    else if (e.key === 'Escape') toggleHelp(false);
    if (done) e.preventDefault();
  }, true);
})();
</script>"""
).replace("__HELP__", _HELP_ROWS)

#: Runs after every item change (``.then(js=...)``): focus lands on the first question.
FOCUS_JS = "() => { if (window.hitlFocusFirst) window.hitlFocusFirst(); }"

CSS = """
#hitl-done { padding: 2rem 0; }
/* The item is read-only: the Chatbot's "Clear" button would only blank the reviewer's view. */
.hitl-chat button[aria-label="Clear"] { display: none !important; }
"""
