"""Drive a running review form from a script, over Gradio's plain HTTP API (no ``gradio_client``).

Each call is ``POST /gradio_api/call/<endpoint>`` followed by reading the result from the event
stream ``GET /gradio_api/call/<endpoint>/<event_id>``; the ``session_hash`` ties the calls of one
client together (it is the "tab" whose hidden state remembers the open item). This is what the
benchmark uses (``gradio_client`` polls every 50 ms, which dominates its latency), and what the
README's "Form API" section shows.

Example::

    with FormClient("http://127.0.0.1:7860/", spec, username="alice", password="…") as form:
        screen = form.load()
        while screen.item_key:
            screen = form.submit({"support_quality": "acceptable", "helpfulness": 4, "factually_correct": "yes"})
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from hitl_pipeline.spec.model import ReviewSpec
from hitl_pipeline.ui.api import api_outputs


class FormError(Exception):
    """The form refused a call (validation error, not logged in, …). ``status`` is the HTTP status if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Screen:
    """What one call returned: the open item (None at the end of the queue) and the form's texts."""

    item_key: str | None
    progress: str
    notice: str
    facts: str
    answers: dict[str, Any]
    values: dict[str, Any]  # every output by name (see :func:`hitl_pipeline.ui.app.api_outputs`)


def _value(v: Any) -> Any:
    # An update (visibility change and value) arrives as {"__type__": "update", "value": …}.
    if isinstance(v, dict) and v.get("__type__") == "update":
        return v.get("value")
    return v


def _validation_messages(r: httpx.Response) -> str:
    """The messages of a validator's refusal (HTTP 422: ``{"detail": [{"is_valid", "message"}, …]}``)."""
    try:
        detail = r.json().get("detail")
    except ValueError:
        return r.text[:300]
    if isinstance(detail, list):
        found = [str(d.get("message")) for d in detail if isinstance(d, dict) and not d.get("is_valid", True)]
        if found:
            return " ".join(found)
    return str(detail)[:300]


class FormClient:
    """One reviewer session against a served review form (thread-confined; make one per reviewer)."""

    def __init__(
        self,
        url: str,
        spec: ReviewSpec,
        *,
        username: str | None = None,
        password: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.spec = spec
        # The plain HTTP API also returns the tab's hidden state (as null) first; gradio_client drops it.
        self.names = ["state", *api_outputs(spec)]
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, headers=headers, trust_env=False)
        self.session_hash = secrets.token_hex(8)
        if username is not None:
            self.login(username, password or "")

    def __enter__(self) -> FormClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def login(self, username: str, password: str) -> None:
        """Log in with a reviewer account (sets the session cookie)."""
        r = self.http.post("/login", data={"username": username, "password": password})
        if r.status_code != 200:
            raise FormError(f"login as {username!r} failed: HTTP {r.status_code}", r.status_code)

    def new_tab(self) -> None:
        """Forget the open item, like opening the form in a new tab (the login is kept)."""
        self.session_hash = secrets.token_hex(8)

    def call(self, endpoint: str, *data: Any) -> list[Any]:
        """Call a named endpoint and return its raw output list."""
        r = self.http.post(
            f"/gradio_api/call/{endpoint}", json={"data": list(data), "session_hash": self.session_hash}
        )
        if r.status_code == 422:  # the form's validator: one message per input it refused
            raise FormError(f"/{endpoint}: {_validation_messages(r)}", r.status_code)
        if r.status_code != 200:
            raise FormError(f"/{endpoint}: HTTP {r.status_code}: {r.text[:300]}", r.status_code)
        event_id = r.json()["event_id"]
        event = None
        with self.http.stream("GET", f"/gradio_api/call/{endpoint}/{event_id}") as resp:
            if resp.status_code != 200:
                raise FormError(f"/{endpoint}: HTTP {resp.status_code}", resp.status_code)
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = json.loads(line[5:].strip() or "null")
                    if event == "complete":
                        return list(payload)
                    if isinstance(payload, dict) and payload.get("error"):
                        raise FormError(str(payload["error"]))
                    raise FormError(
                        f"/{endpoint} failed on the server without a message: see the server's log"
                    )
        raise FormError(f"/{endpoint}: the event stream ended without a result")

    def _screen(self, out: list[Any]) -> Screen:
        values = {name: _value(v) for name, v in zip(self.names, out, strict=False)}
        answers = {name[2:]: values[name] for name in self.names if name.startswith("q:")}
        return Screen(
            item_key=values.get("item_key") or None,
            progress=str(values.get("progress") or ""),
            notice=str(values.get("notice") or ""),
            facts=str(values.get("facts") or ""),
            answers=answers,
            values=values,
        )

    def widget_values(self, answers: dict[str, Any]) -> list[Any]:
        """Answers by score name (categorical label, ``yes``/``no`` or bool, number, text) → /submit data."""
        data: list[Any] = []
        for q in self.spec.questions:
            v = answers.get(q.score)
            if q.type == "boolean" and isinstance(v, bool):
                v = "yes" if v else "no"
            data.append(v)
        return data

    def load(self) -> Screen:
        """Open (or resume) the reviewer's current item."""
        return self._screen(self.call("load"))

    def submit(self, answers: dict[str, Any], comment: str | None = None) -> Screen:
        """Answer the open item and move to the next one."""
        data = self.widget_values(answers)
        if self.spec.comment != "off":
            data.append(comment or "")
        return self._screen(self.call("submit", *data))

    def skip(self) -> Screen:
        return self._screen(self.call("skip"))

    def back(self) -> Screen:
        return self._screen(self.call("back"))

    def inspect(self, part: str) -> str:
        """The full content of one part of the open item (``input``, ``output``, ``obs:<id>`` …)."""
        out = self.call("inspect", part)
        return str(_value(out[0]) or "")

    def progress(self) -> str:
        return str(_value(self.call("progress")[0]) or "")
