"""The view model: what reaches the browser for each kind of item, bounded and never executable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from hitl_pipeline.model import Item, ItemRef, Observation, Score, Session, Trace
from hitl_pipeline.model.text import markdown_html
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.spec.model import Display
from hitl_pipeline.ui import view
from hitl_pipeline.ui.view import (
    FOLD_CHARS,
    MAX_TREE_ROWS,
    build_view,
    fold,
    inspect_content,
    safe_text,
    to_chat,
    tree_rows,
    truncate_json,
)

T0 = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)


def elements(html_text: str) -> tuple[set[str], set[str]]:
    """The element names and attribute names in ``html_text``, as a browser's parser finds them."""
    tags: set[str] = set()
    attrs: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
            tags.add(tag)
            attrs.update(a for a, _ in attributes)

    Collect().feed(html_text)
    return tags, attrs


def trace_item(trace: Trace, scores: tuple[Score, ...] = ()) -> Item:
    return Item(ref=ItemRef("trace", trace.id, trace.timestamp, trace.id), trace=trace, scores=scores)


def test_openai_chat_with_tool_calls_and_results_is_a_readable_transcript() -> None:
    value = {
        "messages": [
            {"role": "system", "content": "You are a support bot."},
            {"role": "user", "content": [{"type": "text", "text": "Where is order 42?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": '{"id": 42}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
        ]
    }
    chat = to_chat(value)
    assert chat is not None
    assert chat[0]["metadata"]["title"] == "System prompt"
    assert chat[1] == {"role": "user", "content": "<p>Where is order 42?</p>"}
    assert chat[2]["metadata"]["title"] == "🛠 Tool call: lookup_order"
    assert '"id": 42' in chat[2]["content"] and chat[2]["content"].startswith("<pre><code>{")
    assert chat[3]["metadata"]["title"] == "🔧 Tool result: c1"
    assert '"status": "shipped"' in chat[3]["content"]


def test_anthropic_blocks_and_top_level_system() -> None:
    value = {
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Refund?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "tu1", "name": "get_refund", "input": {"order": "A1"}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": "approved"}],
            },
        ],
    }
    chat = to_chat(value)
    assert chat is not None
    titles = [m.get("metadata", {}).get("title") for m in chat]
    assert titles == ["System prompt", None, None, "🛠 Tool call: get_refund", "🔧 Tool result: tu1"]
    assert "approved" in chat[-1]["content"]


def test_tool_names_and_ids_are_shown_as_typed_in_titles() -> None:
    name = "<img src=x onerror=alert(1)>lookup\u202e"
    chat = to_chat(
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": name, "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "![t](http://evil.example/t.png)", "content": "ok"},
        ]
    )
    assert chat is not None
    titles = [m["metadata"]["title"] for m in chat]
    assert titles[0] == "🛠 Tool call: &lt;img src=x onerror=alert(1)&gt;lookup[U+202E RLO]"
    assert titles[1] == "🔧 Tool result: ![t](http://evil.example/t.png)"  # plain text: no markdown in titles


def test_non_chat_values_are_not_chat() -> None:
    assert to_chat({"query": "x"}) is None
    assert to_chat("plain") is None
    assert to_chat([1, 2]) is None


def test_tags_stay_as_text_and_markdown_images_are_not_loaded() -> None:
    out = "<thinking>check policy</thinking><answer>42</answer> ![x](http://evil.example/t.png)"
    item = trace_item(
        Trace("t1", "chat", T0, input={"messages": [{"role": "user", "content": "q"}]}, output=out)
    )
    v = build_view(item)
    msgs = v.panels[0].value
    assert v.panels[0].kind == "chat"
    # HTML-escaped, so the browser shows the tags as typed and never makes elements of them
    assert (
        "&lt;thinking&gt;check policy&lt;/thinking&gt;&lt;answer&gt;42&lt;/answer&gt;" in msgs[-1]["content"]
    )
    assert "<img" not in msgs[-1]["content"]
    assert "[image “x”: http://evil.example/t.png — not loaded]" in msgs[-1]["content"]


def test_html_is_shown_as_typed_in_text_and_in_code() -> None:
    text = "a <b>x</b> & `<i>` then\n```html\n<script>1</script>\n```\n<img src=x>"
    out = markdown_html(text)
    assert out == (
        "<p>a &lt;b&gt;x&lt;/b&gt; &amp; <code>&lt;i&gt;</code> then</p>"
        "<p><code>html</code></p><pre><code>&lt;script&gt;1&lt;/script&gt;\n</code></pre><p>&lt;img src=x&gt;</p>"
    )


