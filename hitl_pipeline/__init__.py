"""hitl-pipeline: human review campaigns as code for LLM traces in Langfuse.

A YAML review spec says which traces to pull, how to sample them, what to show and which
questions to ask; every answer is written back as a Langfuse score, validated against its config,
exactly once. The library is the API; the ``hitl`` command line is a thin layer over it::

    from hitl_pipeline import load_spec, SpecError

    try:
        spec = load_spec("specs/support_qa.yaml")
    except SpecError as exc:
        for issue in exc.issues:          # every problem, located: file:line:col: path: message
            print(issue)

Everything a user can cause raises a :class:`HitlError` subclass (see :mod:`hitl_pipeline.errors`).
"""

from hitl_pipeline.errors import (
    AuthError,
    CampaignError,
    ConfigError,
    HitlError,
    ImportDataError,
    ScoreValidationError,
    SourceError,
    SpecError,
    SpecIssue,
)
from hitl_pipeline.spec import load_spec, load_spec_text, schema, validate_spec
from hitl_pipeline.spec.model import ReviewSpec

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "CampaignError",
    "ConfigError",
    "HitlError",
    "ImportDataError",
    "ReviewSpec",
    "ScoreValidationError",
    "SourceError",
    "SpecError",
    "SpecIssue",
    "__version__",
    "load_spec",
    "load_spec_text",
    "schema",
    "validate_spec",
]
