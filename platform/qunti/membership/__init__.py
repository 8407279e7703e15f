"""Online 群团 membership: join by form or QR code, the electronic member card and its public verify
page, transferring membership, and the organization life and information services organizations
publish. Joins and transfers are service orders (S02, S08) that go through intake and the order cycle.
"""
from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """The resident pages, the staff pages and the information services (public and staff)."""
    from qunti.membership.info import bp as info, staff_bp as info_staff
    from qunti.membership.staff_views import bp as staff
    from qunti.membership.views import bp as resident
    return [resident, staff, info, info_staff]
