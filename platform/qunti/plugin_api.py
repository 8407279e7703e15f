"""The small, stable API a Qunti plugin may import (with ``from qunti import hookimpl``).

Plugins never import other ``qunti`` modules: those are internals and change. What a plugin gets
from the core arrives as hook arguments (plain dicts); what it gives back is plain data. This
module names the few constants and helpers that make that data easy to write. A test walks every
shipped plugin with ``ast`` and fails on any other ``qunti.*`` import.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from qunti.hookspecs import hookimpl
from qunti.masking import mask_name, mask_phone
from qunti.menu.models import ORGANIZATIONS
from qunti.orders.transitions import STATES as ORDER_STATES
from qunti.plugins.defaults import age_on

__all__ = ["ORDER_COMPLETED", "ORDER_STATES", "ORGANIZATIONS", "age_on", "checklist_item", "followup",
           "hookimpl", "mask_name", "mask_phone", "menu_entry", "plugin_path"]

# The state an order reaches when the handling unit closes it (销号); qunti_order_event sees it as
# event["to_state"].
ORDER_COMPLETED = "completed"
assert ORDER_COMPLETED in ORDER_STATES


def plugin_path(hooks_file: str, *parts: str) -> Path:
    """A path inside the plugin's own folder: ``plugin_path(__file__, "forms", "x.json")``."""
    return Path(hooks_file).resolve().parent.joinpath(*parts)


def followup(title: str, text: str) -> dict[str, str]:
    """A follow-up returned from ``qunti_order_event`` (shown to staff with the order)."""
    return {"title": title, "text": text}


def menu_entry(title: str, url: str, summary: str = "") -> dict[str, Any]:
    """A service-menu link returned from ``qunti_menu_entries``."""
    return {"title": title, "url": url, "summary": summary}


def checklist_item(code: str, title: str, help: str = "") -> dict[str, str]:  # noqa: A002 (the key's name)
    """A 七有 checklist item returned from ``qunti_station_checklist_items``."""
    return {"code": code, "title": title, "help": help}
