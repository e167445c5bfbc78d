"""Every environment variable hitl-pipeline reads, and the paths derived from them, in one place.

Nothing else in the package reads ``os.environ`` for configuration: call :meth:`Settings.from_env`
and pass the result down. The Langfuse secret key is wrapped in :class:`Secret`, whose ``repr`` and
``str`` are masked, so printing a ``Settings`` (or a traceback showing one) never leaks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: State directory for everything hitl writes (local store, campaign state, reviewer accounts).
#: Default: ``.hitl`` under the current working directory. Overridden by the ``--home`` option.
HITL_HOME = "HITL_HOME"

#: Langfuse public key (``pk-lf-…``). With the secret key set, Langfuse becomes the default source.
LANGFUSE_PUBLIC_KEY = "LANGFUSE_PUBLIC_KEY"

#: Langfuse secret key (``sk-lf-…``). Never printed, logged or shown in a repr.
LANGFUSE_SECRET_KEY = "LANGFUSE_SECRET_KEY"

#: Langfuse server URL, e.g. ``http://localhost:3000``. Wins over ``LANGFUSE_HOST``.
LANGFUSE_BASE_URL = "LANGFUSE_BASE_URL"

#: Older name of ``LANGFUSE_BASE_URL`` (Langfuse SDK v2/v3); read when the new one is unset.
LANGFUSE_HOST = "LANGFUSE_HOST"

#: Requests per period the Langfuse source may send, e.g. ``30/min`` (Langfuse Cloud Hobby); shared
#: by reads, writes, confirmations and the queue mirror. Unset: learnt from the server's 429s.
#: The ``--request-budget`` option wins.
HITL_REQUEST_BUDGET = "HITL_REQUEST_BUDGET"

#: Default state directory name, relative to the working directory.
DEFAULT_HOME = ".hitl"

#: Langfuse Cloud, the SDK's own default when no URL is configured.
DEFAULT_LANGFUSE_BASE_URL = "https://cloud.langfuse.com"


class Secret:
    """A string that does not show itself: ``repr``/``str`` print ``'**********'``.

    Call :meth:`get_secret_value` at the single place that really needs the value (the HTTP client).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The real value. Do not log it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :meth:`from_env`; all paths are absolute.

    Example::

        settings = Settings.from_env()          # .hitl/ under the working directory
        settings = Settings.from_env(home="/data/hitl")
        settings.local_db_path                  # /data/hitl/local.db
    """

    home: Path
    langfuse_public_key: str | None = None
    langfuse_secret_key: Secret | None = field(default=None, repr=False)
    langfuse_base_url: str = DEFAULT_LANGFUSE_BASE_URL
    request_budget: str | None = None

    @classmethod
    def from_env(
        cls,
        home: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read the environment (or ``environ``, for tests). ``home`` (the ``--home`` option) wins over ``HITL_HOME``."""
        env = os.environ if environ is None else environ
        chosen = home if home is not None else (env.get(HITL_HOME) or DEFAULT_HOME)
        home_path = Path(chosen).expanduser()
        if not home_path.is_absolute():
            home_path = Path.cwd() / home_path
        public = (env.get(LANGFUSE_PUBLIC_KEY) or "").strip() or None
        secret = (env.get(LANGFUSE_SECRET_KEY) or "").strip() or None
        base_url = (env.get(LANGFUSE_BASE_URL) or env.get(LANGFUSE_HOST) or "").strip()
        return cls(
            home=home_path,
            langfuse_public_key=public,
            langfuse_secret_key=Secret(secret) if secret else None,
            langfuse_base_url=(base_url or DEFAULT_LANGFUSE_BASE_URL).rstrip("/"),
            request_budget=(env.get(HITL_REQUEST_BUDGET) or "").strip() or None,
        )

    @property
    def local_db_path(self) -> Path:
        """The embedded local store: ``<home>/local.db``."""
        return self.home / "local.db"

    @property
    def campaigns_dir(self) -> Path:
        """Campaign state databases live here: ``<home>/campaigns/<campaign>.db``."""
        return self.home / "campaigns"

    @property
    def reviewers_file(self) -> Path:
        """Reviewer accounts: ``<home>/reviewers.json``."""
        return self.home / "reviewers.json"

    @property
    def langfuse_configured(self) -> bool:
        """True when both Langfuse keys are set (then Langfuse is the default source)."""
        return bool(self.langfuse_public_key and self.langfuse_secret_key)
