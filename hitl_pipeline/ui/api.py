"""The shape of the form's API, without importing gradio (scripts and the benchmark use it)."""

from __future__ import annotations

from hitl_pipeline.spec.model import ReviewSpec

#: Content panels pre-built in the layout (trace: conversation or input+output; observation: its
#: input and output, the generation that made the call, the trace's input as context).
PANEL_SLOTS = 4


def api_outputs(spec: ReviewSpec) -> list[str]:
    """Names of the values ``/load``, ``/submit``, ``/skip`` and ``/back`` return, in order.

    ``item_key`` is the open item (``trace:<id>`` …, empty at the end of the queue); ``q:<score>``
    are the pre-filled answers; ``revealed`` the automated scores shown after an answer (markdown).
    The tab's hidden state is not part of the API output.
    """
    names = ["progress", "notice", "revealed", "item_key", "item_box", "done_box", "done_text", "facts"]
    for i in range(PANEL_SLOTS):
        names += [f"chat_{i}", f"json_{i}", f"text_{i}"]
    names += ["metadata", "scores", "tree_box", "tree", "tree_note", "inspect_pick", "inspect_text", "others"]
    names += ["questions_box", "submit_button", "skip_button"]
    names += [f"q:{q.score}" for q in spec.questions]
    if spec.comment != "off":
        names.append("comment")
    return names
