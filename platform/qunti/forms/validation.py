"""The jsonschema validator a form version is judged by: built once per version, with the format
checks residents' answers need and a multipleOf that counts money in decimals."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
from email_validator import EmailNotValidError, validate_email
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for

FORMAT_CHECKER = FormatChecker(formats=())

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$", re.ASCII)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$", re.ASCII)


@FORMAT_CHECKER.checks("email")
def _email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@FORMAT_CHECKER.checks("date")
def _date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("time")
def _time(value: object) -> bool:
    """RFC 3339 full-time: HH:MM:SS with an offset (the form adds +08:00 to what a phone sends)."""
    if not isinstance(value, str):
        return True
    if not _TIME.match(value):
        return False
    try:
        time.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    day, sep, clock = value.partition("T") if "T" in value else value.partition("t")
    if not sep or not _DATE.match(day) or not _TIME.match(clock):
        return False
    try:
        datetime.fromisoformat(f"{day}T{clock.upper().replace('Z', '+00:00')}")
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not value or any(ch.isspace() or ord(ch) < 32 for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if not _SCHEME.match(parts.scheme):
        return False
    return bool(parts.netloc) if parts.scheme.lower() in ("http", "https") else bool(parts.netloc or parts.path)


def exact(number: Any) -> Fraction:
    """A JSON number as the decimal people wrote: 12.34 is 1234/100, not the nearest binary float."""
    if isinstance(number, float):
        return Fraction(Decimal(repr(number)))
    return Fraction(number)


def _multiple_of(validator: Validator, step: Any, instance: Any, schema: Any):
    # jsonschema divides floats, so 12.34 is "not a multiple of 0.01"; decide in decimals instead.
    if not validator.is_type(instance, "number"):
        return
    try:
        failed = (exact(instance) / exact(step)).denominator != 1
    except (ArithmeticError, ValueError, InvalidOperation):
        failed = True
    if failed:
        yield ValidationError(f"{instance!r} is not a multiple of {step}")


# Where a subschema can sit: the keywords whose value is one, a list of them, or a map of them.
_ONE = frozenset({"additionalItems", "additionalProperties", "contains", "else", "if", "items", "not",
                  "propertyNames", "then", "unevaluatedItems", "unevaluatedProperties"})
_LIST = frozenset({"allOf", "anyOf", "items", "oneOf", "prefixItems"})
_MAP = frozenset({"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"})
_OPTION_KEYS = frozenset({"const", "title", "description"})  # an option: a value and words for people


def _choices_as_enum(schema: Any) -> Any:
    """``schema`` with each list of options (a ``oneOf`` of distinct string ``const``s, each with
    its title) written as the ``enum`` it means, in the same place. jsonschema accepts exactly the
    same answers and the message is the same (不在可选范围内), but it no longer validates every
    option as a subschema, raising an error for each one the answer is not."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _LIST and isinstance(value, list):
            value = [_choices_as_enum(v) for v in value]
        elif key in _ONE:
            value = _choices_as_enum(value)
        elif key in _MAP and isinstance(value, dict):
            value = {name: _choices_as_enum(v) for name, v in value.items()}
        if key == "oneOf" and "enum" not in schema and _string_options(value):
            key, value = "enum", [option["const"] for option in value]
        out[key] = value
    return out


def _string_options(options: Any) -> bool:
    if not isinstance(options, list) or not options or not all(
            isinstance(o, dict) and isinstance(o.get("const"), str) and set(o) <= _OPTION_KEYS for o in options):
        return False
    return len({o["const"] for o in options}) == len(options)  # a duplicate makes oneOf refuse it


def _refers_into_choices(schema: Any) -> bool:
    # A $ref to "#/…/oneOf/0" would lose its target; such a schema is validated as written.
    if isinstance(schema, dict):
        return any((k == "$ref" and isinstance(v, str) and "oneOf" in v) or _refers_into_choices(v)
                   for k, v in schema.items())
    return isinstance(schema, list) and any(_refers_into_choices(v) for v in schema)


def make_validator(schema: dict[str, Any]) -> Validator:
    """The validator of one form version (the draft its ``$schema`` names; 2020-12 by default)."""
    base = validator_for(schema, default=Draft202012Validator)
    cls = extend(base, {"multipleOf": _multiple_of})
    judged = schema if _refers_into_choices(schema) else _choices_as_enum(schema)
    return cls(judged, format_checker=FORMAT_CHECKER)


# --- the fast check -------------------------------------------------------------------------------
# Most answers are valid, and for them jsonschema (pure Python, ~0.1 ms a form) only confirms it.
# jsonschema-rs answers "valid?" in microseconds; jsonschema still judges every answer it does not
# pass, so each message comes from one place. Everything where the two libraries could disagree is
# handed to jsonschema-rs as the same Python code jsonschema runs: the five format checks above,
# multipleOf in decimals, and ``pattern`` with Python's ``re`` (its ``$``, ``\s`` and ``\w`` differ
# from Rust's). Formats only jsonschema-rs knows make it stricter, never looser: such answers simply
# go on to jsonschema. tests/test_fast_check.py compares the two on every shipped form.

class _MultipleOf:
    def __init__(self, _parent: Any, step: Any, _path: Any) -> None:
        self.step = step

    def validate(self, instance: Any) -> None:
        if isinstance(instance, (int, float)) and not isinstance(instance, bool):
            try:
                failed = (exact(instance) / exact(self.step)).denominator != 1
            except (ArithmeticError, ValueError, InvalidOperation):
                failed = True
            if failed:
                raise ValueError("not a multiple")


class _Pattern:
    def __init__(self, _parent: Any, pattern: str, _path: Any) -> None:
        self.pattern = re.compile(pattern)  # as jsonschema compiles it

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not self.pattern.search(instance):
            raise ValueError("no match")


_FORMATS = {"email": _email, "date": _date, "time": _time, "date-time": _date_time, "uri": _uri}
_DRAFTS = {Draft202012Validator.META_SCHEMA["$id"]: jsonschema_rs.Draft202012Validator}


def _regex_keys(schema: Any) -> bool:
    # Property names matched by a regular expression would be matched by Rust's engine.
    if isinstance(schema, dict):
        return bool({"patternProperties", "propertyNames"} & schema.keys()) or any(
            _regex_keys(v) for v in schema.values())
    return isinstance(schema, list) and any(_regex_keys(v) for v in schema)


def make_fast_check(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """``is_valid`` of a jsonschema-rs validator agreeing with :func:`make_validator` on every
    answer it passes; None where it would not be sure to (then jsonschema judges everything)."""
    draft = _DRAFTS.get(schema.get("$schema", Draft202012Validator.META_SCHEMA["$id"]))
    if draft is None or _regex_keys(schema):
        return None
    judged = schema if _refers_into_choices(schema) else _choices_as_enum(schema)
    try:
        validator = draft(judged, formats=_FORMATS, validate_formats=True,
                          keywords={"multipleOf": _MultipleOf, "pattern": _Pattern})
    except (ValueError, re.error, jsonschema_rs.ReferencingError):
        return None  # something jsonschema-rs cannot build: jsonschema alone judges this form
    return validator.is_valid
