"""Validation of loaded spec data: the JSON Schema first, then the rules a schema cannot express.

Every problem becomes a located :class:`~hitl_pipeline.errors.SpecIssue`
(``file:line:col: path: message``); all of them are reported at once, in file order, so a user
fixes a spec in one pass. Messages speak YAML, not JSON Schema: ``unknown key 'sampel' (did you
mean 'sample'?)`` rather than ``Additional properties are not allowed``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeGuard

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from hitl_pipeline.errors import SpecIssue
from hitl_pipeline.model import OBSERVATION_TYPES
from hitl_pipeline.model.score_rules import TEXT_MAX_LENGTH, config_name_problem
from hitl_pipeline.spec.loader import JsonPath, LoadedYaml, format_path
from hitl_pipeline.spec.model import TimeOutOfRange, resolve_time

_IDENTIFIER = re.compile(r"^[a-z_]{1,20}$")

_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}

# Patterns of the schema explained in words (keyed by the pattern text itself, so a change of
# pattern in the schema falls back to the generic message instead of a wrong explanation).
_PATTERN_HELP = {
    "^[a-z0-9][a-z0-9_.-]{0,63}$": (
        "is not a valid campaign id: use lower-case letters, digits, _ . - "
        "(starting with a letter or digit, at most 64 characters), e.g. support-qa-2026-10"
    ),
    "^[A-Za-z0-9_.-]+$": "may only contain letters, digits, _ . -",
}
_TIME_HELP = (
    "is not a time: use an ISO date (2026-10-01) or date-time (2026-10-01T09:30:00Z), "
    "now, or a relative time such as -30m, -12h, -7d, -2w"
)
_BY_HELP = (
    "cannot be stratified by: use metadata.<key>, name, user_id, session_id, environment, "
    "release, version, observation_type or observation_name"
)


@cache
def _validator() -> Draft202012Validator:
    from hitl_pipeline.spec import schema

    return Draft202012Validator(schema())


def check(loaded: LoadedYaml) -> list[SpecIssue]:
    """Every problem of the loaded spec (loader issues, schema, semantics), sorted by position."""
    issues = list(loaded.issues)
    schema_issues = [
        i
        for err in _validator().iter_errors(loaded.data)
        if tuple(err.absolute_path) not in loaded.unreadable
        for i in _convert(err, loaded)
    ]
    issues.extend(schema_issues)
    taken = {i.path for i in schema_issues} | {format_path(p) for p in loaded.unreadable}
    # A path the schema already complained about is not judged again: one clear message per spot.
    issues.extend(i for i in semantic_issues(loaded) if i.path not in taken)
    unique = {(i.line, i.column, i.path, i.message): i for i in issues}
    return [unique[k] for k in sorted(unique)]  # by line, column, path, message


# --------------------------------------------------------------------------------------------
# JSON Schema errors → located, friendly issues


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML, shortened."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "…"
        return f"'{text}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return _show(value)
    if isinstance(value, int | float):
        return f"the number {_show(value)}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing (an empty value)"


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _suggest(word: str, options: Iterable[str]) -> str | None:
    choices = list(options)
    hits = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not hits:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            return lowered[word.lower()]
    return hits[0] if hits else None


def _expected_types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return [_TYPE_WORDS.get(t, t)]
    if isinstance(t, list):
        return [_TYPE_WORDS.get(str(x), str(x)) for x in t]
    return []


def _convert(err: ValidationError, loaded: LoadedYaml) -> list[SpecIssue]:
    path: JsonPath = tuple(err.absolute_path)
    inst = err.instance
    kind = err.validator
    value = err.validator_value

    if kind == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted(err.schema.get("properties", {}))
        out = []
        for key in inst:
            if key in allowed:
                continue
            hint = _suggest(key, allowed)
            elsewhere = None if hint else _elsewhere(key, path)
            if hint:
                extra = f" (did you mean '{hint}'?)"
            elif elsewhere:
                extra = f" ('{elsewhere[1]}' belongs under {elsewhere[0]})"
            else:
                extra = f" (allowed here: {', '.join(allowed)})"
            out.append(loaded.issue((*path, key), f"unknown key '{key}'{extra}", key=True))
        return out
    if kind == "required" and isinstance(inst, dict):
        out = []
        for key in value:
            if key in inst:
                continue
            prop = err.schema.get("properties", {}).get(key, {})
            hint = f" (one of {', '.join(map(str, prop['enum']))})" if "enum" in prop else ""
            out.append(loaded.issue(path, f"missing required key '{key}'{hint}"))
        return out
    if kind in ("oneOf", "anyOf"):
        return _convert_alternatives(err, loaded)
    if kind == "not":
        return [_convert_not(err, loaded)]
    return [_simple(err, path, loaded)]


@cache
def _all_keys() -> tuple[tuple[str, str], ...]:
    """(parent path, key) for every property the schema defines, e.g. ("source", "sample")."""
    from hitl_pipeline.spec import schema

    root = schema()
    defs = root.get("$defs", {})
    found: list[tuple[str, str]] = []

    def walk(node: Any, parent: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 8:
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            walk(defs.get(ref.split("/")[-1]), parent, depth + 1)
        for key, sub in node.get("properties", {}).items():
            found.append((parent, key))
            walk(sub, f"{parent}.{key}" if parent else key, depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{parent}[]", depth + 1)

    walk(root, "", 0)
    return tuple(found)


def _elsewhere(key: str, path: JsonPath) -> tuple[str, str] | None:
    """Where an unknown key (or a close spelling of it) is allowed elsewhere in a spec."""
    here = "".join("[]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))
    options = {k for parent, k in _all_keys() if parent != here}
    hint = _suggest(key, options)
    if hint is None:
        return None
    parents = sorted({parent for parent, k in _all_keys() if k == hint and parent != here}, key=len)
    if not parents or not parents[0]:
        return ("the top level", hint) if parents else None
    return (parents[0], hint)


def _simple(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    handler = _SIMPLE_HANDLERS.get(str(err.validator))
    if handler is not None:
        return handler(err, path, loaded)
    return loaded.issue(path, f"does not satisfy the spec format here (JSON Schema rule '{err.validator}')")


def _type_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    expected = _expected_types(err.schema)
    fix = _quote_hint(path, expected, loaded) or _number_hint(err.instance, expected)
    return loaded.issue(path, f"expected {_or(expected)}, found {_kind(err.instance)}{fix}")


def _enum_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    inst, value = err.instance, err.validator_value
    options = ", ".join(_show(v).strip("'") for v in value)
    hint = _suggest(inst, [str(v) for v in value]) if isinstance(inst, str) else None
    extra = f" (did you mean '{hint}'?)" if hint else ""
    return loaded.issue(path, f"{_show(inst)} is not one of {options}{extra}")


def _const_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    return loaded.issue(path, f"must be {_show(err.validator_value)}, found {_show(err.instance)}")


def _pattern_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    inst, value = err.instance, err.validator_value
    last = path[-1] if path else None
    if "propertyNames" in err.absolute_schema_path:
        # A bad key (e.g. in filters.metadata): point at the key itself.
        help_text = _PATTERN_HELP.get(value, f"does not match {value}")
        return loaded.issue((*path, inst), f"key {_show(inst)} {help_text}", key=True)
    if last in ("from", "to"):
        return loaded.issue(path, f"{_show(inst)} {_TIME_HELP}")
    if last == "by":
        return loaded.issue(path, f"{_show(inst)} {_BY_HELP}")
    help_text = _PATTERN_HELP.get(value, f"does not match the pattern {value}")
    return loaded.issue(path, f"{_show(inst)} {help_text}")


def _length_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    inst, value, kind = err.instance, err.validator_value, err.validator
    last = path[-1] if path else None
    if len(path) == 3 and path[0] == "questions" and last == "score" and isinstance(inst, str):
        problem = config_name_problem(inst) or "is not a valid score name"
        return loaded.issue(path, f"score name {_show(inst)} {problem} (Langfuse score config name rule)")
    if kind == "minLength" and value == 1:
        return loaded.issue(path, "must not be empty")
    if kind == "minLength":
        return loaded.issue(path, f"must be at least {value} characters long")
    return loaded.issue(path, f"is {len(inst)} characters long, at most {value} are allowed")


def _min_items_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    inst, value = err.instance, err.validator_value
    if path == ("questions",):
        return loaded.issue(path, "at least one question is needed")
    if path and path[-1] == "categories":
        return loaded.issue(
            path, f"a categorical question needs at least {value} categories, found {len(inst)}"
        )
    return loaded.issue(path, f"needs at least {value} item{'s' if value != 1 else ''}, found {len(inst)}")


def _first_duplicate(items: list[Any]) -> Any:
    seen: set[str] = set()
    for item in items:
        # JSON text as the key: hashable for every item, and 1 == 1.0 as in JSON Schema.
        key = (
            json.dumps(item, sort_keys=True)
            if not isinstance(item, float) or not item.is_integer()
            else str(int(item))
        )
        if key in seen:
            return item
        seen.add(key)
    return None


def _unique_items_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    return loaded.issue(path, f"lists {_show(_first_duplicate(err.instance))} more than once")


#: The bound rules: message template over the found value and the rule's bound.
_BOUND_MESSAGES = {
    "minimum": "{inst} is less than the minimum {value}",
    "maximum": "{inst} is greater than the maximum {value}",
    "exclusiveMinimum": "must be greater than {value}, found {inst}",
    "exclusiveMaximum": "must be less than {value}, found {inst}",
}


def _bound_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    template = _BOUND_MESSAGES[str(err.validator)]
    return loaded.issue(path, template.format(inst=_show(err.instance), value=_show(err.validator_value)))


def _properties_issue(err: ValidationError, path: JsonPath, loaded: LoadedYaml) -> SpecIssue:
    kind, value = err.validator, err.validator_value
    if path and path[-1] == "when":
        if kind == "minProperties":
            return loaded.issue(path, "needs a condition next to 'question': one of equals, not_equals or in")
        return loaded.issue(path, "give exactly one of equals, not_equals or in (next to 'question')")
    plural = "s" if value != 1 else ""
    if kind == "minProperties":
        return loaded.issue(path, f"needs at least {value} key{plural}")
    return loaded.issue(path, f"allows at most {value} key{plural}")


_SimpleHandler = Callable[[ValidationError, JsonPath, LoadedYaml], SpecIssue]

#: One message builder per JSON Schema rule (anything else gets the generic message).
_SIMPLE_HANDLERS: dict[str, _SimpleHandler] = {
    "type": _type_issue,
    "enum": _enum_issue,
    "const": _const_issue,
    "pattern": _pattern_issue,
    "minLength": _length_issue,
    "maxLength": _length_issue,
    "minItems": _min_items_issue,
    "uniqueItems": _unique_items_issue,
    "minimum": _bound_issue,
    "maximum": _bound_issue,
    "exclusiveMinimum": _bound_issue,
    "exclusiveMaximum": _bound_issue,
    "minProperties": _properties_issue,
    "maxProperties": _properties_issue,
}


_NUMBER_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _number_hint(value: Any, expected: list[str]) -> str:
    """For a number YAML read as text (``1e3``: YAML 1.1 wants a dot and a signed exponent)."""
    if not isinstance(value, str) or not _NUMBER_TEXT.match(value) or "a string" in expected:
        return ""
    if not any(w in ("a number", "a whole number") for w in expected):
        return ""
    return "; YAML reads a number in this form as text: write it as 1.0e+3, or in full as 1000"


def _quote_hint(path: JsonPath, expected: list[str], loaded: LoadedYaml) -> str:
    """For a string field YAML read as a number/boolean/null (``version: 1.10``): how to fix it."""
    raw = loaded.raw.get(path)
    if (
        raw is None
        or "a string" not in expected
        and not any(w.startswith("a list of strings") for w in expected)
    ):
        return ""
    if raw == "":
        return ""  # an empty value: there is nothing to quote
    return f'; write it in quotes to keep it as text: "{raw}"'


def _convert_alternatives(err: ValidationError, loaded: LoadedYaml) -> list[SpecIssue]:
    path: JsonPath = tuple(err.absolute_path)
    inst = err.instance
    branches = err.validator_value
    # The categorical rule of the schema: categories or a config_id.
    if branches == [{"required": ["categories"]}, {"required": ["config_id"]}]:
        return [
            loaded.issue(
                path,
                "a categorical question needs 'categories' (its labels) "
                "or the 'config_id' of an existing Langfuse score config",
            )
        ]
    if err.validator == "oneOf" and not err.context:
        return [loaded.issue(path, "matches more than one of the allowed forms; make it unambiguous")]
    # Group the errors of each alternative; an alternative whose only error is "wrong type" at
    # this very spot is a different shape of value, not the one the user was going for.
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in err.context or []:
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    shaped = {
        i: errs
        for i, errs in by_branch.items()
        if not any(e.validator == "type" and not e.relative_path for e in errs)
    }
    if not shaped:
        expected: list[str] = []
        for i in sorted(by_branch):
            words = _branch_words(branches[i])
            expected.extend(w for w in words if w not in expected)
        return [
            loaded.issue(
                path, f"expected {_or(expected)}, found {_kind(inst)}{_quote_hint(path, expected, loaded)}"
            )
        ]
    # The alternative that got furthest (fewest problems), then the first in schema order.
    best = min(shaped, key=lambda i: (len(shaped[i]), i))
    out: list[SpecIssue] = []
    for sub in shaped[best]:
        out.extend(_convert(sub, loaded))
    return out


def _branch_words(branch: dict[str, Any]) -> list[str]:
    words = _expected_types(branch)
    if "array" in str(branch.get("type")) and isinstance(branch.get("items"), dict):
        item_words = _expected_types(branch["items"])
        if item_words:
            noun = {"a string": "strings", "a number": "numbers", "true or false": "booleans"}
            plural = [noun.get(w, w) for w in item_words]
            return [w if w != "a list" else f"a list of {_or(plural)}" for w in words]
    return words or ["another form"]


def _convert_not(err: ValidationError, loaded: LoadedYaml) -> SpecIssue:
    path: JsonPath = tuple(err.absolute_path)
    inst = err.instance
    forbidden = err.validator_value
    qtype = inst.get("type") if isinstance(inst, dict) else None
    # The question's type in words, only when it is a plain name (never a mapping's repr).
    this_one = f" (this one is {qtype})" if isinstance(qtype, str) and _IDENTIFIER.match(qtype) else ""
    if isinstance(forbidden, dict) and list(forbidden) == ["required"] and len(forbidden["required"]) == 1:
        key = forbidden["required"][0]
        where = (*path, key)
        if key == "categories":
            return loaded.issue(where, f"'categories' is only for categorical questions{this_one}", key=True)
        if key in ("min", "max", "step"):
            return loaded.issue(where, f"'{key}' is only for numeric questions{this_one}", key=True)
        if key == "config_id":
            return loaded.issue(
                where,
                "a correction question cannot have a 'config_id': Langfuse CORRECTION scores have no config",
                key=True,
            )
        return loaded.issue(where, f"'{key}' is not allowed here", key=True)
    return loaded.issue(path, "has a form the spec format does not allow here")


# --------------------------------------------------------------------------------------------
# Semantic checks: what the schema cannot say. Every check reads the data defensively (the data
# may also have schema errors) and skips what it cannot judge.


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def semantic_issues(loaded: LoadedYaml) -> Iterator[SpecIssue]:
    """Checks beyond the schema: cross-field rules, Langfuse's limits, references between questions."""
    data = loaded.data
    if not isinstance(data, dict):
        return
    yield from _finite_numbers(data, (), loaded)
    target = data.get("target")
    yield from _question_issues(data.get("questions"), target, loaded)
    yield from _filter_issues(_get(data, "source", "filters"), target, loaded)
    yield from _sample_issues(_get(data, "source", "sample"), target, loaded)
    yield from _display_issues(data.get("display"), loaded)
    yield from _review_issues(data, loaded)
    yield from _quality_issues(data, loaded)
    yield from _pair_issues(data, loaded)
    yield from _per_side_gate_issues(data, loaded)


