"""The blank form page fragment, rendered once per form version and reused.

A blank form (no answers yet, no locked fields) renders to the same HTML for everyone except the
CSRF token, and building it through WTForms costs far more than the rest of the page. So it is
rendered once with a real token, kept with that token swapped for a marker, and each request puts
its own token back. The cache is keyed by the version's content digest, so it never goes stale.
"""
from __future__ import annotations

from flask import get_template_attribute
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from qunti.catalog import state

_MARKER = "\x00csrf\x00"


def blank_form_html(compiled, digest: str, action: str = "") -> Markup:
    cache = state().rendered
    key = (digest, action)
    template = cache.get(key)
    token = generate_csrf()
    if template is None:
        render_form = get_template_attribute("forms/_macros.html", "render_form")
        html = str(render_form(compiled.bind(), compiled, action=action))
        # A form without CSRF (tests switch it off) has no token in it to swap.
        template = html.replace(token, _MARKER) if token in html else html
        with state().lock:
            cache.setdefault(key, template)
    return Markup(template.replace(_MARKER, token))
