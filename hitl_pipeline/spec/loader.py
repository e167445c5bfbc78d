"""YAML text → plain data plus the position of every node, with located problems.

PyYAML's defaults get in the way of a spec format in three ways, all fixed here:

* it turns ``2026-10-01`` into a ``datetime.date`` (the spec wants the string, the schema says
  ``type: string``), so :class:`SpecLoader` drops the timestamp resolver;
* it reads ``off``/``on``/``yes``/``no`` as booleans (YAML 1.1), which would turn ``comment: off``
  into ``False``; only ``true``/``false`` are booleans here, as in YAML 1.2 and JSON;
* it silently keeps the last of two equal keys; here every duplicate is a located issue.

Nothing in a spec file may make loading raise anything but a :class:`SpecError`: the text has a
size cap checked before parsing (:data:`MAX_SPEC_CHARS`), explicit tags are limited to the JSON
types (``!!str``, ``!!int``, ``!!float``, ``!!bool``, ``!!null``, ``!!seq``, ``!!map``), scalars are
built here rather than by PyYAML's constructors (``!!int 1e3`` is a located issue, not a
``ValueError``), and numbers are range-checked (whole numbers within ±(2**53 − 1), the integers a
JSON number holds exactly; no float that overflows to infinity or underflows to zero).

Positions are 1-based ``(line, column)`` pairs keyed by the JSON path of the node (a tuple of
mapping keys and list indexes, the same shape as ``jsonschema``'s ``error.absolute_path``).
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hitl_pipeline.errors import SpecError, SpecIssue

JsonPath = tuple[str | int, ...]
Position = tuple[int, int]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_BINARY_TAG = "tag:yaml.org,2002:binary"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NULL_TAG = "tag:yaml.org,2002:null"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"

#: A spec longer than this (in characters) is refused before parsing: real specs are a few KB, and
#: PyYAML takes seconds and hundreds of MB per MB of text.
MAX_SPEC_CHARS = 128 * 1024


def too_big_message() -> str:
    """What is said of a spec over :data:`MAX_SPEC_CHARS` (the loader and the file reader agree)."""
    return (
        f"the spec is larger than {MAX_SPEC_CHARS // 1024} KB; a review spec is a few KB of YAML "
        "(shorten long guidelines)"
    )


#: Whole numbers beyond this are refused: scores and configs are JSON numbers (float64), which hold
#: integers exactly only up to 2**53 - 1, and Python refuses to read numbers over 4,300 digits.
MAX_SAFE_INT = 2**53 - 1
#: A number written with more characters than this is refused before it is converted.
_MAX_NUMBER_CHARS = 100
_NUMBER_RANGE = (
    f"whole numbers must lie between -{MAX_SAFE_INT:,} and {MAX_SAFE_INT:,} "
    "(the largest a JSON number holds exactly)"
)


#: Deeper nesting than this is refused: no spec needs it, and checks walk the data recursively.
MAX_DEPTH = 40
_TOO_DEEP = f"the YAML is nested too deeply (more than {MAX_DEPTH} levels)"
#: More values than this are refused: aliases of aliases (``*a`` repeating a list of ``*b``…) can
#: make a few lines expand to billions of values, and every one gets built and located.
MAX_VALUES = 100_000
_TOO_MANY = (
    f"the YAML expands to more than {MAX_VALUES:,} values (aliases repeating aliases?); "
    "write the spec out without nested aliases"
)


class SpecLoader(yaml.SafeLoader):
    """A ``SafeLoader`` without timestamps and with YAML 1.2 booleans (``true``/``false`` only)."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP_TAG, _BOOL_TAG)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


SpecLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class LoadedYaml:
    """The result of :func:`load_yaml`.

    ``data`` is plain JSON-like data (dict, list, str, int, float, bool, None); ``values`` maps a
    JSON path to where its value starts, ``keys`` maps the path of a mapping entry to where its
    key starts; ``issues`` are located problems found while loading (duplicate keys, …).
    """

    file: str
    data: Any
    values: dict[JsonPath, Position] = field(default_factory=dict)
    keys: dict[JsonPath, Position] = field(default_factory=dict)
    issues: list[SpecIssue] = field(default_factory=list)
    #: The text as written of every plain scalar YAML did not read as a string (``1.10`` → 1.1),
    #: so a message can tell the user exactly what to quote.
    raw: dict[JsonPath, str] = field(default_factory=dict)
    #: Paths whose value could not be read as written (a bad tag or number); the issue is already in
    #: ``issues``, so checks of the value that stands in for it are not reported again.
    unreadable: set[JsonPath] = field(default_factory=set)

    def position(self, path: JsonPath, *, key: bool = False) -> Position:
        """Where ``path`` is in the file: its key (if asked and known) or its value, else the nearest
        ancestor that has a position, else ``(1, 1)``."""
        if key and path in self.keys:
            return self.keys[path]
        probe = path
        while True:
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def issue(self, path: JsonPath, message: str, *, key: bool = False) -> SpecIssue:
        """A located issue at ``path`` (see :meth:`position`)."""
        line, column = self.position(path, key=key)
        return SpecIssue(self.file, line, column, format_path(path), message)


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def format_path(path: JsonPath) -> str:
    """``("questions", 1, "max")`` → ``questions[1].max``; odd keys are quoted: ``metadata["a b"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def load_yaml(text: str, file: str = "<string>") -> LoadedYaml:
    """Parse one YAML document into data and node positions.

    Raises:
        SpecError: the text is not YAML (with the offending line and numbered context), is empty,
            its top level is not a mapping, or it expands to more than :data:`MAX_VALUES` values.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError([SpecIssue(file, 1, 1, "", too_big_message())])
    try:
        loader = SpecLoader(text)  # the reader checks for forbidden characters right here
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_issue(exc, text, file)]) from None
    except yaml.YAMLError as exc:  # ReaderError (control characters) has a position but no mark
        raise SpecError([_reader_issue(exc, text, file)]) from None
    except RecursionError:
        # PyYAML composes recursively; a spec is never nested this deep, so say so plainly.
        raise SpecError([SpecIssue(file, 1, 1, "", _TOO_DEEP)]) from None
    if node is None or _is_null(node):
        raise SpecError(
            [SpecIssue(file, 1, 1, "", "the spec is empty; start from `hitl init` or specs/support_qa.yaml")]
        )
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else f"the single value {_quote(node.value)}"
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        raise SpecError(
            [
                SpecIssue(
                    file,
                    line,
                    col,
                    "",
                    f"the spec must be a mapping of keys (version:, campaign:, title:, …), found {kind}",
                )
            ]
        )
    result = LoadedYaml(file=file, data=None)
    builder = _Builder(loader, result)
    result.data = builder.build(node, ())
    return result


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class _Builder:
    """Walks composed nodes, recording positions, building plain data, collecting issues."""

    def __init__(self, loader: SpecLoader, result: LoadedYaml) -> None:
        self.loader = loader
        self.result = result
        self.active: set[int] = set()  # nodes on the current path (aliases can make cycles)
        self.built = 0

    def build(self, node: Node, path: JsonPath) -> Any:
        self.result.values.setdefault(path, _pos(node))
        self.built += 1
        if self.built > MAX_VALUES:
            raise SpecError([self.result.issue(path, _TOO_MANY)])
        if len(path) > MAX_DEPTH:
            if not any(i.message == _TOO_DEEP for i in self.result.issues):
                self.result.issues.append(self.result.issue(path, _TOO_DEEP))
            return None
        if id(node) in self.active:
            self.result.issues.append(
                self.result.issue(path, "an alias refers to itself (recursive YAML anchor)")
            )
            return None
        self.active.add(id(node))
        try:
            tag_problem = _tag_problem(node)
            if tag_problem:
                self.result.issues.append(self.result.issue(path, tag_problem))
                self.result.unreadable.add(path)
                if isinstance(node, ScalarNode):
                    return str(node.value)  # keep the text: one issue here, not a follow-on type error
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: Node, path: JsonPath) -> Any:
        assert isinstance(node, ScalarNode)
        value, problem = _scalar_value(node)
        if problem:
            self.result.issues.append(self.result.issue(path, problem))
            self.result.unreadable.add(path)
            return None
        if not isinstance(value, str):
            self.result.raw[path] = node.value
        return value

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        pairs: list[tuple[Node, Node]] = []
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_pairs(value_node, path))
            else:
                pairs.append((key_node, value_node))
        out: dict[str, Any] = {}
        seen: dict[str, Position] = {}
        own_keys: set[str] = set()
        # Merged keys (<<: *anchor) come first so explicit keys override them, as in YAML.
        for origin, group in (("merge", merged), ("own", pairs)):
            for key_node, value_node in group:
                key = self._key(key_node, path)
                if key is None:
                    continue
                child = (*path, key)
                if origin == "own":
                    if key in own_keys:
                        line, col = seen[key]
                        here_line, here_col = _pos(key_node)
                        self.result.issues.append(
                            SpecIssue(
                                self.result.file,
                                here_line,
                                here_col,
                                format_path(child),
                                f"duplicate key '{key}' (first defined at line {line}, column {col}); "
                                "YAML keeps only the last one, so remove or rename one of them",
                            )
                        )
                    own_keys.add(key)
                    seen.setdefault(key, _pos(key_node))
                if key in out:
                    # The data keeps the last value, so positions must describe the last one too.
                    self._forget(child)
                self.result.keys[child] = _pos(key_node)
                out[key] = self.build(value_node, child)
        return out

    def _forget(self, prefix: JsonPath) -> None:
        n = len(prefix)
        for table in (self.result.values, self.result.keys):
            for p in [p for p in table if p[:n] == prefix]:
                del table[p]

    def _merge_pairs(self, value_node: Node, path: JsonPath) -> list[tuple[Node, Node]]:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        pairs: list[tuple[Node, Node]] = []
        for source in sources:
            if isinstance(source, MappingNode):
                pairs.extend((k, v) for k, v in source.value if k.tag != _MERGE_TAG)
            else:
                self.result.issues.append(
                    self.result.issue(path, "'<<' (merge key) needs a mapping or a list of mappings")
                )
        return pairs

    def _key(self, key_node: Node, path: JsonPath) -> str | None:
        if isinstance(key_node, ScalarNode):
            # The key exactly as written: `1:` and `"1":` are the same key, as in JSON.
            return str(key_node.value)
        line, col = _pos(key_node)
        self.result.issues.append(
            SpecIssue(
                self.result.file,
                line,
                col,
                format_path(path),
                "a key must be a plain name, not a list or mapping",
            )
        )
        return None


