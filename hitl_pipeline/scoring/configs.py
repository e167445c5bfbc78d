"""Score configs as code: every spec question is tied to exactly one score config of the source.

Works with any :class:`~hitl_pipeline.sources.base.Source` (Langfuse or the local store).

* A question with ``config_id`` must name an existing, unarchived config whose data type (and, when
  the question declares them, categories and range) match the question, and whose name is the
  question's score name (the server would store the score under the config's name otherwise).
* An inline question is matched by name **and** shape among the unarchived configs. Config names are
  not unique in Langfuse, so the match must be exact, and two exact matches are an error (listing
  their ids). No match is an error suggesting ``--create``; with ``create=True`` the config is created.
* ``correction`` questions need no config.

:func:`check_configs` reports each question (for ``hitl configs sync`` and ``hitl doctor``);
:func:`resolve_configs` returns the mapping or raises one :class:`~hitl_pipeline.errors.ConfigError`
listing every problem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hitl_pipeline.errors import ConfigError
from hitl_pipeline.model import ScoreConfig
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import Question, ReviewSpec

if TYPE_CHECKING:
    from hitl_pipeline.settings import Settings

Status = Literal["matched", "created", "error", "not needed"]


@dataclass(frozen=True)
class ConfigResolution:
    """How one question's config was resolved. ``problems`` is non-empty exactly when ``status == "error"``."""

    score: str
    status: Status
    config: ScoreConfig | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def config_id(self) -> str | None:
        return self.config.id if self.config else None


def _fmt(x: float | None) -> str:
    if x is None:
        return "none"
    return f"{x:g}"


def _categories(q: Question) -> tuple[tuple[str, float], ...]:
    return tuple((c.label, float(c.value)) for c in q.categories)


def shape_differences(q: Question, cfg: ScoreConfig, *, declared_only: bool) -> list[str]:
    """Every way ``cfg`` differs from what question ``q`` asks for.

    ``declared_only``: compare categories and range only when the question declares them (a
    question that references a config by id may leave them to the config).
    """
    diffs: list[str] = []
    if cfg.data_type != q.data_type:
        diffs.append(f"data type: the spec says {q.data_type}, the config is {cfg.data_type}")
        return diffs
    if q.type == "categorical" and (q.categories or not declared_only):
        want = _categories(q)
        have = tuple((label, float(value)) for label, value in cfg.categories)
        if sorted(want) != sorted(have):
            missing = [f"{lb}={v:g}" for lb, v in want if (lb, v) not in have]
            extra = [f"{lb}={v:g}" for lb, v in have if (lb, v) not in want]
            parts = []
            if missing:
                parts.append(f"the config lacks {', '.join(missing)}")
            if extra:
                parts.append(f"the config also has {', '.join(extra)}")
            diffs.append("categories: " + "; ".join(parts))
    if q.type == "numeric":
        if (q.min is not None or not declared_only) and q.min != cfg.min_value:
            diffs.append(f"minimum: the spec says {_fmt(q.min)}, the config says {_fmt(cfg.min_value)}")
        if (q.max is not None or not declared_only) and q.max != cfg.max_value:
            diffs.append(f"maximum: the spec says {_fmt(q.max)}, the config says {_fmt(cfg.max_value)}")
    return diffs


def _resolve_reference(q: Question, source: Source) -> ConfigResolution:
    assert q.config_id is not None
    cfg = source.get_score_config(q.config_id)
    if cfg is None:
        return ConfigResolution(
            q.score,
            "error",
            problems=(f"score config {q.config_id!r} does not exist in the {source.name} source",),
        )
    problems: list[str] = []
    if cfg.is_archived:
        problems.append(
            f"score config {cfg.id!r} ({cfg.name}) is archived; restore it in Langfuse or pick another"
        )
    if cfg.name != q.score:
        problems.append(
            f"name: the question's score is {q.score!r} but config {cfg.id!r} is named {cfg.name!r} "
            f"(set `score: {cfg.name}` in the spec)"
        )
    problems.extend(f"config {cfg.id!r}: {d}" for d in shape_differences(q, cfg, declared_only=True))
    if problems:
        return ConfigResolution(q.score, "error", cfg, tuple(problems))
    return ConfigResolution(q.score, "matched", cfg)


def _exact_matches(q: Question, configs: Sequence[ScoreConfig]) -> list[ScoreConfig]:
    """The unarchived configs with ``q``'s score name and exactly its shape."""
    return [
        c
        for c in configs
        if c.name == q.score and not c.is_archived and not shape_differences(q, c, declared_only=False)
    ]


