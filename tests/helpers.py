"""Small helpers shared by the tests."""
from __future__ import annotations

import copy
from typing import Any


def first_item(app) -> dict[str, Any]:
    return app.extensions["qunti"].catalog.menu[0]


def example_answers(app, form_id: str) -> dict[str, Any]:
    """A valid answer set shipped with the form (its `examples[0]`)."""
    return copy.deepcopy(app.extensions["qunti"].catalog.forms[form_id].schema["examples"][0])