def test_html_never_becomes_an_element_whatever_markdown_makes_of_the_text_around_it() -> None:
    # Inputs that fooled the hand-written defuser (HTML taken for code, or code for HTML).
    for text in (
        "see \\`<img src=x>` end",
        "``<img src=x>`",
        "x ~~~<img src=x>~~~",
        "x ```\n\n<img src=x>\n```",
        "`` a`b<img src=x> ``",
        "1. step\n   ```sh\n   cat < f\n   ```\nafter <img src=x>",
        "```py\nif a < b: <img src=x>\n",
        # a fence opened in a list item is closed by the end of the item: the rest is not code
        "- item\n  ```\n  code\n- <div style='position:fixed;inset:0'>SYSTEM NOTICE</div><img src=x>",
    ):
        out = markdown_html(text)
        tags, attrs = elements(out)
        assert tags <= {"p", "ul", "ol", "li", "pre", "code", "br", "s"} and not attrs, text
        assert "&lt;img src=x&gt;" in out, text


def test_links_are_inert_and_show_where_they_point() -> None:
    out = markdown_html(
        "[your bank](https://evil.example/login) [x](javascript:alert(1)) <https://a.example>"
    )
    assert "<a" not in out and "href" not in out
    assert "your bank ⟨https://evil.example/login⟩" in out
    assert "[x](javascript:alert(1))" in out  # an unsafe link stays as typed
    assert "https://a.example ⟨" not in out  # an autolink shows its address once


def test_direction_overrides_written_as_entities_are_made_visible() -> None:
    assert markdown_html("pay &#x202e;evil") == "<p>pay [U+202E RLO]evil</p>"


def test_bidi_overrides_are_made_visible() -> None:
    assert safe_text("pay \u202eevil\u202c now") == "pay [U+202E RLO]evil[U+202C PDF] now"
    assert safe_text("plain") == "plain"


def test_long_text_is_folded_and_available_in_full() -> None:
    big = "x" * 1_000_000
    item = trace_item(Trace("t1", "chat", T0, input={"q": 1}, output=big))
    v = build_view(item)
    out_panel = [p for p in v.panels if p.title == "Output"][0]
    assert out_panel.kind == "text" and out_panel.folded
    assert len(out_panel.value) < FOLD_CHARS + 200 and "996,000 more characters folded" in out_panel.value
    full, is_json = inspect_content(item, "output")
    assert full == big and not is_json
    # the whole payload sent to the browser for this item stays small
    assert len(json.dumps([p.value for p in v.panels])) < 20_000


def test_big_json_is_truncated_for_display() -> None:
    value = {"rows": list(range(5000)), "blob": "y" * 10_000, "deep": {"a": {"b": {"c": {"d": 1}}}}}
    shown, cut = truncate_json(value)
    assert cut
    assert len(shown["rows"]) == view.JSON_ITEMS + 1 and "4,900 more items" in shown["rows"][-1]
    assert len(shown["blob"]) < 2000
    assert shown["deep"] == {"a": {"b": {"c": {"d": 1}}}}


def test_fold_keeps_short_text() -> None:
    assert fold("abc") == ("abc", False)


def _obs(i: int, parent: str | None, level: str = "DEFAULT", **kw: object) -> Observation:
    return Observation(
        id=f"o{i}",
        trace_id="t1",
        type=str(kw.pop("type", "SPAN")),
        name=f"step-{i}",
        start_time=T0 + timedelta(milliseconds=i),
        end_time=T0 + timedelta(milliseconds=i + 1500),
        parent_id=parent,
        level=level,
        **kw,  # type: ignore[arg-type]
    )


def test_tree_is_depth_first_with_errors_marked() -> None:
    obs = [
        _obs(3, "o1", level="ERROR", status_message="timeout"),
        _obs(1, None),
        _obs(2, "o1", type="GENERATION", model="gpt-4o-mini"),
        _obs(4, "o2"),
        _obs(5, "missing-parent"),
    ]
    rows = tree_rows(obs)
    assert [(r.id, r.depth) for r in rows] == [("o1", 0), ("o2", 1), ("o4", 2), ("o3", 1), ("o5", 0)]
    err = rows[3]
    assert err.error and err.status == "timeout" and err.label.strip().startswith("└ ⛔")
    assert rows[1].model == "gpt-4o-mini" and rows[1].latency == "1.50 s"


def test_500_observation_deep_tree_is_capped_not_recursive() -> None:
    obs = [_obs(i, f"o{i - 1}" if i else None) for i in range(1500)]  # a 1500-deep chain
    item = trace_item(Trace("t1", "chat", T0, observations=tuple(obs)))
    v = build_view(item)
    assert v.tree is not None and len(v.tree) == MAX_TREE_ROWS and v.tree_hidden == 500
    assert len(v.inspect) == 3 + MAX_TREE_ROWS
    text, is_json = inspect_content(item, "obs:o1499")
    assert is_json and '"step-1499"' in text


