"""What a browser page did, recorded by the ``page`` fixture."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Recorder:
    """What the page did: every request URL, dialogs (alert/confirm/prompt), console errors."""

    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def outside(self, base: str) -> list[str]:
        return [
            u
            for u in self.requests
            if not (u.startswith(base) or u.startswith("data:") or u.startswith("blob:"))
        ]
