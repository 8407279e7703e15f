"""WTForms fields for form nodes, and the two conversions between JSON answers and HTML input.

The fields only render and carry raw input: they never validate (jsonschema judges) and never raise
on odd input, so a wrong answer comes back to the resident exactly as typed, next to its message.
"""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from markupsafe import Markup
from wtforms import Form, widgets
from wtforms.fields import (BooleanField, FieldList, FormField, HiddenField, RadioField, SelectChoice,
                            SelectField, SelectMultipleField, StringField)

from qunti.forms.nodes import MISSING, ROW_MARKER, Node, number_text

# Residents are in Chongqing: a date-time or time entered on a phone is Beijing time.
LOCAL_OFFSET = timezone(timedelta(hours=8))

_INPUTS = {
    "text": widgets.TextInput, "textarea": widgets.TextArea, "email": widgets.EmailInput,
    "tel": widgets.TelInput, "url": widgets.URLInput, "date": widgets.DateInput,
    "datetime": widgets.DateTimeLocalInput, "time": widgets.TimeInput, "number": widgets.NumberInput,
    "hidden": widgets.HiddenInput,
}
# Full-width ASCII (what a Chinese keyboard often types: １３８, ＠) to ASCII, for coded values.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_LOCAL_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?$", re.ASCII)
_LOCAL_TIME = re.compile(r"^(\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?$", re.ASCII)


class NodeField:
    """What every field of a compiled form knows beyond WTForms: its node, and this binding's
    read-only state (``forced`` is the value a read-only field has, whatever was sent)."""

    node: Node
    readonly = False
    forced: Any = MISSING
    constant = False   # forced to the schema's const/default, not to a value from the context

    def __init__(self, *args: Any, node: Node, **kwargs: Any) -> None:
        self.node = node
        super().__init__(*args, **kwargs)
        self.errors = []

    @property
    def help_id(self) -> str:
        return f"{self.id}-help"

    @property
    def error_id(self) -> str:
        return f"{self.id}-error"

    def described_by(self) -> str | None:
        ids = [self.help_id] if self.node.help else []
        if self.errors:
            ids.append(self.error_id)
        return " ".join(ids) or None

    def control_attrs(self) -> dict[str, Any]:
        """HTML attributes of the control: the schema's hints, then this binding's state."""
        attrs = dict(self.node.html)
        if self.readonly:
            attrs.pop("required", None)
            attrs["readonly"] = True
        described = self.described_by()
        if described:
            attrs["aria-describedby"] = described
        if self.errors:
            attrs["aria-invalid"] = "true"
        return attrs

    def control(self) -> Markup:
        """The control, rendered with :meth:`control_attrs`."""
        return self(**self.control_attrs())

    def submitted_values(self) -> list[str]:
        """What a disabled (read-only) control sends through hidden inputs instead."""
        return []


