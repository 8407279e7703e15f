"""Reading the service menu as residents see it."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import select

from qunti.db import db
from qunti.forms.models import Form, FormVersion
from qunti.forms.registry import VersionRef
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.revision import cached

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


def public_form(form_id: str) -> tuple[VersionRef, ItemRef | None] | None:
    """The current version of a form residents may submit and its service item (the enabled one
    first in the menu, as item_for_form; None for the demand survey), from the cached menu; None
    when there is no such public form. Read in the request's session: a submission follows."""
    found = menu().public.get(form_id)
    if found is None or not _public(form_id, found[1]):
        return None
    return found


@dataclass(frozen=True)
class ItemRef:
    """A service item as stored, detached from any session (cached in :func:`menu`)."""

    code: str
    name: str
    form_id: str
    organization: str
    time_limit_days: int
    functions: tuple[str, ...]
    position: int
    enabled: bool


@dataclass(frozen=True)
class Orderable:
    """An enabled item and the current version of its form (the hot path of every form page)."""

    code: str
    name: str
    form_id: str
    organization: str
    time_limit_days: int
    version: VersionRef

    @property
    def organization_name(self) -> str:
        return ORGANIZATIONS.get(self.organization, self.organization)


@dataclass(frozen=True)
class Menu:
    """Every service item and every form's current version, as one revision of the database had
    them; the lookups the hot paths make are prepared here once."""

    items: dict[str, ItemRef]
    orderable: dict[str, Orderable]
    public: dict[str, tuple[VersionRef, ItemRef | None]]  # form id -> current version, first item


_ITEMS = select(ServiceItem.code, ServiceItem.name, ServiceItem.form_id, ServiceItem.organization,
                ServiceItem.time_limit_days, ServiceItem.functions, ServiceItem.position, ServiceItem.enabled)
_CURRENT_VERSIONS = select(FormVersion.id, FormVersion.form_id, FormVersion.number, FormVersion.digest) \
    .join(Form, Form.current_version_id == FormVersion.id)


def _load_menu() -> Menu:
    items = {row.code: ItemRef(*row[:5], tuple(row.functions or ()), row.position, row.enabled)
             for row in db.session.execute(_ITEMS)}
    versions = {row.form_id: VersionRef(*row) for row in db.session.execute(_CURRENT_VERSIONS)}
    enabled = sorted((i for i in items.values() if i.enabled), key=lambda i: (i.position, i.code))
    orderable = {i.code: Orderable(i.code, i.name, i.form_id, i.organization, i.time_limit_days,
                                   versions[i.form_id]) for i in enabled if i.form_id in versions}
    first: dict[str, ItemRef] = {}
    for item in enabled:
        first.setdefault(item.form_id, item)
    return Menu(items=items, orderable=orderable,
                public={form_id: (version, first.get(form_id)) for form_id, version in versions.items()})


def menu(*, in_session: bool = True) -> Menu:
    """The menu as the database has it now. Cached per app under the definitions revision
    (service_item and form are watched tables, form versions never change): see qunti.revision."""
    return cached("menu", _load_menu, in_session=in_session)


def menu_item(code: str) -> ItemRef | None:
    """Any service item, enabled or not, from the cached menu."""
    return menu().items.get(code)


def orderable(code: str, *, in_session: bool = True) -> Orderable | None:
    """The enabled item ``code`` and its form's current version. ``in_session=False`` for a form
    page that reads nothing else (see qunti.revision.token)."""
    return menu(in_session=in_session).orderable.get(code)
