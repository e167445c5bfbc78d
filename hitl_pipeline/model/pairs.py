"""Pairwise review: one item is a *pair* of traces, one from each arm (A and B) of a comparison.

Pure rules every layer shares (this is the model layer):

* a pair's id encodes its two trace ids (:func:`pair_id`, :func:`pair_traces`), so the campaign
  state needs no new table and every score can name its pair;
* which arm is shown on the left is drawn per pair from the spec's seed (:func:`left_arm`): the
  same spec gives the same sides on every machine, and about half the pairs are swapped;
* a comparative answer is stored as arm B's outcome (``win``, ``tie``, ``loss``, ``both_bad``);
  the form's labels ``A`` (left) and ``B`` (right) are translated with the pair's sides
  (:func:`outcome_of_choice`, :func:`choice_of_outcome`), so reviewers never see arm names;
* each judgment is scored on both traces: B's trace gets B's outcome, A's trace the mirror
  (:func:`mirror`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import quote, unquote

from hitl_pipeline.model.items import PairView

Arm = Literal["a", "b"]

#: Outcome labels of a comparative question, from the point of view of the trace scored, with the
#: values of their CATEGORICAL score config (win 2, tie 1, loss 0, both bad -1).
OUTCOME_VALUES: tuple[tuple[str, float], ...] = (("win", 2.0), ("tie", 1.0), ("loss", 0.0))
BOTH_BAD: tuple[str, float] = ("both_bad", -1.0)

#: What the reviewer picks in the form: the left output, the right one, a tie, or both bad.
CHOICES: tuple[str, ...] = ("A", "B", "tie", "both_bad")
#: Human wording of each choice (the form's radio labels).
CHOICE_TEXT: dict[str, str] = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}

_MIRROR = {"win": "loss", "loss": "win", "tie": "tie", "both_bad": "both_bad"}
_SEP = "|"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def pair_id(a: tuple[str, datetime], b: tuple[str, datetime]) -> str:
    """The id of the pair of A's and B's traces, each given as (trace id, timestamp).

    ``<A's id>@<A's time>|<B's id>@<B's time>``: ids percent-encoded, times in integer
    microseconds since 1970 (a trace is fetched near its time on Langfuse).
    """
    return _SEP.join(f"{quote(tid, safe='')}@{_us(ts)}" for tid, ts in (a, b))


def pair_traces(pair: str) -> tuple[tuple[str, datetime], tuple[str, datetime]]:
    """((A's trace id, time), (B's trace id, time)) of a pair id (ValueError if it is not one)."""
    parts = pair.split(_SEP)
    out: list[tuple[str, datetime]] = []
    for part in parts:
        tid, at, us = part.rpartition("@")
        if not at or not tid or not us.lstrip("-").isdigit():
            break
        out.append((unquote(tid), _EPOCH + timedelta(microseconds=int(us))))
    if len(parts) != 2 or len(out) != 2:
        raise ValueError(f"{pair!r} is not a pair id (<trace A>@<time>|<trace B>@<time>)")
    return out[0], out[1]


def left_arm(seed: int, pair_key: str) -> Arm:
    """The arm shown on the left (as "A") for this pair: a fair, seeded coin per pair."""
    digest = hashlib.sha256(f"{seed}:side:{pair_key}".encode()).digest()
    return "a" if digest[0] & 1 == 0 else "b"


def mirror(outcome: str) -> str:
    """The same judgment seen from the other trace: win ↔ loss; tie and both_bad stay."""
    return _MIRROR[outcome]


def outcome_of_choice(choice: str, left: Arm) -> str:
    """Arm B's outcome for a reviewer's pick (``A`` = the left output, ``B`` = the right one)."""
    if choice in ("tie", "both_bad"):
        return choice
    if choice not in ("A", "B"):
        raise ValueError(f"{choice!r} is not one of: {', '.join(CHOICES)}")
    picked_arm = left if choice == "A" else ("b" if left == "a" else "a")
    return "win" if picked_arm == "b" else "loss"


def choice_of_outcome(outcome: str, left: Arm) -> str:
    """The pick the reviewer made, from arm B's stored outcome (inverse of :func:`outcome_of_choice`)."""
    if outcome in ("tie", "both_bad"):
        return outcome
    winner: Arm = "b" if outcome == "win" else "a"
    return "A" if winner == left else "B"


def side_of(arm: Arm, left: Arm) -> Literal["left", "right"]:
    """Where ``arm``'s output was shown."""
    return "left" if arm == left else "right"


__all__ = [
    "BOTH_BAD",
    "CHOICES",
    "CHOICE_TEXT",
    "OUTCOME_VALUES",
    "Arm",
    "PairView",
    "choice_of_outcome",
    "left_arm",
    "mirror",
    "outcome_of_choice",
    "pair_id",
    "pair_traces",
    "side_of",
]