class TextField(NodeField, StringField):
    """Strings, numbers and dates alike: the raw text, coerced to JSON by :func:`read_field`."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        # A key missing from a submission means an empty answer, not "keep the default".
        self.data = valuelist[0] if valuelist else ""

    def _value(self) -> str:
        return self.data if isinstance(self.data, str) else ""


class CheckField(NodeField, BooleanField):
    def control_attrs(self) -> dict[str, Any]:
        attrs = super().control_attrs()
        if attrs.pop("readonly", False):
            attrs.update(disabled=True, data_locked=True)   # a checkbox cannot be read-only
        return attrs

    def submitted_values(self) -> list[str]:
        return ["y"] if self.data else []


class _ChoiceMixin(NodeField):
    def process_data(self, value: Any) -> None:
        self.data = value if isinstance(value, str) else None

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = valuelist[0] if valuelist else None

    def control_attrs(self) -> dict[str, Any]:
        attrs = super().control_attrs()
        if attrs.pop("readonly", False):
            attrs.update(disabled=True, data_locked=True)   # sent by the hidden copies instead
        return attrs

    def option_attrs(self) -> dict[str, Any]:
        """Attributes of each radio or checkbox (the fieldset around them is described instead)."""
        attrs = self.control_attrs()
        attrs.pop("aria-describedby", None)
        return attrs

    def submitted_values(self) -> list[str]:
        if isinstance(self.data, list):
            return [v for v in self.data if isinstance(v, str)]
        return [self.data] if isinstance(self.data, str) and self.data else []


class SelectChoiceField(_ChoiceMixin, SelectField):
    pass


class RadioChoiceField(_ChoiceMixin, RadioField):
    pass


class CheckboxesField(_ChoiceMixin, SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def process_data(self, value: Any) -> None:
        self.data = [v for v in value if isinstance(v, str)] if isinstance(value, (list, tuple)) else []

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = list(valuelist)


class ObjectField(NodeField, FormField):
    """A nested object: a fieldset. Its own errors (e.g. a required group left empty) live here."""

    errors: Any = ()


class RowsField(NodeField, FieldList):
    """A repeatable group: one ObjectField per row, rows added and removed by submit buttons."""

    @property
    def can_add(self) -> bool:
        return not self.readonly and (self.node.max_rows is None or len(self.entries) < self.node.max_rows)

    @property
    def can_remove(self) -> bool:
        return not self.readonly and len(self.entries) > self.node.min_rows


class RowMarker(HiddenField):
    """Sent with every row, so a row whose inputs are all unticked still comes back."""


# -- the form class -----------------------------------------------------------------------------

def form_class(root: Node, base: type[Form], name: str) -> type[Form]:
    """The WTForms class of an object node (fields in display order)."""
    return _class_for(root, base, name)


def _class_for(node: Node, base: type[Form], name: str) -> type[Form]:
    attrs: dict[str, Any] = {child.name: _unbound(child, name) for child in node.children}
    if node.kind == "row":
        attrs[ROW_MARKER] = RowMarker(default="1")
    return type(name, (base,), attrs)


def _unbound(node: Node, owner: str) -> Any:
    common = {"label": node.title, "node": node, "description": node.help}
    kind, widget = node.kind, node.widget
    if kind == "object":
        return ObjectField(_class_for(node, Form, f"{owner}_{node.name}"), **common)
    if kind == "group":
        item = node.item
        assert item is not None
        if item.kind == "row":
            entry = ObjectField(_class_for(item, Form, f"{owner}_{node.name}_row"), label=item.title, node=item)
        else:
            entry = _unbound(item, owner)
        return RowsField(entry, min_entries=node.min_rows, max_entries=_row_cap(node), **common)
    if kind == "boolean":
        return CheckField(**common)
    if kind == "multi":
        return CheckboxesField(choices=_choices(node), **common)
    if kind == "choice" and widget == "radio":
        return RadioChoiceField(choices=_choices(node), validate_choice=False, **common)
    if kind == "choice" and widget == "select":
        blank = SelectChoice("", node.placeholder or "请选择")
        return SelectChoiceField(choices=[blank, *_choices(node)], validate_choice=False, **common)
    return TextField(widget=_INPUTS[widget](), **common)


def _choices(node: Node) -> list[SelectChoice]:
    return [SelectChoice(c.key, c.label) for c in node.choices]


# Rows read from one submission: maxItems + 1 (so "too many" is still reported), and a ceiling for
# groups without maxItems so a forged request cannot make a form of a million rows.
ROW_CEILING = 500


def _row_cap(node: Node) -> int:
    return node.max_rows + 1 if node.max_rows is not None else ROW_CEILING


# -- JSON answers -> WTForms data ---------------------------------------------------------------

def with_defaults(node: Node, value: Any) -> Any:
    """``value`` (answers for an object node) with the schema's defaults where nothing was given,
    and the rows a group starts with."""
    if node.kind in ("object", "row"):
        given = value if isinstance(value, dict) else {}
        out = dict(given)
        for child in node.children:
            if child.key in given:
                out[child.key] = with_defaults(child, given[child.key]) if not child.is_leaf else given[child.key]
            elif child.default is not MISSING:
                out[child.key] = with_defaults(child, child.default) if not child.is_leaf else child.default
            elif not child.is_leaf:
                nested = with_defaults(child, MISSING)
                if nested:
                    out[child.key] = nested
        return out
    if node.kind == "group":
        assert node.item is not None
        rows = list(value) if isinstance(value, list) else []
        if node.item.kind != "row":
            return rows     # FieldList adds the empty inputs up to min_rows
        rows += [{}] * (node.min_rows - len(rows))
        return [with_defaults(node.item, row) for row in rows]
    return value


def to_form_data(node: Node, value: Any) -> dict[str, Any]:
    """WTForms keyword data (field names, HTML values) for the answers of an object node."""
    given = value if isinstance(value, dict) else {}
    return {child.name: field_data(child, given[child.key]) for child in node.children if child.key in given}


def field_data(node: Node, value: Any) -> Any:
    kind = node.kind
    if kind in ("object", "row"):
        return to_form_data(node, value)
    if kind == "group":
        assert node.item is not None
        rows = value[:_row_cap(node)] if isinstance(value, list) else []
        return [field_data(node.item, row) for row in rows]
    if kind == "boolean":
        return value is True
    if kind == "choice":
        return None if value is None else node.key_of(value)
    if kind == "multi":
        return [node.key_of(v) for v in value] if isinstance(value, list) else []
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value)
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if node.widget == "datetime":
        return _local_datetime(value)
    if node.widget == "time":
        return _local_time(value)
    return value


def _local_datetime(value: str) -> str:
    """An RFC 3339 date-time as a datetime-local input shows it, in Beijing time."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(LOCAL_OFFSET)
    return moment.strftime("%Y-%m-%dT%H:%M" + (":%S" if moment.second else ""))


