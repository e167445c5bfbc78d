"""The spec reference in README.md, generated from the JSON Schema (so the two cannot drift).

Refresh README after a schema change with::

    python -m hitl_pipeline.spec.docs --write README.md

``--check README.md`` exits 1 when README's reference is out of date (``tests/test_docs.py``
asserts the same).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

START = "<!-- spec-reference:start -->"
END = "<!-- spec-reference:end -->"

_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "array": "list",
    "object": "mapping",
    "null": "null",
}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A node with its ``$ref`` merged in (the node's own keys, e.g. description, win)."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return node
    target = _resolve(defs[ref.split("/")[-1]], defs)
    merged = dict(target)
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def _type_of(node: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _resolve(node, defs)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " | ".join(f"`{v}`" for v in node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            return " or ".join(_type_of(alt, defs) for alt in node[key])
    t = node.get("type")
    if t == "array":
        items = node.get("items")
        inner = _type_of(items, defs) if isinstance(items, dict) else "any"
        return f"list of {inner}"
    if t == "object" and "properties" in node and "additionalProperties" in node:
        fields = ", ".join(node["properties"])
        return f"{{{fields}}}" if len(node["properties"]) <= 3 else "mapping"
    if isinstance(t, list):
        return " or ".join(_TYPE_NAMES.get(str(x), str(x)) for x in t)
    if isinstance(t, str):
        if t == "string" and node.get("pattern", "").startswith("^(now|"):
            return "time"
        return _TYPE_NAMES.get(t, t)
    return "any"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(node: dict[str, Any], prefix: str, defs: dict[str, Any]) -> list[str]:
    node = _resolve(node, defs)
    rows: list[str] = []
    required = set(node.get("required", []))
    for name, raw in node.get("properties", {}).items():
        child = _resolve(raw, defs)
        path = f"{prefix}{name}"
        default = f"`{json.dumps(child['default'], ensure_ascii=False)}`" if "default" in child else ""
        description = child.get("description", "")
        rows.append(
            f"| `{path}` | {_cell(_type_of(raw, defs))} | {'yes' if name in required else ''} "
            f"| {_cell(default)} | {_cell(description)} |"
        )
        if child.get("type") == "object" and "properties" in child:
            rows.extend(_rows(child, f"{path}.", defs))
        items = child.get("items")
        if child.get("type") == "array" and isinstance(items, dict):
            resolved = _resolve(items, defs)
            if resolved.get("type") == "object" and "properties" in resolved:
                rows.extend(_rows(resolved, f"{path}[].", defs))
    return rows


def render_reference(schema: dict[str, Any] | None = None) -> str:
    """Markdown table of every spec field (type, required, default, description) from the schema."""
    if schema is None:
        from hitl_pipeline.spec import schema as load_schema

        schema = load_schema()
    defs = schema.get("$defs", {})
    lines = [
        "_Generated from `hitl_pipeline/spec/schema/v1.json` by `python -m hitl_pipeline.spec.docs --write README.md`._",
        "",
        "| Field | Type | Required | Default | Description |",
        "|---|---|---|---|---|",
        *_rows(schema, "", defs),
    ]
    return "\n".join(lines) + "\n"


def replace_reference(document: str, reference: str) -> str:
    """``document`` with the text between the spec-reference markers replaced by ``reference``."""
    start = document.find(START)
    end = document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {START} … {END} markers")
    return document[: start + len(START)] + "\n" + reference + document[end:]


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write/check it in a Markdown file between the markers."""
    parser = argparse.ArgumentParser(
        prog="python -m hitl_pipeline.spec.docs", description=__doc__.splitlines()[0]
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", help="replace the reference between the markers in FILE")
    group.add_argument("--check", metavar="FILE", help="exit 1 if FILE's reference is out of date")
    args = parser.parse_args(argv)
    reference = render_reference()
    if args.write or args.check:
        path = Path(args.write or args.check)
        current = path.read_text(encoding="utf-8")
        updated = replace_reference(current, reference)
        if args.check:
            if updated != current:
                print(
                    f"{path}: the spec reference is out of date; run: python -m hitl_pipeline.spec.docs --write {path}"
                )
                return 1
            return 0
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: spec reference {'updated' if updated != current else 'already up to date'}")
        return 0
    sys.stdout.write(reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
