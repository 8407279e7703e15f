"""HTML rendered once and reused: blank forms, and whole form pages for anonymous visitors.

A blank form (no answers yet, no locked fields) renders to the same HTML for everyone except the
CSRF token, and building it through WTForms costs far more than the rest of the page. So it is
rendered once with a real token, kept with that token swapped for a marker, and each request puts
its own token back. Keys carry the version's content digest and whatever else the HTML shows, so an
entry never goes stale: a changed form or item makes a new key.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable

from flask import current_app, get_template_attribute, request, session
from flask_login import current_user
from flask_login.config import COOKIE_NAME
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from qunti.catalog import state

_MARKER = "\x00csrf\x00"
# Bounded: keys include item fields admins can change, so old keys must not pile up for ever.
_MAX_ENTRIES = 2000


def with_token(key: Hashable, render: Callable[[], str]) -> str:
    """``render()``'s HTML, made once per key, with this request's CSRF token in it."""
    cache = state().rendered
    template = cache.get(key)
    token = generate_csrf()
    if template is None:
        html = str(render())
        # A form without CSRF (tests switch it off) has no token in it to swap.
        template = html.replace(token, _MARKER) if token in html else html
        with state().lock:
            if len(cache) >= _MAX_ENTRIES:
                cache.clear()
            cache.setdefault(key, template)
    return template.replace(_MARKER, token)


def blank_form_html(compiled, digest: str, action: str = "") -> Markup:
    def render() -> str:
        render_form = get_template_attribute("forms/_macros.html", "render_form")
        return render_form(compiled.bind(), compiled, action=action)

    return Markup(with_token(("form", digest, action), render))


def page_is_shared() -> bool:
    """Whether this visitor sees the page everyone sees: not signed in, no pending messages."""
    return not _signed_in() and not session.get("_flashes")


def _signed_in() -> bool:
    # Flask-Login finds a user only by the session's user id or the remember-me cookie (Qunti has no
    # request loader): without either, nobody is signed in, and loading the anonymous user (which
    # hashes the visitor's address and browser for session protection) is skipped.
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    if "_user_id" not in session and remember not in request.cookies:
        return False
    return current_user.is_authenticated