def _local_time(value: str) -> str:
    try:
        clock = time.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return value
    if clock.tzinfo is not None:
        moment = datetime.combine(datetime(2000, 1, 1), clock).astimezone(LOCAL_OFFSET)
        clock = moment.time()
    return clock.strftime("%H:%M" + (":%S" if clock.second else ""))


# -- WTForms input -> JSON answers --------------------------------------------------------------

def read_form(node: Node, form: Form) -> dict[str, Any]:
    """The answers of an object node from its bound form: typed, empty answers left out, blank
    nested objects and blank rows left out. Nothing is validated here."""
    out: dict[str, Any] = {}
    for child in node.children:
        value = read_field(child, form[child.name])
        if value is not MISSING:
            out[child.key] = value
    return out


def read_field(node: Node, field: Any) -> Any:
    if field.readonly and node.is_leaf:
        return field.forced
    kind = node.kind
    if kind == "object":
        return MISSING if is_blank(node, field.form) else read_form(node, field.form)
    if kind == "group":
        item = node.item
        assert item is not None
        rows = [read_field(item, entry) for entry in field.entries if not entry_blank(item, entry)]
        return rows or MISSING
    if kind == "row":
        return read_form(node, field.form)
    if kind == "boolean":
        return bool(field.data)
    if kind == "multi":
        keys = field.data or []
        return [node.value_of(_clean(node, k)) for k in keys if _clean(node, k)] or MISSING
    text = _clean(node, field.data)
    if not text:
        return MISSING
    if kind == "choice":
        return node.value_of(text)
    if kind in ("integer", "number"):
        return typed_number(text)
    if node.widget == "datetime":
        match = _LOCAL_DATETIME.match(text)
        if match:
            return f"{match[1]}T{match[2]}{match[3] or ':00'}+08:00"
    if node.widget == "time":
        match = _LOCAL_TIME.match(text)
        if match:
            return f"{match[1]}{match[2] or ':00'}+08:00"
    return text


def is_blank(node: Node, form: Form) -> bool:
    """Nothing entered in an object or row: every input empty, every box unticked, no locked
    value (a schema constant does not count: nobody entered it)."""
    for child in node.children:
        field = form[child.name]
        if field.readonly and child.is_leaf:
            if _given_by_context(field):
                return False
            continue
        if child.kind == "object":
            if not is_blank(child, field.form):
                return False
        elif child.kind == "group":
            assert child.item is not None
            if any(not entry_blank(child.item, entry) for entry in field.entries):
                return False
        elif child.kind == "boolean":
            if field.data:
                return False
        elif child.kind == "multi":
            if field.data:
                return False
        elif _clean(child, field.data):
            return False
    return True


def entry_blank(item: Node, entry: Any) -> bool:
    """Nothing entered in one row of a repeatable group."""
    if entry.readonly and item.is_leaf:
        return not _given_by_context(entry)
    if item.kind == "row":
        return is_blank(item, entry.form)
    return not _clean(item, entry.data)


def _given_by_context(field: Any) -> bool:
    # A locked value (a QR code's station, say) is an answer; a schema constant is not.
    return field.forced is not MISSING and not field.constant


def _clean(node: Node, raw: Any) -> str:
    if not isinstance(raw, str):
        return ""
    text = raw.replace("\r\n", "\n").strip()
    if node.widget not in ("text", "textarea") or node.kind != "string" or "pattern" in node.schema \
            or "format" in node.schema:
        # A coded value (number, phone, e-mail, date, patterned ID): read full-width as ASCII.
        text = unicodedata.normalize("NFC", text).translate(_HALF_WIDTH).strip()
    return text


def typed_number(text: str) -> Any:
    """A number typed in a form, as JSON: 12 → 12, 12.34 → 12.34. Anything else stays text, so
    the validator answers "必须是数字"."""
    if not _NUMBER.match(text):
        return text
    value = Decimal(text)
    if abs(value.adjusted()) > 30:   # absurd magnitudes: leave them to the type check, never compute
        return text
    if value == value.to_integral_value():
        return int(value)
    return float(value)
