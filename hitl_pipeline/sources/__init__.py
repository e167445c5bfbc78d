"""Trace sources: where review items come from and where scores go.

Two backends implement :class:`~hitl_pipeline.sources.base.Source`:

* ``local`` — the embedded SQLite store (:mod:`hitl_pipeline.sources.local`), the default. On first
  use it is created with the demo data, so ``hitl run`` works on a fresh machine;
* ``langfuse`` — a Langfuse server (:mod:`hitl_pipeline.sources.langfuse`), the default when both
  Langfuse keys are set.

Backends are imported lazily (``get_source("local", …)`` never imports the Langfuse SDK). This
module imports nothing at load time, because every other ``hitl_pipeline.sources`` module imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hitl_pipeline.errors import ConfigError

if TYPE_CHECKING:
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources.base import Source

#: Names accepted by ``--source`` and :func:`get_source`.
SOURCE_NAMES = ("local", "langfuse")


def _make_local(settings: Settings, create_demo: bool) -> Source:
    from hitl_pipeline.sources.demo import ensure_demo_store
    from hitl_pipeline.sources.local import LocalSource

    created = ensure_demo_store(settings.local_db_path) if create_demo else False
    source = LocalSource(settings.local_db_path)
    source.demo_created = created
    return source


def _make_langfuse(settings: Settings, create_demo: bool) -> Source:
    try:
        from hitl_pipeline.sources.langfuse import LangfuseSource
    except ImportError as exc:
        message = (
            f"the Langfuse source cannot be loaded ({exc}). Reinstall hitl-pipeline with its dependencies "
            '(pip install -e ".") or use --source local.'
        )
        raise ConfigError(message) from exc
    source: Source = LangfuseSource.from_settings(settings)
    return source


_FACTORIES: dict[str, Callable[[Settings, bool], Source]] = {
    "local": _make_local,
    "langfuse": _make_langfuse,
}


def default_source_name(settings: Settings) -> str:
    """``langfuse`` when both Langfuse keys are configured, else ``local``."""
    return "langfuse" if settings.langfuse_configured else "local"


def get_source(name: str | None, settings: Settings, *, create_demo: bool = True) -> Source:
    """Open the source called ``name`` (None: :func:`default_source_name`).

    For ``local``, a missing store file is first created with the demo data (unless
    ``create_demo`` is False); the returned source then has ``demo_created = True`` so the caller
    can tell the user. Raises :class:`ConfigError` for an unknown name.

    Example::

        settings = Settings.from_env()
        source = get_source(None, settings)
    """
    chosen = name or default_source_name(settings)
    factory = _FACTORIES.get(chosen)
    if factory is None:
        message = f"unknown source {chosen!r}: choose one of {', '.join(SOURCE_NAMES)} (option --source)"
        raise ConfigError(message)
    return factory(settings, create_demo)


__all__ = ["SOURCE_NAMES", "default_source_name", "get_source"]