_ALLOWED_TAGS = {
    MappingNode: (_MAP_TAG,),
    SequenceNode: (_SEQ_TAG,),
    ScalarNode: (_STR_TAG, _INT_TAG, _FLOAT_TAG, _BOOL_TAG, _NULL_TAG, _TIMESTAMP_TAG, _BINARY_TAG),
}
_KIND_WORDS = {MappingNode: "a mapping", SequenceNode: "a list", ScalarNode: "a single value"}


def _show_tag(tag: str) -> str:
    shown = "!!" + tag[len(_YAML_TAG_PREFIX) :] if tag.startswith(_YAML_TAG_PREFIX) else tag
    return shown if len(shown) <= 40 else shown[:37] + "…"


def _quote(text: str) -> str:
    """Text as a user wrote it, in double quotes and shortened (never a Python repr)."""
    text = text if len(text) <= 40 else text[:37] + "…"
    return "'" + text.replace("\n", " ") + "'"


def _tag_problem(node: Node) -> str | None:
    """Why the tag of ``node`` is not allowed (None when it is)."""
    allowed = _ALLOWED_TAGS[type(node)]
    if node.tag in allowed:
        return None
    kinds = "text (!!str), numbers (!!int, !!float), true/false (!!bool) and null (!!null)"
    if not isinstance(node, ScalarNode):
        kinds = "a list (!!seq)" if isinstance(node, SequenceNode) else "a mapping (!!map)"
    return (
        f"the YAML tag {_show_tag(node.tag)} is not allowed here: {_KIND_WORDS[type(node)]} in a spec "
        f"can only be {kinds}; remove the tag"
    )


_BOOL_WORDS = {"true": True, "false": False}
_DIGITS = re.compile(r"[0-9]")
_NONZERO = re.compile(r"[1-9]")


def _scalar_value(node: ScalarNode) -> tuple[Any, str | None]:
    """The value of a scalar with an allowed tag, or a problem; never raises."""
    text = node.value
    if node.tag == _STR_TAG:
        return text, None
    if node.tag == _NULL_TAG:
        return None, None
    if node.tag == _TIMESTAMP_TAG:
        # Kept as written (the spec format has no date type): checked, never turned into a datetime.
        if _timestamp_ok(node):
            return text, None
        return None, f"!!timestamp needs a date (2026-10-01) or date-time, found {_quote(text)}"
    if node.tag == _BINARY_TAG:
        try:
            return base64.b64decode(text.encode("ascii"), validate=False).decode("utf-8"), None
        except (ValueError, UnicodeError):
            return None, "!!binary needs base64 of UTF-8 text; write the text itself instead"
    if node.tag == _BOOL_TAG:
        if text.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[text.lower()], None
        return None, f"!!bool needs true or false, found {_quote(text)}"
    if len(text) > _MAX_NUMBER_CHARS:
        return None, f"this number is {len(text):,} characters long; {_NUMBER_RANGE}"
    loader = yaml.SafeLoader("")
    try:
        value: int | float = (
            loader.construct_yaml_int(node) if node.tag == _INT_TAG else loader.construct_yaml_float(node)
        )
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError):
        if node.tag == _INT_TAG:
            return None, f"!!int needs a whole number, found {_quote(text)}"
        return None, f"!!float needs a number, found {_quote(text)}"
    finally:
        loader.dispose()
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            return None, f"{text} is too large: {_NUMBER_RANGE}"
        return value, None
    if math.isinf(value) and _DIGITS.search(text):
        # .inf is written on purpose (and reported as not finite); 1.0e400 overflowed.
        return None, f"{text} is too large for a number (the largest is about 1.8e308)"
    if value == 0.0 and _NONZERO.search(text.lower().split("e")[0]):
        return None, f"{text} is too small for a number (closer to 0 than about 2.2e-308); write 0"
    return value, None