def _resolve_inline(q: Question, configs: Sequence[ScoreConfig]) -> ConfigResolution:
    same_name = [c for c in configs if c.name == q.score and not c.is_archived]
    exact = _exact_matches(q, same_name)
    if len(exact) == 1:
        return ConfigResolution(q.score, "matched", exact[0])
    if len(exact) > 1:
        ids = ", ".join(c.id for c in exact)
        return ConfigResolution(
            q.score,
            "error",
            problems=(
                f"{len(exact)} configs named {q.score!r} match this question ({ids}); "
                "config names are not unique, so pick one with `config_id:` in the spec",
            ),
        )
    problems: list[str] = []
    for c in same_name:
        for d in shape_differences(q, c, declared_only=False):
            problems.append(f"config {c.id!r} has this name but differs: {d}")
    archived = [c for c in configs if c.name == q.score and c.is_archived]
    if archived:
        problems.append(f"archived config(s) with this name are ignored: {', '.join(c.id for c in archived)}")
    if same_name:
        problems.append(
            f"no score config named {q.score!r} has the spec's shape: change the spec to match one above "
            f"(or point to it with `config_id:`), or run `hitl configs sync SPEC --create` to create another "
            f"config named {q.score!r} with the spec's shape"
        )
    else:
        problems.append(
            f"no score config matches {q.score!r}: run `hitl configs sync SPEC --create` to create it"
        )
    return ConfigResolution(q.score, "error", problems=tuple(problems))


def _create(q: Question, source: Source) -> ScoreConfig:
    return source.create_score_config(
        q.score,
        q.data_type,
        categories=_categories(q),
        min_value=q.min if q.type == "numeric" else None,
        max_value=q.max if q.type == "numeric" else None,
        description=q.description,
    )


def _config_questions(spec: ReviewSpec) -> list[Question]:
    """The questions that need a config: a per-side question once, under its score name."""
    out: list[Question] = []
    for q in spec.questions:
        if q.arm == "a":
            out.append(replace(q, score=q.score_name, label=q.score_name, arm=None))
        elif q.arm is None:
            out.append(q)
    return out


def check_configs(spec: ReviewSpec, source: Source, *, create: bool = False) -> list[ConfigResolution]:
    """Resolve each question of ``spec`` against ``source``'s configs, in question order.

    With ``create=True``, inline questions without a match get a new config — but only when no
    other question has an error that creating cannot fix, so a failed sync changes nothing.
    """
    configs = source.list_score_configs()
    results: list[ConfigResolution] = []
    for q in _config_questions(spec):
        if q.type == "correction":
            results.append(ConfigResolution(q.score, "not needed"))
        elif q.config_id:
            results.append(_resolve_reference(q, source))
        else:
            results.append(_resolve_inline(q, configs))
    if not create:
        return results
    # An inline question with no exact match gets one (same-name configs with another shape do
    # not block creating the right one); an ambiguity (several exact matches) does.
    creatable = {
        i
        for i, (q, r) in enumerate(zip(_config_questions(spec), results, strict=True))
        if r.status == "error" and not q.config_id and not _exact_matches(q, configs)
    }
    blocking = [r for i, r in enumerate(results) if r.status == "error" and i not in creatable]
    if blocking:
        return results
    for i in sorted(creatable):
        q = _config_questions(spec)[i]
        results[i] = ConfigResolution(q.score, "created", _create(q, source))
    return results


def resolve_configs(spec: ReviewSpec, source: Source, *, create: bool = False) -> dict[str, ScoreConfig]:
    """Question score name → its config (correction questions are absent).

    Raises :class:`ConfigError` listing every question that cannot be resolved.
    """
    results = check_configs(spec, source, create=create)
    errors = [r for r in results if r.status == "error"]
    if errors:
        lines = [f"  {r.score}: {p}" for r in errors for p in r.problems]
        raise ConfigError(
            f"score configs of {spec.path} do not match the {source.name} source:\n" + "\n".join(lines)
        )
    out = {r.score: r.config for r in results if r.config is not None}
    for q in spec.questions:  # a per-side question's two halves share its config
        if q.arm is not None and q.score_name in out:
            out[q.score] = out[q.score_name]
    return out


@dataclass(frozen=True)
class SyncReport:
    """Result of :func:`sync_spec_configs`: the source used and one row per question."""

    spec_path: str
    source: str
    rows: tuple[ConfigResolution, ...]

    @property
    def ok(self) -> bool:
        return all(r.status != "error" for r in self.rows)


def sync_spec_configs(
    spec_path: str | PathLike[str],
    settings: Settings,
    *,
    source_name: str | None = None,
    create: bool = False,
) -> SyncReport:
    """Load a spec, open the source (Langfuse when configured, else local) and resolve its configs.

    The library side of ``hitl configs sync SPEC [--create]``.
    """
    from hitl_pipeline.sources import get_source
    from hitl_pipeline.spec import load_spec

    spec = load_spec(Path(spec_path))
    source = get_source(source_name, settings)
    try:
        rows = check_configs(spec, source, create=create)
    finally:
        source.close()
    return SyncReport(spec_path=str(spec_path), source=source.name, rows=tuple(rows))


def spec_config_check(spec_path: str | PathLike[str]) -> Callable[[Source], list[ConfigResolution]]:
    """``hitl doctor SPEC``'s config step: load the spec (when the connection checks passed) and
    check its score configs on the source, creating nothing."""

    def check(source: Source) -> list[ConfigResolution]:
        from hitl_pipeline.spec import load_spec

        return check_configs(load_spec(Path(spec_path)), source)

    return check