def _finite_numbers(value: Any, path: JsonPath, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    if isinstance(value, float) and not math.isfinite(value):
        shown = ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
        yield loaded.issue(path, f"must be a finite number, found {shown}")
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _finite_numbers(child, (*path, key), loaded)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _finite_numbers(child, (*path, i), loaded)


def _category_pairs(categories: Any) -> list[tuple[int, Any, Any]]:
    """(index, label, value) of each well-formed category; values default to the position."""
    out = []
    for i, cat in enumerate(categories if isinstance(categories, list) else []):
        if isinstance(cat, str):
            out.append((i, cat, i))
        elif isinstance(cat, dict) and isinstance(cat.get("label"), str) and _is_number(cat.get("value")):
            out.append((i, cat["label"], cat["value"]))
    return out


def _question_issues(questions: Any, target: Any, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    if not isinstance(questions, list):
        return
    first_index: dict[str, int] = {}
    for i, q in enumerate(questions):
        if not isinstance(q, dict):
            continue
        base: JsonPath = ("questions", i)
        score = q.get("score")
        qtype = q.get("type")
        if isinstance(score, str):
            problem = config_name_problem(score)
            if problem:
                yield loaded.issue(
                    (*base, "score"), f"score name {_show(score)} {problem} (Langfuse score config name rule)"
                )
            if score in first_index:
                yield loaded.issue(
                    (*base, "score"),
                    f"duplicate score name {_show(score)} (also used by questions[{first_index[score]}]); "
                    "each question writes its own score",
                )
            else:
                first_index[score] = i
        if qtype == "categorical":
            yield from _category_issues(q.get("categories"), (*base, "categories"), loaded)
        if qtype == "numeric":
            lo, hi, step = q.get("min"), q.get("max"), q.get("step")
            if _is_number(lo) and _is_number(hi):
                if lo > hi:
                    yield loaded.issue((*base, "max"), f"{_show(hi)} is less than min {_show(lo)}")
                elif lo == hi:
                    yield loaded.issue(
                        (*base, "max"), f"{_show(hi)} equals min; max must be greater than min"
                    )
                elif _is_number(step) and step > hi - lo:
                    yield loaded.issue(
                        (*base, "step"), f"{_show(step)} is larger than the range {_show(lo)}…{_show(hi)}"
                    )
        if qtype == "correction" and target == "session":
            yield loaded.issue(
                (*base, "type"),
                "a correction cannot be asked on sessions (Langfuse CORRECTION scores target a trace or "
                "observation output); use a text question instead",
            )
        when = q.get("when")
        if isinstance(when, dict):
            yield from _when_issues(when, (*base, "when"), i, questions, first_index, loaded)


def _category_issues(categories: Any, path: JsonPath, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    labels: dict[str, int] = {}
    values: dict[float, int] = {}
    for i, label, value in _category_pairs(categories):
        if label in labels:
            yield loaded.issue(
                (*path, i), f"category {_show(label)} is listed twice (also categories[{labels[label]}])"
            )
        else:
            labels[label] = i
        if float(value) in values:
            yield loaded.issue(
                (*path, i),
                f"category value {_show(value)} is used twice (also categories[{values[float(value)]}]); "
                "give each category its own value",
            )
        else:
            values[float(value)] = i


def _when_issues(
    when: dict[str, Any],
    path: JsonPath,
    index: int,
    questions: list[Any],
    earlier: dict[str, int],
    loaded: LoadedYaml,
) -> Iterator[SpecIssue]:
    ref = when.get("question")
    if not isinstance(ref, str):
        return
    own = questions[index].get("score") if isinstance(questions[index], dict) else None
    if ref == own:
        yield loaded.issue((*path, "question"), f"a question cannot depend on itself ({_show(ref)})")
        return
    if ref not in earlier or earlier[ref] >= index:
        yield loaded.issue((*path, "question"), _not_earlier(ref, index, questions, earlier))
        return
    yield from _when_value_issues(when, path, questions[earlier[ref]], loaded)


def _not_earlier(ref: str, index: int, questions: list[Any], earlier: dict[str, int]) -> str:
    """Why a ``when`` cannot refer to ``ref``: it is asked later, or no earlier question has it."""
    later = [
        j for j, q in enumerate(questions) if j > index and isinstance(q, dict) and q.get("score") == ref
    ]
    if later:
        return (
            f"{_show(ref)} is asked after this question (questions[{later[0]}]); "
            "`when` can only refer to an earlier question"
        )
    names = [s for s, j in earlier.items() if j < index]
    hint = _suggest(ref, names)
    extra = (
        f" (did you mean '{hint}'?)"
        if hint
        else (f" (earlier questions: {', '.join(names)})" if names else "")
    )
    return f"no earlier question has score {_show(ref)}{extra}"


def _when_value_issues(
    when: dict[str, Any], path: JsonPath, source: dict[str, Any], loaded: LoadedYaml
) -> Iterator[SpecIssue]:
    """The compared values of a ``when`` that can never be an answer of the question it refers to."""
    stype = source.get("type")
    for op in ("equals", "not_equals", "in"):
        if op not in when:
            continue
        vals = when[op]
        items = list(enumerate(vals)) if op == "in" and isinstance(vals, list) else [(None, vals)]
        for j, val in items:
            where = (*path, op) if j is None else (*path, op, j)
            problem = _answer_problem(val, source, stype)
            if problem:
                yield loaded.issue(where, problem)


def _answer_problem(val: Any, source: dict[str, Any], stype: Any) -> str | None:
    """Why ``val`` can never be an answer to ``source`` (None when it can, or cannot be judged)."""
    name = source.get("score")
    if stype == "categorical":
        return _category_answer_problem(val, name, source)
    if stype == "boolean":
        if not isinstance(val, bool):
            return f"{_show(name)} is a boolean question: compare with true or false, not {_show(val)}"
        return None
    if stype == "numeric":
        return _numeric_answer_problem(val, name, source)
    if stype in ("text", "correction"):
        return _text_answer_problem(val, name, stype)
    return None


def _category_answer_problem(val: Any, name: Any, source: dict[str, Any]) -> str | None:
    labels = [label for _, label, _ in _category_pairs(source.get("categories"))]
    if not isinstance(val, str):
        return f"{_show(val)} is not a category label of {_show(name)}; compare with a label such as {_show(labels[0]) if labels else 'a label'}"
    if labels and val not in labels:
        hint = _suggest(val, labels)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        return f"{_show(val)} is not a category of {_show(name)}: {', '.join(labels)}{extra}"
    return None


def _numeric_answer_problem(val: Any, name: Any, source: dict[str, Any]) -> str | None:
    if not _is_number(val):
        return f"{_show(name)} is a numeric question: compare with a number, not {_show(val)}"
    lo, hi = source.get("min"), source.get("max")
    if _is_number(lo) and _is_number(hi) and lo >= hi:
        return None  # the range itself is reported
    if (_is_number(lo) and val < lo) or (_is_number(hi) and val > hi):
        return f"{_show(val)} is outside the range of {_show(name)} ({_show(lo)}…{_show(hi)}), so it never matches"
    return None


def _text_answer_problem(val: Any, name: Any, stype: str) -> str | None:
    if not isinstance(val, str):
        return f"{_show(name)} is a {stype} question: its answers are strings, not {_show(val)}"
    if not 1 <= len(val) <= TEXT_MAX_LENGTH:
        return f"{stype} answers are 1–{TEXT_MAX_LENGTH} characters (Langfuse's limit), so this never matches"
    return None


def _filter_issues(filters: Any, target: Any, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    if not isinstance(filters, dict):
        return
    base: JsonPath = ("source", "filters")
    for key in ("observation_type", "observation_name"):
        if key in filters and target != "observation":
            yield loaded.issue(
                (*base, key),
                f"'{key}' only applies to target: observation (this spec's target is {_show(target)}); "
                "remove it or change the target",
                key=True,
            )
    if target == "observation":
        yield from _observation_type_issues(filters, base, loaded)
    yield from _tag_conflict_issues(filters, base, loaded)
    yield from _window_issues(filters, base, loaded)
    yield from _score_filter_issues(filters, base, loaded)


def _observation_type_issues(
    filters: dict[str, Any], base: JsonPath, loaded: LoadedYaml
) -> Iterator[SpecIssue]:
    for i, otype in enumerate(_as_list(filters.get("observation_type"))):
        if isinstance(otype, str) and otype not in OBSERVATION_TYPES:
            where = (
                (*base, "observation_type")
                if not isinstance(filters["observation_type"], list)
                else (*base, "observation_type", i)
            )
            hint = _suggest(otype, OBSERVATION_TYPES)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            yield loaded.issue(
                where, f"{_show(otype)} is not an observation type: {', '.join(OBSERVATION_TYPES)}{extra}"
            )


def _tag_conflict_issues(filters: dict[str, Any], base: JsonPath, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    tags = filters.get("tags")
    excluded = filters.get("exclude_tags")
    if isinstance(tags, list) and isinstance(excluded, list):
        for j, tag in enumerate(excluded):
            if isinstance(tag, str) and tag in tags:
                yield loaded.issue(
                    (*base, "exclude_tags", j),
                    f"tag {_show(tag)} is both required (tags) and excluded (exclude_tags), so nothing can match",
                )


def _score_filter_issues(filters: dict[str, Any], base: JsonPath, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    scores = filters.get("scores")
    for i, cond in enumerate(scores if isinstance(scores, list) else []):
        if not isinstance(cond, dict):
            continue
        op, value = cond.get("op"), cond.get("value")
        if op in ("<", "<=", ">", ">=") and (isinstance(value, bool) or isinstance(value, str)):
            yield loaded.issue(
                (*base, "scores", i, "op"),
                f"'{op}' compares numbers, but the value is {_kind(value)}; use = or != for labels and booleans",
            )


_ABSOLUTE_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _window_issues(filters: dict[str, Any], base: JsonPath, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    points: dict[str, datetime] = {}
    relative: dict[str, bool] = {}
    for key in ("from", "to"):
        raw = filters.get(key)
        if not isinstance(raw, str):
            continue
        try:
            points[key] = resolve_time(raw, _ABSOLUTE_EPOCH)
        except TimeOutOfRange:
            yield loaded.issue(
                (*base, key),
                f"{_show(raw)} is out of range: times must fall between the years 1 and 9999 (in UTC), "
                "counting relative times from 2000-01-01; leave the key out to have no limit",
            )
            continue
        except ValueError:
            # The pattern accepted it, but it is no calendar date (2026-02-30, hour 25…).
            yield loaded.issue((*base, key), f"{_show(raw)} is not a valid date or date-time")
            continue
        relative[key] = raw == "now" or raw.startswith("-")
    if len(points) == 2 and relative["from"] == relative["to"] and points["from"] >= points["to"]:
        yield loaded.issue(
            (*base, "to"),
            f"the window is empty: 'from' ({filters['from']}) must be before 'to' ({filters['to']})",
        )


def _sample_issues(sample: Any, target: Any, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    if not isinstance(sample, dict):
        return
    base: JsonPath = ("source", "sample")
    strategy = sample.get("strategy", "random")
    by = sample.get("by")
    if strategy == "stratified" and "by" not in sample:
        yield loaded.issue(
            (*base, "strategy"),
            "strategy 'stratified' needs 'by' (the field to stratify by, e.g. metadata.topic)",
        )
    if "by" in sample and strategy != "stratified":
        yield loaded.issue(
            (*base, "by"),
            f"'by' is only used with strategy: stratified (this sample is {_show(strategy)})",
            key=True,
        )
    if by in ("observation_type", "observation_name") and target != "observation":
        yield loaded.issue((*base, "by"), f"{_show(by)} only exists for target: observation")


def _display_issues(display: Any, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    if not isinstance(display, dict):
        return
    parts = display.get("parts", ["input", "output", "metadata", "tree"])
    if not isinstance(parts, list):
        return
    if display.get("scores") and "scores" not in parts:
        yield loaded.issue(
            ("display", "scores"),
            "these scores are never shown because 'scores' is not in display.parts; add it there",
            key=True,
        )
    if display.get("metadata_keys") and "metadata" not in parts:
        yield loaded.issue(
            ("display", "metadata_keys"),
            "these keys are never shown because 'metadata' is not in display.parts; add it there",
            key=True,
        )


def _review_issues(data: dict[str, Any], loaded: LoadedYaml) -> Iterator[SpecIssue]:
    review = data.get("review")
    consensus = data.get("consensus")
    per_item = _get(review, "reviewers_per_item")
    reviewers = _get(review, "reviewers")
    if isinstance(per_item, dict):
        yield from _adaptive_issues(per_item, data, loaded)
        per_item = per_item.get("max")
    # A whole float (2.0) is an integer to JSON Schema, and the model makes it one: judge it alike.
    if _is_number(per_item) and isinstance(reviewers, list) and reviewers and per_item > len(reviewers):
        yield loaded.issue(
            ("review", "reviewers_per_item"),
            f"{per_item:g} reviewers per item, but only {len(reviewers)} reviewer"
            f"{'s are' if len(reviewers) != 1 else ' is'} listed in review.reviewers",
        )
    enabled = _get(consensus, "enabled") is True
    adjudicators = _get(review, "adjudicators")
    if isinstance(adjudicators, list) and adjudicators and not enabled:
        yield loaded.issue(
            ("review", "adjudicators"),
            "adjudicators resolve disagreements between reviewers; enable them with consensus: {enabled: true}",
            key=True,
        )
    if enabled and _is_number(per_item) and per_item < 2:
        yield loaded.issue(
            ("consensus", "enabled"),
            "consensus needs at least 2 reviews per item; set review.reviewers_per_item to 2 or more",
        )
    elif enabled and per_item is None:
        yield loaded.issue(
            ("consensus", "enabled"),
            "consensus needs at least 2 reviews per item, but review.reviewers_per_item defaults to 1; "
            "set it to 2 or more",
        )


def _adaptive_issues(
    per_item: dict[str, Any], data: dict[str, Any], loaded: LoadedYaml
) -> Iterator[SpecIssue]:
    lo, hi = per_item.get("min"), per_item.get("max")
    path: JsonPath = ("review", "reviewers_per_item")
    if _is_number(lo) and _is_number(hi) and lo > hi:
        yield loaded.issue((*path, "max"), f"{_show(hi)} is less than min {_show(lo)}")
    if _get(data, "consensus", "enabled") is True:
        yield loaded.issue(
            (*path,),
            "consensus scores need a fixed number of reviews per item; with adaptive overlap the report "
            "estimates agreement instead: give reviewers_per_item as a number, or turn consensus off",
        )


def _question_names(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    questions = data.get("questions")
    return {
        q["score"]: q
        for q in (questions if isinstance(questions, list) else [])
        if isinstance(q, dict) and isinstance(q.get("score"), str)
    }


#: Question types a gold answer can grade (text and corrections have no single right answer).
GRADED_TYPES = ("categorical", "numeric", "boolean")


def _quality_issues(data: dict[str, Any], loaded: LoadedYaml) -> Iterator[SpecIssue]:
    questions = _question_names(data)
    listed = data.get("questions")
    for i, q in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(q, dict) and "compare_range" in q:
            yield from _compare_range_issues(i, q, loaded)
    quality = data.get("quality")
    if isinstance(quality, dict):
        yield from _quality_section_issues(quality, questions, loaded)
    gates = data.get("gates")
    for i, gate in enumerate(gates if isinstance(gates, list) else []):
        if isinstance(gate, dict):
            yield from _gate_issues(data, i, gate, questions, loaded)


def _compare_range_issues(i: int, q: dict[str, Any], loaded: LoadedYaml) -> Iterator[SpecIssue]:
    rng = q["compare_range"]
    if q.get("type") != "numeric" or not q.get("compare_with"):
        yield loaded.issue(
            ("questions", i, "compare_range"),
            "only numeric questions with compare_with have a compared score to rescale",
            key=True,
        )
    elif isinstance(rng, list) and len(rng) == 2 and all(map(_is_number, rng)) and rng[0] >= rng[1]:
        yield loaded.issue(("questions", i, "compare_range"), "must be [smaller, larger]")


def _no_such_score(name: Any, questions: dict[str, dict[str, Any]]) -> str:
    """The message for a score name no question writes, with a close spelling if there is one."""
    hint = _suggest(name, questions)
    return f"no question writes score {_show(name)}" + (f" (did you mean {_show(hint)}?)" if hint else "")


def _has_gold(quality: Any) -> bool:
    return isinstance(quality, dict) and bool(quality.get("gold_file") or quality.get("gold_scores"))


def _quality_section_issues(
    quality: dict[str, Any], questions: dict[str, dict[str, Any]], loaded: LoadedYaml
) -> Iterator[SpecIssue]:
    for section in ("gold_scores", "tolerance"):
        mapping = quality.get(section)
        for name in mapping if isinstance(mapping, dict) else {}:
            q = questions.get(name)
            path: JsonPath = ("quality", section, name)
            if q is None:
                yield loaded.issue(path, _no_such_score(name, questions), key=True)
            elif section == "tolerance" and q.get("type") != "numeric":
                yield loaded.issue(path, "a tolerance only applies to numeric questions", key=True)
            elif q.get("type") not in GRADED_TYPES:
                yield loaded.issue(
                    path, f"{q.get('type')} questions have no single right answer to grade", key=True
                )
    has_gold = _has_gold(quality)
    for section in ("qualification", "honeypots"):
        if section in quality and not has_gold:
            yield loaded.issue(
                ("quality", section),
                f"{section} needs gold answers: set quality.gold_file or quality.gold_scores",
                key=True,
            )


def _gate_issues(
    data: dict[str, Any],
    i: int,
    gate: dict[str, Any],
    questions: dict[str, dict[str, Any]],
    loaded: LoadedYaml,
) -> Iterator[SpecIssue]:
    metric, name = gate.get("metric"), gate.get("question")
    base: JsonPath = ("gates", i)
    if metric in ("alpha", "judge"):
        if name is None:
            yield loaded.issue(base, f"a {metric} gate needs the question it applies to (question: …)")
            return
        if isinstance(name, str):  # otherwise the schema reports the type
            yield from _statistic_gate_issues(metric, name, base, questions, loaded)
        return
    if metric == "win_rate":
        yield from _win_rate_gate_issues(data, gate, base, loaded)
    elif name is not None:
        yield loaded.issue((*base, "question"), f"a {metric} gate applies to the whole campaign", key=True)
    if metric == "reviewer_accuracy" and not _has_gold(data.get("quality")):
        yield loaded.issue(
            (*base, "metric"),
            "reviewer accuracy needs gold answers: set quality.gold_file or gold_scores",
        )


def _statistic_gate_issues(
    metric: str, name: str, base: JsonPath, questions: dict[str, dict[str, Any]], loaded: LoadedYaml
) -> Iterator[SpecIssue]:
    """An alpha or judge gate: its question must exist and be graded (judge: compared too)."""
    q = questions.get(name)
    if q is None:
        yield loaded.issue((*base, "question"), _no_such_score(name, questions))
    elif q.get("type") not in GRADED_TYPES:
        yield loaded.issue((*base, "question"), f"{q.get('type')} questions have no agreement statistics")
    elif metric == "judge" and not q.get("compare_with"):
        yield loaded.issue(
            (*base, "question"),
            f"question {_show(name)} has no compare_with: there is no automated score to gate",
        )


# Only with another key of the question: what a preference question cannot have.
_NOT_FOR_PREFERENCE = ("when", "compare_with", "compare_range", "per_side")


_NOT_PER_SIDE = ("when", "compare_with", "compare_range")


def _per_side_issues(
    q: dict[str, Any], base: JsonPath, is_pair: bool, loaded: LoadedYaml
) -> Iterator[SpecIssue]:
    """A non-preference question: in a pair campaign it must be asked per side (``per_side: true``)."""
    qtype = q.get("type")
    per_side = q.get("per_side")
    if per_side is not None and not is_pair:
        yield loaded.issue((*base, "per_side"), "'per_side' only applies to target: pair", key=True)
    if not is_pair or not isinstance(qtype, str):
        return
    if qtype == "correction":
        yield loaded.issue(
            (*base, "type"),
            "target: pair cannot ask for a correction (use a text question with per_side: true)",
        )
    elif per_side is not True:
        yield loaded.issue(
            (*base, "per_side") if "per_side" in q else (*base, "type"),
            f"target: pair asks preference questions, or absolute ones once per output: add per_side: true "
            f"to ask this {qtype} question for output A and for output B",
        )
    for key in _NOT_PER_SIDE:
        if key in q:
            yield loaded.issue(
                (*base, key), f"a per-side question of a pair campaign has no '{key}'", key=True
            )


def _per_side_gate_issues(data: dict[str, Any], loaded: LoadedYaml) -> Iterator[SpecIssue]:
    """An alpha or judge gate cannot check a per-side question yet (it would never pass)."""
    questions = data.get("questions")
    gates = data.get("gates")
    if not isinstance(questions, list) or not isinstance(gates, list):
        return
    per_side = {
        q["score"]
        for q in questions
        if isinstance(q, dict) and q.get("per_side") is True and isinstance(q.get("score"), str)
    }
    for i, g in enumerate(gates):
        if isinstance(g, dict) and isinstance(g.get("question"), str) and g["question"] in per_side:
            yield loaded.issue(
                ("gates", i, "question"),
                f"{_show(g.get('question'))} is a per-side question; gates do not check per-side questions yet",
            )


def _pair_issues(data: dict[str, Any], loaded: LoadedYaml) -> Iterator[SpecIssue]:
    """target: pair needs a pair section and asks preference questions; preference needs target: pair."""
    target = data.get("target")
    is_pair = target == "pair"
    if is_pair and "pair" not in data:
        yield loaded.issue(
            ("target",),
            "target: pair needs a 'pair' section: the two arms (pair.arms.a, pair.arms.b) and pair.match",
        )
    if "pair" in data and not is_pair:
        yield loaded.issue(
            ("pair",),
            f"'pair' only applies to target: pair (this spec's target is {_show(target)})",
            key=True,
        )
    questions = data.get("questions")
    for i, q in enumerate(questions if isinstance(questions, list) else []):
        if isinstance(q, dict):
            yield from _pair_question_issues(i, q, target, loaded)
    if is_pair and isinstance(data.get("langfuse"), dict) and data["langfuse"].get("annotation_queue"):
        yield loaded.issue(
            ("langfuse", "annotation_queue"),
            "a pair campaign cannot be mirrored into a Langfuse annotation queue (a queue item is one object)",
        )
    pair = data.get("pair")
    yield from _arm_issues(pair.get("arms") if isinstance(pair, dict) else None, loaded)


def _pair_question_issues(i: int, q: dict[str, Any], target: Any, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    """A preference question outside a pair spec, or another type inside one."""
    is_pair = target == "pair"
    qtype = q.get("type")
    base: JsonPath = ("questions", i)
    if qtype == "preference":
        if not is_pair:
            yield loaded.issue(
                (*base, "type"),
                f"preference questions compare two outputs: they need target: pair (this spec's "
                f"target is {_show(target)})",
            )
        for key in _NOT_FOR_PREFERENCE:
            if key in q:
                yield loaded.issue(
                    (*base, key),
                    f"a preference question has no '{key}' (its answers are A, B, tie"
                    + (" or both bad)" if q.get("both_bad") else ")"),
                    key=True,
                )
        return
    if "both_bad" in q:
        yield loaded.issue((*base, "both_bad"), "'both_bad' only applies to type: preference", key=True)
    yield from _per_side_issues(q, base, is_pair, loaded)


def _arm_issues(arms: Any, loaded: LoadedYaml) -> Iterator[SpecIssue]:
    """Each arm's filters (trace filters only) and the two arms' filters being the same."""
    for name in ("a", "b"):
        arm = arms.get(name) if isinstance(arms, dict) else None
        filters = arm.get("filters") if isinstance(arm, dict) else None
        if not isinstance(filters, dict):
            continue
        base: JsonPath = ("pair", "arms", name, "filters")
        for key in ("observation_type", "observation_name"):
            if key in filters:
                yield loaded.issue(
                    (*base, key), f"'{key}' does not apply to a pair (its items are traces)", key=True
                )
        yield from _window_issues(filters, base, loaded)
    if isinstance(arms, dict):
        a, b = arms.get("a"), arms.get("b")
        if isinstance(a, dict) and isinstance(b, dict) and a.get("filters", {}) == b.get("filters", {}):
            yield loaded.issue(
                ("pair", "arms", "b"),
                "arms a and b select the same traces (same filters): give each arm its own filters "
                "(e.g. release, version or tags)",
            )


def _win_rate_gate_issues(
    data: dict[str, Any], gate: dict[str, Any], base: JsonPath, loaded: LoadedYaml
) -> Iterator[SpecIssue]:
    if data.get("target") != "pair":
        yield loaded.issue((*base, "metric"), "a win_rate gate needs target: pair")
        return
    name = gate.get("question")
    if not isinstance(name, str):
        return  # absent (the first preference question), or a wrong type the schema reports
    q = _question_names(data).get(name)
    if q is None or q.get("type") != "preference":
        yield loaded.issue((*base, "question"), f"no preference question writes score {_show(name)}")


__all__ = ["GRADED_TYPES", "check", "format_path", "semantic_issues"]
