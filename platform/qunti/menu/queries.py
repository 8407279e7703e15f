"""Reading the service menu as residents see it."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import bindparam, select

from qunti.db import db
from qunti.forms.models import Form, FormVersion
from qunti.forms.registry import VersionRef
from qunti.menu.models import ORGANIZATIONS, ServiceItem

# The demand survey (需求调查) is open to residents without being an item of the menu.
SURVEY_FORM = "demand-survey"


def enabled_items() -> list[ServiceItem]:
    return list(db.session.scalars(
        select(ServiceItem).where(ServiceItem.enabled.is_(True)).order_by(ServiceItem.position)))


def menu_by_organization() -> list[tuple[str, list[ServiceItem]]]:
    """Enabled items grouped by owning organization, organizations in their fixed order."""
    order = list(ORGANIZATIONS)
    items = sorted(enabled_items(), key=lambda i: (order.index(i.organization) if i.organization in order else 99, i.position))
    return [(ORGANIZATIONS.get(org, org), list(group)) for org, group in groupby(items, key=lambda i: i.organization)]


def enabled_item(code: str) -> ServiceItem | None:
    item = db.session.get(ServiceItem, code)
    return item if item is not None and item.enabled else None


def item_for_form(form_id: str) -> ServiceItem | None:
    return db.session.scalar(select(ServiceItem).where(
        ServiceItem.form_id == form_id, ServiceItem.enabled.is_(True)).order_by(ServiceItem.position))


def is_public_form(form_id: str) -> bool:
    """Residents (and API clients on their behalf) may submit this form."""
    return _public(form_id, item_for_form(form_id))


def _public(form_id: str, item: ServiceItem | None) -> bool:
    from qunti import plugins
    owner = plugins.form_owner(form_id)
    if owner is not None:  # a plugin's form: public exactly while the plugin is enabled
        return plugins.is_enabled(owner)
    return form_id == SURVEY_FORM or item is not None


# Built once, like _ORDERABLE below: the current version of a form and the item that offers it (the
# enabled one first in the menu, as item_for_form), for the submit API.
_PUBLIC_FORM = (
    select(FormVersion.id, FormVersion.form_id, FormVersion.number, FormVersion.digest, ServiceItem)
    .join(Form, Form.current_version_id == FormVersion.id)
    .outerjoin(ServiceItem, (ServiceItem.form_id == Form.id) & ServiceItem.enabled.is_(True))
    .where(Form.id == bindparam("form_id"))
    .order_by(ServiceItem.position).limit(1))


def public_form(form_id: str) -> tuple[VersionRef, ServiceItem | None] | None:
    """The current version of a form residents may submit and its service item (None for the
    demand survey), read in one query; None when there is no such public form."""
    row = db.session.execute(_PUBLIC_FORM, {"form_id": form_id}).first()
    if row is None or not _public(form_id, row[4]):
        return None
    return VersionRef(*row[:4]), row[4]


@dataclass(frozen=True)
class Orderable:
    """An enabled item and the current version of its form, read in one query (the hot path of
    every form page)."""

    code: str
    name: str
    form_id: str
    organization: str
    time_limit_days: int
    version: VersionRef

    @property
    def organization_name(self) -> str:
        return ORGANIZATIONS.get(self.organization, self.organization)


# Built once: constructing a statement costs more than running it on this hot path.
_ORDERABLE = (
    select(ServiceItem.code, ServiceItem.name, ServiceItem.form_id, ServiceItem.organization,
           ServiceItem.time_limit_days, FormVersion.id, FormVersion.form_id, FormVersion.number,
           FormVersion.digest)
    .join(Form, Form.id == ServiceItem.form_id)
    .join(FormVersion, FormVersion.id == Form.current_version_id)
    .where(ServiceItem.code == bindparam("code"), ServiceItem.enabled.is_(True)))


def orderable(code: str) -> Orderable | None:
    row = db.session.execute(_ORDERABLE, {"code": code}).first()
    if row is None:
        return None
    return Orderable(*row[:5], version=VersionRef(*row[5:]))
