"""Validation problems as one line per field: `sweep.levels: expected a list of numbers, got "0,40"`.

pydantic reports where (a path of keys and list indices) and what (an error type); this turns that
into the project's wording, merging the alternatives of a union into one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ..errors import UserError

PHRASES = {
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "dict_type": "expected an object",
    "dataclass_type": "expected an object",
    "dataclass_exact_type": "expected an object",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "none_required": "expected null",
    "extra_forbidden": "unknown key",
    "unexpected_keyword_argument": "unknown key",
    "missing": "missing",
    "missing_argument": "missing",
}
BOUNDS = {
    "greater_than_equal": ("ge", "must be >= {}"),
    "greater_than": ("gt", "must be > {}"),
    "less_than": ("lt", "must be < {}"),
    "less_than_equal": ("le", "must be <= {}"),
    "too_short": ("min_length", "must hold at least {} item(s)"),
}
TAG_PREFIXES = ("literal[", "constrained-", "function-", "tagged-union", "json-or-python", "nullable")
KEYLESS = ("missing", "unknown key")  # no value to show


def _path(loc) -> str:
    """('parts', 1, 'sweep', 'levels', 0) -> parts[1].sweep.levels[0]; union member tags dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_tag(part):
            continue
        else:
            out += f".{part}" if out else part
    return out or "(plan)"


def _is_tag(part: str) -> bool:
    # pydantic names the members of a union in the location: int, constrained-int, literal['auto'], ...
    return part in ("int", "float", "str", "bool", "none") or part.startswith(TAG_PREFIXES)


def _phrase(err: dict) -> str:
    kind = err["type"]
    if kind in BOUNDS:
        key, text = BOUNDS[kind]
        value = err.get("ctx", {}).get(key)
        return text.format(int(value) if isinstance(value, float) and value.is_integer() else value)
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, ")
    if kind == "literal_error":
        return f"expected {err.get('ctx', {}).get('expected', 'one of the allowed values')}"
    return PHRASES.get(kind, err["msg"])


def format_errors(errors: list[dict]) -> list[str]:
    """One line per field from pydantic's ValidationError.errors()."""
    by_path: dict[str, tuple[list[str], object]] = {}
    for err in errors:
        phrases, _ = by_path.setdefault(_path(err["loc"]), ([], err.get("input")))
        phrase = _phrase(err)
        if phrase not in phrases:
            phrases.append(phrase)
    lines = []
    for path, (phrases, value) in by_path.items():
        if "expected a number" in phrases and "expected an integer" in phrases:
            phrases.remove("expected an integer")  # int | float: a number is what is asked for
        text = phrases[0] + "".join(f" or {p.removeprefix('expected ')}" for p in phrases[1:])
        if text not in KEYLESS:
            text += f", got {json.dumps(value, default=str)}"
        lines.append(f"{path}: {text}")
    return lines


def found(where: str, check: Callable[[], object]) -> list[str]:
    """The UserError a check raises, as a problem of the field `where` ([] when it passes)."""
    try:
        check()
    except UserError as exc:
        return [f"{where}: {exc}"]
    return []
