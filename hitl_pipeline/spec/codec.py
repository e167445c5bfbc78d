"""The spec a campaign ran with, as stored in its state: validated spec data in, the same spec out.

:func:`spec_to_json` stores the *validated spec data* the spec was built from (and its path);
:func:`spec_from_json` rebuilds the spec with the spec builder
(:func:`hitl_pipeline.spec.builder.build_spec`). The stored form is the spec format itself, not
the model's Python layout, so a field added to the model needs no change here.

States written before this codec hold ``dataclasses.asdict`` of the model. They are still read
(:func:`_from_model_dict`, a generic reader driven by the model's type hints) so that a running
campaign resumes; it is the only place that reads that form, and nothing writes it any more.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from hitl_pipeline.spec.builder import build_spec
from hitl_pipeline.spec.model import ReviewSpec

#: The key of the stored form written by :func:`spec_to_json`.
DATA_KEY = "spec_data"


def spec_to_json(spec: ReviewSpec) -> str:
    """The stored form of ``spec``: its validated data and its path, as canonical JSON (sorted keys).

    Raises:
        ValueError: ``spec`` was built by hand, not loaded (it carries no spec data).
    """
    if not spec.data_json:
        raise ValueError(f"spec {spec.campaign!r} carries no spec data: load it with load_spec")
    stored = {DATA_KEY: json.loads(spec.data_json), "path": spec.path}
    return json.dumps(stored, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def spec_from_json(text: str) -> ReviewSpec:
    """Rebuild the spec stored by :func:`spec_to_json` (e.g. to compare it with an edited spec)."""
    stored = json.loads(text)
    if DATA_KEY in stored:
        return build_spec(stored[DATA_KEY], str(stored.get("path", "<string>")))
    spec = _from_model_dict(ReviewSpec, stored)
    assert isinstance(spec, ReviewSpec)
    return spec


def _from_model_dict(tp: Any, value: Any) -> Any:
    """A value of type ``tp`` from its ``dataclasses.asdict`` JSON (states written before the codec)."""
    origin = typing.get_origin(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _from_model_dict(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value
        }
        return typing.cast(Any, tp)(**kwargs)
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_model_dict(args[0], v) for v in value)
        return tuple(_from_model_dict(a, v) for a, v in zip(args, value, strict=False))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return _from_model_dict(arg, value)
            if typing.get_origin(arg) is tuple and isinstance(value, list):
                return _from_model_dict(arg, value)
        return value
    return value


__all__ = ["spec_from_json", "spec_to_json"]
