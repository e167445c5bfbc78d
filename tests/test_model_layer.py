"""The model layer stays at the bottom, and no module reaches into a source's private client.

Static checks over the source files (every import counts, also those under ``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hitl_pipeline"


def _modules(under: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(under.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _package_imports(tree: ast.Module) -> set[str]:
    return {m for m in _imports(tree) if m == "hitl_pipeline" or m.startswith("hitl_pipeline.")}


def test_the_model_layer_imports_only_itself_and_the_errors() -> None:
    found = {
        f"{path.relative_to(PACKAGE.parent)} imports {m}"
        for path, tree in _modules(PACKAGE / "model")
        for m in _package_imports(tree)
        if not (m.startswith("hitl_pipeline.model") or m == "hitl_pipeline.errors")
    }
    assert not found


def test_the_errors_module_imports_nothing_of_the_package() -> None:
    tree = ast.parse((PACKAGE / "errors.py").read_text(encoding="utf-8"))
    assert not _package_imports(tree)


def test_sources_take_the_shared_types_from_the_model() -> None:
    # e.g. OBSERVATION_TYPES and Langfuse's score rules: sources never import spec.validate or scoring.
    found = {
        f"{path.relative_to(PACKAGE.parent)} imports {m}"
        for path, tree in _modules(PACKAGE / "sources")
        for m in _package_imports(tree)
        if m.startswith(("hitl_pipeline.scoring", "hitl_pipeline.spec.validate", "hitl_pipeline.campaign"))
    }
    assert not found


def _private_client_access(tree: ast.Module) -> Iterator[str]:
    private = {"_api", "_call", "_http", "_raw"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                yield f"line {node.lineno}: .{node.attr}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in private
        ):
            yield f"line {node.lineno}: {node.func.id}(…, {node.args[1].value!r})"


def test_no_module_reaches_into_a_source_s_private_client() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)} {where}"
        for path, tree in _modules(PACKAGE)
        for where in _private_client_access(tree)
    ]
    assert not found
