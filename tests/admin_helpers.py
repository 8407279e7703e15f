"""Helpers for the admin-console tests: a signed-in client, the audit entries of an object, and
posting an admin page the way a browser with JavaScript off would."""
from __future__ import annotations

import html as htmllib
import re

from sqlalchemy import select

from qunti.admin.models import AuditEntry
from qunti.db import db

from browser import browser_post
from users import login


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def audit_entries(object_type: str, object_id: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    query = select(AuditEntry).where(AuditEntry.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    return list(db.session.scalars(query.order_by(AuditEntry.id)))


def text(response) -> str:
    """The page's text with tags dropped and entities decoded (what a person reads)."""
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def press(client, url: str, fill: dict | None = None, **pressed):
    """Open ``url``, type ``fill`` over its form and press a button (e.g. ``op="try"``)."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, data=browser_post(page.get_data(as_text=True), fill, **pressed))


def resubmit(client, url: str, response, fill: dict | None = None, **pressed):
    """Press a button on a page that came back from a post (the draft carried in the form)."""
    return client.post(url, data=browser_post(response.get_data(as_text=True), fill, **pressed))


def _multi_selects(html: str) -> dict[str, list[str]]:
    found = {}
    for attrs, body in re.findall(r"<select([^>]*\bmultiple\b[^>]*)>(.*?)</select>", html, re.S):
        name = re.search(r'name="([^"]+)"', attrs).group(1)
        found[name] = [htmllib.unescape(value) for value in
                       re.findall(r'<option[^>]*\bselected\b[^>]*value="([^"]*)"', body) +
                       re.findall(r'<option[^>]*value="([^"]*)"[^>]*\bselected\b', body)]
    return found


def model_form(client, url: str, fill: dict | None = None):
    """What the browser sends for a Flask-Admin create or edit page, with ``fill`` typed over it
    (a list sets several values; None unticks a box or leaves a field out)."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    html = page.get_data(as_text=True)
    data = browser_post(html)
    for name, values in _multi_selects(html).items():
        data.setlist(name, values)
    for name, value in (fill or {}).items():
        if value is None:
            data.pop(name, None)
        else:
            data.setlist(name, value if isinstance(value, list) else [value])
    return data


def flashes(response) -> str:
    """The alerts on a page (Flask-Admin flashes and form errors), as text."""
    html = response.get_data(as_text=True)
    parts = re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', html, re.S)
    parts += re.findall(r'<ul class="form-text text-danger[^"]*">(.*?)</ul>', html, re.S)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", " ".join(parts))).split())
