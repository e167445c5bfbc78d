"""The package's public surface: a sorted ``__all__`` that names exactly what it exports."""

from __future__ import annotations

import subprocess
import sys

import hitl_pipeline


def test_all_is_sorted_and_complete() -> None:
    exported = hitl_pipeline.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(hitl_pipeline, name), name


def test_importing_the_package_stays_light() -> None:
    # The CLI imports the package on every call: no gradio, langfuse SDK or SQLite work up front.
    code = "import sys, hitl_pipeline, hitl_pipeline.cli; print(sorted(m for m in ('gradio', 'langfuse') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
