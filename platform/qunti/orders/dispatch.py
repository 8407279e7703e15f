"""派单: building the context the dispatch rules read, and applying their decision to a new order."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, func, literal, or_, select

from qunti import revision
from qunti.db import db, run_rendered, statement_alone
from qunti.directory.models import Station
from qunti.directory.units import UnitRef, active_unit
from qunti.intake import keyed_hash, normalize_phone
from qunti.forms.models import Submission
from qunti.menu.queries import ItemRef
from qunti.orders.models import Order, OrderEvent
from qunti.orders.transitions import OPEN_STATES, SYSTEM, perform
from qunti.rules.context import CHANNELS, ORGANIZATIONS
from qunti.rules.published import current_ruleset

log = logging.getLogger(__name__)

RULESET = "dispatch"
# (rule-set digest, item code) -> whether a row that can apply to the item reads counts.*. Keyed by
# content digest, so an entry never goes stale and needs no invalidation.
_READS_COUNTS: dict[tuple[str, str], bool] = {}


def applicant_key(phone: str | None) -> str | None:
    """A keyed hash of the applicant's phone, the same for every order of theirs (for
    ``counts.openByApplicant``); the phone itself is never stored on the order."""
    digits = normalize_phone(phone)
    return keyed_hash(f"applicant:{digits}") if digits else None


# The counts statement for each shape of order (stored or not; community, account, phone given or
# not), built once: constructing it cost more than running it.
_COUNTS: dict[tuple[bool, bool, bool, bool], Any] = {}


def _counts_statement(stored: bool, community: bool, account: bool, phone: bool):
    shape = (stored, community, account, phone)
    if shape not in _COUNTS:
        # The states as literals, not one expanding parameter: the statement is run rendered.
        open_others = [Order.state.in_([literal(state) for state in OPEN_STATES])]
        if stored:
            open_others.append(Order.id != bindparam("order_id"))
        similar = select(func.count()).where(
            Order.service_item_code == bindparam("item"), Order.community == bindparam("community"),
            *open_others) if community else select(literal(0))
        mine = [Order.resident_user_id == bindparam("user_id")] if account else []
        if phone:
            mine.append(Order.applicant_key == bindparam("applicant_key"))
        by_applicant = select(func.count()).where(or_(*mine), *open_others) if mine else select(literal(0))
        _COUNTS[shape] = select(similar.scalar_subquery(), by_applicant.scalar_subquery())
    return _COUNTS[shape]


def _counts(order: Order) -> dict[str, int]:
    """Both counts in one round trip, each on its own index; the order being routed is not counted
    (the rules say "已有 N 件")."""
    statement = _counts_statement(order.id is not None, bool(order.community), order.resident_user_id is not None,
                                  bool(order.applicant_key))
    connection = revision.connection()  # the session's, or the submission's own (revision.optimistic)
    # A read before anything is written (intake): no transaction needed around it, so none is begun
    # and the submission's INSERT can still run on its own (see qunti.db.statement_alone).
    with statement_alone(connection.connection):
        [(similar_open, applicant_open)] = run_rendered(connection, statement, {
            "order_id": order.id, "item": order.service_item_code, "community": order.community,
            "user_id": order.resident_user_id, "applicant_key": order.applicant_key})
    return {"similarOpenInCommunity": similar_open, "openByApplicant": applicant_open}


def reads_counts(ruleset: Any, item_code: str) -> bool:
    """Whether any row that can apply to ``item_code`` reads ``counts``; if none does, the two
    count queries are skipped (the decision cannot depend on them)."""
    key = (ruleset.digest, item_code)
    if key not in _READS_COUNTS:
        _READS_COUNTS[key] = any(
            path.split(".")[0] == "counts"
            for row in ruleset.rows if not row.default and (row.items is None or item_code in row.items)
            for path in row.when.reads())
    return _READS_COUNTS[key]


def _station(code: str | None) -> dict[str, Any] | None:
    station = db.session.get(Station, code) if code else None
    if station is None:
        return None
    return {"code": station.code, "kind": station.kind, "community": station.community,
            "leadOrganization": station.lead_organization}


def build_context(order: Order, submission: Submission, item: ItemRef | None, *,
                  counts: bool = True) -> dict[str, Any]:
    """The order context of :mod:`qunti.rules.context` for ``order`` and its service ``item``
    (``counts=False``: without the counts, for rule sets that do not read them)."""
    item_context: dict[str, Any] = {"code": order.service_item_code}
    if item is not None:
        if item.organization in ORGANIZATIONS:
            item_context["organization"] = item.organization
        item_context["functions"] = list(item.functions or [])
    context: dict[str, Any] = {
        "item": item_context,
        "answers": submission.answers or {},
        "station": _station(order.station_code),
        "applicant": {"category": order.applicant_category or ""},
    }
    if counts:
        context["counts"] = _counts(order)
    if order.channel in CHANNELS:
        context["channel"] = order.channel
    return context


def _usable(unit_code: Any) -> UnitRef | None:
    unit = active_unit(unit_code)
    return unit if unit is not None and unit.kind != "meeting" else None


def route_new_order(order: Order, item: ItemRef | None, *, commit: bool = False,
                    unwritten: list[OrderEvent] | None = None) -> Order:
    """Evaluate the dispatch rules for a new order in state ``submitted`` for service ``item``
    (:func:`qunti.menu.queries.menu_item` of its code), keep the suggestion, and dispatch it (mode
    auto) or queue it for the joint meeting (mode manual). ``unwritten``: the order is not stored
    yet, see :func:`~qunti.orders.transitions.perform`.

    A rule problem never loses an order: it goes to the manual queue with the problem noted.
    """
    ruleset = current_ruleset(RULESET)
    default_days = item.time_limit_days if item is not None else order.time_limit_days
    try:
        context = build_context(order, order.submission, item,
                                counts=reads_counts(ruleset, order.service_item_code))
        decision = ruleset.decide(context)
    except Exception as exc:  # noqa: BLE001 - any failure here must still leave a routed order
        log.exception("dispatch rules failed for order %s", order.number)
        order.suggestion = {"ruleset": RULESET, "digest": ruleset.digest, "row": None,
                            "route": {"class": None, "unit": None, "mode": "manual"}, "error": str(exc)}
        order.ruleset_digest, order.time_limit_days = ruleset.digest, default_days
        return perform(order, "queue", SYSTEM, commit=commit, unwritten=unwritten)
    route = dict(decision.route)
    order.suggestion = {"ruleset": decision.ruleset_id, "digest": decision.ruleset_digest,
                        "row": {"id": decision.row_id, "title": decision.row_title},
                        "route": route, "reason": decision.reason, "errors": decision.errors}
    order.ruleset_digest, order.rule_row_id = decision.ruleset_digest, decision.row_id
    order.time_limit_days = route.get("timeLimitDays") or default_days
    # An admin may have switched a unit off after the rules were written: then a person decides.
    unit = _usable(route.get("unit")) if route.get("mode") == "auto" and route.get("class") is not None else None
    return perform(order, "dispatch" if unit is not None else "queue", SYSTEM, commit=commit,
                   unwritten=unwritten)
