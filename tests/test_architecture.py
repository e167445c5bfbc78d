"""The import contract of ARCHITECTURE.md, checked on the source files (no import is executed).

Every module of ``hitl_pipeline`` belongs to one layer (low → high)::

    model (model/, errors, db/, settings) → spec → sources → scoring → campaign → ui | report → cli

A module may import its own package and any lower layer, never a higher one; ``ui`` and
``report`` are siblings and do not import each other. Every import counts: module level,
inside functions, and under ``TYPE_CHECKING``. Besides the layers:

* no module touches another module's private attribute (``source._api``, ``getattr(x, "_call")``,
  ``from hitl_pipeline.x import _helper``): a ``_name`` defined in the package may only be used
  in the module that defines it;
* two modules never import each other (a package's ``__init__`` re-exporting its modules aside);
* higher layers use the spec through its model and package interface, never the validator's
  internals (``spec.validate``, ``spec.loader``).

The second half of the file feeds the checker the crossings issue 9 listed, so it is known to
catch each of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hitl_pipeline"

#: Layer of each top-level part of the package (``hitl_pipeline.<part>``); "" is the package itself.
LAYERS: dict[str, int] = {
    "model": 0,
    "errors": 0,
    "db": 0,
    "settings": 0,
    "spec": 1,
    "sources": 2,
    "scoring": 3,
    "campaign": 4,
    "quality": 4,  # gold items, qualification, honeypots, adaptive overlap: hooks of the review service
    "ui": 5,
    "report": 5,
    "cli": 6,
    "__main__": 6,
    "": 6,  # hitl_pipeline/__init__.py: the public API, re-exports from below
}
#: Parts of one layer that must not import each other.
SIBLINGS = {frozenset({"ui", "report"})}
#: Modules only their own package may import.
INTERNAL = ("hitl_pipeline.spec.validate", "hitl_pipeline.spec.loader")


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. hitl_pipeline.campaign.service
    tree: ast.Module

    @property
    def part(self) -> str:
        return part_of(self.name)

    @property
    def package(self) -> str:
        """The package the module belongs to (itself for a package ``__init__``)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @property
    def is_package(self) -> bool:
        return getattr(self.tree, "is_package", False)


def part_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def load(path: Path, name: str, *, is_package: bool = False) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    tree.is_package = is_package  # type: ignore[attr-defined]
    return Module(name, tree)


@cache
def package_modules() -> list[Module]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found.append(load(path, ".".join(parts), is_package=is_package))
    return found


def module_from_text(name: str, text: str) -> Module:
    tree = ast.parse(text)
    tree.is_package = False  # type: ignore[attr-defined]
    return Module(name, tree)


def imports(module: Module) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, imported module, imported names) of every import of the package, at any depth."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "hitl_pipeline":
                    yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] == "hitl_pipeline":
                yield node.lineno, node.module, tuple(a.name for a in node.names)


def layer_violations(module: Module) -> Iterator[str]:
    me = module.part
    for line, target, _ in imports(module):
        other = part_of(target)
        if other == me:
            continue
        if LAYERS[other] > LAYERS[me]:
            yield f"{module.name}:{line} ({me}) imports the higher layer {target} ({other})"
        elif frozenset({me, other}) in SIBLINGS:
            yield f"{module.name}:{line} ({me}) imports its sibling {target} ({other})"
        elif target.startswith(INTERNAL) and not module.name.startswith("hitl_pipeline.spec"):
            yield f"{module.name}:{line} imports {target}, internal to the spec package"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def defined_private_names(module: Module) -> set[str]:
    """Private names the module defines: functions, classes, assignments, ``self._x = …``."""
    names: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and _private(node.name):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _private(node.id):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _private(node.attr):
            names.add(node.attr)
        elif (
            isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and _private(node.target.id)
        ):
            names.add(node.target.id)  # dataclass fields
    return names


