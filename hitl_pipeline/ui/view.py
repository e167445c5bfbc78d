"""What the reviewer sees of one item, as plain data (no gradio import, unit-testable).

:func:`build_view` turns an :class:`~hitl_pipeline.model.Item` into an :class:`ItemView`:
chat-shaped values become a transcript for ``gr.Chatbot`` (messages format), other structures a
size-capped copy for ``gr.JSON``, plain text a string for a read-only ``gr.Textbox``. Everything
here is *display* data for a browser and is bounded in size: long texts are folded, long lists and
deep structures are cut, and :func:`inspect_content` returns any part (or any observation) in full
on demand. Trace content is hostile input (written by an LLM and by end users), so every chat
message is **HTML built here**, not markdown for the browser to interpret:

* text is rendered by :func:`hitl_pipeline.model.text.markdown_html` (a CommonMark parser with raw
  HTML off, then an allow-list sanitizer): every tag in the text is shown as typed, and only text
  structure (paragraphs, lists, code, tables, emphasis) reaches the page — no style, form, image,
  link target or positioned element; tool calls and JSON are code blocks, titles plain text;
* the ``gr.Chatbot`` must show that HTML as sent: :data:`CHATBOT_RENDERING` (no markdown pass, no
  LaTeX, Gradio's own sanitizer kept as a second line of defence);
* bidirectional-override characters are made visible (``[U+202E RLO]``) so they cannot disguise text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from hitl_pipeline.model import Item, Observation, Score, Trace
from hitl_pipeline.model.text import code_html, markdown_html, safe_text, text_html
from hitl_pipeline.spec.model import Display

#: Characters of one chat message / text shown before folding.
FOLD_CHARS = 4000
#: Characters of one string inside a JSON view before it is cut.
JSON_STRING_CHARS = 1500
#: Items of one list / keys of one object inside a JSON view before it is cut.
JSON_ITEMS = 100
#: Nesting depth of a JSON view before it is cut.
JSON_DEPTH = 12
#: Messages in one transcript (the newest are kept).
MAX_CHAT_MESSAGES = 200
#: Rows of the observation tree sent to the browser.
MAX_TREE_ROWS = 1000
#: Characters :func:`inspect_content` returns at most (a 1 MB output fits).
FULL_CONTENT_CHARS = 4_000_000

PanelKind = Literal["chat", "json", "text"]
NBSP = "\u00a0"

#: How the form's ``gr.Chatbot`` must be configured to show the messages built here as they are:
#: they are sanitized HTML already, so no markdown pass (which would re-interpret them) and no LaTeX
#: (KaTeX would typeset ``$$…$$`` from trace text); Gradio's browser-side sanitizer stays on.
CHATBOT_RENDERING: dict[str, Any] = {
    "render_markdown": False,
    "sanitize_html": True,
    "latex_delimiters": [],
    "allow_tags": False,
}


@dataclass(frozen=True)
class Panel:
    """One block of content: a transcript (``chat``), a structure (``json``) or plain ``text``.

    ``value`` is a list of Chatbot message dicts, a size-capped JSON value, or a string.
    ``folded`` says something was cut (the full content is under "Inspect"); ``under_review`` marks
    the part the reviewer judges (an observation's output).
    """

    title: str
    kind: PanelKind
    value: Any
    folded: bool = False
    under_review: bool = False


@dataclass(frozen=True)
class TreeRow:
    """One observation in the tree, depth-first in start order."""

    id: str
    depth: int
    type: str
    name: str
    model: str
    latency: str
    level: str
    status: str
    error: bool
    subject: bool = False  # the observation under review (observation targets)
    turn: bool = False  # a session turn's heading row (``id`` is the turn's trace id)

    @property
    def key(self) -> str:
        """What :func:`inspect_content` opens for this row."""
        return f"trace:{self.id}" if self.turn else f"obs:{self.id}"

    @property
    def label(self) -> str:
        """Indented one-line label, used in the tree table and the node picker."""
        if self.turn:
            return f"{self.type} · {self.name}"
        mark = "▶ " if self.subject else ""
        warn = "⛔ " if self.error else ""
        # No-break spaces: browsers collapse ordinary leading spaces in table cells and lists.
        return f"{NBSP * 3 * self.depth}{'└ ' if self.depth else ''}{warn}{mark}{self.type} · {self.name}"


@dataclass(frozen=True)
class ScoreRow:
    """An existing score shown as context (e.g. an LLM judge)."""

    name: str
    value: str
    source: str
    target: str
    comment: str


@dataclass(frozen=True)
class ItemView:
    """Everything the form shows for one item. Strings are plain text unless noted."""

    kind: str
    key: str
    heading: str
    facts: tuple[tuple[str, str], ...]
    panels: tuple[Panel, ...]
    metadata: dict[str, Any] | None = None  # None: not shown
    scores: tuple[ScoreRow, ...] | None = None  # None: not shown
    tree: tuple[TreeRow, ...] | None = None  # None: not shown
    tree_hidden: int = 0  # rows beyond MAX_TREE_ROWS
    inspect: tuple[tuple[str, str], ...] = field(default=())  # (label, key) for the "open any part" picker
    correction_default: str = ""  # the item's output as editable text (correction questions)
    correction_is_json: bool = False


# --------------------------------------------------------------------------------------- text helpers


def fold(text: str, limit: int = FOLD_CHARS) -> tuple[str, bool]:
    """The first ``limit`` characters of ``text`` plus a note saying how much is folded away."""
    if len(text) <= limit:
        return text, False
    rest = len(text) - limit
    return (
        f"{text[:limit]}\n\n[… {rest:,} more characters folded: open this part under “Inspect” to read all of it]",
        True,
    )


def fenced(text: str, lang: str = "") -> str:
    """``text`` in a markdown code fence longer than any backtick run inside it (for text that
    :func:`~hitl_pipeline.model.text.markdown_html` renders)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def pretty(value: Any) -> str:
    """A value as readable text: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def truncate_json(value: Any, *, depth: int = 0) -> tuple[Any, bool]:
    """A copy of ``value`` small enough for the browser, and whether anything was cut."""
    if isinstance(value, str):
        text, cut = fold(safe_text(value), JSON_STRING_CHARS)
        return text, cut
    if isinstance(value, bool | int | float) or value is None:
        return value, False
    if depth >= JSON_DEPTH:
        return "[… nested too deep: open under “Inspect”]", True
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        cut = False
        for i, (k, v) in enumerate(value.items()):
            if i >= JSON_ITEMS:
                out["…"] = f"[{len(value) - JSON_ITEMS:,} more keys: open under “Inspect”]"
                cut = True
                break
            out[safe_text(str(k))], c = truncate_json(v, depth=depth + 1)
            cut = cut or c
        return out, cut
    if isinstance(value, list | tuple):
        items: list[Any] = []
        cut = False
        for i, v in enumerate(value):
            if i >= JSON_ITEMS:
                items.append(f"[… {len(value) - JSON_ITEMS:,} more items: open under “Inspect”]")
                cut = True
                break
            tv, c = truncate_json(v, depth=depth + 1)
            items.append(tv)
            cut = cut or c
        return items, cut
    return safe_text(str(value)), False


# --------------------------------------------------------------------------------------- chat


def _content_text(content: Any) -> tuple[str, list[dict[str, Any]]]:
    """Text of an OpenAI/Anthropic content value, plus tool blocks (tool_use / tool_result) found in it."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return pretty(content), []
    texts: list[str] = []
    tools: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind in ("text", "input_text", "output_text") and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in ("tool_use", "tool_result", "function_call", "function_call_output"):
                tools.append(part)
            elif kind in ("image_url", "image", "input_image"):
                src = part.get("image_url") or part.get("source") or part.get("url") or ""
                if isinstance(src, dict):
                    src = src.get("url") or src.get("media_type") or "inline data"
                texts.append(f"[image: {str(src)[:200]} (not loaded)]")
            elif kind == "thinking" and isinstance(part.get("thinking"), str):
                texts.append(f"<thinking>{part['thinking']}</thinking>")
            else:
                texts.append(fenced(pretty(part), "json"))
        else:
            texts.append(pretty(part))
    return "\n\n".join(texts), tools


def _tool_args(raw: Any) -> str:
    if isinstance(raw, str):
        try:
            return pretty(json.loads(raw))
        except ValueError:
            return raw
    return pretty(raw)


def _tool_message(title: str, body: str) -> dict[str, Any]:
    text, _ = fold(body)
    # The Chatbot shows a title as HTML too, and tool names / call ids come from the trace.
    return {"role": "assistant", "content": code_html(text), "metadata": {"title": text_html(title)}}


def _text_message(role: str, text: str) -> dict[str, Any]:
    shown, _ = fold(text)
    return {"role": role, "content": markdown_html(shown)}


def _convert_message(msg: dict[str, Any]) -> list[dict[str, Any]]:
    role = str(msg.get("role", "assistant")).lower()
    text, tool_blocks = _content_text(msg.get("content"))
    out: list[dict[str, Any]] = []
    if role in ("system", "developer"):
        shown, _ = fold(text)
        return [
            {
                "role": "assistant",
                "content": markdown_html(shown),
                "metadata": {"title": text_html(f"{role.title()} prompt")},
            }
        ]
    if role in ("tool", "function", "ipython"):
        name = msg.get("name") or msg.get("tool_call_id") or "tool"
        return [_tool_message(f"🔧 Tool result: {name}", _tool_args(msg.get("content")))]
    chat_role = "user" if role in ("user", "human") else "assistant"
    if text.strip():
        out.append(_text_message(chat_role, text))
    for call in msg.get("tool_calls") or []:
        if isinstance(call, dict):
            fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
            name = fn.get("name", "tool")
            out.append(
                _tool_message(f"🛠 Tool call: {name}", _tool_args(fn.get("arguments", fn.get("input"))))
            )
    fc = msg.get("function_call")
    if isinstance(fc, dict):
        out.append(
            _tool_message(f"🛠 Tool call: {fc.get('name', 'function')}", _tool_args(fc.get("arguments")))
        )
    for block in tool_blocks:
        kind = block.get("type")
        if kind in ("tool_use", "function_call"):
            args = block.get("input", block.get("arguments"))
            out.append(_tool_message(f"🛠 Tool call: {block.get('name', 'tool')}", _tool_args(args)))
        else:
            ref = block.get("tool_use_id") or block.get("call_id") or "tool"
            inner = block.get("content", block.get("output"))
            inner_text, _ = _content_text(inner) if isinstance(inner, list) else (_tool_args(inner), [])
            out.append(_tool_message(f"🔧 Tool result: {ref}", inner_text))
    if not out:
        out.append(_text_message(chat_role, "(empty message)"))
    return out


def _messages_of(value: Any) -> tuple[list[dict[str, Any]], Any] | None:
    """The message list (and an Anthropic-style top-level system prompt) if ``value`` is chat-shaped."""
    system = None
    msgs: Any = None
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            msgs, system = value["messages"], value.get("system")
        elif isinstance(value.get("choices"), list):
            msgs = [c.get("message") for c in value["choices"] if isinstance(c, dict)]
        elif "role" in value and ("content" in value or "tool_calls" in value):
            msgs = [value]
    elif isinstance(value, list):
        msgs = value
    if not isinstance(msgs, list) or not msgs:
        return None
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in msgs):
        return None
    return msgs, system


