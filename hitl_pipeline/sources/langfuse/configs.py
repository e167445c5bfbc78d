"""Score configs on Langfuse: list, read, create (checked with the server's rules first), and a
per-source cache for the checks before writing scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from hitl_pipeline.errors import SourceError
from hitl_pipeline.model import ScoreConfig
from hitl_pipeline.model.score_rules import score_config_problems
from hitl_pipeline.sources.langfuse.convert import config_from_api, config_from_dict
from hitl_pipeline.sources.langfuse.http import LangfuseHttp, api_error
from hitl_pipeline.sources.langfuse.sdk import ApiError


class ConfigApi:
    """The score configs of one source, and the configs seen so far (by id)."""

    def __init__(self, http: LangfuseHttp, *, page_size: int) -> None:
        self.http = http
        self.page_size = page_size
        self._seen: dict[str, ScoreConfig] = {}

    def list_all(self) -> list[ScoreConfig]:
        """All configs (archived ones included), by name then id."""
        configs: list[ScoreConfig] = []
        page = 1
        while True:
            resp = self._page(page)
            configs.extend(config_from_api(c) for c in resp.data)
            if page >= (resp.meta.total_pages or 0):
                break
            page += 1
        self._seen.update({c.id: c for c in configs})
        return sorted(configs, key=lambda c: (c.name, c.id))

    def _page(self, page: int) -> Any:
        return self.http.call(
            "listing score configs", lambda: self.http.api.score_configs.get(page=page, limit=self.page_size)
        )

    def get(self, config_id: str) -> ScoreConfig | None:
        """The config, or None when the server has no config with this id."""
        try:
            cfg = config_from_api(self.http.api.score_configs.get_by_id(config_id))
        except ApiError as exc:
            if exc.status_code in (400, 404):
                return None
            self.http.fail(f"reading score config {config_id}", exc)
        except httpx.HTTPError as exc:
            self.http.fail(f"reading score config {config_id}", exc)
        self._seen[cfg.id] = cfg
        return cfg

    def cached(self, config_id: str | None) -> ScoreConfig | None:
        """The config (cached per source; configs change rarely and read-back catches the rest)."""
        if not config_id:
            return None
        if config_id not in self._seen:
            cfg = self.get(config_id)
            if cfg is None:
                return None
        return self._seen[config_id]

    def create(
        self,
        name: str,
        data_type: str,
        *,
        categories: Sequence[tuple[str, float]] = (),
        min_value: float | None = None,
        max_value: float | None = None,
        description: str | None = None,
    ) -> ScoreConfig:
        """Create a config with the server's rules, checked before sending (:func:`score_config_problems`,
        as the local store does); BOOLEAN categories are set by the server. Raises :class:`SourceError`."""
        problems = score_config_problems(name, data_type, categories, min_value, max_value)
        if problems:
            raise SourceError(f"cannot create score config {name!r}: " + "; ".join(problems))
        body: dict[str, Any] = {"name": name, "dataType": data_type}
        if categories:
            body["categories"] = [{"label": label, "value": value} for label, value in categories]
        if min_value is not None:
            body["minValue"] = min_value
        if max_value is not None:
            body["maxValue"] = max_value
        if description:
            body["description"] = description
        what = f"creating score config {name!r}"
        try:
            response = self.http.request("POST", "/api/public/score-configs", json_body=body, retries=0)
        except httpx.HTTPError as exc:
            self.http.fail(what, exc)
        if response.status_code >= 400:
            self.http.fail(what, api_error(response))
        cfg = config_from_dict(response.json())
        self._seen[cfg.id] = cfg
        return cfg
