"""JSON text read as JSON defines it.

Python's parser also takes ``NaN``, ``Infinity`` and ``-Infinity``, and reads a number too large
for a float (``1e400``) as infinity. JSON has no such numbers: PostgreSQL refuses them in a JSON
column (an error at the write, after the input was accepted), and JSON writers turn them into
``null`` (a silent change). Everything a user or another system sends goes through :func:`loads`.
"""
from __future__ import annotations

import json
import math
from typing import Any


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``, raising ``json.JSONDecodeError`` for numbers JSON does not have too."""
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_finite)
    except _NotJson as exc:
        document = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else text
        # The hooks are not told where they are: point at the literal's first appearance.
        raise json.JSONDecodeError(exc.args[0], document, max(document.find(exc.literal), 0)) from None


class _NotJson(ValueError):
    def __init__(self, message: str, literal: str) -> None:
        super().__init__(message)
        self.literal = literal


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} 不是 JSON 里的数", name)


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotJson(f"{literal[:40]} 超出了数的范围", literal)
    return value