def test_display_parts_metadata_keys_and_scores() -> None:
    judge = Score(
        "s1", "llm_judge_helpfulness", 0.25, "NUMERIC", T0, trace_id="t1", source="EVAL", comment="vague"
    )
    human = Score("s2", "support_quality", "poor", "CATEGORICAL", T0, trace_id="t1", source="ANNOTATION")
    t = Trace(
        "t1", "chat", T0, input="q", output="a", metadata={"topic": "billing", "plan": "pro", "secret": "x"}
    )
    item = trace_item(t, (judge, human))
    v = build_view(item, Display(parts=("output", "metadata", "scores"), metadata_keys=("topic", "plan")))
    assert [p.title for p in v.panels] == ["Output"]
    assert v.metadata == {"topic": "billing", "plan": "pro"}
    assert v.scores is not None and [s.name for s in v.scores] == [
        "llm_judge_helpfulness"
    ]  # human ones hidden
    assert v.scores[0].value == "0.25" and v.scores[0].comment == "vague"
    assert v.tree is None
    v2 = build_view(item, Display(parts=("input",), scores=("support_quality",)))
    assert (
        v2.metadata is None and v2.scores is not None and [s.name for s in v2.scores] == ["support_quality"]
    )


def test_observation_view_shows_its_own_io_and_the_trace_as_context() -> None:
    gen = _obs(
        2, "o1", type="GENERATION", model="claude-3-5-haiku", input=[{"role": "user", "content": "hi"}]
    )
    gen = Observation(**{**gen.__dict__, "output": {"answer": 1}})
    t = Trace("t1", "support-chat", T0, input={"messages": [{"role": "user", "content": "ctx question"}]},
              observations=(_obs(1, None), gen))  # fmt: skip
    item = Item(ref=ItemRef("observation", "o2", T0, "t1"), trace=t, observation=gen)
    v = build_view(item)
    assert v.kind == "observation" and "claude-3-5-haiku" in v.heading
    # What is under review first (marked), then the trace's input as context.
    assert [p.title for p in v.panels] == [
        "GENERATION input",
        "GENERATION output",
        "Context: input of trace “support-chat”",
    ]
    assert [p.under_review for p in v.panels] == [True, True, False]
    assert v.panels[2].kind == "chat" and "ctx question" in v.panels[2].value[0]["content"]
    assert v.panels[1].kind == "json" and v.panels[1].value == {"answer": 1}
    assert v.tree is not None and [r.subject for r in v.tree] == [False, True]
    assert v.correction_default == json.dumps({"answer": 1}, indent=2) and v.correction_is_json


def test_session_view_is_turn_by_turn_labelled_with_trace_ids() -> None:
    h1 = [{"role": "user", "content": "first question"}]
    h2 = [
        *h1,
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    t1 = Trace(
        "ta",
        "chat",
        T0,
        session_id="s1",
        input={"messages": h1},
        output={"role": "assistant", "content": "first answer"},
    )
    t2 = Trace(
        "tb",
        "chat",
        T0 + timedelta(minutes=3),
        session_id="s1",
        input={"messages": h2},
        output="second answer",
    )
    item = Item(ref=ItemRef("session", "s1", T0), session=Session("s1", (t2, t1)))  # out of order on purpose
    v = build_view(item)
    msgs = v.panels[0].value
    contents = [m["content"] for m in msgs]
    turn1 = "<p><strong>Turn 1</strong> · trace <code>ta</code>"
    assert contents[0].startswith(turn1) and "first question" in contents[0]
    assert contents[1] == "<p>first answer</p>"
    turn2 = "<p><strong>Turn 2</strong> · trace <code>tb</code>"
    assert contents[2].startswith(turn2) and "second question" in contents[2]
    assert "first question" not in contents[2]  # the history is not repeated
    assert contents[3] == "<p>second answer</p>"
    assert v.inspect == (("Turn 1 · trace ta", "trace:ta"), ("Turn 2 · trace tb", "trace:tb"))
    assert "second answer" in inspect_content(item, "trace:tb")[0]
    assert '"observations": []' in inspect_content(item, "trace:tb")[0]


def test_every_demo_trace_renders() -> None:
    data = generate_demo(seed=0, traces=120)
    for t in data.traces:
        v = build_view(trace_item(t), Display(parts=("input", "output", "metadata", "tree", "scores")))
        assert v.panels and v.tree is not None
        assert len(json.dumps([p.value for p in v.panels], default=str)) < 1_000_000
    errors = [r for t in data.traces for r in tree_rows(t.observations) if r.error]
    assert errors, "the demo data has ERROR observations; they must be marked"


def test_inspect_unknown_key() -> None:
    item = trace_item(Trace("t1", "chat", T0))
    with pytest.raises(KeyError):
        inspect_content(item, "obs:nope")