def private_access(module: Module, package_private: set[str]) -> Iterator[str]:
    """Uses of a private name of another module of the package."""
    own = defined_private_names(module)
    for node in ast.walk(module.tree):
        name = None
        if isinstance(node, ast.Attribute) and _private(node.attr):
            receiver = node.value
            if not (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")):
                name = node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            name = node.args[1].value
        if name is not None and name in package_private and name not in own:
            yield f"{module.name}:{node.lineno} uses {name}, private to another module"
    for line, target, names in imports(module):
        for imported in names:
            if _private(imported) and target != module.name:
                yield f"{module.name}:{line} imports {imported} from {target}"


def mutual_imports(modules: list[Module]) -> Iterator[str]:
    by_name = {m.name: m for m in modules}
    edges: dict[str, set[str]] = {}
    for m in modules:
        out = set()
        for _, target, names in imports(m):
            out.add(target)
            out.update(f"{target}.{n}" for n in names if f"{target}.{n}" in by_name)
        edges[m.name] = out - {m.name}
    for a, targets in edges.items():
        for b in targets:
            if a < b and a in edges.get(b, set()):
                ma, mb = by_name[a], by_name.get(b)
                if mb is None or (ma.is_package and mb.package == a) or (mb.is_package and ma.package == b):
                    continue  # a package's __init__ and its own modules
                yield f"{a} and {b} import each other"


@cache
def package_private_names() -> frozenset[str]:
    return frozenset().union(*(defined_private_names(m) for m in package_modules()))


def check(modules: list[Module]) -> list[str]:
    package_private = set(package_private_names())
    problems = [p for m in modules for p in layer_violations(m)]
    problems += [p for m in modules for p in private_access(m, package_private)]
    problems += list(mutual_imports(modules))
    return problems


#: Crossings other helpers are still removing when this test was written (the lead un-xfails at
#: the end): each entry is a substring of the problem it excuses.
KNOWN: tuple[str, ...] = ()


def test_every_module_has_a_layer() -> None:
    unknown = sorted({m.part for m in package_modules()} - set(LAYERS))
    assert not unknown, f"add these to LAYERS and ARCHITECTURE.md: {unknown}"


def test_the_package_keeps_the_import_contract() -> None:
    problems = check(package_modules())
    unexpected = [p for p in problems if not any(k in p for k in KNOWN)]
    assert not unexpected, "\n".join(unexpected)


def test_no_known_crossing_is_left() -> None:
    assert not check(package_modules())


# -- the checker catches every crossing issue 9 listed ---------------------------------------------

ISSUE_9_CROSSINGS = [
    # campaign ↔ scoring: the outbox table in campaign/state.py, drained by scoring/outbox.py
    ("hitl_pipeline.scoring.outbox", "from hitl_pipeline.campaign.state import CampaignState"),
    # spec/validate.py and every source imported scoring/rules.py
    ("hitl_pipeline.spec.validate", "from hitl_pipeline.scoring.rules import check_score"),
    ("hitl_pipeline.sources.local", "from hitl_pipeline.scoring.rules import check_score"),
    # report/html.py imported ui.view.safe_text
    ("hitl_pipeline.report.html", "from hitl_pipeline.ui.view import safe_text"),
    # sources/jsonl.py imported spec.validate.OBSERVATION_TYPES
    ("hitl_pipeline.sources.jsonl", "from hitl_pipeline.spec.validate import OBSERVATION_TYPES"),
    # annotation_queue.py, report/dataset.py and report/__init__.py reached into a source's client
    ("hitl_pipeline.campaign.annotation_queue", "def f(source):\n    return source._call('GET', '/x')\n"),
    ("hitl_pipeline.report.dataset", "def f(source):\n    return source._api.datasets\n"),
    ("hitl_pipeline.report", "def f(source):\n    return getattr(source, '_api', None)\n"),
    # a helper imported under its private name
    ("hitl_pipeline.report.dataset", "from hitl_pipeline.report.compute import _compare"),
]


@pytest.mark.parametrize(("name", "text"), ISSUE_9_CROSSINGS)
def test_the_checker_catches_the_crossings_of_issue_9(name: str, text: str) -> None:
    modules = [module_from_text(name, text)]
    # Private attributes the package defined when the issue was written (sources' clients).
    package_private = set(package_private_names()) | {"_api", "_call"}
    problems = [p for m in modules for p in layer_violations(m)]
    problems += [p for m in modules for p in private_access(m, package_private)]
    assert problems, f"{name}: {text!r} passed the contract"


def test_the_checker_catches_two_modules_importing_each_other() -> None:
    # campaign/consensus.py ↔ campaign/service.py (the consensus manager read the service's attributes)
    consensus = module_from_text(
        "hitl_pipeline.campaign.consensus",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from hitl_pipeline.campaign.service import CampaignService\n",
    )
    service = module_from_text(
        "hitl_pipeline.campaign.service", "from hitl_pipeline.campaign.consensus import ConsensusManager\n"
    )
    assert list(mutual_imports([consensus, service])) == [
        "hitl_pipeline.campaign.consensus and hitl_pipeline.campaign.service import each other"
    ]


def test_allowed_imports_pass() -> None:
    fine = [
        module_from_text(
            "hitl_pipeline.campaign.service", "from hitl_pipeline.scoring.scores import build_scores"
        ),
        module_from_text("hitl_pipeline.report.html", "from hitl_pipeline.model.text import safe_text"),
        module_from_text("hitl_pipeline.cli", "from hitl_pipeline.ui.run import serve_campaign"),
        module_from_text("hitl_pipeline.sources.local", "from hitl_pipeline.spec.model import Filters"),
    ]
    assert not [p for m in fine for p in layer_violations(m)]
