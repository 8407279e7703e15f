"""Every hook a Qunti plugin may implement, declared once (pluggy project "qunti").

Plugin authors write ``from qunti import hookimpl`` and implement any of these by name. A hook
implementation with no spec here stops start-up naming the plugin (``check_pending``).

Two kinds of hook:
- start-up hooks (forms, rules, activity types, blueprints, admin views, JSON Logic operations,
  checklist items) are called once while the catalog loads; their results are checked like files
  and a failure stops start-up naming the plugin;
- request hooks (menu entries, order events, sign-up refusal) are called while serving, only for
  enabled plugins; one that raises is logged with the plugin id and skipped.
"""
from __future__ import annotations

import pluggy

PROJECT = "qunti"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def qunti_forms():
    """Extra form documents: JSON file paths (relative ones from the plugin's folder) or (form id, JSON Schema) pairs."""


@hookspec
def qunti_rules():
    """Extra eligibility rule sets: JSON file paths (relative ones from the plugin's folder) or (rule set id, document) pairs."""


@hookspec
def qunti_activity_types():
    """Activity types the plugin offers: dicts with ``id``, ``name``, ``form`` (a form id), ``description``."""


@hookspec
def qunti_menu_entries(user):
    """Links for the resident's service menu shown to ``user`` (None when signed out): dicts with ``title``, ``url``, ``summary``."""


@hookspec
def qunti_blueprints():
    """Flask blueprints with the plugin's own pages, mounted under ``/p/<plugin id>``; they answer 404 while it is disabled."""


@hookspec
def qunti_admin_views():
    """Links for the staff console: dicts with ``title``, ``url`` and ``roles`` (the roles that see the link)."""


@hookspec
def qunti_jsonlogic_operations():
    """Named JSON Logic operations for rules: a mapping of name to a pure function of the evaluated arguments."""


@hookspec
def qunti_order_event(order, event):
    """React to an order transition after it is committed (``order`` and ``event`` are read-only dicts); return a list of follow-up dicts (``title``, ``text``) or None."""


@hookspec
def qunti_station_checklist_items():
    """Extra items of the 七有 station checklist: dicts with ``code``, ``title`` and ``help``."""


@hookspec(firstresult=True)
def qunti_signup_refusal(activity, answers):
    """Why a sign-up with ``answers`` for ``activity`` (a read-only dict) is refused, as one Chinese sentence, or None; the first refusal wins."""
