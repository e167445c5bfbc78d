"""Rewrite imports after names moved between modules (issue 9's layout), so a branch started before
the move can be brought in line by running this again after ``git rebase main``::

    python tools/relayout_imports.py            # rewrites hitl_pipeline/, tests/, bench/ in place
    python tools/relayout_imports.py --check    # lists the files that still use an old place

It rewrites ``from OLD import a, b`` statements (names that moved go to their new module, the
others stay), dotted references in docstrings and comments (``hitl_pipeline.sources.base.Item``),
then lets ruff sort the touched imports. Idempotent.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = ("hitl_pipeline", "tests", "bench")

MODEL = "hitl_pipeline.model"
LF = "hitl_pipeline.sources.langfuse"

#: old module → (new module for every name not listed, or None = the name stays), {name: new module}
MOVES: dict[str, tuple[str | None, dict[str, str]]] = {
    # The value types left sources.base for the model layer; the Source protocol (and the capability
    # protocols) stay.
    "hitl_pipeline.sources.base": (
        MODEL,
        {
            "Source": "hitl_pipeline.sources.base",
            "AnnotationQueues": "hitl_pipeline.sources.base",
            "Datasets": "hitl_pipeline.sources.base",
            "TraceLinks": "hitl_pipeline.sources.base",
        },
    ),
    "hitl_pipeline.scoring.rules": ("hitl_pipeline.model.score_rules", {}),
    "hitl_pipeline.spec.validate": (None, {"OBSERVATION_TYPES": MODEL}),
    "hitl_pipeline.spec.model": (None, {"Target": MODEL}),
    # sources/langfuse.py became the package sources/langfuse/ (langfuse_doctor.py its doctor module).
    "hitl_pipeline.sources.langfuse_doctor": (f"{LF}.doctor", {}),
    LF: (None, {"_retry_after": f"{LF}.http", "parse_io": f"{LF}.convert"}),
}

#: Dotted references in text (docstrings, comments): old prefix → new prefix.
TEXT_MOVES = [
    (r"hitl_pipeline\.scoring\.rules\b", "hitl_pipeline.model.score_rules"),
    (r"hitl_pipeline\.sources\.langfuse_doctor\b", f"{LF}.doctor"),
    (
        r"hitl_pipeline\.sources\.base\.(?!Source\b|AnnotationQueues\b|Datasets\b|TraceLinks\b)(\w+)",
        rf"{MODEL}.\1",
    ),
    (r"hitl_pipeline\.spec\.validate\.OBSERVATION_TYPES\b", f"{MODEL}.OBSERVATION_TYPES"),
]

#: Files that define a moved name's new home (never rewritten).
SKIP = {"hitl_pipeline/model", "tools/relayout_imports.py"}


def _target(module: str, name: str) -> str:
    default, names = MOVES[module]
    if name in names:
        return names[name]
    return default if default is not None else module


def _alias(a: ast.alias) -> str:
    return f"{a.name} as {a.asname}" if a.asname else a.name


def rewrite(text: str) -> str:
    for pattern, repl in TEXT_MOVES:
        text = re.sub(pattern, repl, text)
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or node.module not in MOVES:
            continue
        groups: dict[str, list[str]] = {}
        for a in node.names:
            groups.setdefault(_target(node.module, a.name), []).append(_alias(a))
        if list(groups) == [node.module]:
            continue
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        tail = lines[last][node.end_col_offset or 0 :].rstrip("\n")
        comment = tail if tail.strip().startswith("#") else ""
        new = [f"{indent}from {m} import {', '.join(names)}{comment}\n" for m, names in groups.items()]
        edits.append((first, last, new))
    for first, last, new in sorted(edits, reverse=True):
        lines[first : last + 1] = new
    return "".join(lines)


def files() -> list[Path]:
    out = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not any(rel == s or rel.startswith(s + "/") for s in SKIP):
                out.append(path)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list the files that would change")
    args = parser.parse_args()
    changed = []
    for path in files():
        old = path.read_text(encoding="utf-8")
        new = rewrite(old)
        if new != old:
            changed.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in changed:
        print(path.relative_to(ROOT))
    if changed and not args.check:
        names = [str(p) for p in changed]
        subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--select", "I", *names], check=False)
        subprocess.run([sys.executable, "-m", "ruff", "format", *names], check=False)
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
