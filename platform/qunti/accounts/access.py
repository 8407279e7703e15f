"""Who may open which staff page, and which orders each role sees.

Two checks guard every staff page: :func:`login_required_role` (the role, and that the account is
bound to what the role needs) and :func:`scope_orders` (the rows). A page that loads one order goes
through :func:`scoped_order`, so an id typed into the address bar never reaches past the scope.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, make_response, render_template
from flask_login import current_user
from sqlalchemy import Select, false, or_, select

from qunti.accounts.models import ROLE_BINDING, ROLES, User
from qunti.db import db
from qunti.extensions import login_manager
from qunti.menu.models import ServiceItem
from qunti.orders.models import Order

STAFF_ROLES = tuple(role for role in ROLES if role != "resident")
# Roles that read orders on staff pages; brand leads run brand plugins, not orders.
ORDER_ROLES = ("station_staff", "dispatcher", "handler", "org_admin", "sys_admin")
REPORT_ROLES = ("dispatcher", "org_admin", "sys_admin")
# Roles that read the base statistics; station staff only their own station's.
STATS_ROLES = ("station_staff", "dispatcher", "org_admin", "sys_admin")
# Items of the joint menu (群团联合) belong to all three organizations at once.
SHARED_ORGANIZATION = "joint"

_BINDING_NAMES = {"station_code": "服务站", "unit_code": "办单单位", "organization": "群团组织"}

F = TypeVar("F", bound=Callable[..., Any])


def binding_problem(user: User) -> str | None:
    """Why ``user`` cannot work in their role yet (missing binding), or None."""
    if user.role not in ROLES:
        return "您的账号角色无效，请联系系统管理员。"
    field = ROLE_BINDING.get(user.role)
    if field and not getattr(user, field):
        return f"您的账号尚未绑定{_BINDING_NAMES[field]}，请联系系统管理员。"
    return None


def forbidden(message: str = "您没有权限访问这个页面。"):
    """Stop the request with the Chinese 403 page."""
    abort(make_response(render_template("error.html", status=403, message=message), 403))


def login_required_role(*roles: str) -> Callable[[F], F]:
    """Let through signed-in users whose role is one of ``roles`` and whose binding is complete.

    Anonymous visitors go to the login page; everybody else gets a 403 page in Chinese.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                forbidden()
            problem = binding_problem(current_user)
            if problem:
                forbidden(problem)
            return view(*args, **kwargs)
        wrapped.allowed_roles = roles  # read by the authorization-matrix test
        return wrapped  # type: ignore[return-value]
    return decorate


def organization_items(organization: str) -> Select:
    """Codes of the service items an organization answers for (its own and the joint ones)."""
    return select(ServiceItem.code).where(ServiceItem.organization.in_([organization, SHARED_ORGANIZATION]))


def scope_orders(query: Select, user: User | None) -> Select:
    """Limit a query over :class:`Order` to the rows ``user`` may see.

    handler → orders of their unit; station staff → orders filed at their station; org_admin → orders
    of their organization's service items (joint items included) or handled by their organization's
    own unit; dispatcher and sys_admin → all; a resident → their own; anyone else → none.
    """
    condition = order_visibility(user)
    return query if condition is None else query.where(condition)


def order_visibility(user: User | None, *, item: Any = Order.service_item_code, station: Any = Order.station_code,
                     unit: Any = Order.unit_code, resident: Any = Order.resident_user_id) -> Any:
    """The condition of :func:`scope_orders` (None: every row) over the given columns, so rows keyed
    by an order's item, station and unit elsewhere (the statistics summary, whose ``resident`` is
    None: no resident reads it) are limited the same way."""
    if user is None or not getattr(user, "is_authenticated", False) or binding_problem(user):
        return false()
    role = user.role
    if role in ("dispatcher", "sys_admin"):
        return None
    if role == "handler":
        return unit == user.unit_code
    if role == "station_staff":
        return station == user.station_code
    if role == "org_admin":
        return or_(item.in_(organization_items(user.organization)), unit == user.organization)
    if role == "resident" and resident is not None:
        return resident == user.id
    return false()


def scoped_order(order_id: int, user: User) -> Order:
    """The order ``order_id`` if ``user`` may see it; 404 otherwise, so ids cannot be probed."""
    order = db.session.scalar(scope_orders(select(Order).where(Order.id == order_id), user))
    if order is None:
        abort(404)
    return order
