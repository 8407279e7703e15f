"""Small helpers shared by the tests."""
from __future__ import annotations

import copy
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import FieldList, FormField


def first_item(app) -> dict[str, Any]:
    return app.extensions["qunti"].catalog.menu[0]


def example_answers(app, form_id: str) -> dict[str, Any]:
    """A valid answer set shipped with the form (its `examples[0]`)."""
    return copy.deepcopy(app.extensions["qunti"].catalog.forms[form_id].schema["examples"][0])


def form_data(compiled, answers: dict[str, Any]) -> MultiDict:
    """What a browser posts for ``answers`` on the compiled form's page."""
    form = compiled.bind(data=answers, meta={"csrf": False})
    posted = MultiDict()

    def walk(field) -> None:
        if isinstance(field, FormField):
            for sub in field:
                walk(sub)
        elif isinstance(field, FieldList):
            for entry in field:
                walk(entry)
        elif field.type in ("CSRFTokenField", "SubmitField"):
            return
        elif field.type.startswith("Check") and not isinstance(field.data, list):
            if field.data:
                posted.add(field.name, "y")
        elif isinstance(field.data, list):
            for value in field.data:
                posted.add(field.name, value)
        elif hasattr(field, "_value") and field.type not in ("SelectChoiceField", "RadioChoiceField"):
            value = field._value()
            if value not in ("", None):
                posted.add(field.name, value)
        elif field.data not in ("", None):
            posted.add(field.name, field.data)

    for field in form:
        walk(field)
    return posted