def _timestamp_ok(node: ScalarNode) -> bool:
    if len(node.value) > _MAX_NUMBER_CHARS or not _TIMESTAMP.match(node.value):
        return False
    loader = yaml.SafeLoader("")
    try:
        loader.construct_yaml_timestamp(node)
    except (ValueError, TypeError, OverflowError, AttributeError):
        return False
    finally:
        loader.dispose()
    return True


#: PyYAML's own timestamp pattern (the resolver the spec loader drops), to check ``!!timestamp``.
_TIMESTAMP = next(r for t, r in yaml.SafeLoader.yaml_implicit_resolvers["2"] if t == _TIMESTAMP_TAG)


def _pos(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _context(text: str, line: int, column: int, around: int = 2) -> str:
    """Numbered lines around ``line`` (1-based) with a caret under ``column``."""
    lines = text.splitlines()
    if not lines:
        return ""
    first = max(1, line - around)
    last = min(len(lines), line)
    width = len(str(last))
    out = []
    for n in range(first, last + 1):
        out.append(f"  {n:>{width}} | {lines[n - 1]}")
        if n == line:
            out.append(f"  {'':>{width}} | {' ' * max(0, column - 1)}^")
    if line > len(lines):
        out.append(f"  {line:>{width}} | (end of file)")
    return "\n".join(out)


def _syntax_issue(exc: yaml.MarkedYAMLError, text: str, file: str) -> SpecIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or "invalid YAML"
    if problem == "but found another document":
        # The composer's wording assumes you know its grammar; say what to do instead.
        problem = "a spec file holds a single YAML document, but a second one starts here (remove the `---`)"
        exc.context = None
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        problem = f"{problem} ({exc.context} at line {exc.context_mark.line + 1})"
    elif exc.context:
        problem = f"{problem} ({exc.context})"
    raw_problem = exc.problem or ""
    if "\t" in (text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""):
        problem += "; YAML indentation must use spaces, not tabs"
    else:
        problem += _syntax_hint(raw_problem, exc.context or "")
    context = _context(text, line, column)
    message = f"YAML syntax error: {problem}" + (f"\n{context}" if context else "")
    return SpecIssue(file, line, column, "", message)


# The most common YAML mistakes in hand-written specs, and what to do about them.
_HINTS: tuple[tuple[str, str, str], ...] = (
    (
        "mapping values are not allowed here",
        "",
        "; a value containing ': ' must be put in quotes (label: \"Note: be careful\"), "
        "or this line is indented too far",
    ),
    ("that cannot start any token", "", "; a value starting with @, ` or % must be put in quotes"),
    ("found undefined alias", "", "; '*' starts a YAML alias: put the value in quotes if you meant the text"),
    ("expected <block end>", "", "; check the indentation: entries of one list or mapping must line up"),
    (
        "could not find expected ':'",
        "",
        "; a line of a mapping needs `key: value` (or quote a multi-line value)",
    ),
    ("found unexpected end of stream", "quoted scalar", "; a quote is not closed"),
    ("expected ',' or ']'", "", "; a `[` list is not closed, or its items need commas"),
    ("expected ',' or '}'", "", "; a `{` mapping is not closed, or its entries need commas"),
)


def _syntax_hint(problem: str, context: str) -> str:
    for needle, in_context, hint in _HINTS:
        if needle in problem and in_context in context:
            return hint
    return ""


def _reader_issue(exc: yaml.YAMLError, text: str, file: str) -> SpecIssue:
    position = getattr(exc, "position", 0) or 0
    before = text[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    char = getattr(exc, "character", None)
    what = f"control character U+{char:04X}" if isinstance(char, int) else "character"
    return SpecIssue(
        file,
        line,
        column,
        "",
        f"the file contains a {what} that YAML does not allow; remove it\n{_context(text, line, column)}",
    )


__all__ = [
    "MAX_SAFE_INT",
    "MAX_SPEC_CHARS",
    "JsonPath",
    "LoadedYaml",
    "Position",
    "SpecLoader",
    "format_path",
    "load_yaml",
    "too_big_message",
]