def is_chat(value: Any) -> bool:
    """Whether ``value`` looks like chat messages (OpenAI / Anthropic / ``{"messages": …}`` shapes)."""
    return _messages_of(value) is not None


def to_chat(value: Any) -> list[dict[str, Any]] | None:
    """Chatbot messages for a chat-shaped value (tool calls and results made readable), else None."""
    found = _messages_of(value)
    if found is None:
        return None
    msgs, system = found
    out: list[dict[str, Any]] = []
    if system:
        sys_text, _ = _content_text(system)
        out.extend(_convert_message({"role": "system", "content": sys_text}))
    for m in msgs:
        out.extend(_convert_message(m))
    return out


def output_messages(value: Any) -> list[dict[str, Any]]:
    """An output as chat messages: a chat shape as such, a string as one assistant message, else JSON."""
    chat = to_chat(value)
    if chat is not None:
        return chat
    if value is None:
        return []
    if isinstance(value, str):
        return [_text_message("assistant", value)]
    text, _ = fold(pretty(value))
    return [{"role": "assistant", "content": code_html(text)}]


def _cap_messages(msgs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    if len(msgs) <= MAX_CHAT_MESSAGES:
        return msgs, False
    dropped = len(msgs) - MAX_CHAT_MESSAGES
    note = {
        "role": "assistant",
        "content": text_html(f"[… {dropped:,} earlier messages folded: open under “Inspect”]"),
    }
    return [note, *msgs[-MAX_CHAT_MESSAGES:]], True


def _was_folded(msgs: Iterable[dict[str, Any]]) -> bool:
    return any("more characters folded" in str(m.get("content", "")) for m in msgs)


def _value_panel(title: str, value: Any, under_review: bool = False) -> Panel:
    chat = to_chat(value)
    if chat is not None:
        capped, cut = _cap_messages(chat)
        return Panel(title, "chat", capped, cut or _was_folded(capped), under_review)
    if isinstance(value, str):
        text, cut = fold(safe_text(value))
        return Panel(title, "text", text, cut, under_review)
    shown, cut = truncate_json(value)
    return Panel(title, "json", shown, cut, under_review)


# --------------------------------------------------------------------------------------- tree, scores, facts


def _latency(obs: Observation) -> str:
    ms = obs.latency_ms
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def tree_rows(observations: Sequence[Observation], subject: str | None = None) -> list[TreeRow]:
    """Observations depth-first (children in start order), orphans treated as roots."""
    ids = {o.id for o in observations}
    children: dict[str | None, list[Observation]] = {}
    for o in observations:
        parent = o.parent_id if o.parent_id in ids else None
        children.setdefault(parent, []).append(o)
    for kids in children.values():
        kids.sort(key=lambda o: (o.start_time, o.id))
    rows: list[TreeRow] = []
    stack: list[tuple[Observation, int]] = [(o, 0) for o in reversed(children.get(None, []))]
    seen: set[str] = set()
    while stack:  # iterative: a 500-deep chain must not hit the recursion limit
        obs, depth = stack.pop()
        if obs.id in seen:
            continue
        seen.add(obs.id)
        level = obs.level or "DEFAULT"
        rows.append(
            TreeRow(
                id=obs.id,
                depth=depth,
                type=obs.type,
                name=safe_text(obs.name),
                model=safe_text(obs.model or ""),
                latency=_latency(obs),
                level=level,
                status=safe_text(fold(obs.status_message or "", 300)[0]),
                error=level == "ERROR",
                subject=obs.id == subject,
            )
        )
        stack.extend((c, depth + 1) for c in reversed(children.get(obs.id, [])))
    return rows


def _score_value(s: Score) -> str:
    if s.string_value is not None:
        return s.string_value
    if isinstance(s.value, float) and s.value.is_integer():
        return str(int(s.value))
    return "" if s.value is None else str(s.value)


def score_rows(scores: Iterable[Score], names: Sequence[str]) -> tuple[ScoreRow, ...]:
    """Existing scores to show: the named ones, or by default every non-human (non-ANNOTATION) score."""
    rows = []
    for s in scores:
        if names and s.name not in names:
            continue
        if not names and s.source == "ANNOTATION":
            continue
        target = (
            f"observation {s.observation_id}"
            if s.observation_id
            else ("session" if s.session_id else "trace")
        )
        rows.append(
            ScoreRow(
                name=safe_text(s.name),
                value=safe_text(fold(_score_value(s), 200)[0]),
                source=s.source,
                target=target,
                comment=safe_text(fold(s.comment or "", 500)[0]),
            )
        )
    return tuple(rows)


def _when(dt: datetime | None) -> str:
    if dt is None:
        return ""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _metadata(meta: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    chosen = {k: meta[k] for k in keys if k in meta} if keys else dict(meta)
    shown, _ = truncate_json(chosen)
    return shown if isinstance(shown, dict) else {}


def _trace_facts(t: Trace) -> list[tuple[str, str]]:
    facts = [("trace", f"{t.name} ({t.id})"), ("time", _when(t.timestamp))]
    if t.user_id:
        facts.append(("user", t.user_id))
    if t.session_id:
        facts.append(("session", t.session_id))
    if t.tags:
        facts.append(("tags", ", ".join(t.tags)))
    facts.append(("environment", t.environment))
    if t.release:
        facts.append(("release", t.release))
    if t.version:
        facts.append(("version", t.version))
    return [(k, safe_text(v)) for k, v in facts]


def _correction_text(value: Any) -> tuple[str, bool]:
    if value is None:
        return "", False
    if (
        isinstance(value, dict)
        and isinstance(value.get("content"), str)
        and set(value) <= {"role", "content"}
    ):
        return value["content"], False
    if isinstance(value, str):
        return value, False
    return pretty(value), True


# --------------------------------------------------------------------------------------- build


def build_view(item: Item, display: Display | None = None) -> ItemView:
    """The view model of ``item`` for the spec's ``display`` settings (parts, metadata keys, scores)."""
    display = display or Display()
    parts = display.parts
    if item.session is not None:
        return _session_view(item, display)
    if item.observation is not None:
        return _observation_view(item, display)
    trace = item.trace
    if trace is None:
        raise ValueError(f"item {item.ref.key} has no trace, observation or session to show")
    panels: list[Panel] = []
    want_in, want_out = "input" in parts, "output" in parts
    if want_in and is_chat(trace.input) and want_out and trace.output is not None:
        # One transcript: the conversation so far, then the answer under review.
        msgs = [*(to_chat(trace.input) or []), *mark_under_review(output_messages(trace.output))]
        capped, cut = _cap_messages(msgs)
        panels.append(Panel("Conversation", "chat", capped, cut or _was_folded(capped)))
    else:
        if want_in:
            panels.append(_value_panel("Input", trace.input))
        if want_out:
            panels.append(_value_panel("Output", trace.output, under_review=True))
    inspect = [("Trace input", "input"), ("Trace output", "output"), ("Trace metadata", "metadata")]
    rows = tree_rows(trace.observations)
    inspect += [(r.label, r.key) for r in rows[:MAX_TREE_ROWS]]
    correction, is_json = _correction_text(trace.output)
    return ItemView(
        kind="trace",
        key=item.ref.key,
        heading=safe_text(f"Trace · {trace.name}"),
        facts=tuple(_trace_facts(trace)),
        panels=tuple(panels),
        metadata=_metadata(trace.metadata, display.metadata_keys) if "metadata" in parts else None,
        scores=_scores(item, display),
        tree=tuple(rows[:MAX_TREE_ROWS]) if "tree" in parts else None,
        tree_hidden=max(0, len(rows) - MAX_TREE_ROWS) if "tree" in parts else 0,
        inspect=tuple(inspect),
        correction_default=correction,
        correction_is_json=is_json,
    )


def _scores(item: Item, display: Display) -> tuple[ScoreRow, ...] | None:
    if "scores" not in display.parts and not display.scores:
        return None
    return score_rows(item.scores, display.scores)


def _observation_panels(obs: Observation, trace: Trace | None, parts: Sequence[str]) -> list[Panel]:
    """The observation's input and output, its parent generation's output and the trace's input."""
    panels: list[Panel] = []
    if "input" in parts:
        panels.append(_value_panel(f"{obs.type} input", obs.input, under_review=True))
    if "output" in parts:
        panels.append(_value_panel(f"{obs.type} output", obs.output, under_review=True))
    parent = parent_generation(trace, obs) if trace is not None else None
    if parent is not None and "output" in parts:
        title = f"Output of the generation that made this call: {safe_text(parent.name)}"
        panels.append(_value_panel(title, parent.output))
    if trace is not None and "input" in parts:
        panels.append(_value_panel(f"Context: input of trace “{safe_text(trace.name)}”", trace.input))
    return panels


def _observation_facts(obs: Observation) -> list[tuple[str, str]]:
    """The observation's own facts (type, model, latency, level, status, usage, start)."""
    facts: list[tuple[str, str]] = [("observation", f"{obs.type} {obs.name} ({obs.id})")]
    if obs.model:
        facts.append(("model", obs.model))
    if obs.latency_ms is not None:
        facts.append(("latency", _latency(obs)))
    facts.append(("level", obs.level))
    if obs.status_message:
        facts.append(("status", fold(obs.status_message, 300)[0]))
    if obs.usage:
        facts.append(("usage", ", ".join(f"{k}={v}" for k, v in obs.usage.items())))
    facts.append(("started", _when(obs.start_time)))
    return facts


def _observation_inspect(trace: Trace | None, rows: Sequence[TreeRow]) -> list[tuple[str, str]]:
    """What the reviewer may inspect: the observation's fields, the trace's, then the tree rows shown."""
    inspect = [
        ("Observation input", "input"),
        ("Observation output", "output"),
        ("Observation metadata", "metadata"),
    ]
    if trace is not None:
        inspect += [("Trace input", "trace.input"), ("Trace output", "trace.output")]
    inspect += [(r.label, r.key) for r in rows[:MAX_TREE_ROWS]]
    return inspect


def _observation_heading(obs: Observation) -> str:
    return safe_text(f"{obs.type} · {obs.name}" + (f" · {obs.model}" if obs.model else ""))


def _observation_view(item: Item, display: Display) -> ItemView:
    obs = item.observation
    assert obs is not None
    trace = item.trace
    parts = display.parts
    facts = _observation_facts(obs)
    rows: list[TreeRow] = []
    if trace is not None:
        facts.extend(_trace_facts(trace))
        rows = tree_rows(trace.observations, subject=obs.id)
    # Spec metadata keys (topic, language …) are usually the trace's: show those, then the observation's own.
    meta_src = {**(trace.metadata if trace is not None else {}), **obs.metadata}
    show_tree = "tree" in parts
    correction, is_json = _correction_text(obs.output)
    return ItemView(
        kind="observation",
        key=item.ref.key,
        heading=_observation_heading(obs),
        facts=tuple((k, safe_text(v)) for k, v in facts),
        panels=tuple(_observation_panels(obs, trace, parts)),
        metadata=_metadata(meta_src, display.metadata_keys) if "metadata" in parts else None,
        scores=_scores(item, display),
        tree=tuple(rows[:MAX_TREE_ROWS]) if show_tree and rows else None,
        tree_hidden=_tree_hidden(rows) if show_tree else 0,
        inspect=tuple(_observation_inspect(trace, rows)),
        correction_default=correction,
        correction_is_json=is_json,
    )


def _tree_hidden(rows: Sequence[TreeRow]) -> int:
    """How many tree rows are left out of the form (beyond :data:`MAX_TREE_ROWS`)."""
    return max(0, len(rows) - MAX_TREE_ROWS)


#: The line that opens the answer the reviewer judges, in a conversation.
UNDER_REVIEW = "<p><strong>▶ Answer under review</strong></p>"


def mark_under_review(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output messages with the first one headed by :data:`UNDER_REVIEW` (the rest follow it)."""
    if not msgs:
        return msgs
    first = msgs[0]
    if first.get("metadata"):  # a tool call box: put the marker in a message of its own before it
        return [{"role": "assistant", "content": UNDER_REVIEW}, *msgs]
    return [{**first, "content": UNDER_REVIEW + first["content"]}, *msgs[1:]]


def parent_generation(trace: Trace, obs: Observation) -> Observation | None:
    """The nearest GENERATION above ``obs`` in the trace's tree (the model call that made a tool call)."""
    by_id = {o.id: o for o in trace.observations}
    seen: set[str] = set()
    current = by_id.get(obs.parent_id or "")
    while current is not None and current.id not in seen:
        if current.type == "GENERATION":
            return current
        seen.add(current.id)
        current = by_id.get(current.parent_id or "")
    return None


def session_tree(traces: Sequence[Trace]) -> list[TreeRow]:
    """Each turn's observation tree under a heading row for the turn (opened on demand in the form)."""
    rows: list[TreeRow] = []
    for n, t in enumerate(traces, start=1):
        rows.append(
            TreeRow(
                id=t.id, depth=0, type=f"Turn {n}", name=safe_text(t.name), model="", latency="",
                level="", status="", error=False, turn=True,
            )
        )  # fmt: skip
        rows.extend(replace(r, depth=r.depth + 1) for r in tree_rows(t.observations))
    return rows


def session_metadata(per_turn: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metadata of a session's turns: what every turn shares once, then per turn only what differs."""
    if not per_turn:
        return {}
    shared = {k: v for k, v in per_turn[0].items() if all(k in m and m[k] == v for m in per_turn[1:])}
    out: dict[str, Any] = dict(shared)
    for n, m in enumerate(per_turn, start=1):
        own = {k: v for k, v in m.items() if k not in shared}
        if own:
            out[f"turn {n}"] = own
    return out


def _new_turn_messages(value: Any) -> list[dict[str, Any]]:
    """The messages a turn adds: a chat history's trailing messages after its last assistant reply."""
    found = _messages_of(value)
    if found is None:
        if value is None:
            return []
        if isinstance(value, str):
            return [_text_message("user", value)]
        text, _ = fold(pretty(value))
        return [{"role": "user", "content": code_html(text)}]
    msgs, _ = found
    start = 0
    for i, m in enumerate(msgs):
        if str(m.get("role", "")).lower() == "assistant":
            start = i + 1
    out: list[dict[str, Any]] = []
    for m in msgs[start:] or msgs[-1:]:
        out.extend(_convert_message(m))
    return out


def _turn_label(n: int, t: Trace) -> str:
    return f"<p><strong>Turn {n}</strong> · trace <code>{text_html(t.id)}</code> · {_when(t.timestamp)}</p>"


def _turn_messages(n: int, t: Trace, parts: Sequence[str]) -> list[dict[str, Any]]:
    """Turn ``n``'s messages headed by its label (in the user message when it opens the turn), then its answer."""
    turn = _new_turn_messages(t.input) if "input" in parts else []
    label = _turn_label(n, t)
    if turn and turn[0]["role"] == "user" and "metadata" not in turn[0]:
        turn[0] = {**turn[0], "content": label + turn[0]["content"]}
    else:
        turn.insert(0, {"role": "user", "content": label})
    if "output" in parts:
        turn.extend(output_messages(t.output))
    return turn


def _session_panel(traces: Sequence[Trace], parts: Sequence[str]) -> Panel:
    """The session's turns as one conversation."""
    msgs: list[dict[str, Any]] = []
    for n, t in enumerate(traces, start=1):
        msgs.extend(_turn_messages(n, t, parts))
    capped, cut = _cap_messages(msgs)
    return Panel(f"Conversation ({len(traces)} turns)", "chat", capped, cut or _was_folded(capped))


def _session_facts(session_id: str, traces: Sequence[Trace]) -> list[tuple[str, str]]:
    """The session's id, turn count, first and last turn times and users."""
    facts: list[tuple[str, str]] = [("session", session_id), ("turns", str(len(traces)))]
    if traces:
        facts.append(("first", _when(traces[0].timestamp)))
        facts.append(("last", _when(traces[-1].timestamp)))
        users = sorted({t.user_id for t in traces if t.user_id})
        if users:
            facts.append(("user", ", ".join(users)))
    return facts


def _session_inspect(traces: Sequence[Trace], rows: Sequence[TreeRow]) -> list[tuple[str, str]]:
    """What the reviewer may inspect: each turn's trace, then the (non-heading) tree rows shown."""
    inspect = [(f"Turn {n} · trace {t.id}", f"trace:{t.id}") for n, t in enumerate(traces, start=1)]
    inspect += [(r.label, r.key) for r in rows[:MAX_TREE_ROWS] if not r.turn]
    return inspect


def _session_view(item: Item, display: Display) -> ItemView:
    session = item.session
    assert session is not None
    traces = sorted(session.traces, key=lambda t: (t.timestamp, t.id))
    parts = display.parts
    meta: dict[str, Any] | None = None
    if "metadata" in parts:
        meta = session_metadata([_metadata(t.metadata, display.metadata_keys) for t in traces])
    rows = session_tree(traces)
    show_tree = "tree" in parts
    return ItemView(
        kind="session",
        key=item.ref.key,
        heading=safe_text(f"Session · {session.id}"),
        facts=tuple((k, safe_text(v)) for k, v in _session_facts(session.id, traces)),
        panels=(_session_panel(traces, parts),),
        metadata=meta,
        scores=_scores(item, display),
        tree=tuple(rows[:MAX_TREE_ROWS]) if show_tree else None,
        tree_hidden=_tree_hidden(rows) if show_tree else 0,
        inspect=tuple(_session_inspect(traces, rows)),
    )


# --------------------------------------------------------------------------------------- inspect


def _obs_dump(o: Observation) -> dict[str, Any]:
    return {
        "id": o.id,
        "type": o.type,
        "name": o.name,
        "model": o.model,
        "level": o.level,
        "status_message": o.status_message,
        "start_time": _when(o.start_time),
        "end_time": _when(o.end_time),
        "latency_ms": o.latency_ms,
        "usage": o.usage,
        "input": o.input,
        "output": o.output,
        "metadata": o.metadata,
    }


def _trace_dump(t: Trace) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "timestamp": _when(t.timestamp),
        "input": t.input,
        "output": t.output,
        "metadata": t.metadata,
        # The turn's observation tree, in the same depth-first order as a trace's tree view.
        "observations": [
            {"tree": r.label, "model": r.model, "latency": r.latency, "level": r.level, "status": r.status}
            for r in tree_rows(t.observations)
        ],
    }


def _session_observations(item: Item) -> list[Observation]:
    session = item.session
    return [o for t in session.traces for o in t.observations] if session is not None else []


def inspect_content(item: Item, key: str) -> tuple[str, bool]:
    """The full text of one part of ``item`` (``input``, ``output``, ``metadata``, ``trace.input``,
    ``trace.output``, ``obs:<id>``, ``trace:<id>``) and whether it is JSON. Unknown keys raise KeyError."""
    subject: Any
    obs, trace = item.observation, item.trace
    if key in ("input", "output", "metadata"):
        holder: Any = obs if obs is not None else trace
        if holder is None:
            raise KeyError(key)
        subject = getattr(holder, key)
    elif key in ("trace.input", "trace.output") and trace is not None:
        subject = getattr(trace, key.split(".")[1])
    elif key.startswith("obs:") and (trace is not None or item.session is not None):
        pool = trace.observations if trace is not None else _session_observations(item)
        found = [o for o in pool if o.id == key[4:]]
        if not found:
            raise KeyError(key)
        subject = _obs_dump(found[0])
    elif key.startswith("trace:") and item.session is not None:
        found_t = [t for t in item.session.traces if t.id == key[6:]]
        if not found_t:
            raise KeyError(key)
        subject = _trace_dump(found_t[0])
    else:
        raise KeyError(key)
    is_json = not isinstance(subject, str)
    text = safe_text(pretty(subject))
    if len(text) > FULL_CONTENT_CHARS:
        text = (
            text[:FULL_CONTENT_CHARS] + f"\n[… {len(text) - FULL_CONTENT_CHARS:,} more characters not shown]"
        )
    return text, is_json
